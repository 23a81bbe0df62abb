package shipping

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopbus/shopbus/fault"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shopbus/shopbus/database"
)

// ErrNotFound means the order has no shipment.
var ErrNotFound = fault.New(fault.NotFound, "shipping: shipment not found")

// Migrations create shipping's tables.
var Migrations = []database.Migration{{
	ID: "shipping-0001",
	SQL: []string{`CREATE TABLE shipping_shipments (
		order_id TEXT PRIMARY KEY,
		country TEXT NOT NULL,
		item_count BIGINT NOT NULL,
		rate_minor BIGINT NOT NULL,
		currency TEXT NOT NULL,
		status TEXT NOT NULL,
		created_at TIMESTAMP NOT NULL,
		updated_at TIMESTAMP NOT NULL
	)`},
}}

// Shipment is one order's parcel.
type Shipment struct {
	OrderID   string    `json:"order_id" gorm:"primaryKey"`
	Country   string    `json:"country"`
	ItemCount int64     `json:"item_count"`
	RateMinor int64     `json:"rate_minor"`
	Currency  string    `json:"currency"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TableName names shipping's table.
func (Shipment) TableName() string { return "shipping_shipments" }

// Shipment statuses.
const (
	StatusCreated   = "created"
	StatusCancelled = "cancelled"
)

// Get returns an order's shipment.
func (s *Service) Get(ctx context.Context, orderID string) (Shipment, error) {
	var sh Shipment
	if err := s.db.WithContext(ctx).Where("order_id = ?", orderID).Take(&sh).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return Shipment{}, fmt.Errorf("%w: %s", ErrNotFound, orderID)
		}
		return Shipment{}, err
	}
	return sh, nil
}

func create(tx *gorm.DB, sh Shipment) error {
	return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&sh).Error
}

func cancel(tx *gorm.DB, orderID string) error {
	return tx.Model(&Shipment{}).Where("order_id = ? AND status = ?", orderID, StatusCreated).
		Updates(map[string]any{"status": StatusCancelled, "updated_at": time.Now().UTC()}).Error
}
