package inventory

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// TestReserveAcrossInstances: orders race for the same two SKUs from three
// instances sharing one database (on PostgreSQL, each transaction at READ
// COMMITTED), half of them listing the SKUs the other way round. Stock is
// taken exactly: every order gets both items or neither, none fails
// outright (no deadlock between two orders that lock the SKUs in opposite
// order), and nothing goes below zero.
func TestReserveAcrossInstances(t *testing.T) {
	cfg := dbtest.Config(t)
	var instances []*Service
	for range 3 {
		instances = append(instances, New(dbtest.Connect(t, cfg)))
	}
	db := instances[0].db
	if _, err := database.Migrate(context.Background(), db, append(bus.Migrations, Migrations...)); err != nil {
		t.Fatal(err)
	}
	mustSet(t, instances[0], "A", 10)
	mustSet(t, instances[0], "B", 10)

	const orders = 30
	ctx := context.Background()
	errs := make([]error, orders)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range orders {
		items := []line{{"A", 1}, {"B", 1}}
		if i%2 == 1 {
			items = []line{{"B", 1}, {"A", 1}}
		}
		ev := stateEvent(t, fmt.Sprintf("ord-%02d", i), "new_order_created", items...)
		s := instances[i%len(instances)]
		wg.Go(func() {
			<-start
			errs[i] = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				return s.handle(ctx, deliveryOf(ev, tx))
			})
		})
	}
	close(start)
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Errorf("order %d: %v", i, err)
		}
	}
	wantStock(t, instances[1], "A", 10, 10)
	wantStock(t, instances[2], "B", 10, 10)
	both, short := 0, 0
	for i := range orders {
		id := fmt.Sprintf("ord-%02d", i)
		r := reservations(t, db, id)
		switch sh := shortageEvents(t, db, id); {
		case maps.Equal(r, map[string]string{"A": "reserved:1", "B": "reserved:1"}) && len(sh) == 0:
			both++
		case len(r) == 0 && len(sh) == 1:
			short++
		default:
			t.Errorf("%s: reservations %v and %d shortage events", id, r, len(sh))
		}
	}
	if both != 10 || short != 20 {
		t.Errorf("%d orders reserved and %d short, want 10 and 20", both, short)
	}
}

// TestBackordersAcrossInstances races everything that moves a waiting
// order, from three instances sharing one database: stock arriving
// (Set) on every instance at once, sweeps, shipments and cancellations of
// waiting and reserved orders. Every unit leaves the shelf once, nothing
// goes below zero, no order is reserved twice, and nothing that stock
// fits is left waiting.
func TestBackordersAcrossInstances(t *testing.T) {
	cfg := dbtest.Config(t)
	var instances []*Service
	for range 3 {
		instances = append(instances, New(dbtest.Connect(t, cfg)))
	}
	db := instances[0].db
	if _, err := database.Migrate(context.Background(), db, append(bus.Migrations, Migrations...)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const orders = 30
	id := func(i int) string { return fmt.Sprintf("ord-%02d", i) }
	on := func(i int) *Service { return instances[i%len(instances)] }
	deliverOn := func(s *Service, ev orderEvent) error {
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return s.handle(ctx, deliveryOf(ev, tx)) })
	}
	// Every order waits: none of A or B is in stock. Half want B too.
	race := func(n int, fn func(i int) error) {
		t.Helper()
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() { <-start; errs[i] = fn(i) })
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("%d: %v", i, err)
			}
		}
	}
	race(orders, func(i int) error {
		items := []line{{"A", 1}}
		if i%2 == 0 {
			items = append(items, line{"B", 1})
		}
		return deliverOn(on(i), stateEvent(t, id(i), "new_order_created", items...))
	})
	for i := range orders {
		wantOrder(t, instances[0], id(i), StatusBackordered, missingOf(i)...)
	}

	// Stock arrives on every instance at once, while each sweeps.
	race(6, func(i int) error {
		s := instances[i%3]
		if i < 3 {
			if _, err := s.Set(ctx, []string{"A", "B", "A"}[i], map[int]int64{0: 20, 1: 6, 2: 20}[i]); err != nil {
				return err
			}
			return nil
		}
		_, err := s.ReserveWaiting(ctx)
		return err
	})
	reservedNow := 0
	for i := range orders {
		if orderStock(t, instances[0], id(i)).Status == StatusReserved {
			reservedNow++
		}
	}
	// 20 units of A, 6 of B among 15 orders that want both: at most 20.
	if reservedNow == 0 || reservedNow > 20 {
		t.Fatalf("%d orders reserved after 20 A and 6 B arrived", reservedNow)
	}

	// Ship a third, cancel a sixth, waiting or reserved alike, each on
	// another instance than the sweeps that run beside them; each shipment
	// is delivered twice at once, on two instances, as a redelivery racing
	// the first would be.
	race(2*orders, func(i int) error {
		if i >= orders {
			if i -= orders; i%3 == 0 {
				return deliverOn(on(i+2), stateEvent(t, id(i), "order_shipped"))
			}
			_, err := on(i).ReserveWaiting(ctx)
			return err
		}
		switch {
		case i%3 == 0:
			return deliverOn(on(i+1), stateEvent(t, id(i), "order_shipped"))
		case i%6 == 1:
			return deliverOn(on(i+1), stateEvent(t, id(i), "order_cancelled"))
		default:
			_, err := on(i).ReserveWaiting(ctx)
			return err
		}
	})
	// What the cancellations gave back goes to whoever waits.
	if _, err := instances[2].ReserveWaiting(ctx); err != nil {
		t.Fatal(err)
	}

	for _, sku := range []string{"A", "B"} {
		st := stock(t, instances[1], sku)
		var took, held int64
		db.Raw(`SELECT COALESCE(SUM(quantity), 0) FROM inventory_reservations WHERE sku = ? AND status = 'committed'`, sku).Scan(&took)
		db.Raw(`SELECT COALESCE(SUM(quantity), 0) FROM inventory_reservations WHERE sku = ? AND status = 'reserved'`, sku).Scan(&held)
		arrived := map[string]int64{"A": 20, "B": 6}[sku]
		if st.OnHand != arrived-took || st.Reserved != held || st.OnHand < 0 || st.Available < 0 {
			t.Errorf("%s: %+v; %d arrived, shipments took %d, reservations hold %d", sku, st, arrived, took, held)
		}
		if st.WaitingOrders > 0 && st.Available > 0 {
			// A waiting order may still lack the other SKU: only an order
			// every line of which fits is a miss.
			for i := range orders {
				if os := orderStock(t, instances[0], id(i)); os.Status == StatusBackordered && len(os.Missing) == 0 {
					t.Errorf("%s waits although stock fits it", id(i))
				}
			}
		}
	}
	for i := range orders {
		os := orderStock(t, instances[0], id(i))
		events := reservedEvents(t, db, id(i))
		switch {
		case i%3 == 0:
			if os.Status != StatusSettled {
				t.Errorf("%s was shipped but is %s", id(i), os.Status)
			}
		case i%6 == 1:
			if os.Status != StatusReleased {
				t.Errorf("%s was cancelled but is %s", id(i), os.Status)
			}
		case os.Status != StatusReserved && os.Status != StatusBackordered:
			t.Errorf("%s is %s", id(i), os.Status)
		}
		if len(events) > 1 {
			t.Errorf("%s: reserved %d times", id(i), len(events))
		}
		if os.Status == StatusReserved && len(events) != 1 {
			t.Errorf("%s: reserved with %d Stock Reserved events", id(i), len(events))
		}
		if n := len(shortageEvents(t, db, id(i))); n != 1 {
			t.Errorf("%s: %d shortage events, want the one of its placing", id(i), n)
		}
	}
}

// missingOf is what order i of TestBackordersAcrossInstances lacks with
// no stock at all.
func missingOf(i int) []Line {
	if i%2 == 0 {
		return []Line{{"A", 1}, {"B", 1}}
	}
	return []Line{{"A", 1}}
}

// TestReserveLocksStockInSKUOrder: on PostgreSQL an order takes its stock
// rows' locks SKU by SKU, whatever order the table keeps the rows in (a
// scan meets them in the table's order, which updates keep changing). Two
// orders for the same SKUs then wait for each other instead of each
// holding a row the other wants: a deadlock PostgreSQL breaks only after a
// second, failing a whole group commit (measured: eleven in 20 s of the
// bench's three instances).
func TestReserveLocksStockInSKUOrder(t *testing.T) {
	if !dbtest.Postgres() {
		t.Skip("PostgreSQL only: SQLite's one writer takes no row locks")
	}
	cfg := dbtest.Config(t)
	s := New(dbtest.Connect(t, cfg))
	db := s.db
	if _, err := database.Migrate(context.Background(), db, append(bus.Migrations, Migrations...)); err != nil {
		t.Fatal(err)
	}
	// B's row first in the table, A's after it.
	mustSet(t, s, "B", 10)
	mustSet(t, s, "A", 10)

	// Another order's transaction holds A, as one that locks by SKU does
	// first.
	other := New(dbtest.Connect(t, cfg)).db.Begin()
	defer other.Rollback()
	if err := other.Exec(`SELECT sku FROM inventory_stock WHERE sku = 'A' FOR UPDATE`).Error; err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- deliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"A", 1}, line{"B", 1}))
	}()
	// Once the order waits for A ...
	bustest.WaitFor(t, "the order to wait for A's row", func() bool {
		var waiting int64
		if err := db.Raw(`SELECT COUNT(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting).Error; err != nil {
			t.Fatal(err)
		}
		return waiting > 0
	})
	// ... it holds nothing the other order still wants.
	if err := other.Exec(`SELECT sku FROM inventory_stock WHERE sku = 'B' FOR UPDATE NOWAIT`).Error; err != nil {
		t.Fatalf("B is locked by the order waiting for A: %v", err)
	}
	if err := other.Commit().Error; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantStock(t, s, "A", 10, 1)
	wantStock(t, s, "B", 10, 1)
}
