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

// TestPartialRefunds: each refund is its own event; one that leaves part
// of the order paid keeps the order's state and says so in its
// detail-type; the refund of the rest moves the order to order_refunded;
// no refund gives back more than is left.
func TestPartialRefunds(t *testing.T) {
	s, db, _ := newTestService(t)
	ctx := context.Background()
	if _, err := s.Place(ctx, validOrder("ord-1")); err != nil { // 3000
		t.Fatal(err)
	}
	steps := []struct {
		ch       Change
		state    string // the order's state after the change
		refund   int64  // refund_minor on the order and in the event
		refunded int64  // payment.refunded_minor
		typ      string // the event's detail-type
	}{
		{Change{State: event.OrderPaid}, event.OrderPaid, 0, 0, event.TypeOrderStateChange},
		{Change{State: event.OrderRefunded, RefundMinor: ptr[int64](1000)}, event.OrderPaid, 1000, 1000, event.TypeOrderPartiallyRefunded},
		{Change{State: event.OrderShipped, Shipment: &Shipment{Carrier: "DHL"}}, event.OrderShipped, 0, 1000, event.TypeOrderStateChange},
		{Change{State: event.OrderRefunded, RefundMinor: ptr[int64](1500)}, event.OrderShipped, 1500, 2500, event.TypeOrderPartiallyRefunded},
		{Change{State: event.OrderRefunded}, event.OrderRefunded, 500, 3000, event.TypeOrderStateChange}, // the rest
	}
	for i, st := range steps {
		acc, err := s.Apply(ctx, "ord-1", st.ch)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		o, _ := s.Get(ctx, "ord-1")
		if acc.State != st.state || o.State != st.state || o.RefundMinor != st.refund || o.Payment.RefundedMinor != st.refunded {
			t.Errorf("step %d: answered %s; order %s, refund %d, refunded %d; want %s %d %d", i, acc.State, o.State,
				o.RefundMinor, o.Payment.RefundedMinor, st.state, st.refund, st.refunded)
		}
		evs := events(t, db, "ord-1")
		ev := evs[len(evs)-1]
		d := detail(t, ev)
		if ev.ID != acc.EventID || ev.DetailType != st.typ || d["order_state"] != st.state {
			t.Errorf("step %d: event %s %q in %v, want %q in %s", i, ev.ID, ev.DetailType, d["order_state"], st.typ, st.state)
		}
		if got, _ := d["refund_minor"].(float64); int64(got) != st.refund {
			t.Errorf("step %d: the event's refund_minor = %v, want %d", i, d["refund_minor"], st.refund)
		}
		if got, _ := d["payment"].(map[string]any)["refunded_minor"].(float64); int64(got) != st.refunded {
			t.Errorf("step %d: the event's payment.refunded_minor = %v, want %d", i, got, st.refunded)
		}
		if i == 3 { // before the last: 500 is left, and no more
			if _, err := s.Apply(ctx, "ord-1", Change{State: event.OrderRefunded, RefundMinor: ptr[int64](501)}); !errors.Is(err, ErrOverRefund) {
				t.Errorf("refunding 501 of the 500 left = %v, want ErrOverRefund", err)
			}
		}
	}
	if _, err := s.Apply(ctx, "ord-1", Change{State: event.OrderRefunded, RefundMinor: ptr[int64](1)}); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("a refund of a refunded order = %v, want ErrInvalidTransition", err)
	}
	if n := len(events(t, db, "ord-1")); n != 6 {
		t.Errorf("%d events, want 6: the refused refunds published nothing", n)
	}
}

// TestRefundedTo: a running total of refunds, as a payment provider tells
// it, refunds the difference once; the same total again adds nothing.
func TestRefundedTo(t *testing.T) {
	s, _, _ := newTestService(t)
	ctx := context.Background()
	if _, err := s.Place(ctx, validOrder("ord-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeState(ctx, "ord-1", event.OrderPaid); err != nil {
		t.Fatal(err)
	}
	to := func(total int64) error {
		_, err := s.Apply(ctx, "ord-1", Change{State: event.OrderRefunded, RefundedTo: &total})
		return err
	}
	if err := to(1000); err != nil {
		t.Fatal(err)
	}
	if err := to(1000); !errors.Is(err, ErrNothingToRefund) || fault.CodeOf(err) != fault.Conflict {
		t.Errorf("the same total again = %v, want ErrNothingToRefund", err)
	}
	if err := to(3001); !errors.Is(err, ErrOverRefund) {
		t.Errorf("a total above what was paid = %v, want ErrOverRefund", err)
	}
	if o, _ := s.Get(ctx, "ord-1"); o.State != event.OrderPaid || o.RefundMinor != 1000 || o.Payment.RefundedMinor != 1000 {
		t.Errorf("after 1000 of 3000: %s, refund %d, refunded %d", o.State, o.RefundMinor, o.Payment.RefundedMinor)
	}
	if err := to(3000); err != nil {
		t.Fatal(err)
	}
	if o, _ := s.Get(ctx, "ord-1"); o.State != event.OrderRefunded || o.RefundMinor != 2000 || o.Payment.RefundedMinor != 3000 {
		t.Errorf("after the whole: %s, refund %d, refunded %d", o.State, o.RefundMinor, o.Payment.RefundedMinor)
	}
	total := int64(5)
	for _, ch := range []Change{{State: event.OrderShipped, RefundedTo: &total},
		{State: event.OrderRefunded, RefundedTo: &total, RefundMinor: &total}} {
		if fields := fault.FieldsOf(ch.validate()); len(fields) != 1 || fields[0].Field != "refunded_to" {
			t.Errorf("validate(%+v) = %v, want refunded_to refused", ch, fields)
		}
	}
}

// TestConcurrentPartialRefunds: refunds of one order at once each count;
// none overwrites another's sum.
func TestConcurrentPartialRefunds(t *testing.T) {
	s, db, _ := newTestService(t)
	ctx := context.Background()
	if _, err := s.Place(ctx, validOrder("ord-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeState(ctx, "ord-1", event.OrderPaid); err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := s.Apply(ctx, "ord-1", Change{State: event.OrderRefunded, RefundMinor: ptr[int64](100)})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if o, _ := s.Get(ctx, "ord-1"); o.Payment.RefundedMinor != n*100 || o.State != event.OrderPaid {
		t.Errorf("after %d refunds of 100: %s, refunded %d", n, o.State, o.Payment.RefundedMinor)
	}
	if got := len(events(t, db, "ord-1")); got != 2+n {
		t.Errorf("%d events, want %d", got, 2+n)
	}
}
