package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
)

// TestPurgeKeepsUnfinishedWork: past the retention, events whose deliveries
// all finished go with their deliveries; an event with a delivery still
// being retried stays, whole, and so do recent events.
func TestPurgeKeepsUnfinishedWork(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	rule := checkoutRule("fulfilment", detailTarget("shipping"))
	rule.Retry = &Retry{MaxAttempts: 1_000_000, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond} // never dead here
	b := newTestBus(t, db, []RuleConfig{rule})
	Subscribe(b, "shipping", func(_ context.Context, d Delivery[orderChange]) error {
		if d.OrderID == "ord_stuck" {
			return errors.New("carrier down")
		}
		return nil
	})
	runBus(t, b)
	publish(t, db, b, newOrder("ord_old"), newOrder("ord_stuck"), newOrder("ord_new"))
	bustest.WaitFor(t, "ord_old delivered", statusIs(t, b, "ord_old", StatusDone))
	bustest.WaitFor(t, "ord_new delivered", statusIs(t, b, "ord_new", StatusDone))
	bustest.WaitFor(t, "ord_stuck failing", statusIs(t, b, "ord_stuck", StatusFailed))

	// Age two of them past a 30-day retention.
	old := time.Now().UTC().Add(-31 * 24 * time.Hour)
	if err := db.Model(&eventRow{}).Where("order_id IN ?", []string{"ord_old", "ord_stuck"}).Update("created_at", old).Error; err != nil {
		t.Fatal(err)
	}
	if err := b.purge(context.Background(), time.Now().Add(-30*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	count := func(model any, orderID string) int64 {
		var n int64
		if err := db.Model(model).Where("order_id = ?", orderID).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct {
		order      string
		events, ds int64
	}{{"ord_old", 0, 0}, {"ord_stuck", 1, 1}, {"ord_new", 1, 1}} {
		if e, d := count(&eventRow{}, c.order), count(&deliveryRow{}, c.order); e != c.events || d != c.ds {
			t.Errorf("%s: %d events and %d deliveries after the purge, want %d and %d", c.order, e, d, c.events, c.ds)
		}
	}
}
