package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/bus/transform"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// detailTarget is a target that receives the event's detail.
func detailTarget(module string) TargetConfig {
	return TargetConfig{Module: module, Spec: transform.Spec{InputPath: "$.detail"}}
}

// createWorkTable creates a table the test's handlers write to in d.Tx, so
// the test can see which handler transactions committed.
func createWorkTable(t *testing.T, db *gorm.DB) {
	t.Helper()
	step := database.Migration{ID: "test-work", SQL: []string{`CREATE TABLE work (seq $AUTOID, order_id TEXT NOT NULL, attempt INTEGER NOT NULL)`}}
	if _, err := database.Migrate(context.Background(), db, []database.Migration{step}); err != nil {
		t.Fatal(err)
	}
}

type work struct {
	OrderID string
	Attempt int
}

func (work) TableName() string { return "work" }

func committedWork(t *testing.T, db *gorm.DB) []work {
	t.Helper()
	var ws []work
	if err := db.Order("seq").Find(&ws).Error; err != nil {
		t.Fatal(err)
	}
	return ws
}

func TestDeliveryIsTyped(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	createWorkTable(t, db)
	b := newTestBus(t, db, []RuleConfig{checkoutRule("fulfilment", detailTarget("inventory"))})
	got := make(chan Delivery[orderChange], 1)
	Subscribe(b, "inventory", func(ctx context.Context, d Delivery[orderChange]) error {
		if err := d.Tx.Create(&work{OrderID: d.OrderID, Attempt: d.Attempt}).Error; err != nil {
			return err
		}
		select {
		case got <- d:
		default: // a second hand-over fails the test below, not the bus's shutdown
		}
		return nil
	})
	runBus(t, b)

	ev := publish(t, db, b, newOrder("ord_1"))[0]
	var d Delivery[orderChange]
	select {
	case d = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	if !reflect.DeepEqual(d.Payload, newOrder("ord_1")) {
		t.Errorf("payload %+v, want %+v", d.Payload, newOrder("ord_1"))
	}
	if d.Rule != "fulfilment" || d.Target != "inventory" || d.EventID != ev.ID || d.OrderID != "ord_1" || d.Attempt != 1 || d.Tx == nil {
		t.Errorf("delivery %+v, want rule fulfilment, target inventory, event %s, order ord_1, attempt 1, a Tx", d, ev.ID)
	}

	// The handler's work and the "done" mark become visible together.
	bustest.WaitFor(t, "the handler's work to commit", func() bool {
		n := len(committedWork(t, db))
		if n > 0 {
			if ds := deliveriesOf(t, b, "ord_1"); ds[0].Status != StatusDone {
				t.Fatalf("work committed while the delivery is %s", ds[0].Status)
			}
		}
		return n > 0
	})
	ds := deliveriesOf(t, b, "ord_1")
	if len(ds) != 1 || ds[0].ID != d.ID || ds[0].Attempts != 1 || ds[0].LastError != "" {
		t.Errorf("deliveries %+v, want one done after 1 attempt with id %d", ds, d.ID)
	}
	if ws := committedWork(t, db); !reflect.DeepEqual(ws, []work{{"ord_1", 1}}) {
		t.Errorf("work %+v, want one row", ws)
	}
}

func TestFailedAttemptRollsBackAndIsRetried(t *testing.T) {
	const failures = 2
	db := dbtest.Open(t, Migrations)
	createWorkTable(t, db)
	b := newTestBus(t, db, []RuleConfig{checkoutRule("fulfilment", detailTarget("inventory"))})
	secondStarted := make(chan struct{})
	gate := make(chan struct{})
	Subscribe(b, "inventory", func(ctx context.Context, d Delivery[orderChange]) error {
		if err := d.Tx.Create(&work{OrderID: d.OrderID, Attempt: d.Attempt}).Error; err != nil {
			return err
		}
		if d.Attempt == 2 {
			// Hold the second attempt so the test sees what the first left.
			close(secondStarted)
			select {
			case <-gate:
			case <-t.Context().Done():
			}
		}
		if d.Attempt <= failures {
			return fmt.Errorf("warehouse offline (attempt %d)", d.Attempt)
		}
		return nil
	})
	runBus(t, b)

	publish(t, db, b, newOrder("ord_1"))
	select {
	case <-secondStarted:
	case <-time.After(10 * time.Second):
		t.Fatal("no second attempt")
	}
	ds := deliveriesOf(t, b, "ord_1")
	if len(ds) != 1 || ds[0].Status != StatusFailed || ds[0].Attempts != 1 || ds[0].LastError != "warehouse offline (attempt 1)" {
		t.Errorf("after one failure: %+v, want failed, 1 attempt, the handler's error", ds)
	}
	if ws := committedWork(t, db); len(ws) != 0 {
		t.Errorf("the failed attempt's work committed: %+v", ws)
	}
	close(gate)

	bustest.WaitFor(t, "the delivery to be done", statusIs(t, b, "ord_1", StatusDone))
	ds = deliveriesOf(t, b, "ord_1")
	if ds[0].Attempts != failures+1 || ds[0].LastError != "" {
		t.Errorf("done delivery %+v, want %d attempts and no error", ds[0], failures+1)
	}
	if ws := committedWork(t, db); !reflect.DeepEqual(ws, []work{{"ord_1", failures + 1}}) {
		t.Errorf("work %+v, want only the successful attempt's", ws)
	}
}

func TestPublishFromHandler(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	b := newTestBus(t, db, []RuleConfig{
		checkoutRule("fulfilment", detailTarget("inventory")),
		{
			Name:    "shortages",
			Pattern: map[string]any{"source": []any{"shopbus.inventory"}, "detail-type": []any{"Inventory Shortage"}},
			Targets: []TargetConfig{detailTarget("crm")},
		},
	})
	Subscribe(b, "inventory", func(ctx context.Context, d Delivery[orderChange]) error {
		_, err := Publish(ctx, d.Tx, shortage{OrderID: d.OrderID, SKU: d.Payload.Items[0].SKU})
		return err
	})
	var (
		mu   sync.Mutex
		seen []shortage
	)
	Subscribe(b, "crm", func(ctx context.Context, d Delivery[shortage]) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, d.Payload)
		return nil
	})
	runBus(t, b)

	const n = 20
	var details []Detail
	for i := range n {
		details = append(details, newOrder(fmt.Sprintf("ord_%02d", i)))
	}
	publish(t, db, b, details...)
	for i := range n {
		id := fmt.Sprintf("ord_%02d", i)
		bustest.WaitFor(t, id+"'s shortage delivered", statusIs(t, b, id, StatusDone, StatusDone))
		if ds := deliveriesOf(t, b, id); ds[0].Target != "inventory" || ds[1].Target != "crm" || ds[1].Rule != "shortages" {
			t.Errorf("%s deliveries %+v, want inventory then crm by shortages", id, ds)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n || !slices.Contains(seen, shortage{OrderID: "ord_07", SKU: "MUG-1"}) {
		t.Errorf("crm saw %+v, want %d shortages", seen, n)
	}
}

func TestRunWaitsForInflightHandler(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	createWorkTable(t, db)
	b := newTestBus(t, db, []RuleConfig{checkoutRule("fulfilment", detailTarget("inventory"))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	var once sync.Once
	Subscribe(b, "inventory", func(hctx context.Context, d Delivery[orderChange]) error {
		once.Do(func() { close(started) })
		select {
		case <-ctx.Done(): // the bus is stopping: this delivery still finishes
		case <-t.Context().Done():
		}
		time.Sleep(50 * time.Millisecond) // slow work, so a Run that did not wait would return first
		// The handler's context outlives the bus's.
		if err := hctx.Err(); err != nil {
			return err
		}
		return d.Tx.Create(&work{OrderID: d.OrderID, Attempt: d.Attempt}).Error
	})
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- b.Run(ctx) }()

	publish(t, db, b, newOrder("ord_1"))
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("handler not called")
	}
	cancel()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if ds := deliveriesOf(t, b, "ord_1"); ds[0].Status != StatusDone || ds[0].Attempts != 1 {
		t.Errorf("after Run returned the delivery is %+v, want done", ds[0])
	}
	if ws := committedWork(t, db); len(ws) != 1 {
		t.Errorf("work %+v, want the handler's row committed", ws)
	}
}

func TestRunBeforeStart(t *testing.T) {
	b := newTestBus(t, dbtest.Open(t, Migrations), nil)
	if err := b.Run(context.Background()); err == nil {
		t.Fatal("Run before Start succeeded")
	}
}

func TestDeliveries(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	b := newTestBus(t, db, []RuleConfig{checkoutRule("shipments", detailTarget("shipping"))})
	Subscribe(b, "shipping", func(ctx context.Context, d Delivery[orderChange]) error {
		if d.Payload.State == "new_order_created" {
			return Permanent(errors.New("address unknown"))
		}
		return nil
	})
	runBus(t, b)

	cancelled := newOrder("ord_1")
	cancelled.State = "order_cancelled"
	events := publish(t, db, b, newOrder("ord_1"), newOrder("ord_2"), cancelled)
	bustest.WaitFor(t, "ord_1's deliveries to finish", statusIs(t, b, "ord_1", StatusDead, StatusDone))

	ds := deliveriesOf(t, b, "ord_1")
	for i, want := range []DeliveryStatus{
		{EventID: events[0].ID, Rule: "shipments", Target: "shipping", Status: StatusDead, Attempts: 1, LastError: "permanent failure: address unknown"},
		{EventID: events[2].ID, Rule: "shipments", Target: "shipping", Status: StatusDone, Attempts: 1},
	} {
		got := ds[i]
		if got.ID == 0 || got.UpdatedAt.IsZero() {
			t.Errorf("delivery %d has no id or update time: %+v", i, got)
		}
		if got.EventID != want.EventID || got.Rule != want.Rule || got.Target != want.Target ||
			got.Status != want.Status || got.Attempts != want.Attempts || got.LastError != want.LastError {
			t.Errorf("delivery %d\n got %+v\nwant %+v", i, got, want)
		}
	}
	if ds[0].ID >= ds[1].ID {
		t.Errorf("deliveries not oldest first: %+v", ds)
	}
	if none := deliveriesOf(t, b, "ord_unknown"); none == nil || len(none) != 0 {
		t.Errorf("an unknown order has deliveries %#v, want an empty list", none)
	}
}

// TestDeliveriesShareGroupCommits runs the bus through a database.Batcher:
// deliveries handled at the same moment share one commit, yet a failing or
// panicking handler rolls back alone and its delivery is retried, while its
// batch-mates commit.
func TestDeliveriesShareGroupCommits(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	createWorkTable(t, db)
	commits := database.NewBatcher(db, 64)
	bustest.Run(t, commits.Run)
	b := New(Deps{DB: db, Log: testLogger(t), Committer: commits}, []RuleConfig{checkoutRule("fulfilment", detailTarget("inventory"))},
		Options{PollInterval: 10 * time.Millisecond, Retry: fastRetry})
	Subscribe(b, "inventory", func(ctx context.Context, d Delivery[orderChange]) error {
		if err := d.Tx.Create(&work{OrderID: d.OrderID, Attempt: d.Attempt}).Error; err != nil {
			return err
		}
		switch {
		case d.OrderID == "ord_fail" && d.Attempt == 1:
			return errors.New("warehouse offline")
		case d.OrderID == "ord_panic" && d.Attempt == 1:
			panic("handler bug")
		}
		return nil
	})
	var details []Detail
	for i := range 40 {
		details = append(details, newOrder(fmt.Sprintf("ord_%02d", i)))
	}
	details = append(details, newOrder("ord_fail"), newOrder("ord_panic"))
	// Everything is in the outbox before the bus starts, so the first
	// dispatch hands all of it over at once.
	publish(t, db, b, details...)
	runBus(t, b)

	for _, d := range details {
		id := d.(orderChange).OrderID
		bustest.WaitFor(t, id+" to be done", statusIs(t, b, id, StatusDone))
	}
	want := map[string]int{"ord_fail": 2, "ord_panic": 2} // the failed attempt's work rolled back
	got := map[string][]int{}
	for _, w := range committedWork(t, db) {
		got[w.OrderID] = append(got[w.OrderID], w.Attempt)
	}
	for _, d := range details {
		id := d.(orderChange).OrderID
		if attempt := cmp.Or(want[id], 1); !slices.Equal(got[id], []int{attempt}) {
			t.Errorf("%s: committed work of attempts %v, want only attempt %d", id, got[id], attempt)
		}
	}
	if ds := deliveriesOf(t, b, "ord_panic"); ds[0].Attempts != 2 {
		t.Errorf("ord_panic: %+v, want done at the second attempt", ds[0])
	}
	var history string
	if err := db.Raw("SELECT errors FROM bus_deliveries WHERE order_id = 'ord_panic'").Scan(&history).Error; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(history, "handler panic: handler bug") {
		t.Errorf("ord_panic's error history %s does not record the panic", history)
	}
}
