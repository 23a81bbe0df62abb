package inventory

import (
	"context"
	"encoding/json"
	"testing"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/event"
)

// line is one order line of a test event.
type line struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// stateEvent builds the payload inventory receives, decoded from JSON the
// way the bus decodes it.
func stateEvent(t *testing.T, orderID, state string, items ...line) orderEvent {
	t.Helper()
	return bustest.Payload[orderEvent](t, map[string]any{
		"source":      "shopbus.checkout",
		"detail-type": "Order State Change",
		"detail":      map[string]any{"order_id": orderID, "order_state": state, "items": items, "currency": "EUR"},
	})
}

// deliver runs the handler in its own transaction, as the bus does, and
// returns the handler's error.
func deliver(t *testing.T, s *Service, ev orderEvent) error {
	t.Helper()
	ctx := context.Background()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return s.handle(ctx, deliveryOf(ev, tx))
	})
}

// deliveryOf wraps a payload in the delivery the bus would hand over in tx.
func deliveryOf(ev orderEvent, tx *gorm.DB) bus.Delivery[orderEvent] {
	return bus.Delivery[orderEvent]{
		ID: 1, EventID: "ev-test", OrderID: ev.Detail.OrderID, Rule: "test", Target: "inventory", Attempt: 1,
		Payload: ev, Tx: tx,
	}
}

func mustDeliver(t *testing.T, s *Service, ev orderEvent) {
	t.Helper()
	if err := deliver(t, s, ev); err != nil {
		t.Fatalf("%s %s: %v", ev.Detail.OrderState, ev.Detail.OrderID, err)
	}
}

func mustSet(t *testing.T, s *Service, sku string, onHand int64) {
	t.Helper()
	if _, err := s.Set(context.Background(), sku, onHand); err != nil {
		t.Fatal(err)
	}
}

// stock reads a SKU's numbers and checks they are consistent.
func stock(t *testing.T, s *Service, sku string) Stock {
	t.Helper()
	st, err := s.Get(context.Background(), sku)
	if err != nil {
		t.Fatal(err)
	}
	if st.Available != st.OnHand-st.Reserved || st.Available < 0 || st.Reserved < 0 {
		t.Errorf("%s: inconsistent stock %+v", sku, st)
	}
	return st
}

func wantStock(t *testing.T, s *Service, sku string, onHand, reserved int64) {
	t.Helper()
	st := stock(t, s, sku)
	if st.OnHand != onHand || st.Reserved != reserved {
		t.Errorf("%s: on hand %d, reserved %d; want %d, %d", sku, st.OnHand, st.Reserved, onHand, reserved)
	}
}

// reservations returns an order's reservation rows as sku -> "status:qty".
func reservations(t *testing.T, db *gorm.DB, orderID string) map[string]string {
	t.Helper()
	var rows []reservationRow
	if err := db.Where("order_id = ?", orderID).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.SKU] = r.Status + ":" + jsonInt(r.Quantity)
	}
	return out
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// shortageEvents returns the "Inventory Shortage" events published for an
// order.
func shortageEvents(t *testing.T, db *gorm.DB, orderID string) []event.InventoryShortage {
	t.Helper()
	var rows []struct {
		Source     string
		DetailType string
		Body       string
	}
	// Only the shortages: a reserved order publishes "Stock Reserved".
	if err := db.Raw(`SELECT source, detail_type, body FROM bus_events WHERE order_id = ? AND detail_type = 'Inventory Shortage' ORDER BY seq`, orderID).
		Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	var out []event.InventoryShortage
	for _, r := range rows {
		if r.Source != "shopbus.inventory" || r.DetailType != "Inventory Shortage" {
			t.Errorf("unexpected event %s / %s", r.Source, r.DetailType)
			continue
		}
		var env bus.Event
		if err := json.Unmarshal([]byte(r.Body), &env); err != nil {
			t.Fatal(err)
		}
		var sh event.InventoryShortage
		if err := json.Unmarshal(env.Detail, &sh); err != nil {
			t.Fatal(err)
		}
		out = append(out, sh)
	}
	return out
}
