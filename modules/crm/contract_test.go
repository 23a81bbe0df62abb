package crm

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/modules/email"
)

// shippedRule returns the rule of that name from the shop's default
// config.yaml.
func shippedRule(t *testing.T, name string) bus.RuleConfig {
	t.Helper()
	raw, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Rules []bus.RuleConfig `yaml:"rules"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, r := range cfg.Rules {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("config.yaml has no rule %q", name)
	return bus.RuleConfig{}
}

// TestShippedRuleFeedsCRM publishes the producer's detail type, every field
// set, through the new-order-crm rule as config.yaml ships it, and checks
// that CRM reads all it needs from its own types and hands all of it to the
// order-success email.
func TestShippedRuleFeedsCRM(t *testing.T) {
	s, db := newTestService(t)
	b := runBus(t, s, []bus.RuleConfig{shippedRule(t, "new-order-crm")})
	ctx := context.Background()

	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	sc := event.OrderStateChange{
		OrderID:         "ord-1",
		Customer:        event.Customer{Email: "ada@example.com", Name: "Ada Lovelace"},
		Items:           []event.Item{{SKU: "TEA-1", Name: "Green tea", Quantity: 2, UnitPriceMinor: 1250}},
		Currency:        "EUR",
		ShippingAddress: event.Address{Line1: "1 Rue de Rivoli", City: "Paris", PostalCode: "75001", Country: "FR"},
		ShippingMinor:   490,
		TaxMinor:        380,
		DiscountMinor:   190,
		Payment:         event.Payment{Method: "card", Reference: "ch_1", AmountMinor: 3180},
		OrderState:      event.NewOrderCreated,
		ItemCount:       2,
		SubtotalMinor:   2500,
		TotalMinor:      3180,
		CreatedAt:       at,
		UpdatedAt:       at,
	}
	if err := db.Transaction(func(tx *gorm.DB) error { _, err := bus.Publish(ctx, tx, sc); return err }); err != nil {
		t.Fatal(err)
	}
	b.Wake()
	bustest.WaitFor(t, "the crm delivery to finish", func() bool {
		ds, err := b.Deliveries(ctx, "ord-1")
		return err == nil && len(ds) == 1 && (ds[0].Status == bus.StatusDone || ds[0].Status == bus.StatusDead)
	})
	if ds, _ := b.Deliveries(ctx, "ord-1"); ds[0].Status != bus.StatusDone {
		t.Fatalf("delivery = %+v", ds[0])
	}

	js := jobs(t, db)
	if len(js) != 1 {
		t.Fatalf("%d email jobs, want 1", len(js))
	}
	var got email.OrderSuccess
	if err := json.Unmarshal([]byte(js[0].Data), &got); err != nil {
		t.Fatal(err)
	}
	want := email.OrderSuccess{
		OrderID: "ord-1", CustomerName: "Ada Lovelace", CustomerEmail: "ada@example.com", Currency: "EUR",
		Items:         []email.Line{{SKU: "TEA-1", Name: "Green tea", Quantity: 2, UnitPriceMinor: 1250}},
		SubtotalMinor: 2500, ShippingMinor: 490, TaxMinor: 380, DiscountMinor: 190, TotalMinor: 3180,
		ShippingAddress: email.Address{Line1: "1 Rue de Rivoli", City: "Paris", PostalCode: "75001", Country: "FR"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("email data =\n %+v\nwant\n %+v", got, want)
	}
}

// TestEmailDataFitsTheTemplate pins the JSON contract between CRM's
// successEmail and email's OrderSuccess: every member CRM writes is one the
// template reads, and every field the template reads is filled.
func TestEmailDataFitsTheTemplate(t *testing.T) {
	data := successEmail{
		OrderID: "ord-1", CustomerName: "Ada", CustomerEmail: "ada@example.com", Currency: "EUR",
		Items:         []item{{SKU: "TEA-1", Name: "Green tea", Quantity: 2, UnitPriceMinor: 1250}},
		SubtotalMinor: 2500, ShippingMinor: 490, TaxMinor: 380, DiscountMinor: 190, TotalMinor: 3180,
		ShippingAddress: address{Line1: "1 Rue de Rivoli", City: "Paris", PostalCode: "75001", Country: "FR"},
	}
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	var got email.OrderSuccess
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("email cannot read what CRM writes: %v", err)
	}
	v := reflect.ValueOf(got)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("email's OrderSuccess.%s is left empty by CRM's data", v.Type().Field(i).Name)
		}
	}
	back, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, raw) {
		t.Errorf("the round trip changed the data:\n CRM   %s\n email %s", raw, back)
	}
}
