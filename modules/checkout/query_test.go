package checkout

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shopbus/shopbus/database"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/event"
)

func TestSearch(t *testing.T) {
	s, _, _ := newTestService(t)
	ctx := context.Background()
	for i, email := range []string{"ada@example.com", "grace@example.org", "Ada.King@Example.com", "linus@100%_.example"} {
		o := validOrder([]string{"ord-a1", "ord-b2", "ord-a3", "ord-c4"}[i])
		o.Customer.Email = email
		if _, err := s.Place(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ChangeState(ctx, "ord-a3", event.OrderPaid); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		filter Filter
		want   []string
	}{
		{"no filter lists every order, newest first", Filter{}, []string{"ord-c4", "ord-a3", "ord-b2", "ord-a1"}},
		{"part of an order id", Filter{Text: "ORD-A"}, []string{"ord-a3", "ord-a1"}},
		{"part of an email, ignoring case", Filter{Text: "ada"}, []string{"ord-a3", "ord-a1"}},
		{"a state", Filter{State: event.OrderPaid}, []string{"ord-a3"}},
		{"text and state", Filter{Text: "example.com", State: event.NewOrderCreated}, []string{"ord-a1"}},
		{"LIKE's wildcards are literal", Filter{Text: "%_"}, []string{"ord-c4"}},
		{"nothing matches", Filter{Text: "nobody"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.Search(ctx, tc.filter, 10, "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range p.Orders {
				got = append(got, o.OrderID)
			}
			if !slices.Equal(got, tc.want) || p.Total != int64(len(tc.want)) || p.Next != "" {
				t.Errorf("Search(%+v) = %v (total %d, next %q), want %v", tc.filter, got, p.Total, p.Next, tc.want)
			}
		})
	}

	first, err := s.Search(ctx, Filter{Text: "ord-"}, 3, "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Search(ctx, Filter{Text: "ord-"}, 3, first.Next)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Orders) != 3 || first.Next != "ord-b2" || len(second.Orders) != 1 || second.Orders[0].OrderID != "ord-a1" || second.Total != 4 {
		t.Errorf("pages = %+v then %+v, want 3 orders then the last", first, second)
	}
	if _, err := s.Search(ctx, Filter{}, 3, "ord-none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Search after an unknown order = %v, want ErrNotFound", err)
	}
}

func TestOrdersAndChanged(t *testing.T) {
	db := dbtest.Open(t, bus.Migrations, Migrations, QueryMigrations)
	s := New(db, &wakeCounter{}, database.Direct{DB: db})
	ctx := context.Background()
	start := time.Now().Add(-time.Second)
	for _, id := range []string{"ord-1", "ord-2"} {
		if _, err := s.Place(ctx, validOrder(id)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Orders(ctx, []string{"ord-1", "ord-2", "ord-none"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].OrderID != "ord-2" || got[1].OrderID != "ord-1" {
		t.Errorf("Orders = %+v, want ord-2 and ord-1", got)
	}

	changed, err := s.Changed(ctx, start, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 2 || changed[0].OrderID != "ord-1" {
		t.Fatalf("Changed = %+v, want both orders, oldest change first", changed)
	}
	last := changed[1]
	if more, err := s.Changed(ctx, last.UpdatedAt, last.OrderID, 10); err != nil || len(more) != 0 {
		t.Errorf("Changed after the last change = %+v, %v; want nothing", more, err)
	}
	if _, err := s.ChangeState(ctx, "ord-1", event.OrderPaid); err != nil {
		t.Fatal(err)
	}
	more, err := s.Changed(ctx, last.UpdatedAt, last.OrderID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(more) != 1 || more[0].OrderID != "ord-1" || more[0].State != event.OrderPaid {
		t.Errorf("Changed after a state change = %+v, want ord-1, paid", more)
	}
}
