package crm

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/email"
)

// newTestService returns CRM with a real email service that writes .eml
// files to a temporary folder (no worker runs: jobs stay queued).
func newTestService(t *testing.T) (*Service, *gorm.DB) {
	t.Helper()
	db := dbtest.Open(t, bus.Migrations, email.Migrations, Migrations)
	mail, err := email.New(email.Deps{DB: db, Log: slog.New(slog.NewTextHandler(t.Output(), nil))}, email.Config{From: "Test Shop <shop@example.com>", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return New(db, mail), db
}

// order is the detail CRM receives for a test order.
func order(orderID, addr, name string) map[string]any {
	return map[string]any{
		"order_id":    orderID,
		"order_state": "new_order_created",
		"customer":    map[string]any{"email": addr, "name": name},
		"items": []map[string]any{
			{"sku": "TEA-1", "name": "Green tea", "quantity": 2, "unit_price_minor": 1250},
			{"sku": "MUG-2", "name": "Mug", "quantity": 1, "unit_price_minor": 500},
		},
		"currency":         "EUR",
		"total_minor":      3000,
		"shipping_address": map[string]any{"line1": "1 Rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR"},
	}
}

// payload decodes a detail into CRM's payload, as the bus does.
func payload(t *testing.T, detail map[string]any) orderEvent {
	t.Helper()
	return bustest.Payload[orderEvent](t, map[string]any{"detail": detail})
}

func deliveryOf(ev orderEvent, tx *gorm.DB) bus.Delivery[orderEvent] {
	return bus.Delivery[orderEvent]{ID: 1, EventID: "ev-" + ev.Detail.OrderID, OrderID: ev.Detail.OrderID,
		Rule: "new-order-crm", Target: "crm", Attempt: 1, Payload: ev, Tx: tx}
}

// deliver runs the handler in its own transaction, as the bus does.
func deliver(t *testing.T, s *Service, detail map[string]any) error {
	t.Helper()
	ctx := context.Background()
	ev := payload(t, detail)
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return s.handle(ctx, deliveryOf(ev, tx))
	})
}

func mustDeliver(t *testing.T, s *Service, detail map[string]any) {
	t.Helper()
	if err := deliver(t, s, detail); err != nil {
		t.Fatal(err)
	}
}

// jobRecord is one email_jobs row as the test reads it.
type jobRecord struct {
	OrderID   string
	Template  string
	Recipient string
	Data      string
	Status    string
}

func jobs(t *testing.T, db *gorm.DB) []jobRecord {
	t.Helper()
	var out []jobRecord
	if err := db.Raw(`SELECT order_id, template, recipient, data, status FROM email_jobs ORDER BY id`).Scan(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

// runBus starts a bus with rules and CRM subscribed, running until the test
// ends.
func runBus(t *testing.T, s *Service, rules []bus.RuleConfig) *bus.Bus {
	t.Helper()
	b := bus.New(bus.Deps{DB: s.db, Log: slog.New(slog.NewTextHandler(t.Output(), nil))}, rules, bus.Options{PollInterval: 20 * time.Millisecond})
	s.Subscribe(b)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return b
}
