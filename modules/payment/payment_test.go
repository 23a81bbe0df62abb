package payment

import (
	"context"
	"errors"
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

// step is one event of an order as payment receives it: its state and,
// once anything was refunded, what the refunds sum to.
type step struct {
	state    string
	refunded int64
}

// TestPaymentFollowsOrder follows every path of the money: authorised at
// creation, captured when paid (or shipped unpaid), refunded partly and
// wholly after capture, by the amount, each refund its own event, and
// voided only when cancelled before capture. Redelivered and replayed
// events change nothing.
func TestPaymentFollowsOrder(t *testing.T) {
	const placed, paid, shipped, delivered = "new_order_created", "order_paid", "order_shipped", "order_delivered"
	const cancelled, refunded = "order_cancelled", "order_refunded"
	tests := []struct {
		name               string
		steps              []step
		want               string
		captured, refundMn int64
	}{
		{"placed authorises", []step{{placed, 0}}, StatusAuthorized, 0, 0},
		{"paid captures", []step{{placed, 0}, {paid, 0}}, StatusCaptured, 3000, 0},
		{"shipped unpaid captures", []step{{placed, 0}, {shipped, 0}}, StatusCaptured, 3000, 0},
		{"shipped after paid stays captured", []step{{placed, 0}, {paid, 0}, {shipped, 0}}, StatusCaptured, 3000, 0},
		{"delivered stays captured", []step{{placed, 0}, {shipped, 0}, {delivered, 0}}, StatusCaptured, 3000, 0},
		{"cancelled before capture voids", []step{{placed, 0}, {cancelled, 0}}, StatusVoided, 0, 0},

		{"a whole refund after payment", []step{{placed, 0}, {paid, 0}, {refunded, 3000}}, StatusRefunded, 3000, 3000},
		{"a whole refund after delivery", []step{{placed, 0}, {shipped, 0}, {delivered, 0}, {refunded, 3000}}, StatusRefunded, 3000, 3000},
		{"a partial refund", []step{{placed, 0}, {paid, 0}, {paid, 1000}}, StatusRefunded, 3000, 1000},
		{"partial refunds, then the rest", []step{{placed, 0}, {paid, 0}, {paid, 1000}, {shipped, 1000}, {shipped, 2500},
			{refunded, 3000}}, StatusRefunded, 3000, 3000},
		{"a partial refund of a delivered order", []step{{placed, 0}, {shipped, 0}, {delivered, 0}, {delivered, 700}}, StatusRefunded, 3000, 700},
		{"a refund from before the sum was sent gives all back", []step{{placed, 0}, {shipped, 0}, {refunded, 0}}, StatusRefunded, 3000, 3000},
		{"never more than was captured", []step{{placed, 0}, {paid, 0}, {paid, 9999}}, StatusRefunded, 3000, 3000},

		{"a refund before capture voids nothing", []step{{placed, 0}, {refunded, 3000}}, StatusAuthorized, 0, 0},
		{"a captured payment is never voided by a cancel", []step{{placed, 0}, {shipped, 0}, {cancelled, 0}}, StatusCaptured, 3000, 0},
		{"a voided payment is never captured nor refunded", []step{{placed, 0}, {cancelled, 0}, {shipped, 0}, {refunded, 3000}}, StatusVoided, 0, 0},
		{"a refunded payment stays refunded", []step{{placed, 0}, {shipped, 0}, {refunded, 3000}, {cancelled, 0}, {shipped, 0}}, StatusRefunded, 3000, 3000},

		{"placed twice", []step{{placed, 0}, {placed, 0}}, StatusAuthorized, 0, 0},
		{"placed again after capture", []step{{placed, 0}, {shipped, 0}, {placed, 0}}, StatusCaptured, 3000, 0},
		{"paid twice", []step{{placed, 0}, {paid, 0}, {paid, 0}}, StatusCaptured, 3000, 0},
		{"cancelled twice", []step{{placed, 0}, {cancelled, 0}, {cancelled, 0}}, StatusVoided, 0, 0},
		{"a partial refund redelivered", []step{{placed, 0}, {paid, 0}, {paid, 1000}, {paid, 1000}}, StatusRefunded, 3000, 1000},
		{"an older refund replayed after a newer", []step{{placed, 0}, {paid, 0}, {paid, 1000}, {paid, 2000}, {paid, 1000}}, StatusRefunded, 3000, 2000},
		{"refunded twice", []step{{placed, 0}, {shipped, 0}, {refunded, 3000}, {refunded, 3000}}, StatusRefunded, 3000, 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := dbtest.Open(t, Migrations)
			s := New(db)
			// Another order goes along untouched.
			if err := deliver(t, s, payload(t, "ord-other", "new_order_created", 100)); err != nil {
				t.Fatal(err)
			}
			for i, st := range tt.steps {
				// The amount changes on each event: only the first one counts.
				ev := payload(t, "ord-1", st.state, int64(3000+i))
				ev.Detail.Payment.RefundedMinor = st.refunded
				if err := deliver(t, s, ev); err != nil {
					t.Fatalf("%v: %v", st, err)
				}
			}
			p, err := s.Get(context.Background(), "ord-1")
			if err != nil {
				t.Fatal(err)
			}
			if p.Status != tt.want || p.CapturedMinor != tt.captured || p.RefundedMinor != tt.refundMn {
				t.Errorf("after %v: %s, captured %d, refunded %d; want %s, %d, %d", tt.steps, p.Status, p.CapturedMinor,
					p.RefundedMinor, tt.want, tt.captured, tt.refundMn)
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
