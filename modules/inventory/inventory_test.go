package inventory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/event"
)

func TestSetGet(t *testing.T) {
	s := New(dbtest.Open(t, bus.Migrations, Migrations))
	ctx := context.Background()

	if _, err := s.Get(ctx, "TEA-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an unknown SKU = %v, want ErrNotFound", err)
	}
	st, err := s.Set(ctx, "TEA-1", 5)
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stock{SKU: "TEA-1", OnHand: 5, Reserved: 0, Available: 5}) {
		t.Errorf("Set = %+v", st)
	}
	if got := stock(t, s, "TEA-1"); got != st {
		t.Errorf("Get = %+v, want %+v", got, st)
	}
	if _, err := s.Set(ctx, "TEA-1", 0); err != nil {
		t.Fatal(err)
	}
	wantStock(t, s, "TEA-1", 0, 0)

	tests := []struct {
		name   string
		sku    string
		onHand int64
	}{
		{"empty sku", "", 1},
		{"negative count", "TEA-1", -1},
		{"sku too long", strings.Repeat("x", 201), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Set(ctx, tt.sku, tt.onHand); !errors.Is(err, ErrInvalid) {
				t.Errorf("Set(%q, %d) = %v, want ErrInvalid", tt.sku, tt.onHand, err)
			}
		})
	}
	wantStock(t, s, "TEA-1", 0, 0)
}

func TestSetBelowReserved(t *testing.T) {
	db := dbtest.Open(t, bus.Migrations, Migrations)
	s := New(db)
	ctx := context.Background()
	mustSet(t, s, "TEA-1", 5)
	mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"TEA-1", 3}))

	if _, err := s.Set(ctx, "TEA-1", 2); !errors.Is(err, ErrBelowReserved) {
		t.Fatalf("Set below reserved = %v, want ErrBelowReserved", err)
	}
	wantStock(t, s, "TEA-1", 5, 3)

	// Exactly what is reserved is fine, and keeps the reservation.
	st, err := s.Set(ctx, "TEA-1", 3)
	if err != nil {
		t.Fatal(err)
	}
	if st.Reserved != 3 || st.Available != 0 {
		t.Errorf("Set = %+v, want reserved 3, available 0", st)
	}
	st, err = s.Set(ctx, "TEA-1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stock{SKU: "TEA-1", OnHand: 10, Reserved: 3, Available: 7}) {
		t.Errorf("Set = %+v", st)
	}
	wantStock(t, s, "TEA-1", 10, 3)
}

func TestReserve(t *testing.T) {
	tests := []struct {
		name     string
		stock    map[string]int64
		items    []line
		wantErr  bool
		after    map[string][2]int64 // sku -> on hand, reserved
		reserved map[string]string   // reservation rows
		short    []event.ShortItem   // nil: no shortage event
	}{
		{
			name:     "everything available",
			stock:    map[string]int64{"A": 5, "B": 2},
			items:    []line{{"A", 2}, {"B", 2}},
			after:    map[string][2]int64{"A": {5, 2}, "B": {2, 2}},
			reserved: map[string]string{"A": "reserved:2", "B": "reserved:2"},
		},
		{
			name:     "one SKU short reserves nothing",
			stock:    map[string]int64{"A": 5, "B": 1, "C": 9},
			items:    []line{{"A", 2}, {"B", 2}, {"C", 1}},
			after:    map[string][2]int64{"A": {5, 0}, "B": {1, 0}, "C": {9, 0}},
			reserved: map[string]string{},
			short:    []event.ShortItem{{SKU: "B", Requested: 2, Available: 1}},
		},
		{
			name:     "the first SKU short",
			stock:    map[string]int64{"A": 0, "B": 3},
			items:    []line{{"A", 1}, {"B", 1}},
			after:    map[string][2]int64{"A": {0, 0}, "B": {3, 0}},
			reserved: map[string]string{},
			short:    []event.ShortItem{{SKU: "A", Requested: 1, Available: 0}},
		},
		{
			name:     "several SKUs short",
			stock:    map[string]int64{"A": 1, "B": 1},
			items:    []line{{"A", 2}, {"B", 3}},
			after:    map[string][2]int64{"A": {1, 0}, "B": {1, 0}},
			reserved: map[string]string{},
			short:    []event.ShortItem{{SKU: "A", Requested: 2, Available: 1}, {SKU: "B", Requested: 3, Available: 1}},
		},
		{
			name:     "the same SKU on two lines is summed",
			stock:    map[string]int64{"A": 5},
			items:    []line{{"A", 2}, {"A", 3}},
			after:    map[string][2]int64{"A": {5, 5}},
			reserved: map[string]string{"A": "reserved:5"},
		},
		{
			name:     "the same SKU on two lines, summed over the stock",
			stock:    map[string]int64{"A": 5},
			items:    []line{{"A", 3}, {"A", 3}},
			after:    map[string][2]int64{"A": {5, 0}},
			reserved: map[string]string{},
			short:    []event.ShortItem{{SKU: "A", Requested: 6, Available: 5}},
		},
		{
			name:     "unknown SKU is out of stock",
			stock:    map[string]int64{"A": 5},
			items:    []line{{"A", 1}, {"GHOST", 1}},
			after:    map[string][2]int64{"A": {5, 0}},
			reserved: map[string]string{},
			short:    []event.ShortItem{{SKU: "GHOST", Requested: 1, Available: 0}},
		},
		{
			name:     "exactly what is on hand",
			stock:    map[string]int64{"A": 4},
			items:    []line{{"A", 4}},
			after:    map[string][2]int64{"A": {4, 4}},
			reserved: map[string]string{"A": "reserved:4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := dbtest.Open(t, bus.Migrations, Migrations)
			s := New(db)
			for _, sku := range slices.Sorted(maps.Keys(tt.stock)) {
				mustSet(t, s, sku, tt.stock[sku])
			}
			// A shortage is handled, not a failure: retrying would not add stock.
			mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", tt.items...))
			for sku, want := range tt.after {
				wantStock(t, s, sku, want[0], want[1])
			}
			if got := reservations(t, db, "ord-1"); !maps.Equal(got, tt.reserved) {
				t.Errorf("reservations = %v, want %v", got, tt.reserved)
			}
			if _, err := s.Get(context.Background(), "GHOST"); !errors.Is(err, ErrNotFound) {
				t.Errorf("an unknown SKU was created: %v", err)
			}
			shorts := shortageEvents(t, db, "ord-1")
			if tt.short == nil {
				if len(shorts) != 0 {
					t.Errorf("shortage published for a reserved order: %+v", shorts)
				}
				return
			}
			if len(shorts) != 1 {
				t.Fatalf("%d shortage events, want 1", len(shorts))
			}
			if shorts[0].OrderID != "ord-1" || !slices.Equal(shorts[0].Items, tt.short) {
				t.Errorf("shortage = %+v, want order ord-1 items %+v", shorts[0], tt.short)
			}
		})
	}
}

// TestShortageAvailableIgnoresOtherOrdersReservations checks that a
// shortage reports what is left after other orders' reservations.
func TestShortageAvailableAfterOtherOrders(t *testing.T) {
	db := dbtest.Open(t, bus.Migrations, Migrations)
	s := New(db)
	mustSet(t, s, "A", 5)
	mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"A", 4}))
	mustDeliver(t, s, stateEvent(t, "ord-2", "new_order_created", line{"A", 2}))
	wantStock(t, s, "A", 5, 4)
	shorts := shortageEvents(t, db, "ord-2")
	if len(shorts) != 1 || !slices.Equal(shorts[0].Items, []event.ShortItem{{SKU: "A", Requested: 2, Available: 1}}) {
		t.Errorf("shortage = %+v, want A requested 2 available 1", shorts)
	}
	if n := len(shortageEvents(t, db, "ord-1")); n != 0 {
		t.Errorf("%d shortage events for the reserved order", n)
	}
}

func TestSettle(t *testing.T) {
	tests := []struct {
		name   string
		states []string // after the order was reserved
		onHand int64
		resvd  int64
		status string // of the reservation rows
	}{
		{"cancel releases", []string{"order_cancelled"}, 10, 0, released},
		{"ship commits", []string{"order_shipped"}, 7, 0, committed},
		{"cancel twice", []string{"order_cancelled", "order_cancelled"}, 10, 0, released},
		{"ship twice", []string{"order_shipped", "order_shipped"}, 7, 0, committed},
		{"cancel after ship", []string{"order_shipped", "order_cancelled"}, 7, 0, committed},
		{"ship after cancel", []string{"order_cancelled", "order_shipped"}, 10, 0, released},
		{"other states move nothing", []string{"order_paid", "order_delivered", "order_refunded"}, 10, 3, reserved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := dbtest.Open(t, bus.Migrations, Migrations)
			s := New(db)
			mustSet(t, s, "A", 10)
			mustSet(t, s, "B", 10)
			mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"A", 3}, line{"B", 3}))
			// Another order's reservation must not be touched.
			mustDeliver(t, s, stateEvent(t, "ord-2", "new_order_created", line{"B", 2}))
			for _, st := range tt.states {
				mustDeliver(t, s, stateEvent(t, "ord-1", st))
			}
			wantStock(t, s, "A", tt.onHand, tt.resvd)
			wantStock(t, s, "B", tt.onHand, tt.resvd+2)
			want := map[string]string{"A": tt.status + ":3", "B": tt.status + ":3"}
			if got := reservations(t, db, "ord-1"); !maps.Equal(got, want) {
				t.Errorf("reservations = %v, want %v", got, want)
			}
			if got := reservations(t, db, "ord-2"); !maps.Equal(got, map[string]string{"B": "reserved:2"}) {
				t.Errorf("the other order's reservations = %v", got)
			}
		})
	}
}

func TestSettleUnreservedOrder(t *testing.T) {
	db := dbtest.Open(t, bus.Migrations, Migrations)
	s := New(db)
	mustSet(t, s, "A", 1)
	// A short order has nothing reserved: cancelling or shipping it moves nothing.
	mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"A", 2}))
	mustDeliver(t, s, stateEvent(t, "ord-1", "order_cancelled"))
	mustDeliver(t, s, stateEvent(t, "ord-nope", "order_shipped"))
	wantStock(t, s, "A", 1, 0)
}

func TestReserveRolledBackWithDelivery(t *testing.T) {
	db := dbtest.Open(t, bus.Migrations, Migrations)
	s := New(db)
	mustSet(t, s, "A", 5)
	ctx := context.Background()
	boom := errors.New("the delivery failed later")
	err := db.Transaction(func(tx *gorm.DB) error {
		if err := s.handle(ctx, deliveryOf(stateEvent(t, "ord-1", "new_order_created", line{"A", 2}), tx)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	wantStock(t, s, "A", 5, 0)
	if got := reservations(t, db, "ord-1"); len(got) != 0 {
		t.Errorf("reservations survived the rollback: %v", got)
	}
	// The retried delivery reserves normally.
	mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"A", 2}))
	wantStock(t, s, "A", 5, 2)
}

func TestReserveConcurrently(t *testing.T) {
	db := dbtest.Open(t, bus.Migrations, Migrations)
	s := New(db)
	mustSet(t, s, "A", 10)

	const orders = 20
	evs := make([]orderEvent, orders)
	for i := range evs {
		evs[i] = stateEvent(t, fmt.Sprintf("ord-%02d", i), "new_order_created", line{"A", 1})
	}
	ctx := context.Background()
	errs := make([]error, orders)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range orders {
		wg.Go(func() {
			<-start
			errs[i] = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				return s.handle(ctx, deliveryOf(evs[i], tx))
			})
		})
	}

	// A reader watches the numbers while the orders race.
	var stop atomic.Bool
	var lowest atomic.Int64
	lowest.Store(10)
	reader := make(chan error, 1)
	go func() {
		for !stop.Load() {
			st, err := s.Get(ctx, "A")
			if err != nil {
				reader <- err
				return
			}
			if st.Available < lowest.Load() {
				lowest.Store(st.Available)
			}
			if st.Reserved > st.OnHand {
				reader <- fmt.Errorf("reserved %d above on hand %d", st.Reserved, st.OnHand)
				return
			}
		}
		reader <- nil
	}()
	close(start)
	wg.Wait()
	stop.Store(true)
	if err := <-reader; err != nil {
		t.Error(err)
	}
	if lowest.Load() < 0 {
		t.Errorf("available went down to %d", lowest.Load())
	}

	for i, err := range errs {
		if err != nil {
			t.Errorf("order %d: %v", i, err)
		}
	}
	wantStock(t, s, "A", 10, 10)

	reservedOrders, shortOrders := 0, 0
	for i := range orders {
		id := fmt.Sprintf("ord-%02d", i)
		r := reservations(t, db, id)
		sh := shortageEvents(t, db, id)
		switch {
		case maps.Equal(r, map[string]string{"A": "reserved:1"}) && len(sh) == 0:
			reservedOrders++
		case len(r) == 0 && len(sh) == 1:
			shortOrders++
			if it := sh[0].Items; len(it) != 1 || it[0].SKU != "A" || it[0].Requested != 1 || it[0].Available != 0 {
				t.Errorf("%s: shortage %+v", id, it)
			}
		default:
			t.Errorf("%s: reservations %v and %d shortage events", id, r, len(sh))
		}
	}
	if reservedOrders != 10 || shortOrders != 10 {
		t.Errorf("%d reserved and %d short, want 10 and 10", reservedOrders, shortOrders)
	}
	if n := dbtest.Count(t, db, "inventory_reservations"); n != 10 {
		t.Errorf("%d reservation rows, want 10", n)
	}
}

func TestReserveSameOrderTwice(t *testing.T) {
	// A replayed (or re-published) new order must not fail nor reserve twice.
	db := dbtest.Open(t, bus.Migrations, Migrations)
	s := New(db)
	mustSet(t, s, "A", 10)
	mustDeliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"A", 2}))
	if err := deliver(t, s, stateEvent(t, "ord-1", "new_order_created", line{"A", 2})); err != nil {
		t.Errorf("a repeated new order failed: %v", err)
	}
	wantStock(t, s, "A", 10, 2)
	if n := len(shortageEvents(t, db, "ord-1")); n != 0 {
		t.Errorf("%d shortage events for a repeated order", n)
	}
}
