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
		CreatedAt: at, UpdatedAt: at, PreviousState: NewOrderCreated,
		Shipment: &Shipment{Carrier: "DHL"}, RefundMinor: 1}
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"created_at", "currency", "customer", "discount_minor", "item_count", "items", "order_id",
		"order_state", "payment", "previous_state", "refund_minor", "shipment", "shipping_address", "shipping_minor",
		"subtotal_minor", "tax_minor", "total_minor", "updated_at"}
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, want) {
		t.Errorf("detail members = %v\nwant %v", names, want)
	}
	if d.EventSource() != "shopbus.checkout" || d.EventDetailType() != "Order State Change" {
		t.Errorf("source %q, detail-type %q", d.EventSource(), d.EventDetailType())
	}
	// A partial refund is the same detail under its own detail-type.
	p := OrderPartiallyRefunded(d)
	if raw2, _ := json.Marshal(p); string(raw2) != string(raw) {
		t.Errorf("a partial refund's detail differs from the order's:\n%s\n%s", raw2, raw)
	}
	if p.EventSource() != "shopbus.checkout" || p.EventDetailType() != "Order Partially Refunded" {
		t.Errorf("partial refund: source %q, detail-type %q", p.EventSource(), p.EventDetailType())
	}
}

// TestInventoryDetailNames pins the member names of inventory's events,
// which rules route on as they route on orders'.
func TestInventoryDetailNames(t *testing.T) {
	for _, tc := range []struct {
		d          interface{ EventDetailType() string }
		detailType string
		want       string
	}{
		{InventoryShortage{OrderID: "o", Items: []ShortItem{{SKU: "A", Requested: 2, Available: 1}}}, "Inventory Shortage",
			`{"order_id":"o","items":[{"sku":"A","requested":2,"available":1}]}`},
		{StockReserved{OrderID: "o", Items: []StockItem{{SKU: "A", Quantity: 2}}, Backordered: true}, "Stock Reserved",
			`{"order_id":"o","items":[{"sku":"A","quantity":2}],"backordered":true}`},
	} {
		raw, err := json.Marshal(tc.d)
		if err != nil {
			t.Fatal(err)
		}
		if string(raw) != tc.want || tc.d.EventDetailType() != tc.detailType {
			t.Errorf("%s: %s, want %s", tc.d.EventDetailType(), raw, tc.want)
		}
	}
	if (StockReserved{}).EventSource() != "shopbus.inventory" {
		t.Error("Stock Reserved is not from shopbus.inventory")
	}
}
