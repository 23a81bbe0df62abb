package checkout

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/fault"
)

func ptr[T any](v T) *T { return &v }

// TestChangeCarriesItsFacts: the shipment a move to order_shipped brings
// stays on the order and in every later event; a refund records what it
// gave back, in the detail and in the payment.
func TestChangeCarriesItsFacts(t *testing.T) {
	s, db, _ := newTestService(t)
	ctx := context.Background()
	if _, err := s.Place(ctx, validOrder("ord-1")); err != nil {
		t.Fatal(err)
	}
	sh := &Shipment{Carrier: "DHL", TrackingNumber: "JD0142", TrackingURL: "https://track.example/JD0142"}
	for _, ch := range []Change{{State: event.OrderPaid}, {State: event.OrderShipped, Shipment: sh}, {State: event.OrderDelivered},
		{State: event.OrderRefunded, RefundMinor: ptr[int64](1200)}} {
		if _, err := s.Apply(ctx, "ord-1", ch); err != nil {
			t.Fatalf("%s: %v", ch.State, err)
		}
	}
	o, err := s.Get(ctx, "ord-1")
	if err != nil {
		t.Fatal(err)
	}
	if o.Shipment == nil || *o.Shipment != *sh || o.RefundMinor != 1200 || o.Payment.RefundedMinor != 1200 {
		t.Errorf("order shipment %+v, refund %d, refunded %d", o.Shipment, o.RefundMinor, o.Payment.RefundedMinor)
	}
	evs := events(t, db, "ord-1")
	if len(evs) != 5 {
		t.Fatalf("%d events", len(evs))
	}
	for i, ev := range evs {
		d := detail(t, ev)
		shipment, _ := d["shipment"].(map[string]any)
		switch {
		case i < 2 && shipment != nil:
			t.Errorf("event %d (%s) has a shipment before the order shipped", i, d["order_state"])
		case i >= 2 && (shipment["carrier"] != "DHL" || shipment["tracking_url"] != sh.TrackingURL):
			t.Errorf("event %d (%s) shipment = %v", i, d["order_state"], shipment)
		}
		refunded := d["payment"].(map[string]any)["refunded_minor"]
		if i < 4 && (d["refund_minor"] != nil || refunded != nil) {
			t.Errorf("event %d (%s) refunds before the refund: %v %v", i, d["order_state"], d["refund_minor"], refunded)
		}
		if i == 4 && (d["refund_minor"] != 1200.0 || refunded != 1200.0) {
			t.Errorf("the refund's detail: refund_minor %v, payment.refunded_minor %v", d["refund_minor"], refunded)
		}
	}
}

func TestRefundWholeByDefault(t *testing.T) {
	s, _, _ := newTestService(t)
	ctx := context.Background()
	if _, err := s.Place(ctx, validOrder("ord-1")); err != nil {
		t.Fatal(err)
	}
	s.ChangeState(ctx, "ord-1", event.OrderPaid)
	if _, err := s.ChangeState(ctx, "ord-1", event.OrderRefunded); err != nil {
		t.Fatal(err)
	}
	if o, _ := s.Get(ctx, "ord-1"); o.RefundMinor != 3000 || o.Payment.RefundedMinor != 3000 {
		t.Errorf("refund %d, refunded %d; want the whole 3000", o.RefundMinor, o.Payment.RefundedMinor)
	}
}

func TestChangeRefused(t *testing.T) {
	tests := []struct {
		name  string
		ch    Change
		field string // for a 422; "" for a conflict
	}{
		{"shipment on a payment", Change{State: event.OrderPaid, Shipment: &Shipment{Carrier: "DHL"}}, "shipment"},
		{"tracking that is not a web address", Change{State: event.OrderShipped, Shipment: &Shipment{TrackingURL: "javascript:alert(1)"}}, "shipment.tracking_url"},
		{"tracking without a host", Change{State: event.OrderShipped, Shipment: &Shipment{TrackingURL: "https:///x"}}, "shipment.tracking_url"},
		{"a carrier of spaces", Change{State: event.OrderShipped, Shipment: &Shipment{Carrier: "  "}}, "shipment.carrier"},
		{"a control character", Change{State: event.OrderShipped, Shipment: &Shipment{TrackingNumber: "A\nB"}}, "shipment.tracking_number"},
		{"a refund amount on a shipment", Change{State: event.OrderShipped, RefundMinor: ptr[int64](100)}, "refund_minor"},
		{"a zero refund", Change{State: event.OrderRefunded, RefundMinor: ptr[int64](0)}, "refund_minor"},
		{"more than was paid", Change{State: event.OrderRefunded, RefundMinor: ptr[int64](3001)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, db, _ := newTestService(t)
			ctx := context.Background()
			if _, err := s.Place(ctx, validOrder("ord-1")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ChangeState(ctx, "ord-1", event.OrderPaid); err != nil {
				t.Fatal(err)
			}
			_, err := s.Apply(ctx, "ord-1", tt.ch)
			if tt.field == "" {
				if !errors.Is(err, ErrOverRefund) || fault.CodeOf(err) != fault.Conflict {
					t.Errorf("Apply = %v, want ErrOverRefund (a conflict)", err)
				}
			} else if fields := fault.FieldsOf(err); len(fields) == 0 || fields[0].Field != tt.field {
				t.Errorf("Apply = %v, want a 422 on %s", err, tt.field)
			}
			if o, _ := s.Get(ctx, "ord-1"); o.State != event.OrderPaid || o.Shipment != nil || o.RefundMinor != 0 {
				t.Errorf("a refused change moved the order: %+v", o)
			}
			if n := dbtest.Count(t, db, "bus_events"); n != 2 {
				t.Errorf("%d events after a refused change, want 2", n)
			}
		})
	}
}

func TestNewOrderRefusesRefunds(t *testing.T) {
	o := validOrder("ord-1")
	o.Payment.RefundedMinor = 5
	if fields := fault.FieldsOf(o.Validate()); len(fields) != 1 || fields[0].Field != "payment.refunded_minor" {
		t.Errorf("Validate = %v, want payment.refunded_minor refused", fields)
	}
}

func TestMoves(t *testing.T) {
	if got := Moves(event.OrderPaid); !slices.Equal(got, []string{event.OrderShipped, event.OrderCancelled, event.OrderRefunded}) {
		t.Errorf("Moves(paid) = %v", got)
	}
	if got := Moves(event.OrderRefunded); len(got) != 0 {
		t.Errorf("Moves(refunded) = %v", got)
	}
	Moves(event.OrderPaid)[0] = "mangled"
	if Moves(event.OrderPaid)[0] != event.OrderShipped {
		t.Error("Moves hands out the state machine itself")
	}
}
