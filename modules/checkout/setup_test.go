package checkout

import (
	"encoding/json"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// wakeCounter is a Waker that counts how often it was told about a commit.
type wakeCounter struct{ n atomic.Int64 }

func (w *wakeCounter) Wake()        { w.n.Add(1) }
func (w *wakeCounter) count() int64 { return w.n.Load() }

func newTestService(t *testing.T) (*Service, *gorm.DB, *wakeCounter) {
	t.Helper()
	db := dbtest.Open(t, bus.Migrations, Migrations)
	w := &wakeCounter{}
	return New(db, w, database.Direct{DB: db}), db, w
}

// validOrder returns an order that passes Validate; tests change one thing.
func validOrder(id string) NewOrder {
	return NewOrder{
		OrderID:  id,
		Customer: Customer{Email: "ada@example.com", Name: "Ada Lovelace"},
		Items: []Item{
			{SKU: "TEA-1", Name: "Green tea", Quantity: 2, UnitPriceMinor: 1250},
			{SKU: "MUG-2", Name: "Mug", Quantity: 1, UnitPriceMinor: 500},
		},
		Currency:        "EUR",
		ShippingAddress: Address{Line1: "1 Rue de Rivoli", City: "Paris", PostalCode: "75001", Country: "FR"},
		Payment:         Payment{Method: "card", Reference: "pi_123", AmountMinor: 3000},
	}
}

// eventRecord is one bus_events row as the test reads it.
type eventRecord struct {
	ID         string
	Source     string
	DetailType string
	OrderID    string
	Body       string
}

// events returns the outbox rows of an order, oldest first.
func events(t *testing.T, db *gorm.DB, orderID string) []eventRecord {
	t.Helper()
	var rows []eventRecord
	if err := db.Raw(`SELECT id, source, detail_type, order_id, body FROM bus_events WHERE order_id = ? ORDER BY seq`, orderID).
		Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

// detail decodes an event row's envelope and returns its detail.
func detail(t *testing.T, ev eventRecord) map[string]any {
	t.Helper()
	var env bus.Event
	if err := json.Unmarshal([]byte(ev.Body), &env); err != nil {
		t.Fatalf("event body: %v", err)
	}
	if env.ID != ev.ID || env.Source != ev.Source || env.DetailType != ev.DetailType || env.Version != "0" {
		t.Errorf("envelope %+v does not match its row %+v", env, ev)
	}
	var d map[string]any
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		t.Fatalf("event detail: %v", err)
	}
	return d
}
