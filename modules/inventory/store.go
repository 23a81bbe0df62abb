package inventory

import (
	"errors"
	"fmt"
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
}}

// Reservation statuses.
const (
	reserved  = "reserved"
	released  = "released"
	committed = "committed"
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
	Status    string
	UpdatedAt time.Time
}

func (reservationRow) TableName() string { return "inventory_reservations" }

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
	cur, err := getStock(tx, sku)
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

// reserve takes qty of sku if that much is available. The condition sits in
// the UPDATE itself, so concurrent orders can never push stock below zero.
func reserve(tx *gorm.DB, orderID, sku string, qty int64) error {
	res := tx.Model(&stockRow{}).Where("sku = ? AND on_hand - reserved >= ?", sku, qty).
		Updates(map[string]any{"reserved": gorm.Expr("reserved + ?", qty), "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%w: %s", ErrOutOfStock, sku)
	}
	return tx.Create(&reservationRow{OrderID: orderID, SKU: sku, Quantity: qty, Status: reserved, UpdatedAt: time.Now().UTC()}).Error
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

// hasReservations reports whether the order has ever reserved stock.
func hasReservations(tx *gorm.DB, orderID string) (bool, error) {
	var n int64
	err := tx.Model(&reservationRow{}).Where("order_id = ?", orderID).Count(&n).Error
	return n > 0, err
}
