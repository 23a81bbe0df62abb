package shipping

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
)

var eu = []string{"FR", "DE", "BE"}

// testRates is the shape of the shipped config: small and large EU parcels,
// then small and large parcels anywhere.
var testRates = Config{Rates: []Rate{
	{Countries: eu, MaxItems: 3, RateMinor: 490},
	{Countries: eu, RateMinor: 990},
	{MaxItems: 3, RateMinor: 1490},
	{RateMinor: 2990},
}}

func TestPrice(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		country string
		items   int64
		want    int64
		noRate  bool
	}{
		{"first match wins", testRates, "FR", 1, 490, false},
		{"max_items is inclusive", testRates, "DE", 3, 490, false},
		{"over max_items falls through", testRates, "DE", 4, 990, false},
		{"max_items 0 takes any count", testRates, "BE", 10_000, 990, false},
		{"no countries means any country", testRates, "US", 2, 1490, false},
		{"anywhere, large", testRates, "US", 4, 2990, false},
		{"country codes are exact", testRates, "fr", 1, 1490, false},
		{"the first match even when a later one is cheaper", Config{Rates: []Rate{
			{RateMinor: 700}, {Countries: []string{"FR"}, RateMinor: 100},
		}}, "FR", 1, 700, false},
		{"free shipping", Config{Rates: []Rate{{RateMinor: 0}}}, "FR", 1, 0, false},
		{"no country matches", Config{Rates: []Rate{{Countries: eu, RateMinor: 490}}}, "US", 1, 0, true},
		{"too many items everywhere", Config{Rates: []Rate{{MaxItems: 3, RateMinor: 490}}}, "FR", 4, 0, true},
		{"empty table", Config{}, "FR", 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.price(tt.country, tt.items)
			if tt.noRate {
				if !errors.Is(err, ErrNoRate) {
					t.Fatalf("price = %d, %v; want ErrNoRate", got, err)
				}
				if !strings.Contains(err.Error(), tt.country) {
					t.Errorf("error %q does not name the country", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("price(%s, %d) = %d, %v; want %d", tt.country, tt.items, got, err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" is valid
	}{
		{"the default table", testRates, ""},
		{"free rate", Config{Rates: []Rate{{RateMinor: 0}}}, ""},
		{"no rates", Config{}, "at least one rate"},
		{"empty list", Config{Rates: []Rate{}}, "at least one rate"},
		{"negative rate", Config{Rates: []Rate{{RateMinor: 100}, {RateMinor: -1}}}, "shipping.rates[1]"},
		{"negative max_items", Config{Rates: []Rate{{MaxItems: -1, RateMinor: 100}}}, "shipping.rates[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// stateEvent builds shipping's payload from JSON, as the bus decodes it.
func stateEvent(t *testing.T, orderID, state, country string, items int64) orderEvent {
	t.Helper()
	return bustest.Payload[orderEvent](t, map[string]any{"detail": map[string]any{
		"order_id": orderID, "order_state": state, "currency": "EUR", "item_count": items,
		"shipping_address": map[string]any{"country": country, "city": "Paris"},
	}})
}

// deliver runs the handler inside its own transaction, as the bus does.
func deliver(t *testing.T, s *Service, ev orderEvent) error {
	t.Helper()
	ctx := context.Background()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return s.handle(ctx, bus.Delivery[orderEvent]{ID: 1, EventID: "ev-1", OrderID: ev.Detail.OrderID,
			Target: "shipping", Attempt: 1, Payload: ev, Tx: tx})
	})
}

func newTestService(t *testing.T) (*Service, *gorm.DB) {
	t.Helper()
	db := dbtest.Open(t, Migrations)
	s, err := New(db, testRates)
	if err != nil {
		t.Fatal(err)
	}
	return s, db
}

func TestHandleCreatesShipmentOnce(t *testing.T) {
	s, db := newTestService(t)
	ctx := context.Background()
	if _, err := s.Get(ctx, "ord-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get before any order = %v, want ErrNotFound", err)
	}
	for i := range 2 {
		if err := deliver(t, s, stateEvent(t, "ord-1", "new_order_created", "FR", 4)); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if n := dbtest.Count(t, db, "shipping_shipments"); n != 1 {
		t.Errorf("%d shipments after two deliveries, want 1", n)
	}
	sh, err := s.Get(ctx, "ord-1")
	if err != nil {
		t.Fatal(err)
	}
	if sh.Country != "FR" || sh.ItemCount != 4 || sh.RateMinor != 990 || sh.Currency != "EUR" ||
		sh.Status != StatusCreated || sh.CreatedAt.IsZero() {
		t.Errorf("shipment = %+v", sh)
	}

	// A later delivery with other numbers does not reprice the shipment.
	if err := deliver(t, s, stateEvent(t, "ord-1", "new_order_created", "US", 1)); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Get(ctx, "ord-1"); again.RateMinor != 990 || again.Country != "FR" {
		t.Errorf("a repeated delivery changed the shipment: %+v", again)
	}
}

func TestHandleCancel(t *testing.T) {
	s, db := newTestService(t)
	ctx := context.Background()
	for _, id := range []string{"ord-1", "ord-2"} {
		if err := deliver(t, s, stateEvent(t, id, "new_order_created", "DE", 1)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // a second cancel is harmless
		if err := deliver(t, s, stateEvent(t, "ord-1", "order_cancelled", "DE", 1)); err != nil {
			t.Fatal(err)
		}
	}
	if sh, _ := s.Get(ctx, "ord-1"); sh.Status != StatusCancelled || sh.UpdatedAt.Before(sh.CreatedAt) {
		t.Errorf("cancelled shipment = %+v", sh)
	}
	if sh, _ := s.Get(ctx, "ord-2"); sh.Status != StatusCreated {
		t.Errorf("another order's shipment = %+v", sh)
	}
	// Cancelling an order without a shipment does nothing.
	if err := deliver(t, s, stateEvent(t, "ord-nope", "order_cancelled", "DE", 1)); err != nil {
		t.Fatal(err)
	}
	if n := dbtest.Count(t, db, "shipping_shipments"); n != 2 {
		t.Errorf("%d shipments, want 2", n)
	}
}

func TestHandleOtherStates(t *testing.T) {
	s, db := newTestService(t)
	for _, st := range []string{"order_paid", "order_shipped", "order_delivered", "order_refunded"} {
		if err := deliver(t, s, stateEvent(t, "ord-1", st, "FR", 1)); err != nil {
			t.Fatalf("%s: %v", st, err)
		}
	}
	if n := dbtest.Count(t, db, "shipping_shipments"); n != 0 {
		t.Errorf("%d shipments created by other states", n)
	}
}

func TestHandleNoRateIsPermanent(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	s, err := New(db, Config{Rates: []Rate{{Countries: eu, RateMinor: 490}}})
	if err != nil {
		t.Fatal(err)
	}
	err = deliver(t, s, stateEvent(t, "ord-1", "new_order_created", "JP", 1))
	if !errors.Is(err, bus.ErrPermanent) {
		t.Fatalf("handle = %v, want bus.ErrPermanent", err)
	}
	if !errors.Is(err, ErrNoRate) {
		t.Errorf("handle = %v, want it to wrap ErrNoRate too", err)
	}
	if n := dbtest.Count(t, db, "shipping_shipments"); n != 0 {
		t.Errorf("%d shipments for an order without a rate", n)
	}
}
