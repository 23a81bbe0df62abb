package bus

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
)

func TestOrderedPerOrderAndTarget(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	rule := checkoutRule("shipments", detailTarget("shipping"))
	rule.Retry = &Retry{MaxAttempts: 500}
	b := newTestBus(t, db, []RuleConfig{rule})
	var (
		mu    sync.Mutex
		calls []string // "order/state" per call
		done  []string // "order/state" per success
	)
	Subscribe(b, "shipping", func(ctx context.Context, d Delivery[orderChange]) error {
		key := d.OrderID + "/" + d.Payload.State
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, key)
		// The order's first event keeps failing until another order's
		// delivery to the same target got through.
		if key == "ord_A/new_order_created" && (d.Attempt <= 3 || !slices.Contains(done, "ord_B/new_order_created")) {
			return errors.New("carrier down")
		}
		done = append(done, key)
		return nil
	})
	runBus(t, b)

	cancelA := newOrder("ord_A")
	cancelA.State = "order_cancelled"
	publish(t, db, b, newOrder("ord_A"), cancelA, newOrder("ord_B"))
	bustest.WaitFor(t, "every delivery done", func() bool {
		return statusIs(t, b, "ord_A", StatusDone, StatusDone)() && statusIs(t, b, "ord_B", StatusDone)()
	})

	mu.Lock()
	defer mu.Unlock()
	want := []string{"ord_B/new_order_created", "ord_A/new_order_created", "ord_A/order_cancelled"}
	if !slices.Equal(done, want) {
		t.Errorf("handled in order %v, want %v", done, want)
	}
	firstCancel := slices.Index(calls, "ord_A/order_cancelled")
	if firstCancel < 0 {
		t.Fatal("the cancellation was never handled")
	}
	if tries := len(slices.DeleteFunc(slices.Clone(calls[:firstCancel]), func(k string) bool { return k != "ord_A/new_order_created" })); tries < 4 {
		t.Errorf("the cancellation ran after %d tries of the creation, want it to wait for the 4th: calls %v", tries, calls)
	}
	if a := deliveriesOf(t, b, "ord_A"); a[0].Attempts < 4 || a[1].Attempts != 1 {
		t.Errorf("attempts %d and %d, want at least 4 and 1", a[0].Attempts, a[1].Attempts)
	}
}

func TestFailingTargetDoesNotDelayOthers(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	rule := checkoutRule("fan-out", detailTarget("crm"), detailTarget("shipping"))
	rule.Retry = &Retry{MaxAttempts: 100000}
	b := New(Deps{DB: db, Log: testLogger(t)}, []RuleConfig{rule}, Options{Workers: 1, PollInterval: 10 * time.Millisecond, Retry: fastRetry})
	var crmCalls atomic.Int32
	Subscribe(b, "crm", func(ctx context.Context, d Delivery[orderChange]) error {
		crmCalls.Add(1)
		return errors.New("crm unreachable")
	})
	Subscribe(b, "shipping", nop[orderChange])
	runBus(t, b)

	orders := []string{"ord_1", "ord_2", "ord_3"}
	for _, id := range orders {
		publish(t, db, b, newOrder(id))
	}
	bustest.WaitFor(t, "every shipping delivery done", func() bool {
		for _, id := range orders {
			ds := deliveriesOf(t, b, id)
			if len(ds) != 2 || ds[1].Target != "shipping" || ds[1].Status != StatusDone {
				return false
			}
		}
		return true
	})
	for _, id := range orders {
		if d := deliveriesOf(t, b, id)[0]; d.Target != "crm" || d.Status == StatusDone || d.Status == StatusDead {
			t.Errorf("crm delivery %+v, want still retrying", d)
		}
	}
	if crmCalls.Load() == 0 {
		t.Error("crm was never tried")
	}
}

func TestDeliveryToTargetWithoutSubscriberDoesNotStallBus(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	// A delivery left unfinished under an earlier configuration whose
	// "legacy" module is gone.
	old := newTestBus(t, db, []RuleConfig{checkoutRule("legacy-sync", detailTarget("legacy"))})
	Subscribe(old, "legacy", nop[orderChange])
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	publish(t, db, old, newOrder("ord_old"))
	if err := old.route(context.Background()); err != nil {
		t.Fatal(err)
	}

	b := New(Deps{DB: db, Log: testLogger(t)}, []RuleConfig{checkoutRule("shipments", detailTarget("shipping"))},
		Options{Workers: 1, PollInterval: 10 * time.Millisecond, Retry: fastRetry})
	Subscribe(b, "shipping", nop[orderChange])
	runBus(t, b)
	publish(t, db, b, newOrder("ord_new"))
	bustest.WaitFor(t, "the new order's delivery", statusIs(t, b, "ord_new", StatusDone))
	bustest.WaitFor(t, "the orphan delivery to be dead", statusIs(t, b, "ord_old", StatusDead))
	if d := deliveriesOf(t, b, "ord_old")[0]; !strings.Contains(d.LastError, `"legacy"`) {
		t.Errorf("orphan delivery %+v, want it dead for want of a subscriber", d)
	}
}
