// Package payment records each order's payment and follows it through the
// order's life: authorised when placed, captured when paid (or, if it
// never was, when shipped), voided when cancelled before capture, refunded
// (partly or wholly, by the amount) after capture. It is a record of what
// the storefront and the payment provider did, told through the order's
// events; it moves no money itself. It also keeps the payment provider's
// events the shop received (stripe.go), each applied once.
package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/fault"
)

// ErrNotFound means the order has no payment record.
var ErrNotFound = fault.New(fault.NotFound, "payment: not found")

// Payment statuses.
const (
	StatusAuthorized = "authorized"
	StatusCaptured   = "captured"
	StatusVoided     = "voided"
	StatusRefunded   = "refunded"
)

// Migrations create payment's tables.
var Migrations = []database.Migration{{
	ID: "payment-0001",
	SQL: []string{`CREATE TABLE payment_payments (
		order_id TEXT PRIMARY KEY,
		method TEXT NOT NULL,
		reference TEXT NOT NULL,
		amount_minor BIGINT NOT NULL,
		currency TEXT NOT NULL,
		status TEXT NOT NULL,
		created_at TIMESTAMP NOT NULL,
		updated_at TIMESTAMP NOT NULL
	)`},
}, {
	// The amounts follow the money: what was captured and what was given
	// back. Payments captured or refunded before were so in full.
	ID: "payment-0002",
	SQL: []string{
		`ALTER TABLE payment_payments ADD COLUMN captured_minor BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE payment_payments ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0`,
		`UPDATE payment_payments SET captured_minor = amount_minor WHERE status IN ('captured', 'refunded')`,
		`UPDATE payment_payments SET refunded_minor = amount_minor WHERE status = 'refunded'`,
	},
}, stripeMigration}

// Payment is one order's payment record. AmountMinor is what was
// authorised; CapturedMinor what of it was taken, RefundedMinor what of
// that was given back.
type Payment struct {
	OrderID       string    `json:"order_id" gorm:"primaryKey"`
	Method        string    `json:"method"`
	Reference     string    `json:"reference"`
	AmountMinor   int64     `json:"amount_minor"`
	CapturedMinor int64     `json:"captured_minor"`
	RefundedMinor int64     `json:"refunded_minor"`
	Currency      string    `json:"currency"`
	Status        string    `json:"status"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// TableName names payment's table.
func (Payment) TableName() string { return "payment_payments" }

// moves says, for each order state, which payment status moves to which: a
// paid order is captured, and so is a shipped one that never was paid; a
// cancelled one is voided if nothing was captured. Only a cancellation
// voids: refunds give back what was captured (refund, below), and money
// never captured is not refunded.
var moves = map[string]map[string]string{
	event.OrderPaid:      {StatusAuthorized: StatusCaptured},
	event.OrderShipped:   {StatusAuthorized: StatusCaptured},
	event.OrderCancelled: {StatusAuthorized: StatusVoided},
}

// Service is the payment module.
type Service struct{ db *gorm.DB }

// New returns the payment module.
func New(db *gorm.DB) *Service { return &Service{db: db} }

// Subscribe makes payment the "payment" target of the bus.
func (s *Service) Subscribe(b *bus.Bus) { bus.Subscribe(b, "payment", s.handle) }

// Get returns an order's payment record.
func (s *Service) Get(ctx context.Context, orderID string) (Payment, error) {
	var p Payment
	if err := s.db.WithContext(ctx).Where("order_id = ?", orderID).Take(&p).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return Payment{}, fmt.Errorf("%w: %s", ErrNotFound, orderID)
		}
		return Payment{}, err
	}
	return p, nil
}

// orderEvent is what payment receives: the default rule keeps only the order
// id, state, currency and payment fields.
type orderEvent struct {
	Detail struct {
		OrderID    string `json:"order_id"`
		OrderState string `json:"order_state"`
		Currency   string `json:"currency"`
		Payment    struct {
			Method      string `json:"method"`
			Reference   string `json:"reference"`
			AmountMinor int64  `json:"amount_minor"`
			// RefundedMinor is every refund of the order so far; a refund
			// event without it (from before it was sent) gave all back.
			RefundedMinor int64 `json:"refunded_minor"`
		} `json:"payment"`
	} `json:"detail"`
}

func (s *Service) handle(ctx context.Context, d bus.Delivery[orderEvent]) error {
	ev := d.Payload.Detail
	now := time.Now().UTC()
	if ev.OrderState == event.NewOrderCreated {
		p := Payment{OrderID: ev.OrderID, Method: ev.Payment.Method, Reference: ev.Payment.Reference,
			AmountMinor: ev.Payment.AmountMinor, Currency: ev.Currency, Status: StatusAuthorized, CreatedAt: now, UpdatedAt: now}
		return d.Tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&p).Error
	}
	for from, to := range moves[ev.OrderState] {
		set := map[string]any{"status": to, "updated_at": now}
		if to == StatusCaptured {
			set["captured_minor"] = gorm.Expr("amount_minor")
		}
		if err := d.Tx.Model(&Payment{}).Where("order_id = ? AND status = ?", ev.OrderID, from).Updates(set).Error; err != nil {
			return err
		}
	}
	return refund(d.Tx, ev.OrderID, ev.OrderState, ev.Payment.RefundedMinor, now)
}

// refund records what an order's refunds sum to, refunded, on a captured
// payment: every event after a refund says it (a partial refund's and the
// refund that moved the order to order_refunded among them). An
// order_refunded event without the sum, from before it was sent, gave
// everything back. The record never gives back more than was captured,
// nor less than it already said, so a replayed older event changes
// nothing.
func refund(tx *gorm.DB, orderID, state string, refunded int64, now time.Time) error {
	var sum any = refunded
	switch {
	case refunded > 0:
		sum = gorm.Expr("CASE WHEN ? < captured_minor THEN ? ELSE captured_minor END", refunded, refunded)
	case state == event.OrderRefunded:
		sum = gorm.Expr("captured_minor")
	default:
		return nil
	}
	return tx.Model(&Payment{}).Where("order_id = ? AND status IN ?", orderID, []string{StatusCaptured, StatusRefunded}).
		Updates(map[string]any{"status": StatusRefunded, "updated_at": now,
			"refunded_minor": gorm.Expr("CASE WHEN ? > refunded_minor THEN ? ELSE refunded_minor END", sum, sum)}).Error
}
