package event

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"
)

// TestOrderDetailNames pins the member names of an order's detail: shops'
// rules filter on them (design.md, "Event envelope"), so a rename here is a
// breaking change to every config.yaml, not a refactoring.
func TestOrderDetailNames(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := OrderStateChange{OrderID: "ord-1", Customer: Customer{Email: "a@example.com"}, Items: []Item{{SKU: "A"}},
		Currency: "EUR", ShippingMinor: 1, TaxMinor: 1, DiscountMinor: 1, OrderState: OrderPaid,
		CreatedAt: at, UpdatedAt: at, PreviousState: NewOrderCreated}
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"created_at", "currency", "customer", "discount_minor", "item_count", "items", "order_id",
		"order_state", "payment", "previous_state", "shipping_address", "shipping_minor", "subtotal_minor",
		"tax_minor", "total_minor", "updated_at"}
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, want) {
		t.Errorf("detail members = %v\nwant %v", names, want)
	}
	if d.EventSource() != "shopbus.checkout" || d.EventDetailType() != "Order State Change" {
		t.Errorf("source %q, detail-type %q", d.EventSource(), d.EventDetailType())
	}
}
