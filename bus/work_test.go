package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// rowWrites records, with SQLite triggers, every write to a delivery row:
// the insert, then each update, and the status it left.
func rowWrites(t *testing.T, db *gorm.DB) func(orderID, target string) []string {
	t.Helper()
	dbtest.SQLiteOnly(t, "the writes to each row are counted with SQLite triggers")
	step := database.Migration{ID: "test-row-writes", SQL: []string{
		`CREATE TABLE row_writes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id BIGINT, order_id TEXT, target TEXT, what TEXT)`,
		`CREATE TRIGGER row_inserted AFTER INSERT ON bus_deliveries BEGIN
			INSERT INTO row_writes (id, order_id, target, what) VALUES (NEW.id, NEW.order_id, NEW.target, 'insert ' || NEW.status); END`,
		`CREATE TRIGGER row_updated AFTER UPDATE ON bus_deliveries BEGIN
			INSERT INTO row_writes (id, order_id, target, what) VALUES (NEW.id, NEW.order_id, NEW.target, 'update ' || NEW.status); END`,
	}}
	if _, err := database.Migrate(context.Background(), db, []database.Migration{step}); err != nil {
		t.Fatal(err)
	}
	return func(orderID, target string) []string {
		var what []string
		if err := db.Raw("SELECT what FROM row_writes WHERE order_id = ? AND target = ? ORDER BY seq", orderID, target).
			Scan(&what).Error; err != nil {
			t.Fatal(err)
		}
		return what
	}
}

// TestRoutingWorksDeliveries: with hand-overs inside the process, the
// transaction that routes an event runs its modules' handlers and writes
// each delivery row once, as done, committed with the handler's work; a
// failing handler's work rolls back alone, its row records the failed
// attempt, and its retry goes through the claim path. Nothing waits for a
// claim or a lease on the way.
func TestRoutingWorksDeliveries(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	createWorkTable(t, db)
	writes := rowWrites(t, db)
	commits := database.NewBatcher(db, 64)
	bustest.Run(t, commits.Run)
	b := New(Deps{DB: db, Log: testLogger(t), Committer: commits.Priority()},
		[]RuleConfig{checkoutRule("fulfilment", detailTarget("inventory"), detailTarget("shipping"))},
		Options{PollInterval: 10 * time.Millisecond, Retry: fastRetry})
	var mu sync.Mutex
	calls := map[string]int{}
	for _, target := range []string{"inventory", "shipping"} {
		Subscribe(b, target, func(ctx context.Context, d Delivery[orderChange]) error {
			mu.Lock()
			calls[fmt.Sprintf("%s/%s#%d", d.OrderID, target, d.Attempt)]++
			mu.Unlock()
			if err := d.Tx.Create(&work{OrderID: d.OrderID + "/" + target, Attempt: d.Attempt}).Error; err != nil {
				return err
			}
			if d.OrderID == "ord_fail" && target == "shipping" && d.Attempt == 1 {
				return errors.New("carrier down")
			}
			return nil
		})
	}
	var details []Detail
	for i := range 10 {
		details = append(details, newOrder(fmt.Sprintf("ord_%02d", i)))
	}
	details = append(details, newOrder("ord_fail"))
	publish(t, db, b, details...)
	runBus(t, b)

	for _, d := range details {
		id := d.(orderChange).OrderID
		bustest.WaitFor(t, id+" delivered", statusIs(t, b, id, StatusDone, StatusDone))
	}
	for _, d := range details {
		id := d.(orderChange).OrderID
		for _, target := range []string{"inventory", "shipping"} {
			want := []string{"insert done"}
			if id == "ord_fail" && target == "shipping" {
				// The failed attempt, then the retry's claim and its outcome.
				want = []string{"insert done", "update failed", "update failed", "update done"}
			}
			if got := writes(id, target); !slices.Equal(got, want) {
				t.Errorf("%s to %s: row writes %v, want %v", id, target, got, want)
			}
		}
	}
	var got []string
	for _, w := range committedWork(t, db) {
		got = append(got, fmt.Sprintf("%s#%d", w.OrderID, w.Attempt))
	}
	if !slices.Contains(got, "ord_fail/inventory#1") || !slices.Contains(got, "ord_fail/shipping#2") ||
		slices.Contains(got, "ord_fail/shipping#1") || len(got) != 2*len(details) {
		t.Errorf("committed work %v: want each delivery's once, ord_fail's shipping from its second attempt only", got)
	}
	ds := deliveriesOf(t, b, "ord_fail")
	if ds[1].Attempts != 2 || ds[0].Attempts != 1 {
		t.Errorf("ord_fail deliveries %+v, want inventory done at once and shipping at the second attempt", ds)
	}
	// The failed attempt ran once: the unit that ran again, with a
	// savepoint per handler, recorded its failure without calling it.
	mu.Lock()
	defer mu.Unlock()
	if n := calls["ord_fail/shipping#1"]; n != 1 {
		t.Errorf("the failing attempt was called %d times, want 1", n)
	}
}

// TestRoutingLeavesAnOrdersLaterDeliveryToTheClaim: an order whose earlier
// delivery to a target is still being retried gets its next delivery to
// that target written pending, not worked at once, so it cannot overtake;
// its delivery to another target goes through at once.
func TestRoutingLeavesAnOrdersLaterDeliveryToTheClaim(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	writes := rowWrites(t, db)
	rule := checkoutRule("fulfilment", detailTarget("inventory"), detailTarget("shipping"))
	rule.Retry = &Retry{MaxAttempts: 100000}
	b := newTestBus(t, db, []RuleConfig{rule})
	release := make(chan struct{})
	var (
		mu    sync.Mutex
		order []string
	)
	Subscribe(b, "shipping", func(ctx context.Context, d Delivery[orderChange]) error {
		if d.Payload.State == "new_order_created" {
			select {
			case <-release:
			default:
				return errors.New("carrier down")
			}
		}
		mu.Lock()
		defer mu.Unlock()
		order = append(order, d.Payload.State)
		return nil
	})
	Subscribe(b, "inventory", nop[orderChange])
	runBus(t, b)

	publish(t, db, b, newOrder("ord_1"))
	bustest.WaitFor(t, "the creation's shipping delivery to fail", func() bool {
		ds := deliveriesOf(t, b, "ord_1")
		return len(ds) == 2 && ds[1].Attempts >= 1 && ds[1].Status == StatusFailed
	})
	cancelled := newOrder("ord_1")
	cancelled.State = "order_cancelled"
	publish(t, db, b, cancelled)
	bustest.WaitFor(t, "the cancellation routed", func() bool { return len(deliveriesOf(t, b, "ord_1")) == 4 })
	close(release)
	bustest.WaitFor(t, "every delivery done", statusIs(t, b, "ord_1", StatusDone, StatusDone, StatusDone, StatusDone))

	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, []string{"new_order_created", "order_cancelled"}) {
		t.Errorf("shipping handled %v, want the creation first", order)
	}
	if got := writes("ord_1", "inventory"); !slices.Equal(got, []string{"insert done", "insert done"}) {
		t.Errorf("inventory rows written %v, want each once, done", got)
	}
	if got := writes("ord_1", "shipping"); len(got) < 4 || got[0] != "insert done" || got[1] != "update failed" ||
		!slices.Contains(got, "insert pending") {
		t.Errorf("shipping rows written %v, want the creation worked at once and failed, the cancellation written pending", got)
	}
}
