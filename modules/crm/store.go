package crm

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/modules/email"
)

// Migrations create CRM's tables.
var Migrations = []database.Migration{{
	ID: "crm-0001",
	SQL: []string{
		`CREATE TABLE crm_customers (
			id $AUTOID,
			email TEXT NOT NULL UNIQUE,
			name TEXT NOT NULL,
			orders BIGINT NOT NULL DEFAULT 0,
			created_at TIMESTAMP NOT NULL,
			updated_at TIMESTAMP NOT NULL
		)`,
		`CREATE TABLE crm_orders (
			order_id TEXT PRIMARY KEY,
			customer_id BIGINT NOT NULL REFERENCES crm_customers (id),
			currency TEXT NOT NULL,
			total_minor BIGINT NOT NULL,
			items TEXT NOT NULL,
			shipping_address TEXT NOT NULL,
			created_at TIMESTAMP NOT NULL
		)`,
	},
}, {
	// The customer's language, for the emails CRM sends after the order's
	// first (the stock news): orders recorded before read in the shop's.
	ID:  "crm-0002",
	SQL: []string{`ALTER TABLE crm_orders ADD COLUMN locale TEXT NOT NULL DEFAULT ''`},
}}

// Order is CRM's record of an order: a plain row. The email its creation
// queues reaches the AfterCreate hook through the INSERT statement (see
// createOrder), not through the model.
type Order struct {
	OrderID         string
	CustomerID      int64
	Currency        string
	TotalMinor      int64
	Items           string // JSON []item
	ShippingAddress string // JSON address
	Locale          string // the customer's language (BCP 47), or empty
	CreatedAt       time.Time
}

// TableName names CRM's order table.
func (Order) TableName() string { return "crm_orders" }

// pendingMailKey names the setting of an order's INSERT statement that
// holds its pendingMail.
const pendingMailKey = "crm:pending_mail"

// pendingMail is the order-success email an order's AfterCreate hook
// queues, and the mailer that queues it.
type pendingMail struct {
	mailer Mailer
	msg    email.Message
}

// createOrder inserts o and, through its AfterCreate hook, queues pm in the
// same transaction. pm is a setting of this one INSERT statement (gorm's
// InstanceSet): the model stays a row, a context carries no dependency, and
// an Order created any other way finds no email and is refused.
//
// An order recorded before (its delivery replayed) is left as it is; the
// hook still runs, and email keeps one job per event, template and
// recipient, so nothing is mailed twice.
func createOrder(tx *gorm.DB, o *Order, pm pendingMail) error {
	return tx.Clauses(clause.OnConflict{DoNothing: true}).InstanceSet(pendingMailKey, pm).Create(o).Error
}

// AfterCreate queues the order-success email in the transaction that
// created the record. It never sends: sending happens after commit, by the
// email worker.
func (o *Order) AfterCreate(tx *gorm.DB) error {
	v, _ := tx.InstanceGet(pendingMailKey)
	pm, ok := v.(pendingMail)
	if !ok || pm.mailer == nil {
		return errors.New("crm: order created without its email")
	}
	return pm.mailer.Enqueue(tx, pm.msg)
}

// upsertCustomer finds the customer by email or creates them, keeping the
// latest name, and counts the order unless it was recorded before (a
// replayed delivery): the same statement looks, rather than another one
// before it.
func upsertCustomer(tx *gorm.DB, addr, name, orderID string) (int64, error) {
	now := time.Now().UTC()
	// RETURNING gives the id whether the row was inserted or updated (both
	// SQLite and PostgreSQL return the updated row), so it is not read
	// back with another statement. Fixed SQL and Row, as every order runs
	// it: gorm's Create with clauses costs more than SQLite's work.
	var id int64
	err := tx.Raw(`INSERT INTO crm_customers (email, name, orders, created_at, updated_at) VALUES (?, ?, 1, ?, ?)
		ON CONFLICT (email) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at,
			orders = crm_customers.orders + CASE WHEN EXISTS (SELECT 1 FROM crm_orders WHERE order_id = ?) THEN 0 ELSE 1 END
		RETURNING id`, addr, name, now, now, orderID).Row().Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("upsert customer %s: %w", addr, err)
	}
	return id, nil
}

// record is what CRM keeps of an order that its news needs.
type record struct {
	email, name, locale string
	items               []item
}

// recorded reads an order's record with its customer; nil when CRM has
// none.
func recorded(tx *gorm.DB, orderID string) (*record, error) {
	var rows []struct {
		Email, Name, Items, Locale string
	}
	err := tx.Raw(`SELECT c.email, c.name, o.items, o.locale FROM crm_orders o JOIN crm_customers c ON c.id = o.customer_id
		WHERE o.order_id = ?`, orderID).Scan(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	rec := &record{email: rows[0].Email, name: rows[0].Name, locale: rows[0].Locale}
	if err := json.Unmarshal([]byte(rows[0].Items), &rec.items); err != nil {
		return nil, fmt.Errorf("crm: order %s: items: %w", orderID, err)
	}
	return rec, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs are marshalled here
	}
	return string(b)
}
