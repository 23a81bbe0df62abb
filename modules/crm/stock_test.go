package crm

import (
	"context"
	"encoding/json"
	"testing"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/modules/email"
)

// deliverWhole runs the handler on a whole event, as the stock-news-crm
// rule sends inventory's.
func deliverWhole(t *testing.T, s *Service, d bus.Detail) {
	t.Helper()
	ev := bustest.Payload[orderEvent](t, map[string]any{"source": d.EventSource(), "detail-type": d.EventDetailType(), "detail": d})
	ctx := context.Background()
	if err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return s.handle(ctx, deliveryOf(ev, tx)) }); err != nil {
		t.Fatal(err)
	}
}

// TestStockNewsTellsTheCustomer: a backordered order's customer hears what
// it waits for, and again when it waits no more; once each.
func TestStockNewsTellsTheCustomer(t *testing.T) {
	s, db := newTestService(t)
	mustDeliver(t, s, order("ord-1", "ada@example.com", "Ada Lovelace"))
	short := event.InventoryShortage{OrderID: "ord-1", Items: []event.ShortItem{{SKU: "MUG-2", Requested: 1, Available: 0}}}
	for range 2 {
		deliverWhole(t, s, short)
	}
	deliverWhole(t, s, event.StockReserved{OrderID: "ord-1", Items: []event.StockItem{{SKU: "MUG-2", Quantity: 1}}, Backordered: true})
	// An order reserved at once, and news of an order CRM never recorded,
	// mail nobody.
	mustDeliver(t, s, order("ord-2", "bob@example.com", "Bob"))
	deliverWhole(t, s, event.StockReserved{OrderID: "ord-2", Items: []event.StockItem{{SKU: "TEA-1", Quantity: 2}}})
	deliverWhole(t, s, event.InventoryShortage{OrderID: "ord-unknown", Items: []event.ShortItem{{SKU: "A", Requested: 1}}})

	js := jobs(t, db)
	if len(js) != 4 {
		t.Fatalf("%d email jobs, want the two confirmations and ord-1's two notices: %+v", len(js), js)
	}
	want := map[string]email.StockNotice{
		"order_backordered": {OrderID: "ord-1", CustomerName: "Ada Lovelace", Items: []email.Line{{SKU: "MUG-2", Name: "Mug", Quantity: 1, UnitPriceMinor: 500}}},
		"order_in_stock":    {OrderID: "ord-1", CustomerName: "Ada Lovelace"},
	}
	for _, j := range js[1:] {
		if j.Template == "order_success" {
			continue
		}
		var got email.StockNotice
		if err := json.Unmarshal([]byte(j.Data), &got); err != nil {
			t.Fatal(err)
		}
		w, ok := want[j.Template]
		if !ok || j.OrderID != "ord-1" || j.Recipient != "ada@example.com" || got.OrderID != w.OrderID ||
			got.CustomerName != w.CustomerName || len(got.Items) != len(w.Items) || (len(w.Items) > 0 && got.Items[0] != w.Items[0]) {
			t.Errorf("job %s to %s: %+v, want %+v", j.Template, j.Recipient, got, w)
		}
		delete(want, j.Template)
	}
	if len(want) != 0 {
		t.Errorf("not queued: %v", want)
	}
}

// TestShippedStockRuleFeedsCRM sends inventory's events through the
// stock-news-crm rule as config.yaml ships it: a shortage and a late
// reservation reach CRM, a reservation at once does not.
func TestShippedStockRuleFeedsCRM(t *testing.T) {
	s, db := newTestService(t)
	b := runBus(t, s, []bus.RuleConfig{shippedRule(t, "stock-news-crm")})
	mustDeliver(t, s, order("ord-1", "ada@example.com", "Ada Lovelace"))
	ctx := context.Background()
	for _, d := range []bus.Detail{
		event.StockReserved{OrderID: "ord-1", Items: []event.StockItem{{SKU: "TEA-1", Quantity: 2}}},
		event.InventoryShortage{OrderID: "ord-1", Items: []event.ShortItem{{SKU: "TEA-1", Requested: 2, Available: 1}}},
		event.StockReserved{OrderID: "ord-1", Items: []event.StockItem{{SKU: "TEA-1", Quantity: 2}}, Backordered: true},
	} {
		if err := db.Transaction(func(tx *gorm.DB) error { _, err := bus.Publish(ctx, tx, d); return err }); err != nil {
			t.Fatal(err)
		}
	}
	b.Wake()
	bustest.WaitFor(t, "both notices", func() bool { return len(jobs(t, db)) == 3 })
	ds, err := b.Deliveries(ctx, "ord-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 {
		t.Errorf("%d deliveries, want 2 (the shortage, the late reservation): %+v", len(ds), ds)
	}
	for _, d := range ds {
		if d.Status != bus.StatusDone {
			t.Errorf("delivery %+v", d)
		}
	}
}

// TestCRMMailsInTheCustomersLanguage: the confirmation and the stock news
// of a customer who named a locale are queued in it, each under the event
// it tells of; CRM keeps the locale for the news that come later.
func TestCRMMailsInTheCustomersLanguage(t *testing.T) {
	s, db := newTestService(t)
	de := order("ord-de", "jana@example.de", "Jana Müller")
	de["customer"].(map[string]any)["locale"] = "de-DE"
	mustDeliver(t, s, de)
	deliverWhole(t, s, event.InventoryShortage{OrderID: "ord-de", Items: []event.ShortItem{{SKU: "MUG-2", Requested: 1}}})
	mustDeliver(t, s, order("ord-en", "ada@example.com", "Ada"))

	var rows []struct{ OrderID, Template, EventID, Locale string }
	if err := db.Raw(`SELECT order_id, template, event_id, locale FROM email_jobs ORDER BY id`).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	want := []struct{ OrderID, Template, EventID, Locale string }{
		{"ord-de", "order_success", "ev-ord-de", "de-DE"},
		{"ord-de", "order_backordered", "ev-ord-de", "de-DE"},
		{"ord-en", "order_success", "ev-ord-en", ""},
	}
	if len(rows) != len(want) {
		t.Fatalf("jobs %+v, want %+v", rows, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("job %d: %+v, want %+v", i, rows[i], want[i])
		}
	}
}
