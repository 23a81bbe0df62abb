package payment

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database/dbtest"
)

// TestStripeEventsOnce: a Stripe event is recorded once; one recorded in a
// transaction that rolls back was never received; the order's list and
// the owner's list of events that changed nothing read them back.
func TestStripeEventsOnce(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	s := New(db)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	applied := StripeEvent{EventID: "evt_1", Type: "payment_intent.succeeded", OrderID: "ord-1", Reference: "pi_1",
		Outcome: OutcomeApplied, CreatedAt: at}
	if err := s.RecordStripeEvent(ctx, applied); err != nil {
		t.Fatal(err)
	}
	again := applied
	again.Outcome, again.Reason = OutcomeRefused, "later"
	if err := s.RecordStripeEvent(ctx, again); !errors.Is(err, ErrStripeEventSeen) {
		t.Errorf("the same event again = %v, want ErrStripeEventSeen", err)
	}
	boom := errors.New("the move failed")
	err := db.Transaction(func(tx *gorm.DB) error {
		if err := RecordStripeEvent(tx, StripeEvent{EventID: "evt_2", OrderID: "ord-1", Outcome: OutcomeApplied}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := s.StripeEvent(ctx, "evt_2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an event whose move rolled back is recorded: %v", err)
	}
	for i, e := range []StripeEvent{
		{EventID: "evt_3", Type: "charge.refunded", OrderID: "ord-1", Outcome: OutcomeRefused, Reason: "nothing more to refund"},
		{EventID: "evt_4", Type: "payment_intent.succeeded", Reference: "pi_9", Outcome: OutcomeUnknownOrder, Reason: "no order"},
	} {
		e.CreatedAt = at.Add(time.Duration(i+1) * time.Minute)
		if err := s.RecordStripeEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.StripeEvent(ctx, "evt_1")
	if err != nil || got.Outcome != OutcomeApplied || !got.CreatedAt.Equal(at) {
		t.Errorf("evt_1 = %+v, %v", got, err)
	}
	ids := func(es []StripeEvent, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.EventID)
		}
		return out
	}
	if got := ids(s.StripeEvents(ctx, "ord-1")); len(got) != 2 || got[0] != "evt_1" || got[1] != "evt_3" {
		t.Errorf("ord-1's Stripe events = %v, want evt_1, evt_3", got)
	}
	if got := ids(s.UnappliedStripeEvents(ctx, 10)); len(got) != 2 || got[0] != "evt_4" || got[1] != "evt_3" {
		t.Errorf("unapplied = %v, want evt_4, evt_3 (newest first)", got)
	}
}

func TestOrderFor(t *testing.T) {
	s := New(dbtest.Open(t, Migrations))
	ctx := context.Background()
	if err := deliver(t, s, payload(t, "ord-1", "new_order_created", 3000)); err != nil { // reference pi_ord-1
		t.Fatal(err)
	}
	if id, err := s.OrderFor(ctx, "pi_ord-1"); err != nil || id != "ord-1" {
		t.Errorf("OrderFor(pi_ord-1) = %q, %v", id, err)
	}
	if _, err := s.OrderFor(ctx, "pi_other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("OrderFor(pi_other) = %v, want ErrNotFound", err)
	}
}
