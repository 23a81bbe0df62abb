package bus

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus/transform"
	"github.com/shopbus/shopbus/database/dbtest"
)

// routingRules are two rules that a big new order matches both of, each
// with two targets that see the event differently.
var routingRules = []RuleConfig{{
	Name: "fulfilment",
	Pattern: map[string]any{
		"source": []any{"shopbus.checkout"},
		"detail": map[string]any{"order_state": []any{"new_order_created"}},
	},
	Targets: []TargetConfig{
		{Module: "inventory", Spec: transform.Spec{Fields: []string{"detail.order_id", "detail.items"}}},
		{Module: "shipping", Spec: transform.Spec{InputPath: "$.detail.customer"}},
	},
}, {
	Name:    "payment",
	Pattern: map[string]any{"detail": map[string]any{"total_minor": []any{map[string]any{"numeric": []any{">=", 1000}}}}},
	Targets: []TargetConfig{
		{Module: "payment", Spec: transform.Spec{InputPath: "$.detail.payment"}},
		{Module: "crm", Spec: transform.Spec{Fields: []string{"source", "detail.customer.email"}}},
	},
}}

// routingBus is a started bus with routingRules and their four targets,
// not running, so tests drive route themselves.
func routingBus(t *testing.T, db *gorm.DB, rules []RuleConfig) *Bus {
	t.Helper()
	b := newTestBus(t, db, rules)
	Subscribe(b, "inventory", nop[json.RawMessage])
	Subscribe(b, "shipping", nop[json.RawMessage])
	Subscribe(b, "payment", nop[json.RawMessage])
	Subscribe(b, "crm", nop[json.RawMessage])
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	return b
}

// deliveryRows lists every delivery row of an event, by id.
func deliveryRows(t *testing.T, db *gorm.DB, eventID string) []deliveryRow {
	t.Helper()
	var rows []deliveryRow
	if err := db.Where("event_id = ?", eventID).Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

func isRouted(t *testing.T, db *gorm.DB, eventID string) bool {
	t.Helper()
	var ev eventRow
	if err := db.Where("id = ?", eventID).Take(&ev).Error; err != nil {
		t.Fatal(err)
	}
	return ev.RoutedAt != nil
}

func TestRoute(t *testing.T) {
	type want struct{ rule, target, payload string }
	paid := newOrder("ord_paid")
	paid.State = "order_paid"
	small := newOrder("ord_small")
	small.State, small.Total = "order_cancelled", 500
	big := newOrder("ord_big")

	for _, tc := range []struct {
		name  string
		event orderChange
		want  []want
	}{{
		name:  "matches two rules with two targets each",
		event: big,
		want: []want{
			{"fulfilment", "inventory", `{"detail":{"order_id":"ord_big","items":[{"sku":"MUG-1","quantity":2}]}}`},
			{"fulfilment", "shipping", `{"email":"ada@example.com","name":"Ada"}`},
			{"payment", "payment", `{"method":"card","token":"tok_ord_big"}`},
			{"payment", "crm", `{"source":"shopbus.checkout","detail":{"customer":{"email":"ada@example.com"}}}`},
		},
	}, {
		name:  "matches one rule",
		event: paid,
		want: []want{
			{"payment", "payment", `{"method":"card","token":"tok_ord_paid"}`},
			{"payment", "crm", `{"source":"shopbus.checkout","detail":{"customer":{"email":"ada@example.com"}}}`},
		},
	}, {
		name:  "matches nothing",
		event: small,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			db := dbtest.Open(t, Migrations)
			b := routingBus(t, db, routingRules)
			ev := publish(t, db, b, tc.event)[0]
			if err := b.route(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !isRouted(t, db, ev.ID) {
				t.Error("event not marked routed")
			}
			rows := deliveryRows(t, db, ev.ID)
			if len(rows) != len(tc.want) {
				t.Fatalf("got %d deliveries %+v, want %d", len(rows), rows, len(tc.want))
			}
			for i, r := range rows {
				w := tc.want[i]
				if r.Rule != w.rule || r.Target != w.target {
					t.Errorf("delivery %d goes to %s/%s, want %s/%s", i, r.Rule, r.Target, w.rule, w.target)
				}
				if !sameJSON(t, r.Payload, w.payload) {
					t.Errorf("%s/%s payload\n got %s\nwant %s", r.Rule, r.Target, r.Payload, w.payload)
				}
				if r.Status != StatusPending || r.Attempts != 0 || r.OrderID != tc.event.OrderID || r.EventSeq == 0 {
					t.Errorf("%s/%s: status %s, attempts %d, order %q, seq %d; want pending, 0, %q, set",
						r.Rule, r.Target, r.Status, r.Attempts, r.OrderID, r.EventSeq, tc.event.OrderID)
				}
			}
		})
	}
}

func TestRouteWithoutTransformDeliversTheEvent(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	b := routingBus(t, db, []RuleConfig{checkoutRule("all", TargetConfig{Module: "crm"})})
	ev := publish(t, db, b, newOrder("ord_1"))[0]
	if err := b.route(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := deliveryRows(t, db, ev.ID)
	if len(rows) != 1 {
		t.Fatalf("got %d deliveries, want 1", len(rows))
	}
	var got Event
	if err := json.Unmarshal([]byte(rows[0].Payload), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != ev.ID || got.Source != "shopbus.checkout" || got.DetailType != "Order State Change" || !sameJSON(t, string(got.Detail), string(ev.Detail)) {
		t.Errorf("payload %s, want the whole event %+v", rows[0].Payload, ev)
	}
}

func TestRouteSkipsTargetWhoseInputPathSelectsNothing(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	b := routingBus(t, db, []RuleConfig{checkoutRule("refunds",
		TargetConfig{Module: "payment", Spec: transform.Spec{InputPath: "$.detail.refund"}},
		TargetConfig{Module: "crm"},
	)})
	ev := publish(t, db, b, newOrder("ord_1"))[0]
	if err := b.route(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := deliveryRows(t, db, ev.ID)
	if len(rows) != 1 || rows[0].Target != "crm" {
		t.Fatalf("deliveries %+v, want only crm's", rows)
	}
}

// TestRouteRecordsUnsendableTransformAsDead: where a template's result is
// not JSON, AWS sends nothing; here the delivery is not sent either, but it
// is kept as a dead letter that says why, beside the target that works.
func TestRouteRecordsUnsendableTransformAsDead(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	b := routingBus(t, db, []RuleConfig{checkoutRule("notes",
		TargetConfig{Module: "crm", Spec: transform.Spec{
			InputPathsMap: map[string]string{"customer": "$.detail.customer"},
			InputTemplate: `{"note": "for <customer>"}`, // an object inside quotes
		}},
		TargetConfig{Module: "shipping", Spec: transform.Spec{InputPath: "$.detail.customer"}},
	)})
	ev := publish(t, db, b, newOrder("ord_1"))[0]
	if err := b.route(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := deliveryRows(t, db, ev.ID)
	if len(rows) != 2 || rows[0].Target != "crm" || rows[1].Target != "shipping" {
		t.Fatalf("deliveries %+v, want crm's and shipping's", rows)
	}
	if rows[0].Status != StatusDead || !strings.Contains(rows[0].LastError, "not valid JSON") || rows[0].Attempts != 0 {
		t.Errorf("crm: status %s, attempts %d, last error %q; want dead, never attempted, saying the template is not valid JSON",
			rows[0].Status, rows[0].Attempts, rows[0].LastError)
	}
	if rows[1].Status != StatusPending {
		t.Errorf("shipping: status %s, want pending", rows[1].Status)
	}
	dead, err := NewRecords(db, nil).DeadLetters(context.Background(), "crm", 10)
	if err != nil || len(dead) != 1 || dead[0].EventID != ev.ID || dead[0].Rule != "notes" {
		t.Errorf("dead letters %+v, %v; want the crm delivery", dead, err)
	}
}

func TestRouteTwiceCreatesNoDuplicates(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	b := routingBus(t, db, routingRules)
	ctx := context.Background()
	events := publish(t, db, b, newOrder("ord_1"), newOrder("ord_2"))
	if err := b.route(ctx); err != nil {
		t.Fatal(err)
	}
	first := deliveryRows(t, db, events[1].ID)

	// As after a crash between inserting deliveries and marking the events routed.
	if err := db.Exec("UPDATE bus_events SET routed_at = NULL").Error; err != nil {
		t.Fatal(err)
	}
	if err := b.route(ctx); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := db.Model(&deliveryRow{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 8 {
		t.Errorf("%d deliveries after routing twice, want 8", n)
	}
	if again := deliveryRows(t, db, events[1].ID); !reflect.DeepEqual(first, again) {
		t.Errorf("routing again changed the deliveries:\n%+v\n%+v", first, again)
	}
	for _, ev := range events {
		if !isRouted(t, db, ev.ID) {
			t.Errorf("event %s not marked routed the second time", ev.ID)
		}
	}
}

func TestRouteKeepsEventOrder(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	b := routingBus(t, db, []RuleConfig{checkoutRule("all", TargetConfig{Module: "crm"})})
	var details []Detail
	for _, id := range []string{"ord_1", "ord_2", "ord_3", "ord_4", "ord_5"} {
		details = append(details, newOrder(id))
	}
	events := publish(t, db, b, details...)
	if err := b.route(context.Background()); err != nil {
		t.Fatal(err)
	}
	var rows []deliveryRow
	if err := db.Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(events) {
		t.Fatalf("%d deliveries, want %d", len(rows), len(events))
	}
	for i, r := range rows {
		if r.EventID != events[i].ID {
			t.Errorf("delivery %d is for event %s, want %s (publish order)", i, r.EventID, events[i].ID)
		}
	}
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}
