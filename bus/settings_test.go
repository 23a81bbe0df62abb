package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
)

// noteSettings is a module whose targets take "template" and "to", as the
// email module's do: the check refuses other keys, and the payload check
// wants the customer's email when to is "customer".
var noteSettings = TargetSettings{
	Check: func(s map[string]string) error {
		for k := range s {
			if k != "template" && k != "to" {
				return fmt.Errorf("unknown key %s", k)
			}
		}
		if s["template"] == "missing" {
			return errors.New(`template "missing" does not exist`)
		}
		return nil
	},
	Payload: func(s map[string]string, payload []byte) error {
		var ev struct {
			Detail struct {
				Customer struct{ Email string } `json:"customer"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(payload, &ev); err != nil {
			return err
		}
		if s["to"] == "customer" && ev.Detail.Customer.Email == "" {
			return errors.New("it has no detail.customer.email to send to")
		}
		return nil
	},
}

// rulesFromYAML decodes rules as config.yaml holds them, refusing unknown
// fields as config.Load does.
func rulesFromYAML(t *testing.T, src string) []RuleConfig {
	t.Helper()
	var doc struct {
		Rules []RuleConfig `yaml:"rules"`
	}
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc.Rules
}

// TestTargetSettings: a module target's settings reach the module's check
// and, at start-up, its check of every example payload; what either
// refuses, or settings given a target that takes none, refuses the rule
// by name.
func TestTargetSettings(t *testing.T) {
	rules := rulesFromYAML(t, `
rules:
  - name: shipped-mail
    pattern: {source: ["shopbus.checkout"]}
    targets:
      - module: note
        template: order_shipped
        to: customer
        fields: [detail.order_id, detail.customer]
`)
	if got := rules[0].Targets[0]; got.Settings()["template"] != "order_shipped" || got.Settings()["to"] != "customer" || len(got.Fields) != 2 {
		t.Fatalf("decoded target %+v: the settings beside the transform are lost", got)
	}
	start := func(t *testing.T, rules ...RuleConfig) error {
		b := newTestBus(t, dbtest.Open(t, Migrations), rules)
		Subscribe(b, "inventory", nop[orderChange])
		Subscribe(b, "note", nop[json.RawMessage])
		b.Settings("note", noteSettings)
		b.Example(newOrder("ord-example"), shortage{OrderID: "ord-example"})
		return b.Start()
	}
	if err := start(t, rules...); err != nil {
		t.Fatalf("valid settings refused: %v", err)
	}

	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{{
		name: "the module's check refuses",
		yaml: `
  - name: bad-template
    pattern: {source: ["shopbus.checkout"]}
    targets: [{module: note, template: missing, to: customer}]`,
		want: []string{`cfg.yaml:3: rule "bad-template": invalid rule: target 1 (note): template "missing" does not exist`},
	}, {
		name: "the payload lacks the recipient",
		yaml: `
  - name: shortage-mail
    pattern: {source: ["shopbus.inventory"]}
    targets: [{module: note, template: order_shipped, to: customer}]`,
		want: []string{`cfg.yaml:3: rule "shortage-mail": invalid rule: target note: for "Inventory Shortage" events the payload does not suit the module: it has no detail.customer.email to send to`},
	}, {
		name: "a module that takes no settings",
		yaml: `
  - name: stock
    pattern: {source: ["shopbus.checkout"]}
    targets: [{module: inventory, template: order_shipped}]`,
		want: []string{`rule "stock"`, "target 1 (inventory): module inventory takes no template (the email module does)"},
	}, {
		name: "a webhook",
		yaml: `
  - name: hook
    pattern: {source: ["shopbus.checkout"]}
    targets: [{webhook: {url: "https://erp.example/in", secret_env: HOOK_SECRET}, template: x, to: y}]`,
		want: []string{`rule "hook"`, "target 1 (webhook:erp.example): a webhook takes no template or to"},
	}, {
		name: "a module twice in a rule",
		yaml: `
  - name: two-mails
    pattern: {source: ["shopbus.checkout"]}
    targets: [{module: note, template: a, to: owner}, {module: note, template: b, to: customer}]`,
		want: []string{`rule "two-mails"`, `target 2: module "note" is named twice (a rule sends to a module once: give the second its own rule)`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HOOK_SECRET", "whsec_"+strings.Repeat("a", 32))
			rules := rulesFromYAML(t, "rules:"+tc.yaml)
			rules[0].File, rules[0].Line = "cfg.yaml", 3
			err := start(t, rules...)
			if !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("Start = %v, want ErrInvalidRule", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestDeliveryCarriesSettings: the handler of a delivery gets the settings
// its rule gives its target, and a target without settings gets none.
func TestDeliveryCarriesSettings(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	b := newTestBus(t, db, []RuleConfig{
		checkoutRule("to-customer", TargetConfig{Module: "note", Template: "order_shipped", To: "customer"}),
		checkoutRule("plain", TargetConfig{Module: "note"}),
	})
	var mu sync.Mutex
	got := map[string]map[string]string{}
	Subscribe(b, "note", func(_ context.Context, d Delivery[json.RawMessage]) error {
		mu.Lock()
		defer mu.Unlock()
		got[d.Rule] = d.Settings
		return nil
	})
	b.Settings("note", noteSettings)
	runBus(t, b)
	publish(t, db, b, newOrder("ord-1"))
	bustest.WaitFor(t, "both deliveries", statusIs(t, b, "ord-1", StatusDone, StatusDone))
	mu.Lock()
	defer mu.Unlock()
	if s := got["to-customer"]; s["template"] != "order_shipped" || s["to"] != "customer" || len(s) != 2 {
		t.Errorf("to-customer's handler got settings %v", s)
	}
	if s, ok := got["plain"]; !ok || s != nil {
		t.Errorf("plain's handler got settings %v (handled: %v)", s, ok)
	}
}
