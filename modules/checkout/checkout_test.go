package checkout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/shopbus/shopbus/fault"

	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/event"
)

func TestPlaceWritesOrderAndEvent(t *testing.T) {
	s, db, waker := newTestService(t)
	ctx := context.Background()

	acc, err := s.Place(ctx, validOrder("ord-1"))
	if err != nil {
		t.Fatal(err)
	}
	if acc.OrderID != "ord-1" || acc.State != event.NewOrderCreated || acc.EventID == "" {
		t.Errorf("Accepted = %+v", acc)
	}
	if waker.count() != 1 {
		t.Errorf("Wake called %d times, want 1", waker.count())
	}

	o, err := s.Get(ctx, "ord-1")
	if err != nil {
		t.Fatal(err)
	}
	if o.State != event.NewOrderCreated || o.ItemCount != 3 || o.TotalMinor != 3000 || o.Customer.Email != "ada@example.com" ||
		len(o.Items) != 2 || o.CreatedAt.IsZero() || o.CreatedAt.Location().String() != "UTC" {
		t.Errorf("stored order = %+v", o)
	}

	evs := events(t, db, "ord-1")
	if len(evs) != 1 {
		t.Fatalf("%d events for the order, want 1", len(evs))
	}
	ev := evs[0]
	if ev.ID != acc.EventID || ev.Source != "shopbus.checkout" || ev.DetailType != "Order State Change" {
		t.Errorf("event row = id %s source %q detail-type %q; want id %s, shopbus.checkout, Order State Change",
			ev.ID, ev.Source, ev.DetailType, acc.EventID)
	}
	d := detail(t, ev)
	want := map[string]any{"order_id": "ord-1", "order_state": event.NewOrderCreated, "item_count": 3.0,
		"subtotal_minor": 3000.0, "total_minor": 3000.0, "currency": "EUR"}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("detail.%s = %v, want %v", k, d[k], v)
		}
	}
	for _, k := range []string{"shipping_minor", "tax_minor", "discount_minor"} {
		if _, ok := d[k]; ok {
			t.Errorf("detail.%s is present though the order has none", k)
		}
	}
	for _, k := range []string{"customer", "items", "shipping_address", "payment"} {
		if d[k] == nil {
			t.Errorf("detail.%s is missing", k)
		}
	}
	if _, ok := d["previous_state"]; ok {
		t.Error("a new order's event has a previous_state")
	}
}

// TestPlaceTotals: shipping, tax and discount reach the stored order, its
// total_minor column and every event's detail.
func TestPlaceTotals(t *testing.T) {
	s, db, _ := newTestService(t)
	ctx := context.Background()
	in := validOrder("ord-1")
	in.ShippingMinor, in.TaxMinor, in.DiscountMinor, in.Payment.AmountMinor = 490, 698, 300, 3888
	if _, err := s.Place(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeState(ctx, "ord-1", event.OrderPaid); err != nil {
		t.Fatal(err)
	}

	o, err := s.Get(ctx, "ord-1")
	if err != nil {
		t.Fatal(err)
	}
	if o.ItemCount != 3 || o.SubtotalMinor != 3000 || o.TotalMinor != 3888 ||
		o.ShippingMinor != 490 || o.TaxMinor != 698 || o.DiscountMinor != 300 || o.Payment.AmountMinor != 3888 {
		t.Errorf("stored order = %+v", o)
	}
	var column int64
	if err := db.Raw(`SELECT total_minor FROM checkout_orders WHERE order_id = ?`, "ord-1").Scan(&column).Error; err != nil {
		t.Fatal(err)
	}
	if column != 3888 {
		t.Errorf("total_minor column = %d, want the grand total 3888", column)
	}

	want := map[string]any{"item_count": 3.0, "subtotal_minor": 3000.0, "shipping_minor": 490.0, "tax_minor": 698.0,
		"discount_minor": 300.0, "total_minor": 3888.0}
	evs := events(t, db, "ord-1")
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	for _, ev := range evs {
		d := detail(t, ev)
		for k, v := range want {
			if d[k] != v {
				t.Errorf("%s event: detail.%s = %v, want %v", d["order_state"], k, d[k], v)
			}
		}
	}
}

// TestLegacyOrderSubtotal: an order stored before subtotal_minor existed
// gets it from its items, in reads and in the events of later changes.
func TestLegacyOrderSubtotal(t *testing.T) {
	s, db, _ := newTestService(t)
	ctx := context.Background()
	if _, err := s.Place(ctx, validOrder("ord-1")); err != nil {
		t.Fatal(err)
	}
	strip := `json_remove(body, '$.subtotal_minor')`
	if db.Dialector.Name() == database.Postgres {
		strip = `(body::jsonb - 'subtotal_minor')::text`
	}
	res := db.Exec(`UPDATE checkout_orders SET body = `+strip+` WHERE order_id = ?`, "ord-1")
	if res.Error != nil || res.RowsAffected != 1 {
		t.Fatalf("strip subtotal: %v (%d rows)", res.Error, res.RowsAffected)
	}
	o, err := s.Get(ctx, "ord-1")
	if err != nil {
		t.Fatal(err)
	}
	if o.SubtotalMinor != 3000 || o.TotalMinor != 3000 {
		t.Errorf("legacy order = subtotal %d, total %d; want 3000, 3000", o.SubtotalMinor, o.TotalMinor)
	}
	if _, err := s.ChangeState(ctx, "ord-1", event.OrderPaid); err != nil {
		t.Fatal(err)
	}
	evs := events(t, db, "ord-1")
	if d := detail(t, evs[len(evs)-1]); d["subtotal_minor"] != 3000.0 {
		t.Errorf("later event: detail.subtotal_minor = %v, want 3000", d["subtotal_minor"])
	}
}

func TestPlaceGeneratesOrderID(t *testing.T) {
	s, db, _ := newTestService(t)
	acc, err := s.Place(context.Background(), validOrder(""))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(acc.OrderID, "ord-") || len(acc.OrderID) <= len("ord-") {
		t.Errorf("generated order id %q", acc.OrderID)
	}
	if n := len(events(t, db, acc.OrderID)); n != 1 {
		t.Errorf("%d events under the generated id, want 1", n)
	}
}

func TestPlaceDuplicate(t *testing.T) {
	s, db, waker := newTestService(t)
	ctx := context.Background()
	if _, err := s.Place(ctx, validOrder("ord-1")); err != nil {
		t.Fatal(err)
	}
	second := validOrder("ord-1")
	second.Customer.Name = "Someone Else"
	_, err := s.Place(ctx, second)
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second Place = %v, want ErrDuplicate", err)
	}
	if n := dbtest.Count(t, db, "bus_events"); n != 1 {
		t.Errorf("%d events after a duplicate, want 1", n)
	}
	if waker.count() != 1 {
		t.Errorf("Wake called %d times, want 1 (not for the refused order)", waker.count())
	}
	o, err := s.Get(ctx, "ord-1")
	if err != nil {
		t.Fatal(err)
	}
	if o.Customer.Name != "Ada Lovelace" {
		t.Errorf("the duplicate overwrote the order: %q", o.Customer.Name)
	}
}

func TestPlaceDuplicateConcurrently(t *testing.T) {
	s, db, _ := newTestService(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.Place(context.Background(), validOrder("ord-race")) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrDuplicate):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent Places succeeded, want 1", ok, len(errs))
	}
	if n := dbtest.Count(t, db, "bus_events"); n != 1 {
		t.Errorf("%d events, want 1", n)
	}
}

func TestPlaceInvalid(t *testing.T) {
	s, db, waker := newTestService(t)
	o := validOrder("ord-1")
	o.Currency = "euros"
	_, err := s.Place(context.Background(), o)
	var ve *fault.Error
	if !errors.As(err, &ve) {
		t.Fatalf("Place = %v, want an invalid *fault.Error", err)
	}
	if _, err := s.Get(context.Background(), "ord-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an invalid order was stored: %v", err)
	}
	if dbtest.Count(t, db, "bus_events") != 0 || waker.count() != 0 {
		t.Error("an invalid order published an event or woke the bus")
	}
}

// pathTo lists the moves that bring a new order to each state.
var pathTo = map[string][]string{
	event.NewOrderCreated: nil,
	event.OrderPaid:       {event.OrderPaid},
	event.OrderShipped:    {event.OrderShipped},
	event.OrderDelivered:  {event.OrderShipped, event.OrderDelivered},
	event.OrderCancelled:  {event.OrderCancelled},
	event.OrderRefunded:   {event.OrderPaid, event.OrderRefunded},
}

// allowed is the state machine as the product describes it.
var allowed = map[string][]string{
	event.NewOrderCreated: {event.OrderPaid, event.OrderShipped, event.OrderCancelled},
	event.OrderPaid:       {event.OrderShipped, event.OrderCancelled, event.OrderRefunded},
	event.OrderShipped:    {event.OrderDelivered, event.OrderRefunded},
	event.OrderDelivered:  {event.OrderRefunded},
	event.OrderCancelled:  nil,
	event.OrderRefunded:   nil,
}

func TestChangeStateMachine(t *testing.T) {
	// Every (from, to) pair, allowed or not.
	for _, from := range event.OrderStates() {
		for _, to := range event.OrderStates() {
			ok := slices.Contains(allowed[from], to)
			verdict := "refused"
			if ok {
				verdict = "allowed"
			}
			t.Run(fmt.Sprintf("%s to %s %s", from, to, verdict), func(t *testing.T) {
				s, db, waker := newTestService(t)
				ctx := context.Background()
				if _, err := s.Place(ctx, validOrder("ord-1")); err != nil {
					t.Fatal(err)
				}
				for _, st := range pathTo[from] {
					if _, err := s.ChangeState(ctx, "ord-1", st); err != nil {
						t.Fatalf("reaching %s: %v", from, err)
					}
				}
				eventsBefore, wakesBefore := dbtest.Count(t, db, "bus_events"), waker.count()

				acc, err := s.ChangeState(ctx, "ord-1", to)
				o, getErr := s.Get(ctx, "ord-1")
				if getErr != nil {
					t.Fatal(getErr)
				}
				if !ok {
					if !errors.Is(err, ErrInvalidTransition) {
						t.Fatalf("ChangeState = %v, want ErrInvalidTransition", err)
					}
					if o.State != from {
						t.Errorf("state is %s after a refused move, want %s", o.State, from)
					}
					if n := dbtest.Count(t, db, "bus_events"); n != eventsBefore {
						t.Errorf("a refused move wrote %d events", n-eventsBefore)
					}
					if waker.count() != wakesBefore {
						t.Error("a refused move woke the bus")
					}
					return
				}
				if err != nil {
					t.Fatalf("ChangeState = %v", err)
				}
				if acc.OrderID != "ord-1" || acc.State != to || acc.EventID == "" {
					t.Errorf("Accepted = %+v", acc)
				}
				if o.State != to {
					t.Errorf("state = %s, want %s", o.State, to)
				}
				if waker.count() != wakesBefore+1 {
					t.Errorf("Wake called %d times for the move, want 1", waker.count()-wakesBefore)
				}
				evs := events(t, db, "ord-1")
				if int64(len(evs)) != eventsBefore+1 {
					t.Fatalf("%d events after the move, want %d", len(evs), eventsBefore+1)
				}
				last := evs[len(evs)-1]
				if last.ID != acc.EventID || last.Source != "shopbus.checkout" || last.DetailType != "Order State Change" {
					t.Errorf("event row = %+v", last)
				}
				d := detail(t, last)
				if d["order_state"] != to || d["previous_state"] != from || d["order_id"] != "ord-1" ||
					d["total_minor"] != 3000.0 || d["item_count"] != 3.0 {
					t.Errorf("detail = %v", d)
				}
			})
		}
	}
}

func TestChangeStateRefuses(t *testing.T) {
	tests := []struct {
		name    string
		orderID string
		state   string
		check   func(error) bool
	}{
		{"unknown state", "ord-1", "order_lost", func(err error) bool {
			var ve *fault.Error
			return errors.As(err, &ve) && len(ve.Fields) == 1 && ve.Fields[0].Field == "order_state"
		}},
		{"empty state", "ord-1", "", func(err error) bool {
			var ve *fault.Error
			return errors.As(err, &ve)
		}},
		{"unknown order", "ord-nope", event.OrderPaid, func(err error) bool { return errors.Is(err, ErrNotFound) }},
		{"unknown state of an unknown order", "ord-nope", "bogus", func(err error) bool {
			var ve *fault.Error
			return errors.As(err, &ve)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, db, waker := newTestService(t)
			ctx := context.Background()
			if _, err := s.Place(ctx, validOrder("ord-1")); err != nil {
				t.Fatal(err)
			}
			_, err := s.ChangeState(ctx, tt.orderID, tt.state)
			if !tt.check(err) {
				t.Errorf("ChangeState = %v (%T)", err, err)
			}
			if dbtest.Count(t, db, "bus_events") != 1 || waker.count() != 1 {
				t.Error("a refused change published an event or woke the bus")
			}
		})
	}
}

func TestGetUnknown(t *testing.T) {
	s, _, _ := newTestService(t)
	if _, err := s.Get(context.Background(), "ord-nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound", err)
	}
}

func TestList(t *testing.T) {
	s, _, _ := newTestService(t)
	ctx := context.Background()

	empty, err := s.List(ctx, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if empty.Total != 0 || empty.Orders == nil || len(empty.Orders) != 0 || empty.Next != "" {
		t.Errorf("empty list = %+v, want no orders (non-nil), total 0, no next", empty)
	}

	for i := 1; i <= 5; i++ {
		if _, err := s.Place(ctx, validOrder(fmt.Sprintf("ord-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// A state change must not reorder the list: it is by creation.
	if _, err := s.ChangeState(ctx, "ord-1", event.OrderPaid); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		limit int
		after string
		ids   []string
		next  string
	}{
		{"first page", 2, "", []string{"ord-5", "ord-4"}, "ord-4"},
		{"second page", 2, "ord-4", []string{"ord-3", "ord-2"}, "ord-2"},
		{"last page", 2, "ord-2", []string{"ord-1"}, ""},
		{"exactly everything", 5, "", []string{"ord-5", "ord-4", "ord-3", "ord-2", "ord-1"}, ""},
		{"more than everything", 50, "", []string{"ord-5", "ord-4", "ord-3", "ord-2", "ord-1"}, ""},
		{"one", 1, "ord-5", []string{"ord-4"}, "ord-4"},
		{"after the oldest", 3, "ord-1", []string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.List(ctx, tt.limit, tt.after)
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{}
			for _, o := range p.Orders {
				ids = append(ids, o.OrderID)
			}
			if !slices.Equal(ids, tt.ids) || p.Next != tt.next || p.Total != 5 {
				t.Errorf("List(%d, %q) = %v next %q total %d; want %v next %q total 5",
					tt.limit, tt.after, ids, p.Next, p.Total, tt.ids, tt.next)
			}
		})
	}

	p, err := s.List(ctx, 5, "")
	if err != nil {
		t.Fatal(err)
	}
	if last := p.Orders[4]; last.State != event.OrderPaid || last.TotalMinor != 3000 {
		t.Errorf("listed order = %+v, want its current state and totals", last)
	}

	if _, err := s.List(ctx, 2, "ord-nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("List after an unknown order = %v, want ErrNotFound", err)
	}
}

func TestListNonPositiveLimit(t *testing.T) {
	s, _, _ := newTestService(t)
	ctx := context.Background()
	if _, err := s.Place(ctx, validOrder("ord-1")); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{0, -2} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("List(%d) panicked: %v", limit, p)
				}
			}()
			_, _ = s.List(ctx, limit, "")
		}()
	}
}

func TestChangeStateConcurrentConflict(t *testing.T) {
	s, db, _ := newTestService(t)
	ctx := context.Background()
	if _, err := s.Place(ctx, validOrder("ord-1")); err != nil {
		t.Fatal(err)
	}
	// From new_order_created both moves are allowed, but neither is allowed
	// after the other: exactly one wins.
	moves := []string{event.OrderCancelled, event.OrderShipped}
	errs := make([]error, len(moves))
	var wg sync.WaitGroup
	for i, st := range moves {
		wg.Go(func() { _, errs[i] = s.ChangeState(ctx, "ord-1", st) })
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatal("both conflicting moves succeeded")
			}
			won = i
		case !errors.Is(err, ErrInvalidTransition):
			t.Errorf("%s: %v", moves[i], err)
		}
	}
	if won < 0 {
		t.Fatalf("no move won: %v", errs)
	}
	o, err := s.Get(ctx, "ord-1")
	if err != nil {
		t.Fatal(err)
	}
	if o.State != moves[won] {
		t.Errorf("state = %s, want the winner %s", o.State, moves[won])
	}
	if n := len(events(t, db, "ord-1")); n != 2 {
		t.Errorf("%d events, want the creation and the winning move", n)
	}
}
