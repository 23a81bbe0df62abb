package shipping

import (
	"context"
	"errors"
	"testing"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/fault"
)

// orderState builds shipping's payload with every field shipping reads.
func orderState(t *testing.T, orderID, state string, detail map[string]any) orderEvent {
	t.Helper()
	d := map[string]any{"order_id": orderID, "order_state": state, "currency": "EUR", "item_count": 2,
		"shipping_address": map[string]any{"country": "FR"}}
	for k, v := range detail {
		d[k] = v
	}
	return bustest.Payload[orderEvent](t, map[string]any{"detail": d})
}

// TestShipmentFollowsOrder: created, shipped with the shop's tracking,
// delivered; a late or repeated delivery changes nothing.
func TestShipmentFollowsOrder(t *testing.T) {
	s, _ := newTestService(t)
	ctx := context.Background()
	steps := []struct {
		state  string
		detail map[string]any
		want   string
	}{
		{"new_order_created", map[string]any{"shipping_minor": 490}, StatusCreated},
		{"order_paid", nil, StatusCreated},
		{"order_shipped", map[string]any{"shipment": map[string]any{"carrier": "DHL", "tracking_number": "JD0142",
			"tracking_url": "https://track.example/JD0142"}}, StatusShipped},
		{"order_shipped", map[string]any{"shipment": map[string]any{"carrier": "UPS"}}, StatusShipped},
		{"order_cancelled", nil, StatusShipped},
		{"order_delivered", nil, StatusDelivered},
		{"order_delivered", nil, StatusDelivered},
		{"order_refunded", nil, StatusDelivered},
	}
	for _, st := range steps {
		if err := deliver(t, s, orderState(t, "ord-1", st.state, st.detail)); err != nil {
			t.Fatalf("%s: %v", st.state, err)
		}
		sh, err := s.Get(ctx, "ord-1")
		if err != nil {
			t.Fatal(err)
		}
		if sh.Status != st.want {
			t.Fatalf("after %s: status %s, want %s", st.state, sh.Status, st.want)
		}
	}
	sh, _ := s.Get(ctx, "ord-1")
	if sh.Carrier != "DHL" || sh.TrackingNumber != "JD0142" || sh.TrackingURL != "https://track.example/JD0142" {
		t.Errorf("tracking = %q %q %q, want the first shipment's", sh.Carrier, sh.TrackingNumber, sh.TrackingURL)
	}
	if sh.ShippedAt == nil || sh.DeliveredAt == nil || sh.DeliveredAt.Before(*sh.ShippedAt) {
		t.Errorf("shipped %v, delivered %v", sh.ShippedAt, sh.DeliveredAt)
	}
	if d, ok := sh.DifferenceMinor(); !ok || d != 0 || sh.RateMinor != 490 {
		t.Errorf("rate %d, difference %d %v; want 490 charged as priced", sh.RateMinor, d, ok)
	}
}

// TestChargedAgainstRate: what the order charged is kept beside what the
// rate table asks, so the difference shows.
func TestChargedAgainstRate(t *testing.T) {
	s, db := newTestService(t)
	ctx := context.Background()
	for id, charged := range map[string]any{"ord-free": nil, "ord-more": 700} {
		detail := map[string]any{}
		if charged != nil {
			detail["shipping_minor"] = charged
		}
		if err := deliver(t, s, orderState(t, id, "new_order_created", detail)); err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[string]int64{"ord-free": -490, "ord-more": 210} {
		sh, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := sh.DifferenceMinor(); !ok || d != want {
			t.Errorf("%s: difference %d (%v), want %d", id, d, ok, want)
		}
	}
	// A shipment recorded before the charge was kept has no difference.
	if err := db.Exec(`UPDATE shipping_shipments SET charged_minor = NULL WHERE order_id = 'ord-more'`).Error; err != nil {
		t.Fatal(err)
	}
	if sh, _ := s.Get(ctx, "ord-more"); sh.ChargedMinor != nil {
		t.Errorf("charged %v after NULL", *sh.ChargedMinor)
	} else if _, ok := sh.DifferenceMinor(); ok {
		t.Error("a difference without a charge")
	}
}

func TestQuote(t *testing.T) {
	s, _ := newTestService(t)
	for _, tc := range []struct {
		country string
		items   int64
		want    int64
		code    fault.Code
	}{
		{"FR", 1, 490, ""},
		{"FR", 4, 990, ""},
		{"US", 2, 1490, ""},
		{"FR", 0, 0, fault.Invalid},
	} {
		got, err := s.Quote(tc.country, tc.items)
		if tc.code != "" {
			if fault.CodeOf(err) != tc.code {
				t.Errorf("Quote(%s, %d) = %d, %v; want %s", tc.country, tc.items, got, err, tc.code)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Quote(%s, %d) = %d, %v; want %d", tc.country, tc.items, got, err, tc.want)
		}
	}
	narrow, _ := New(nil, Config{Rates: []Rate{{Countries: eu, RateMinor: 490}}})
	if _, err := narrow.Quote("JP", 1); !errors.Is(err, ErrNoRate) {
		t.Errorf("a country without a rate: %v, want ErrNoRate", err)
	}
}
