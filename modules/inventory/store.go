package inventory

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shopbus/shopbus/database"
)

// Migrations create inventory's tables.
var Migrations = []database.Migration{{
	ID: "inventory-0001",
	SQL: []string{
		`CREATE TABLE inventory_stock (
			sku TEXT PRIMARY KEY,
			on_hand BIGINT NOT NULL CHECK (on_hand >= 0),
			reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
			updated_at TIMESTAMP NOT NULL
		)`,
		`CREATE TABLE inventory_reservations (
			order_id TEXT NOT NULL,
			sku TEXT NOT NULL,
			quantity BIGINT NOT NULL,
			status TEXT NOT NULL,
			updated_at TIMESTAMP NOT NULL,
			PRIMARY KEY (order_id, sku)
		)`,
	},
}, {
	// inventory_orders is inventory's record of each order it was sent:
	// reserved, backordered (waiting for stock, its lines in
	// inventory_backorders), released or settled. Orders reserved before
	// it existed are recorded from their reservations; those that were
	// short then left no trace, and stay unknown.
	ID: "inventory-0002",
	SQL: []string{
		`CREATE TABLE inventory_orders (
			order_id TEXT PRIMARY KEY,
			status TEXT NOT NULL,
			placed_at TIMESTAMP NOT NULL,
			updated_at TIMESTAMP NOT NULL
		)`,
		`CREATE INDEX inventory_orders_waiting ON inventory_orders (status, placed_at, order_id)`,
		`CREATE TABLE inventory_backorders (
			order_id TEXT NOT NULL,
			sku TEXT NOT NULL,
			quantity BIGINT NOT NULL CHECK (quantity > 0),
			PRIMARY KEY (order_id, sku)
		)`,
		`CREATE INDEX inventory_backorders_sku ON inventory_backorders (sku)`,
		// missing: units a shipment took that the shelf did not hold.
		`ALTER TABLE inventory_reservations ADD COLUMN missing BIGINT NOT NULL DEFAULT 0`,
		`INSERT INTO inventory_orders (order_id, status, placed_at, updated_at)
			SELECT order_id, CASE MIN(status) WHEN 'committed' THEN 'settled' ELSE MIN(status) END, MIN(updated_at), MAX(updated_at)
			FROM inventory_reservations GROUP BY order_id`,
	},
}}

// Reservation statuses, of the rows of inventory_reservations.
const (
	reserved  = "reserved"
	released  = "released"
	committed = "committed"
)

// Order stock statuses: what inventory did with an order's items.
const (
	// StatusReserved holds every item for the order.
	StatusReserved = "reserved"
	// StatusBackordered holds nothing: stock was short, and the order waits.
	StatusBackordered = "backordered"
	// StatusReleased gave the items back (or stopped waiting): cancelled.
	StatusReleased = "released"
	// StatusSettled took the items off the shelf: shipped.
	StatusSettled = "settled"
)

type stockRow struct {
	SKU       string `gorm:"primaryKey"`
	OnHand    int64
	Reserved  int64
	UpdatedAt time.Time
}

func (stockRow) TableName() string { return "inventory_stock" }

func (r stockRow) stock() Stock {
	return Stock{SKU: r.SKU, OnHand: r.OnHand, Reserved: r.Reserved, Available: r.OnHand - r.Reserved}
}

type reservationRow struct {
	OrderID   string `gorm:"primaryKey"`
	SKU       string `gorm:"primaryKey"`
	Quantity  int64
	Missing   int64
	Status    string
	UpdatedAt time.Time
}

func (reservationRow) TableName() string { return "inventory_reservations" }

// orderRow is inventory's record of one order.
type orderRow struct {
	OrderID string `gorm:"primaryKey"`
	Status  string
	// PlacedAt is when the order was placed: waiting orders are reserved
	// oldest first.
	PlacedAt  time.Time
	UpdatedAt time.Time
}

func (orderRow) TableName() string { return "inventory_orders" }

// backorderRow is one SKU a backordered order waits for.
type backorderRow struct {
	OrderID  string `gorm:"primaryKey"`
	SKU      string `gorm:"primaryKey"`
	Quantity int64
}

func (backorderRow) TableName() string { return "inventory_backorders" }

// forUpdate locks the rows a query reads until the transaction ends
// (PostgreSQL); GORM's SQLite dialect leaves it out, SQLite's one writer
// serialising every write transaction by itself.
var forUpdate = clause.Locking{Strength: clause.LockingStrengthUpdate}

func getStock(db *gorm.DB, sku string) (Stock, error) {
	var row stockRow
	if err := db.Where("sku = ?", sku).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return Stock{}, fmt.Errorf("%w: %s", ErrNotFound, sku)
		}
		return Stock{}, err
	}
	return row.stock(), nil
}

func setStock(tx *gorm.DB, sku string, onHand int64) (Stock, error) {
	// Locked, so that no reservation slips in between the check and the write.
	cur, err := getStock(tx.Clauses(forUpdate), sku)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Stock{}, err
	}
	if onHand < cur.Reserved {
		return Stock{}, fmt.Errorf("%w: %s has %d reserved for open orders", ErrBelowReserved, sku, cur.Reserved)
	}
	row := stockRow{SKU: sku, OnHand: onHand, Reserved: cur.Reserved, UpdatedAt: time.Now().UTC()}
	err = tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "sku"}},
		DoUpdates: clause.AssignmentColumns([]string{"on_hand", "updated_at"}),
	}).Create(&row).Error
	return row.stock(), err
}

// reserveAll takes want[sku] of each of skus (sorted, as every caller
// passes them) if that much of each is available, and records the order's
// reservations; otherwise it takes nothing and returns ErrOutOfStock. The
// condition sits in the UPDATE itself, so concurrent orders can never
// push stock below zero.
func reserveAll(tx *gorm.DB, orderID string, skus []string, want map[string]int64) error {
	if len(skus) == 0 {
		return nil
	}
	// Fixed SQL, one UPDATE for every SKU of the order and one INSERT for
	// its reservations: every order runs them, and gorm's Updates of a map
	// and Create of a slice cost more than SQLite's work. The UPDATE moves
	// only the rows that hold enough and returns them; fewer rows than
	// SKUs means a SKU is short, and the rows moved are put back (rather
	// than a savepoint around it all: a statement more for every order, a
	// round trip on PostgreSQL, where a short order costs one).
	now := time.Now().UTC()
	qty, qtyArgs := quantities(skus, want)
	// The UPDATE alone locks rows in the order its scan meets them, the
	// table's order, which updates keep changing: on PostgreSQL two orders
	// for the same SKUs could each hold a row the other waits for, so the
	// rows are locked SKU by SKU first. (SQLite's one writer takes no row
	// locks.)
	var lock string
	var args []any
	rows, rowArgs := "?", []any{skus}
	if tx.Dialector.Name() == database.Postgres {
		lock = `WITH locked AS (SELECT sku FROM inventory_stock WHERE sku IN ? ORDER BY sku FOR UPDATE) `
		args = append(args, skus)
		rows, rowArgs = "(SELECT sku FROM locked)", nil
	}
	update := lock + `UPDATE inventory_stock SET reserved = reserved + ` + qty + `, updated_at = ?
		WHERE sku IN ` + rows + ` AND on_hand - reserved >= ` + qty + ` RETURNING sku`
	args = append(append(append(append(args, qtyArgs...), now), rowArgs...), qtyArgs...)
	moved, err := column(tx.Raw(update, args...))
	if err != nil {
		return err
	}
	if len(moved) != len(skus) {
		if err := putBack(tx, moved, want); err != nil {
			return err
		}
		return fmt.Errorf("%w: %d of %d SKUs available", ErrOutOfStock, len(moved), len(skus))
	}
	var insert strings.Builder
	insert.WriteString(`INSERT INTO inventory_reservations (order_id, sku, quantity, missing, status, updated_at) VALUES `)
	var inserts []any
	for i, sku := range skus {
		if i > 0 {
			insert.WriteString(", ")
		}
		insert.WriteString("(?, ?, ?, 0, ?, ?)")
		inserts = append(inserts, orderID, sku, want[sku], reserved, now)
	}
	return tx.Exec(insert.String(), inserts...).Error
}

// putBack undoes what reserveAll's UPDATE took of skus for a short order.
func putBack(tx *gorm.DB, skus []string, want map[string]int64) error {
	if len(skus) == 0 {
		return nil
	}
	qty, args := quantities(skus, want)
	return tx.Exec(`UPDATE inventory_stock SET reserved = reserved - `+qty+` WHERE sku IN ?`, append(args, skus)...).Error
}

// quantities is a SQL CASE that gives want[sku] for each of skus, with
// its arguments: one statement moves each SKU by its own quantity.
func quantities(skus []string, want map[string]int64) (string, []any) {
	var q strings.Builder
	args := make([]any, 0, 2*len(skus))
	q.WriteString("CASE sku")
	for _, sku := range skus {
		q.WriteString(" WHEN ? THEN CAST(? AS BIGINT)")
		args = append(args, sku, want[sku])
	}
	q.WriteString(" END")
	return q.String(), args
}

// column runs a query of one text column and returns its values.
func column(q *gorm.DB) ([]string, error) {
	rows, err := q.Rows()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, v)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

// settle moves an order's open reservations to status: released gives the
// units back to available, committed takes them off the shelf.
func settle(tx *gorm.DB, orderID, status string) error {
	var rows []reservationRow
	// By SKU, the order reserve locks stock rows in.
	if err := tx.Where("order_id = ? AND status = ?", orderID, reserved).Order("sku").Find(&rows).Error; err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, r := range rows {
		upd := map[string]any{"reserved": gorm.Expr("reserved - ?", r.Quantity), "updated_at": now}
		if status == committed {
			upd["on_hand"] = gorm.Expr("on_hand - ?", r.Quantity)
		}
		if err := tx.Model(&stockRow{}).Where("sku = ?", r.SKU).Updates(upd).Error; err != nil {
			return fmt.Errorf("%s %s: %w", status, r.SKU, err)
		}
	}
	return tx.Model(&reservationRow{}).Where("order_id = ? AND status = ?", orderID, reserved).
		Updates(map[string]any{"status": status, "updated_at": now}).Error
}

// takeShort ships a backordered order: each line takes what the shelf
// holds beyond other orders' reservations, up to its quantity, and records
// the rest as missing. Nothing goes below zero and no other order loses a
// unit it holds.
func takeShort(tx *gorm.DB, orderID string, lines []backorderRow) error {
	now := time.Now().UTC()
	for _, l := range lines { // by SKU, as reserve locks them
		var row stockRow
		take := int64(0)
		err := tx.Clauses(forUpdate).Where("sku = ?", l.SKU).Take(&row).Error
		switch {
		case err == nil:
			take = min(l.Quantity, max(row.OnHand-row.Reserved, 0))
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return err
		}
		if take > 0 {
			err := tx.Model(&stockRow{}).Where("sku = ?", l.SKU).
				Updates(map[string]any{"on_hand": gorm.Expr("on_hand - ?", take), "updated_at": now}).Error
			if err != nil {
				return fmt.Errorf("take %s: %w", l.SKU, err)
			}
		}
		r := reservationRow{OrderID: orderID, SKU: l.SKU, Quantity: take, Missing: l.Quantity - take, Status: committed, UpdatedAt: now}
		if err := tx.Create(&r).Error; err != nil {
			return err
		}
	}
	return nil
}

// available reads what is left of each SKU, for a shortage report.
func available(tx *gorm.DB, skus []string) (map[string]int64, error) {
	var rows []stockRow
	if err := tx.Where("sku IN ?", skus).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.SKU] = r.OnHand - r.Reserved
	}
	return out, nil
}

// lockOrder reads inventory's record of an order, locked until tx ends.
// found is false when inventory has none.
func lockOrder(tx *gorm.DB, orderID string) (row orderRow, found bool, err error) {
	err = tx.Clauses(forUpdate).Where("order_id = ?", orderID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return orderRow{}, false, nil
	}
	return row, err == nil, err
}

// addOrder records an order inventory placed, with status, and reports
// whether it did: false when the order has a record already. On
// PostgreSQL a record another transaction is adding is waited for.
func addOrder(tx *gorm.DB, orderID, status string, placed time.Time) (bool, error) {
	res := tx.Exec(`INSERT INTO inventory_orders (order_id, status, placed_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (order_id) DO NOTHING`, orderID, status, placed.UTC(), time.Now().UTC())
	return res.RowsAffected == 1, res.Error
}

// markOrder moves an order's record to status.
func markOrder(tx *gorm.DB, orderID, status string) error {
	return tx.Model(&orderRow{}).Where("order_id = ?", orderID).
		Updates(map[string]any{"status": status, "updated_at": time.Now().UTC()}).Error
}

// backorders returns a waiting order's lines, by SKU.
func backorders(tx *gorm.DB, orderID string) ([]backorderRow, error) {
	var lines []backorderRow
	err := tx.Where("order_id = ?", orderID).Order("sku").Find(&lines).Error
	return lines, err
}

func dropBackorders(tx *gorm.DB, orderID string) error {
	return tx.Where("order_id = ?", orderID).Delete(&backorderRow{}).Error
}

// addWaiting fills in what backordered orders wait for of each SKU.
func addWaiting(db *gorm.DB, stock []Stock) error {
	if len(stock) == 0 {
		return nil
	}
	skus := make([]string, len(stock))
	for i, st := range stock {
		skus[i] = st.SKU
	}
	var rows []struct {
		SKU    string
		Units  int64
		Orders int64
	}
	err := db.Model(&backorderRow{}).Select("sku, SUM(quantity) AS units, COUNT(*) AS orders").
		Where("sku IN ?", skus).Group("sku").Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("inventory: backorders: %w", err)
	}
	by := make(map[string]int, len(stock))
	for i, st := range stock {
		by[st.SKU] = i
	}
	for _, r := range rows {
		stock[by[r.SKU]].Backordered, stock[by[r.SKU]].WaitingOrders = r.Units, r.Orders
	}
	return nil
}
