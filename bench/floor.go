package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/crm"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/modules/inventory"
	"github.com/shopbus/shopbus/modules/payment"
	"github.com/shopbus/shopbus/modules/shipping"
)

// floorResults are the storage floor: what it costs this machine to write
// every row one order's whole journey writes, and nothing else.
type floorResults struct {
	Orders        int     `json:"orders"`
	PerCommit     int     `json:"orders_per_commit"`
	Statements    int     `json:"statements_per_order"`
	EventBytes    int     `json:"event_bytes"`
	Seconds       float64 `json:"seconds"`
	OrdersPerS    float64 `json:"orders_per_s"`
	CPUPerOrderUS float64 `json:"cpu_per_order_us"`
	CommitsPerS   float64 `json:"commits_per_s"`
	DatabaseBytes int64   `json:"db_bytes"`
	EventFile     string  `json:"event_file"`
}

// floorPerCommit is how many orders share one durable commit in the floor:
// about what shopbus's group commit gathers under load.
const floorPerCommit = 128

// floorMigrations are the tables of the journey with every index the
// shop's own migrations give them (app.go's migrations()), so the floor
// pays for the same B-trees shopbus does.
func floorMigrations() []database.Migration {
	var all []database.Migration
	for _, m := range [][]database.Migration{bus.Migrations, checkout.Migrations, inventory.Migrations,
		shipping.Migrations, payment.Migrations, crm.Migrations, email.Migrations, bus.QueryMigrations, checkout.QueryMigrations} {
		all = append(all, m...)
	}
	return all
}

// floorEvent finds the shared 1.6 KB order event beside the repository
// (../shared/bench/order_event.json from its root, as CI lays it out).
func floorEvent(root string) (string, []byte, error) {
	path := filepath.Join(root, "..", "shared", "bench", "order_event.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return path, nil, fmt.Errorf("floor: the order event %s is missing: the storage floor writes that event; "+
			"put the shared bench files beside the repository, or leave floor out of -only", path)
	}
	if err != nil {
		return path, nil, fmt.Errorf("floor: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil || probe["detail"] == nil {
		return path, nil, fmt.Errorf("floor: %s is not an EventBridge event with a detail", path)
	}
	return path, b, nil
}

// floorPayloads cuts the event into what each row of the journey holds:
// the whole event for the outbox and the modules that get every field,
// its detail for the order and the CRM and email records, and the payment
// fields alone for payment.
type floorPayloads struct {
	event, detail, payment, items, address string
}

func cutPayloads(ev []byte) floorPayloads {
	var e struct {
		Detail json.RawMessage `json:"detail"`
	}
	_ = json.Unmarshal(ev, &e)
	var d map[string]json.RawMessage
	_ = json.Unmarshal(e.Detail, &d)
	pay, _ := json.Marshal(map[string]any{"detail": map[string]json.RawMessage{
		"order_id": d["order_id"], "order_state": d["state"], "currency": d["currency"], "payment": d["payment"]}})
	items := d["items"]
	if items == nil {
		items = json.RawMessage("[]")
	}
	return floorPayloads{event: string(ev), detail: string(e.Detail), payment: string(pay), items: string(items), address: `{"line1":"12 Rue de Rivoli","city":"Paris","postal_code":"75001","country":"FR"}`}
}

// floorStatements are the journey's rows as fixed SQL, prepared once.
var floorStatements = []string{
	// checkout: the order and its event (the outbox)
	`INSERT INTO checkout_orders (order_id, state, customer_email, total_minor, body, created_at, updated_at) VALUES (?, 'new_order_created', ?, 4200, ?, ?, ?)`,
	`INSERT INTO bus_events (id, source, detail_type, order_id, body, created_at) VALUES (?, 'shopbus.checkout', 'Order State Change', ?, ?, ?)`,
	// routing: one delivery per target, each written once, as done
	`INSERT INTO bus_deliveries (event_seq, event_id, order_id, rule, target, payload, status, attempts, errors, next_attempt_at, started_at, created_at, updated_at)
	 VALUES (?, ?, ?, ?, ?, ?, 'done', 1, '[]', ?, ?, ?, ?)`,
	`UPDATE bus_events SET routed_at = ? WHERE seq = ?`,
	// inventory, shipping, payment
	`UPDATE inventory_stock SET reserved = reserved + 1, updated_at = ? WHERE sku = 'FLOOR' AND on_hand - reserved >= 1`,
	`INSERT INTO inventory_reservations (order_id, sku, quantity, status, updated_at) VALUES (?, 'FLOOR', 1, 'reserved', ?)`,
	`INSERT INTO shipping_shipments (order_id, country, item_count, rate_minor, currency, status, created_at, updated_at) VALUES (?, 'FR', 2, 490, 'EUR', 'created', ?, ?)`,
	`INSERT INTO payment_payments (order_id, method, reference, amount_minor, currency, status, created_at, updated_at) VALUES (?, 'card', 'ch_1', 4200, 'EUR', 'authorized', ?, ?)`,
	// CRM: the customer (upserted), the order, the email it queues
	`INSERT INTO crm_customers (email, name, orders, created_at, updated_at) VALUES (?, 'Jane Doe', 1, ?, ?)
	 ON CONFLICT (email) DO UPDATE SET name = excluded.name, orders = crm_customers.orders + 1, updated_at = excluded.updated_at RETURNING id`,
	`INSERT INTO crm_orders (order_id, customer_id, currency, total_minor, items, shipping_address, created_at) VALUES (?, ?, 'EUR', 4200, ?, ?, ?)`,
	`INSERT INTO email_jobs (event_id, order_id, template, recipient, data, message_id, status, attempts, last_error, next_attempt_at, created_at, updated_at)
	 VALUES (?, ?, 'order_success', ?, ?, ?, 'queued', 0, '', ?, ?, ?) RETURNING id`,
	// the email worker, after the SMTP server accepted the message
	`UPDATE email_jobs SET status = 'sent', attempts = 1, sent_at = ?, updated_at = ? WHERE id = ?`,
}

// floorStock is the one SKU every floor order reserves, with enough on
// hand for any run.
const floorStock = `INSERT INTO inventory_stock (sku, on_hand, reserved, updated_at) VALUES ('FLOOR', 1000000000, 0, ?)`

// floorConn opens the database cfg names as shopbus opens it, migrates it
// as shopbus does (the same tables and indexes), and returns one
// connection of its pool, the writer's, with what closes both.
func floorConn(ctx context.Context, cfg database.Config) (*sql.Conn, func(), error) {
	db, err := database.Open(cfg)
	if err != nil {
		return nil, nil, err
	}
	conn, err := func() (*sql.Conn, error) {
		if _, err := database.Migrate(ctx, db.DB, floorMigrations()); err != nil {
			return nil, err
		}
		pool, err := db.DB.DB()
		if err != nil {
			return nil, err
		}
		return pool.Conn(ctx)
	}()
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return conn, func() { conn.Close(); db.Close() }, nil
}

// floorRowsPerOrder counts the statements one order runs: the delivery
// insert runs once per target.
const floorRowsPerOrder = 12 + 3

// measureFloor writes orders orders' journeys into a new SQLite file in
// dir, floorPerCommit per commit, with prepared statements on the one
// writer connection shopbus itself opens (WAL, synchronous=FULL), and
// times it. The bench process does nothing else meanwhile, so its CPU time
// is the floor's.
func measureFloor(ctx context.Context, root, dir string, orders int) (*floorResults, error) {
	path, ev, err := floorEvent(root)
	if err != nil {
		return nil, err
	}
	p := cutPayloads(ev)
	dsn := filepath.Join(dir, "floor.db")
	conn, closeConn, err := floorConn(ctx, database.Config{Driver: database.SQLite, DSN: dsn})
	if err != nil {
		return nil, err
	}
	defer closeConn()
	if _, err := conn.ExecContext(ctx, floorStock, time.Now().UTC()); err != nil {
		return nil, fmt.Errorf("floor: stock: %w", err)
	}
	cpu0, start := selfCPU(), time.Now()
	commits := 0
	stmts := make([]*sql.Stmt, len(floorStatements))
	for first := 0; first < orders; first += floorPerCommit {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		// Prepared in the transaction (once per commit): database/sql
		// prepares a connection's statement again in every transaction.
		for i, q := range floorStatements {
			if stmts[i], err = tx.PrepareContext(ctx, q); err != nil {
				_ = tx.Rollback()
				return nil, fmt.Errorf("floor: prepare %d: %w", i, err)
			}
		}
		for n := first; n < min(first+floorPerCommit, orders); n++ {
			if err := floorOrder(ctx, tx, stmts, p, n); err != nil {
				_ = tx.Rollback()
				return nil, fmt.Errorf("floor: order %d: %w", n, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		commits++
	}
	wall, cpu := time.Since(start), selfCPU()-cpu0
	res := &floorResults{Orders: orders, PerCommit: floorPerCommit, Statements: floorRowsPerOrder, EventBytes: len(ev),
		Seconds: wall.Seconds(), OrdersPerS: float64(orders) / wall.Seconds(), CPUPerOrderUS: float64(cpu.Microseconds()) / float64(orders),
		CommitsPerS: float64(commits) / wall.Seconds(), EventFile: path}
	if fi, err := os.Stat(dsn); err == nil {
		res.DatabaseBytes = fi.Size()
	}
	return res, nil
}

// floorOrder writes one order's journey inside tx.
func floorOrder(ctx context.Context, tx *sql.Tx, stmts []*sql.Stmt, p floorPayloads, n int) error {
	st := func(i int) *sql.Stmt { return stmts[i] }
	now := time.Now().UTC()
	id, evID, mail := floorKeys(n)
	if _, err := st(0).ExecContext(ctx, id, mail, p.detail, now, now); err != nil {
		return err
	}
	res, err := st(1).ExecContext(ctx, evID, id, p.event, now)
	if err != nil {
		return err
	}
	seq, _ := res.LastInsertId()
	for _, d := range floorRoutes(p) {
		if _, err := st(2).ExecContext(ctx, seq, evID, id, d[0], d[1], d[2], now, now, now, now); err != nil {
			return err
		}
	}
	if _, err := st(3).ExecContext(ctx, now, seq); err != nil {
		return err
	}
	if res, err := st(4).ExecContext(ctx, now); err != nil {
		return err
	} else if n, _ := res.RowsAffected(); n != 1 {
		return errors.New("no stock reserved")
	}
	for i, args := range [][]any{{id, now}, {id, now, now}, {id, now, now}} {
		if _, err := st(5+i).ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	var customer, job int64
	if err := st(8).QueryRowContext(ctx, mail, now, now).Scan(&customer); err != nil {
		return err
	}
	if _, err := st(9).ExecContext(ctx, id, customer, p.items, p.address, now); err != nil {
		return err
	}
	if err := st(10).QueryRowContext(ctx, evID, id, mail, p.detail, floorMessageID(evID, id, mail), now, now, now).Scan(&job); err != nil {
		return err
	}
	_, err = st(11).ExecContext(ctx, now, now, job)
	return err
}

// floorKeys are order n's id, its event's id and its customer's address:
// a new customer per order, as on a shop's first day.
func floorKeys(n int) (id, evID, mail string) {
	return fmt.Sprintf("ord-floor-%08d", n), fmt.Sprintf("6f1c2a8e-3b7d-4e55-9a0c-%012d", n), fmt.Sprintf("c%08d@example.com", n)
}

// floorRoutes are the event's four deliveries (rule, target, payload),
// as the shop's rules route an order.
func floorRoutes(p floorPayloads) [][3]string {
	return [][3]string{{"new-order-fulfilment", "inventory", p.event}, {"new-order-fulfilment", "shipping", p.event},
		{"order-payment", "payment", p.payment}, {"new-order-crm", "crm", p.detail}}
}

// floorMessageID is the Message-ID the email job records, computed as the
// email module computes it.
func floorMessageID(evID, id, mail string) string {
	return email.MessageID(email.Message{EventID: evID, OrderID: id, Template: "order_success", To: mail})
}

// selfCPU is this process's CPU time so far, user and system.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
