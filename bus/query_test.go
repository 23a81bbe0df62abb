package bus

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/bus/transform"
	"github.com/shopbus/shopbus/bus/webhook"
	"github.com/shopbus/shopbus/database/dbtest"
)

// queryBus runs a bus whose one rule sends checkout events to inventory,
// which succeeds, and to shipping, which fails for good, and publishes
// the given orders' creation; it returns once every delivery settled.
func queryBus(t *testing.T, orders ...string) *Bus {
	t.Helper()
	db := dbtest.Open(t, Migrations, QueryMigrations)
	b := newTestBus(t, db, []RuleConfig{checkoutRule("fulfil", TargetConfig{Module: "inventory"},
		TargetConfig{Module: "shipping", Spec: transform.Spec{Fields: []string{"detail.order_id"}}})})
	Subscribe(b, "inventory", nop[orderChange])
	Subscribe(b, "shipping", func(context.Context, Delivery[orderChange]) error {
		return Permanent(errors.New("no carrier"))
	})
	runBus(t, b)
	for _, id := range orders {
		publish(t, db, b, newOrder(id))
		bustest.WaitFor(t, id+" to settle", statusIs(t, b, id, StatusDone, StatusDead))
	}
	return b
}

func TestOrderEventsAndDeliveries(t *testing.T) {
	b := queryBus(t, "ord-1", "ord-2")
	ctx := context.Background()

	events, err := b.OrderEvents(ctx, "ord-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Source != "shopbus.checkout" || len(events[0].Detail) == 0 {
		t.Fatalf("events of ord-1 = %+v, want its one checkout event with its detail", events)
	}
	ds, err := b.OrderDeliveries(ctx, "ord-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 {
		t.Fatalf("deliveries of ord-1 = %+v, want 2", ds)
	}
	dead := ds[1]
	if dead.Target != "shipping" || dead.Status != StatusDead || dead.OrderID != "ord-1" || dead.EventID != events[0].ID ||
		string(dead.Payload) != `{"detail":{"order_id":"ord-1"}}` || len(dead.Errors) != 1 || dead.LastError == "" {
		t.Errorf("dead delivery = %+v, want shipping's, with its payload and its one error", dead)
	}

	byOrder, err := b.DeliveriesOf(ctx, []string{"ord-1", "ord-2", "ord-none"})
	if err != nil {
		t.Fatal(err)
	}
	if len(byOrder) != 2 || len(byOrder["ord-1"]) != 2 || len(byOrder["ord-2"]) != 2 || byOrder["ord-2"][0].Target != "inventory" {
		t.Errorf("DeliveriesOf = %+v, want two deliveries for each order", byOrder)
	}
	if none, err := b.DeliveriesOf(ctx, nil); err != nil || len(none) != 0 {
		t.Errorf("DeliveriesOf(nil) = %v, %v; want nothing", none, err)
	}
}

// TestChangedDeliveries pages through the changes one row at a time: the
// (updated_at, id) cursor sees each delivery once, even when several share
// a timestamp.
func TestChangedDeliveries(t *testing.T) {
	b := queryBus(t, "ord-1", "ord-2")
	ctx := context.Background()
	// Two deliveries with the very same updated_at.
	same := time.Now().UTC()
	if err := b.db.Model(&deliveryRow{}).Where("order_id = ?", "ord-2").Update("updated_at", same).Error; err != nil {
		t.Fatal(err)
	}
	var seen []int64
	since, after := time.Time{}, int64(0)
	for range 10 {
		page, err := b.ChangedDeliveries(ctx, since, after, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		seen = append(seen, page[0].ID)
		since, after = page[0].UpdatedAt, page[0].ID
	}
	slices.Sort(seen)
	// Their ids, which on PostgreSQL need not start at 1: a sequence does
	// not give back the values of a rolled-back insert.
	var all []int64
	if err := b.db.Model(&deliveryRow{}).Order("id").Pluck("id", &all).Error; err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 || !slices.Equal(seen, all) {
		t.Errorf("paging one by one saw deliveries %v, want each of %v once", seen, all)
	}
	one, err := b.ChangedDeliveries(ctx, time.Time{}, 0, "ord-2", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 2 || one[0].OrderID != "ord-2" || one[1].OrderID != "ord-2" {
		t.Errorf("changes of ord-2 = %+v, want its two deliveries", one)
	}
}

func TestTraffic(t *testing.T) {
	b := queryBus(t, "ord-1", "ord-2")
	ctx := context.Background()

	tr, err := b.Traffic(ctx, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Matches["fulfil"] != 2 {
		t.Errorf("matches = %v, want fulfil: 2", tr.Matches)
	}
	if got := tr.Targets[[2]string{"fulfil", "inventory"}]; got != (Counts{Done: 2}) {
		t.Errorf("inventory = %+v, want 2 done", got)
	}
	if got := tr.Targets[[2]string{"fulfil", "shipping"}]; got != (Counts{Dead: 2}) {
		t.Errorf("shipping = %+v, want 2 dead", got)
	}
	later, err := b.Traffic(ctx, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(later.Matches) != 0 || len(later.Targets) != 0 {
		t.Errorf("traffic after now = %+v, want none", later)
	}
	dead, err := b.DeadByTarget(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead["shipping"] != 2 {
		t.Errorf("dead by target = %v, want shipping: 2", dead)
	}
}

func TestRules(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	b := newTestBus(t, db, []RuleConfig{
		{Name: "pay", Description: "payment fields only", Pattern: map[string]any{"detail": map[string]any{"order_state": []any{"new_order_created"}}},
			Targets: []TargetConfig{{Module: "payment", Spec: transform.Spec{InputPath: "$.detail.payment"}}}},
		checkoutRule("erp", TargetConfig{Webhook: &webhook.Config{URL: "https://erp.example/hooks?token=secret"}}),
	})
	Subscribe(b, "payment", nop[payment])
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	rules := b.Rules()
	if len(rules) != 2 {
		t.Fatalf("rules = %+v, want 2", rules)
	}
	pay, erp := rules[0], rules[1]
	if pay.Name != "pay" || pay.Description != "payment fields only" || string(pay.Pattern) != `{"detail":{"order_state":["new_order_created"]}}` ||
		len(pay.Targets) != 1 || pay.Targets[0] != (TargetInfo{Name: "payment", Shape: "input_path $.detail.payment"}) {
		t.Errorf("rule pay = %+v", pay)
	}
	if len(erp.Targets) != 1 || erp.Targets[0] != (TargetInfo{Name: "webhook:erp.example", Webhook: "erp.example", Shape: "the whole event"}) {
		t.Errorf("rule erp = %+v, want its webhook named by host, without the URL's token", erp)
	}
}
