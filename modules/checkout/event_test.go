package checkout

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/shopbus/shopbus/event"
)

// TestEventCarriesTheWholeOrder pins the contract rules rely on: an order's
// event detail is the order as GET /v1/orders/{id} shows it, plus
// previous_state, under the same JSON names.
func TestEventCarriesTheWholeOrder(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	in := validOrder("ord-1")
	in.ShippingMinor, in.TaxMinor, in.DiscountMinor = 490, 380, 190
	o := Order{NewOrder: in, State: event.OrderPaid, ItemCount: 3, SubtotalMinor: 3000, TotalMinor: 3680,
		CreatedAt: at, UpdatedAt: at.Add(time.Hour), Shipment: &Shipment{Carrier: "DHL", TrackingNumber: "JD1"}, RefundMinor: 1}
	// Every field set, so a field missing from the event cannot hide
	// behind a zero value that omitempty drops.
	for _, v := range []reflect.Value{reflect.ValueOf(o), reflect.ValueOf(o.NewOrder)} {
		for i := range v.NumField() {
			if v.Field(i).IsZero() {
				t.Fatalf("the test order leaves %s.%s zero: set it", v.Type().Name(), v.Type().Field(i).Name)
			}
		}
	}

	var want, got map[string]any
	asMap(t, o, &want)
	asMap(t, o.stateChange(event.NewOrderCreated), &got)
	if got["previous_state"] != event.NewOrderCreated {
		t.Errorf("previous_state = %v, want %s", got["previous_state"], event.NewOrderCreated)
	}
	delete(got, "previous_state")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event detail differs from the order:\n detail %v\n  order %v", got, want)
	}

	var first map[string]any
	asMap(t, o.stateChange(""), &first)
	if _, ok := first["previous_state"]; ok {
		t.Error("a detail without a previous state has previous_state")
	}
}

func asMap(t *testing.T, v any, into *map[string]any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}
