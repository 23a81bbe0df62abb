package crm

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/modules/email"
)

// openTestDB opens a SQLite database in a temporary folder with CRM's,
// the email outbox's and the bus's tables.
func openTestDB(t *testing.T) *gorm.DB {
	t.Helper()
	db, err := database.Open(database.Config{DSN: filepath.Join(t.TempDir(), "shop.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	var steps []database.Migration
	for _, m := range [][]database.Migration{bus.Migrations, email.Migrations, Migrations} {
		steps = append(steps, m...)
	}
	if _, err := database.Migrate(context.Background(), db, steps); err != nil {
		t.Fatal(err)
	}
	return db
}

// newTestService returns CRM with a real email service that writes .eml
// files to a temporary folder (no worker runs: jobs stay queued).
func newTestService(t *testing.T) (*Service, *gorm.DB) {
	t.Helper()
	db := openTestDB(t)
	mail, err := email.New(db, email.Config{From: "Test Shop <shop@example.com>", Dir: t.TempDir()},
		slog.New(slog.NewTextHandler(t.Output(), nil)))
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
	raw, err := json.Marshal(map[string]any{"detail": detail})
	if err != nil {
		t.Fatal(err)
	}
	var ev orderEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
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

func count(t *testing.T, db *gorm.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
