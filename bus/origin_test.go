package bus

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/bus/transform"
	"github.com/shopbus/shopbus/database/dbtest"
)

// TestEventsCarryTheBusIdentity: every event routed carries the bus's
// account and region, which patterns match and transforms read (an input
// path, <aws.events.event>) as on EventBridge; the outbox stores neither,
// and an order's events show both.
func TestEventsCarryTheBusIdentity(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	rules := []RuleConfig{
		{Name: "ours", Pattern: map[string]any{"account": []any{"123456789012"}, "region": []any{"eu-west-1"}},
			Targets: []TargetConfig{{Module: "crm"}, {Module: "inventory", Spec: transform.Spec{
				InputPathsMap: map[string]string{"acct": "$.account", "where": "$.region"},
				InputTemplate: `{"acct": <acct>, "where": <where>, "event": <aws.events.event>}`}}}},
		{Name: "another-region", Pattern: map[string]any{"region": []any{"us-east-1"}}, Targets: []TargetConfig{{Module: "payment"}}},
	}
	b := New(Deps{DB: db, Log: testLogger(t)}, rules, Options{Account: "123456789012", Region: "eu-west-1"})
	for _, m := range []string{"inventory", "shipping", "payment", "crm"} {
		Subscribe(b, m, nop[json.RawMessage])
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ev := publish(t, db, b, newOrder("ord_1"))[0]
	if err := b.route(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows := deliveryRows(t, db, ev.ID)
	if len(rows) != 2 || rows[0].Target != "crm" || rows[1].Target != "inventory" {
		t.Fatalf("deliveries %+v, want crm's and inventory's by the rule ours", rows)
	}
	var whole Event
	if err := json.Unmarshal([]byte(rows[0].Payload), &whole); err != nil {
		t.Fatal(err)
	}
	if whole.Account != "123456789012" || whole.Region != "eu-west-1" || whole.ID != ev.ID {
		t.Errorf("the event delivered: %s", rows[0].Payload)
	}
	var shaped struct {
		Acct, Where string
		Event       map[string]any
	}
	if err := json.Unmarshal([]byte(rows[1].Payload), &shaped); err != nil {
		t.Fatal(err)
	}
	if shaped.Acct != "123456789012" || shaped.Where != "eu-west-1" || shaped.Event["account"] != "123456789012" ||
		shaped.Event["region"] != "eu-west-1" || shaped.Event["id"] != ev.ID {
		t.Errorf("the transform's payload: %s", rows[1].Payload)
	}
	var stored eventRow
	if err := db.Where("id = ?", ev.ID).Take(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored.Body, `"account"`) || strings.Contains(stored.Body, `"region"`) {
		t.Errorf("the outbox stores the bus's identity: %s", stored.Body)
	}
	evs, err := b.OrderEvents(context.Background(), "ord_1")
	if err != nil || len(evs) != 1 || evs[0].Account != "123456789012" || evs[0].Region != "eu-west-1" {
		t.Errorf("OrderEvents = %+v, %v", evs, err)
	}
}

func TestBusIdentityDefaults(t *testing.T) {
	b := New(Deps{DB: dbtest.Open(t, Migrations)}, nil, Options{})
	var ev Event
	if err := json.Unmarshal([]byte(b.origin.stamp(`{"version":"0","detail":{}}`)), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Account != DefaultAccount || ev.Region != DefaultRegion || DefaultAccount != "000000000000" || DefaultRegion != "local" {
		t.Errorf("defaults: %q %q", ev.Account, ev.Region)
	}
}

func TestStamp(t *testing.T) {
	o := newOrigin("123456789012", "eu-west-1")
	for _, tc := range []struct{ in, want string }{
		{`{"id":"1"}`, `{"account":"123456789012","region":"eu-west-1","id":"1"}`},
		{`{ }`, `{"account":"123456789012","region":"eu-west-1" }`},
		{`[1]`, `[1]`},
		{``, ``},
	} {
		if got := o.stamp(tc.in); got != tc.want {
			t.Errorf("stamp(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if tc.want != "" && tc.want[0] == '{' && !json.Valid([]byte(o.stamp(tc.in))) {
			t.Errorf("stamp(%q) is not JSON", tc.in)
		}
	}
	if got := (origin{}).stamp(`{"id":"1"}`); got != `{"id":"1"}` {
		t.Errorf("the zero origin stamps: %s", got)
	}
}
