package bus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm/clause"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// handled records, across the instances of one test, which deliveries
// each handler call ran, and fails the test if two ran one delivery at
// the same moment.
type handled struct {
	t       *testing.T
	mu      sync.Mutex
	running map[int64]string // delivery -> instance
	calls   map[string]int   // instance -> handler calls
}

func newHandled(t *testing.T) *handled {
	return &handled{t: t, running: map[int64]string{}, calls: map[string]int{}}
}

func (h *handled) enter(id int64, instance string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if other, ok := h.running[id]; ok {
		h.t.Errorf("delivery %d is worked by %s and %s at once", id, other, instance)
	}
	h.running[id] = instance
	h.calls[instance]++
}

func (h *handled) leave(id int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.running, id)
}

// TestExpiredLeaseIsTakenOver: a delivery claimed by an instance that died
// waits for the end of the dead instance's lease, then another takes it.
func TestExpiredLeaseIsTakenOver(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	b := newTestBus(t, db, []RuleConfig{checkoutRule("shipments", detailTarget("shipping"))})
	calls := make(chan int64, 10)
	Subscribe(b, "shipping", func(ctx context.Context, d Delivery[orderChange]) error {
		calls <- d.ID
		return nil
	})
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	publish(t, db, b, newOrder("ord_1"))
	if err := b.route(context.Background()); err != nil {
		t.Fatal(err)
	}
	lease := func(until time.Time) {
		t.Helper()
		err := db.Model(&deliveryRow{}).Where("order_id = ?", "ord_1").
			Updates(map[string]any{"lease_owner": "dead-instance", "lease_until": until.UTC()}).Error
		if err != nil {
			t.Fatal(err)
		}
	}
	lease(time.Now().Add(time.Hour))
	bustest.Run(t, b.Run)

	select {
	case id := <-calls:
		t.Fatalf("delivery %d was taken while another instance's lease held it", id)
	case <-time.After(300 * time.Millisecond):
	}
	lease(time.Now().Add(-time.Second)) // the lease ran out
	b.Wake()
	bustest.WaitFor(t, "the delivery to be done", statusIs(t, b, "ord_1", StatusDone))
	var row deliveryRow
	if err := db.Where("order_id = ?", "ord_1").Take(&row).Error; err != nil {
		t.Fatal(err)
	}
	if row.LeaseOwner != b.owner || row.LeaseUntil != nil || row.Attempts != 1 {
		t.Errorf("lease owner %q until %v, %d attempts; want %q, none, 1", row.LeaseOwner, row.LeaseUntil, row.Attempts, b.owner)
	}
	if len(calls) != 1 {
		t.Errorf("%d handler calls, want 1", len(calls))
	}
}

// TestLeaseEndingMidHandler: a handler that outlasts its lease keeps its
// delivery; the row it holds in its transaction keeps another instance
// from working it too.
func TestLeaseEndingMidHandler(t *testing.T) {
	cfg := dbtest.Config(t)
	db := dbtest.Connect(t, cfg)
	if _, err := database.Migrate(context.Background(), db, Migrations); err != nil {
		t.Fatal(err)
	}
	rule := checkoutRule("shipments", detailTarget("shipping"))
	h := newHandled(t)
	var buses []*Bus
	for i := range 2 {
		b := newTestBus(t, dbtest.Connect(t, cfg), []RuleConfig{rule})
		b.lease = 20 * time.Millisecond
		name := fmt.Sprintf("instance-%d", i)
		Subscribe(b, "shipping", func(ctx context.Context, d Delivery[orderChange]) error {
			h.enter(d.ID, name)
			defer h.leave(d.ID)
			time.Sleep(200 * time.Millisecond) // ten leases
			return nil
		})
		runBus(t, b)
		buses = append(buses, b)
	}
	publish(t, db, buses[0], newOrder("ord_1"), newOrder("ord_2"))
	bustest.WaitFor(t, "both deliveries done", func() bool {
		return statusIs(t, buses[0], "ord_1", StatusDone)() && statusIs(t, buses[0], "ord_2", StatusDone)()
	})
	time.Sleep(100 * time.Millisecond) // a late second run would show now
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := h.calls["instance-0"] + h.calls["instance-1"]; n != 2 {
		t.Errorf("%d handler calls for 2 deliveries: %v", n, h.calls)
	}
	for _, id := range []string{"ord_1", "ord_2"} {
		if d := deliveriesOf(t, buses[0], id)[0]; d.Attempts != 1 {
			t.Errorf("%s: %d attempts, want 1", id, d.Attempts)
		}
	}
}

// TestRoutingSkipsEventsAnotherInstanceHolds: while one instance routes a
// batch, another routes the events after it, and leaves alone both that
// batch and the later events of its orders, which must follow it.
func TestRoutingSkipsEventsAnotherInstanceHolds(t *testing.T) {
	if !dbtest.Postgres() {
		t.Skip("PostgreSQL only: on SQLite the first routing transaction holds the one write lock, so nothing runs beside it")
	}
	cfg := dbtest.Config(t)
	db := dbtest.Connect(t, cfg)
	if _, err := database.Migrate(context.Background(), db, Migrations); err != nil {
		t.Fatal(err)
	}
	b := routingBus(t, dbtest.Connect(t, cfg), []RuleConfig{checkoutRule("all", TargetConfig{Module: "crm"})})
	cancelled := newOrder("ord_A")
	cancelled.State = "order_cancelled"
	events := publish(t, db, b, newOrder("ord_A"), newOrder("ord_B"), cancelled)

	// The other instance's routing transaction, stopped after it locked
	// ord_A's first event.
	other := db.Begin()
	t.Cleanup(func() { other.Rollback() })
	var held eventRow
	err := other.Where("id = ?", events[0].ID).
		Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked}).Take(&held).Error
	if err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() { done <- b.route(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("routing waited for the other instance's lock")
	}
	for i, want := range []bool{false, true, false} {
		if got := isRouted(t, db, events[i].ID); got != want {
			t.Errorf("event %d routed = %v, want %v", i, got, want)
		}
	}

	// Once the other instance lets go, ord_A's events are routed in order.
	if err := other.Rollback().Error; err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := b.route(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var rows []deliveryRow
	if err := db.Where("order_id = ?", "ord_A").Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].EventID != events[0].ID || rows[1].EventID != events[2].ID {
		t.Errorf("ord_A's deliveries %+v, want the creation's then the cancellation's", rows)
	}
}
