package shipping

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/fault"
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
}, {
	// The shipment follows its order: what the order charged for shipping
	// (NULL for shipments recorded before it was kept), the parcel's
	// carrier and tracking once shipped, and when it shipped and arrived.
	ID: "shipping-0002",
	SQL: []string{
		`ALTER TABLE shipping_shipments ADD COLUMN charged_minor BIGINT`,
		`ALTER TABLE shipping_shipments ADD COLUMN carrier TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE shipping_shipments ADD COLUMN tracking_number TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE shipping_shipments ADD COLUMN tracking_url TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE shipping_shipments ADD COLUMN shipped_at TIMESTAMP`,
		`ALTER TABLE shipping_shipments ADD COLUMN delivered_at TIMESTAMP`,
	},
}}

// Shipment is one order's parcel, as shipping recorded it.
type Shipment struct {
	OrderID   string `json:"order_id" gorm:"primaryKey"`
	Country   string `json:"country"`
	ItemCount int64  `json:"item_count"`
	// RateMinor is what the rate table prices the parcel at.
	RateMinor int64 `json:"rate_minor"`
	// ChargedMinor is what the order charged the customer for shipping;
	// nil for a shipment recorded before shopbus kept it.
	ChargedMinor   *int64     `json:"charged_minor,omitempty"`
	Currency       string     `json:"currency"`
	Status         string     `json:"status"`
	Carrier        string     `json:"carrier"`
	TrackingNumber string     `json:"tracking_number"`
	TrackingURL    string     `json:"tracking_url"`
	ShippedAt      *time.Time `json:"shipped_at,omitempty"`
	DeliveredAt    *time.Time `json:"delivered_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// TableName names shipping's table.
func (Shipment) TableName() string { return "shipping_shipments" }

// DifferenceMinor is what the order charged for shipping less what the
// rate table prices the parcel at: below 0, the shop pays the difference.
// ok is false when the charge is not known.
func (sh Shipment) DifferenceMinor() (diff int64, ok bool) {
	if sh.ChargedMinor == nil {
		return 0, false
	}
	return *sh.ChargedMinor - sh.RateMinor, true
}

// Shipment statuses: a shipment follows its order.
const (
	StatusCreated   = "created"
	StatusShipped   = "shipped"
	StatusDelivered = "delivered"
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

// move changes a shipment's status from one of from, with the columns in
// set: a repeated or late delivery finds it moved and changes nothing.
func move(tx *gorm.DB, orderID string, from []string, set map[string]any) error {
	set["updated_at"] = time.Now().UTC()
	return tx.Model(&Shipment{}).Where("order_id = ? AND status IN ?", orderID, from).Updates(set).Error
}
