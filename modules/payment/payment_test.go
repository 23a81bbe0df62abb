package payment

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

// payload is what the shipped order-payment rule delivers: the envelope
// with only order_id, order_state, currency and payment left in detail.
func payload(t *testing.T, orderID, state string, amount int64) orderEvent {
	t.Helper()
	return bustest.Payload[orderEvent](t, map[string]any{
		"source": "shopbus.checkout", "detail-type": "Order State Change",
		"detail": map[string]any{
			"order_id": orderID, "order_state": state, "currency": "EUR",
			"payment": map[string]any{"method": "card", "reference": "pi_" + orderID, "amount_minor": amount},
		},
	})
}

// deliver runs the handler inside its own transaction, as the bus does.
func deliver(t *testing.T, s *Service, ev orderEvent) error {
	t.Helper()
	ctx := context.Background()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return s.handle(ctx, bus.Delivery[orderEvent]{ID: 1, EventID: "ev-1", OrderID: ev.Detail.OrderID,
			Target: "payment", Attempt: 1, Payload: ev, Tx: tx})
	})
}

func TestNewOrderAuthorizes(t *testing.T) {
	s := New(dbtest.Open(t, Migrations))
	ctx := context.Background()
	if _, err := s.Get(ctx, "ord-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get before any order = %v, want ErrNotFound", err)
	}
	if err := deliver(t, s, payload(t, "ord-1", "new_order_created", 3000)); err != nil {
		t.Fatal(err)
	}
	p, err := s.Get(ctx, "ord-1")
	if err != nil {
		t.Fatal(err)
	}
	want := Payment{OrderID: "ord-1", Method: "card", Reference: "pi_ord-1", AmountMinor: 3000, Currency: "EUR", Status: StatusAuthorized}
	got := p
	got.CreatedAt, got.UpdatedAt = want.CreatedAt, want.UpdatedAt
	if got != want {
		t.Errorf("payment = %+v, want %+v", got, want)
	}
	if p.CreatedAt.IsZero() || p.UpdatedAt.IsZero() {
		t.Errorf("timestamps not set: %+v", p)
	}
}

func TestPaymentFollowsOrder(t *testing.T) {
	tests := []struct {
		name   string
		states []string
		want   string
	}{
		{"placed", []string{"new_order_created"}, StatusAuthorized},
		{"shipped captures", []string{"new_order_created", "order_shipped"}, StatusCaptured},
		{"cancelled voids", []string{"new_order_created", "order_cancelled"}, StatusVoided},
		{"refund after capture refunds", []string{"new_order_created", "order_shipped", "order_refunded"}, StatusRefunded},
		{"refund before capture voids", []string{"new_order_created", "order_refunded"}, StatusVoided},
		{"delivered after shipped stays captured", []string{"new_order_created", "order_shipped", "order_delivered"}, StatusCaptured},
		{"paid captures", []string{"new_order_created", "order_paid"}, StatusCaptured},
		{"shipped after paid stays captured", []string{"new_order_created", "order_paid", "order_shipped"}, StatusCaptured},
		{"refund after paid refunds", []string{"new_order_created", "order_paid", "order_refunded"}, StatusRefunded},

		{"placed twice", []string{"new_order_created", "new_order_created"}, StatusAuthorized},
		{"shipped twice", []string{"new_order_created", "order_shipped", "order_shipped"}, StatusCaptured},
		{"cancelled twice", []string{"new_order_created", "order_cancelled", "order_cancelled"}, StatusVoided},
		{"refunded twice", []string{"new_order_created", "order_shipped", "order_refunded", "order_refunded"}, StatusRefunded},
		{"placed again after capture", []string{"new_order_created", "order_shipped", "new_order_created"}, StatusCaptured},
		{"a voided payment is never captured", []string{"new_order_created", "order_cancelled", "order_shipped"}, StatusVoided},
		{"a captured payment is never voided by a cancel", []string{"new_order_created", "order_shipped", "order_cancelled"}, StatusCaptured},
		{"a refunded payment stays refunded", []string{"new_order_created", "order_shipped", "order_refunded", "order_cancelled", "order_shipped"}, StatusRefunded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := dbtest.Open(t, Migrations)
			s := New(db)
			// Another order goes along untouched.
			if err := deliver(t, s, payload(t, "ord-other", "new_order_created", 100)); err != nil {
				t.Fatal(err)
			}
			for i, st := range tt.states {
				// The amount changes on each event: only the first one counts.
				if err := deliver(t, s, payload(t, "ord-1", st, int64(3000+i))); err != nil {
					t.Fatalf("%s: %v", st, err)
				}
			}
			p, err := s.Get(context.Background(), "ord-1")
			if err != nil {
				t.Fatal(err)
			}
			if p.Status != tt.want {
				t.Errorf("after %s: status %s, want %s", strings.Join(tt.states, ", "), p.Status, tt.want)
			}
			if p.AmountMinor != 3000 || p.Method != "card" {
				t.Errorf("a later event rewrote the payment: %+v", p)
			}
			if other, _ := s.Get(context.Background(), "ord-other"); other.Status != StatusAuthorized {
				t.Errorf("the other order's payment is %s", other.Status)
			}
			var n int64
			db.Model(&Payment{}).Count(&n)
			if n != 2 {
				t.Errorf("%d payment rows, want 2", n)
			}
		})
	}
}

func TestEventsWithoutPayment(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	s := New(db)
	for _, st := range []string{"order_shipped", "order_cancelled", "order_refunded"} {
		if err := deliver(t, s, payload(t, "ord-nope", st, 1)); err != nil {
			t.Errorf("%s for an order without a payment: %v", st, err)
		}
	}
	if _, err := s.Get(context.Background(), "ord-nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound", err)
	}
}

func TestHandleRolledBack(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	s := New(db)
	ctx := context.Background()
	boom := errors.New("later failure")
	err := db.Transaction(func(tx *gorm.DB) error {
		ev := payload(t, "ord-1", "new_order_created", 3000)
		if err := s.handle(ctx, bus.Delivery[orderEvent]{Payload: ev, Tx: tx}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "ord-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the payment survived its rolled-back delivery: %v", err)
	}
}

// TestAmountsFollowTheMoney: the record says how much was authorised,
// captured and given back, a partial refund included.
func TestAmountsFollowTheMoney(t *testing.T) {
	refund := func(orderID string, refunded int64) orderEvent {
		ev := payload(t, orderID, "order_refunded", 3000)
		ev.Detail.Payment.RefundedMinor = refunded
		return ev
	}
	for _, tc := range []struct {
		name                        string
		events                      []orderEvent
		status                      string
		captured, refunded, authAmt int64
	}{
		{"authorised", []orderEvent{payload(t, "o", "new_order_created", 3000)}, StatusAuthorized, 0, 0, 3000},
		{"paid", []orderEvent{payload(t, "o", "new_order_created", 3000), payload(t, "o", "order_paid", 3000)}, StatusCaptured, 3000, 0, 3000},
		{"partly refunded", []orderEvent{payload(t, "o", "new_order_created", 3000), payload(t, "o", "order_paid", 3000),
			refund("o", 1250)}, StatusRefunded, 3000, 1250, 3000},
		{"refunded in full by an event without the amount", []orderEvent{payload(t, "o", "new_order_created", 3000),
			payload(t, "o", "order_shipped", 3000), payload(t, "o", "order_refunded", 3000)}, StatusRefunded, 3000, 3000, 3000},
		{"never more than was captured", []orderEvent{payload(t, "o", "new_order_created", 3000),
			payload(t, "o", "order_paid", 3000), refund("o", 9999)}, StatusRefunded, 3000, 3000, 3000},
		{"voided, nothing captured", []orderEvent{payload(t, "o", "new_order_created", 3000),
			payload(t, "o", "order_cancelled", 3000)}, StatusVoided, 0, 0, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(dbtest.Open(t, Migrations))
			for _, ev := range tc.events {
				if err := deliver(t, s, ev); err != nil {
					t.Fatal(err)
				}
			}
			p, err := s.Get(context.Background(), "o")
			if err != nil {
				t.Fatal(err)
			}
			if p.Status != tc.status || p.AmountMinor != tc.authAmt || p.CapturedMinor != tc.captured || p.RefundedMinor != tc.refunded {
				t.Errorf("payment %s: authorised %d, captured %d, refunded %d; want %s %d %d %d", p.Status, p.AmountMinor,
					p.CapturedMinor, p.RefundedMinor, tc.status, tc.authAmt, tc.captured, tc.refunded)
			}
		})
	}
}
