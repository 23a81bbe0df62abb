package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/event"
)

// placedAt is a new order placed at a given time.
func placedAt(t *testing.T, orderID string, at time.Time, items ...line) orderEvent {
	t.Helper()
	return bustest.Payload[orderEvent](t, map[string]any{
		"source": "shopbus.checkout", "detail-type": "Order State Change",
		"detail": map[string]any{"order_id": orderID, "order_state": "new_order_created", "items": items, "created_at": at},
	})
}

// reservedEvents returns the "Stock Reserved" events published for an order.
func reservedEvents(t *testing.T, db *gorm.DB, orderID string) []event.StockReserved {
	t.Helper()
	var bodies []string
	if err := db.Raw(`SELECT body FROM bus_events WHERE order_id = ? AND detail_type = 'Stock Reserved' ORDER BY seq`, orderID).
		Scan(&bodies).Error; err != nil {
		t.Fatal(err)
	}
	var out []event.StockReserved
	for _, b := range bodies {
		var env bus.Event
		if err := json.Unmarshal([]byte(b), &env); err != nil {
			t.Fatal(err)
		}
		if env.Source != "shopbus.inventory" {
			t.Errorf("Stock Reserved from %s", env.Source)
		}
		var sr event.StockReserved
		if err := json.Unmarshal(env.Detail, &sr); err != nil {
			t.Fatal(err)
		}
		out = append(out, sr)
	}
	return out
}

func orderStock(t *testing.T, s *Service, orderID string) OrderStock {
	t.Helper()
	os, err := s.OrderStock(context.Background(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	return os
}

func wantOrder(t *testing.T, s *Service, orderID, status string, missing ...Line) {
	t.Helper()
	got := orderStock(t, s, orderID)
	if missing == nil {
		missing = []Line{}
	}
	if got.Status != status || !slices.Equal(got.Missing, missing) {
		t.Errorf("%s: stock %s missing %v; want %s missing %v", orderID, got.Status, got.Missing, status, missing)
	}
}

// TestBackorderThenStockArrives is the week: stock for MUG-WHT
// only, an order for 3 MUG-WHT and 1 TEE-L. The order waits, visibly;
// setting TEE-L reserves it and says so.
func TestBackorderThenStockArrives(t *testing.T) {
	db := dbtest.Open(t, bus.Migrations, Migrations)
	s := New(db)
	ctx := context.Background()
	if _, err := s.OrderStock(ctx, "ord-1"); !errors.Is(err, ErrNoRecord) {
		t.Errorf("OrderStock before any delivery = %v, want ErrNoRecord", err)
	}
	mustSet(t, s, "MUG-WHT", 24)
	mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"MUG-WHT", 3}, line{"TEE-L", 1}))

	wantOrder(t, s, "ord-1", StatusBackordered, Line{"TEE-L", 1})
	wantStock(t, s, "MUG-WHT", 24, 0)
	if sh := shortageEvents(t, db, "ord-1"); len(sh) != 1 || !slices.Equal(sh[0].Items, []event.ShortItem{{SKU: "TEE-L", Requested: 1, Available: 0}}) {
		t.Errorf("shortage events %+v", sh)
	}
	if n := len(reservedEvents(t, db, "ord-1")); n != 0 {
		t.Errorf("%d Stock Reserved events for a backordered order", n)
	}
	if st := stock(t, s, "MUG-WHT"); st.Backordered != 3 || st.WaitingOrders != 1 {
		t.Errorf("MUG-WHT waits: %+v, want 3 units for 1 order", st)
	}

	st, err := s.Set(ctx, "TEE-L", 10)
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stock{SKU: "TEE-L", OnHand: 10, Reserved: 1, Available: 9}) {
		t.Errorf("Set answered %+v, want the order's unit reserved", st)
	}
	wantOrder(t, s, "ord-1", StatusReserved)
	wantStock(t, s, "MUG-WHT", 24, 3)
	if got := reservations(t, db, "ord-1"); !maps.Equal(got, map[string]string{"MUG-WHT": "reserved:3", "TEE-L": "reserved:1"}) {
		t.Errorf("reservations %v", got)
	}
	want := event.StockReserved{OrderID: "ord-1", Items: []event.StockItem{{SKU: "MUG-WHT", Quantity: 3}, {SKU: "TEE-L", Quantity: 1}}, Backordered: true}
	if got := reservedEvents(t, db, "ord-1"); len(got) != 1 || !reservedEqual(got[0], want) {
		t.Errorf("Stock Reserved events %+v, want %+v", got, want)
	}

	// Shipping takes the reserved units off the shelf: 24 - 3.
	mustDeliver(t, s, stateEvent(t, "ord-1", "order_shipped"))
	wantStock(t, s, "MUG-WHT", 21, 0)
	wantStock(t, s, "TEE-L", 9, 0)
	wantOrder(t, s, "ord-1", StatusSettled)
}

func reservedEqual(a, b event.StockReserved) bool {
	return a.OrderID == b.OrderID && a.Backordered == b.Backordered && slices.Equal(a.Items, b.Items)
}

func TestReservedAtOncePublishesStockReserved(t *testing.T) {
	db := dbtest.Open(t, bus.Migrations, Migrations)
	s := New(db)
	mustSet(t, s, "A", 5)
	mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"A", 2}, line{"A", 1}))
	want := event.StockReserved{OrderID: "ord-1", Items: []event.StockItem{{SKU: "A", Quantity: 3}}}
	if got := reservedEvents(t, db, "ord-1"); len(got) != 1 || !reservedEqual(got[0], want) {
		t.Errorf("Stock Reserved events %+v, want %+v", got, want)
	}
	wantOrder(t, s, "ord-1", StatusReserved)
	// A replay reserves and publishes nothing more.
	mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"A", 3}))
	if n := len(reservedEvents(t, db, "ord-1")); n != 1 {
		t.Errorf("%d Stock Reserved events after a replay", n)
	}
	wantStock(t, s, "A", 5, 3)
}

// TestArrivalReservesOldestFirst: orders are reserved in the order they
// were placed, not the order inventory heard of them; an order that still
// lacks something waits without holding back the next.
func TestArrivalReservesOldestFirst(t *testing.T) {
	db := dbtest.Open(t, bus.Migrations, Migrations)
	s := New(db)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	mustSet(t, s, "TEE", 0)
	// Heard of newest first.
	mustDeliver(t, s, placedAt(t, "ord-4", t0.Add(4*time.Minute), line{"TEE", 1}))
	mustDeliver(t, s, placedAt(t, "ord-3", t0.Add(3*time.Minute), line{"TEE", 2}))
	mustDeliver(t, s, placedAt(t, "ord-2", t0.Add(2*time.Minute), line{"TEE", 1}, line{"GHOST", 1}))
	mustDeliver(t, s, placedAt(t, "ord-1", t0.Add(1*time.Minute), line{"TEE", 2}))

	mustSet(t, s, "TEE", 3)
	wantOrder(t, s, "ord-1", StatusReserved)
	// ord-3 wanted 2 of the 1 left; ord-4, newer, took it.
	wantOrder(t, s, "ord-2", StatusBackordered, Line{"GHOST", 1}, Line{"TEE", 1})
	wantOrder(t, s, "ord-3", StatusBackordered, Line{"TEE", 2})
	wantOrder(t, s, "ord-4", StatusReserved)
	wantStock(t, s, "TEE", 3, 3)
	if st := stock(t, s, "TEE"); st.Backordered != 3 || st.WaitingOrders != 2 {
		t.Errorf("TEE waits %+v, want 3 units for 2 orders", st)
	}

	// Setting a SKU that nobody waits for reserves nothing; setting GHOST
	// lets ord-2 wait for TEE alone.
	mustSet(t, s, "MUG", 5)
	mustSet(t, s, "GHOST", 1)
	wantOrder(t, s, "ord-2", StatusBackordered, Line{"TEE", 1})
	mustSet(t, s, "TEE", 6)
	wantOrder(t, s, "ord-2", StatusReserved)
	wantOrder(t, s, "ord-3", StatusReserved)
	wantStock(t, s, "TEE", 6, 6)
	wantStock(t, s, "GHOST", 1, 1)
	for _, id := range []string{"ord-1", "ord-2", "ord-3", "ord-4"} {
		if got := reservedEvents(t, db, id); len(got) != 1 || !got[0].Backordered {
			t.Errorf("%s: Stock Reserved events %+v, want one, after a backorder", id, got)
		}
	}
}

// TestShipBackordered: a backordered order ships, and takes off the shelf
// what is there beyond other orders' reservations, once; what it lacked is
// recorded, and nothing goes below zero.
func TestShipBackordered(t *testing.T) {
	db := dbtest.Open(t, bus.Migrations, Migrations)
	s := New(db)
	mustSet(t, s, "MUG", 5)
	mustDeliver(t, s, stateEvent(t, "ord-held", "new_order_created", line{"MUG", 4}))
	mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"MUG", 3}, line{"TEE", 2}))
	wantOrder(t, s, "ord-1", StatusBackordered, Line{"MUG", 2}, Line{"TEE", 2})

	for range 2 { // a shipment delivered twice takes once
		mustDeliver(t, s, stateEvent(t, "ord-1", "order_shipped"))
	}
	wantStock(t, s, "MUG", 4, 4) // 1 taken; the other order keeps its 4
	wantOrder(t, s, "ord-1", StatusSettled, Line{"MUG", 2}, Line{"TEE", 2})
	if got := reservations(t, db, "ord-1"); !maps.Equal(got, map[string]string{"MUG": "committed:1", "TEE": "committed:0"}) {
		t.Errorf("reservations %v", got)
	}
	if st := stock(t, s, "MUG"); st.Backordered != 0 || st.WaitingOrders != 0 {
		t.Errorf("a shipped order still waits: %+v", st)
	}
	// Stock arriving later reserves nothing for it, and cancelling it
	// after the shipment gives nothing back.
	mustSet(t, s, "TEE", 5)
	mustDeliver(t, s, stateEvent(t, "ord-1", "order_cancelled"))
	wantStock(t, s, "TEE", 5, 0)
	wantStock(t, s, "MUG", 4, 4)
	if n := len(reservedEvents(t, db, "ord-1")); n != 0 {
		t.Errorf("%d Stock Reserved events for a shipped order", n)
	}
}

func TestCancelBackordered(t *testing.T) {
	db := dbtest.Open(t, bus.Migrations, Migrations)
	s := New(db)
	mustSet(t, s, "A", 1)
	mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"A", 2}))
	mustDeliver(t, s, stateEvent(t, "ord-1", "order_cancelled"))
	wantOrder(t, s, "ord-1", StatusReleased)
	mustSet(t, s, "A", 10)
	wantStock(t, s, "A", 10, 0)
	if got := reservations(t, db, "ord-1"); len(got) != 0 {
		t.Errorf("a cancelled backorder was reserved: %v", got)
	}
	mustDeliver(t, s, stateEvent(t, "ord-1", "order_shipped"))
	wantStock(t, s, "A", 10, 0)
	wantOrder(t, s, "ord-1", StatusReleased)
}

// TestReleaseFeedsWaitingOrders: units a cancellation gives back go to an
// order that waits for them, through the sweeper, which the delivery's
// commit wakes at once.
func TestReleaseFeedsWaitingOrders(t *testing.T) {
	db := dbtest.Open(t, bus.Migrations, Migrations)
	s := New(db)
	mustSet(t, s, "A", 5)
	mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"A", 5}))
	mustDeliver(t, s, stateEvent(t, "ord-2", "new_order_created", line{"A", 2}))
	s.afterCommit() // what the bus calls after each delivery's commit
	bustest.Run(t, func(ctx context.Context) error { return s.Run(ctx, slog.New(slog.DiscardHandler)) })
	wantOrder(t, s, "ord-2", StatusBackordered, Line{"A", 2})

	mustDeliver(t, s, stateEvent(t, "ord-1", "order_cancelled"))
	start := time.Now()
	s.afterCommit()
	bustest.WaitFor(t, "ord-2 to be reserved", func() bool {
		os, err := s.OrderStock(context.Background(), "ord-2")
		return err == nil && os.Status == StatusReserved
	})
	if waited := time.Since(start); waited >= sweepEvery {
		t.Errorf("reserved after %s: the commit did not wake the sweeper", waited)
	}
	wantStock(t, s, "A", 5, 2)
	wantOrder(t, s, "ord-1", StatusReleased)
}

// TestSweepCatchesWhatSetMissed: stock that arrived without reserving (set
// while the order was being backordered, or by a Set that stopped half
// way) is found by ReserveWaiting.
func TestSweepCatchesWhatSetMissed(t *testing.T) {
	db := dbtest.Open(t, bus.Migrations, Migrations)
	s := New(db)
	mustSet(t, s, "A", 0)
	mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"A", 1}, line{"B", 1}))
	mustDeliver(t, s, stateEvent(t, "ord-2", "new_order_created", line{"A", 1}))
	// Stock written as a racing Set would leave it: no reservation made.
	for _, sku := range []string{"A", "B"} {
		if err := db.Transaction(func(tx *gorm.DB) error { _, err := setStock(tx, sku, 1); return err }); err != nil {
			t.Fatal(err)
		}
	}
	done, err := s.ReserveWaiting(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done, []string{"ord-1"}) {
		t.Errorf("ReserveWaiting reserved %v, want the oldest, ord-1", done)
	}
	wantOrder(t, s, "ord-2", StatusBackordered, Line{"A", 1})
	if done, err := s.ReserveWaiting(context.Background()); err != nil || len(done) != 0 {
		t.Errorf("a second sweep reserved %v, %v", done, err)
	}
}
