package payment

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

// stripeMigration keeps the Stripe events the shop received, and indexes
// payments by their reference, which is how a Stripe event finds its order
// when it does not name it.
var stripeMigration = database.Migration{
	ID: "payment-0003",
	SQL: []string{
		`CREATE INDEX payment_payments_reference ON payment_payments (reference)`,
		`CREATE TABLE payment_stripe_events (
			event_id TEXT PRIMARY KEY,
			type TEXT NOT NULL,
			order_id TEXT NOT NULL,
			reference TEXT NOT NULL,
			outcome TEXT NOT NULL,
			reason TEXT NOT NULL,
			created_at TIMESTAMP NOT NULL
		)`,
		`CREATE INDEX payment_stripe_events_order ON payment_stripe_events (order_id, created_at)`,
		`CREATE INDEX payment_stripe_events_outcome ON payment_stripe_events (outcome, created_at)`,
	},
}

// Outcomes of a Stripe event.
const (
	// OutcomeApplied: the event moved its order.
	OutcomeApplied = "applied"
	// OutcomeUnknownOrder: no order is the event's, by its metadata's
	// order_id or by its PaymentIntent as a payment's reference.
	OutcomeUnknownOrder = "unknown_order"
	// OutcomeRefused: the order could not make the move the event asked
	// (the state machine refused it, or a refund adds nothing or too much).
	OutcomeRefused = "refused"
)

// StripeEvent is a Stripe event the shop received and what came of it.
// Each Stripe event is recorded once: Stripe delivers an event again
// until it is answered 2xx, and sometimes after.
type StripeEvent struct {
	EventID string `json:"id" gorm:"primaryKey"`
	Type    string `json:"type"`
	// OrderID is the order the event is about; for an unknown order, the
	// order_id its metadata named, if any.
	OrderID string `json:"order_id"`
	// Reference is the PaymentIntent the event is about.
	Reference string `json:"reference"`
	Outcome   string `json:"outcome"`
	// Reason says why an event changed nothing; empty when applied.
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"received_at"`
}

// TableName names the table of Stripe events.
func (StripeEvent) TableName() string { return "payment_stripe_events" }

// ErrStripeEventSeen means a Stripe event was recorded before.
var ErrStripeEventSeen = fault.New(fault.Conflict, "payment: this Stripe event was received before")

// RecordStripeEvent records e inside tx, so that it commits with the move
// it made, or returns ErrStripeEventSeen if e's id was recorded before.
func RecordStripeEvent(tx *gorm.DB, e StripeEvent) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now().UTC()
	}
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&e)
	if res.Error != nil {
		return fmt.Errorf("payment: record Stripe event %s: %w", e.EventID, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%w: %s", ErrStripeEventSeen, e.EventID)
	}
	return nil
}

// RecordStripeEvent records e on its own, as RecordStripeEvent does in a
// transaction: for an event that moved nothing.
func (s *Service) RecordStripeEvent(ctx context.Context, e StripeEvent) error {
	return RecordStripeEvent(s.db.WithContext(ctx), e)
}

// StripeEvent returns the Stripe event recorded under id.
func (s *Service) StripeEvent(ctx context.Context, id string) (StripeEvent, error) {
	var e StripeEvent
	if err := s.db.WithContext(ctx).Where("event_id = ?", id).Take(&e).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return StripeEvent{}, fmt.Errorf("%w: Stripe event %s", ErrNotFound, id)
		}
		return StripeEvent{}, err
	}
	return e, nil
}

// StripeEvents lists the Stripe events about an order, oldest first.
func (s *Service) StripeEvents(ctx context.Context, orderID string) ([]StripeEvent, error) {
	out := []StripeEvent{}
	err := s.db.WithContext(ctx).Where("order_id = ?", orderID).Order("created_at, event_id").Find(&out).Error
	return out, err
}

// UnappliedStripeEvents lists up to limit Stripe events that changed
// nothing (an unknown order, a refused move), newest first: what the shop
// owner should look at, since Stripe, answered 200, sends them no more.
func (s *Service) UnappliedStripeEvents(ctx context.Context, limit int) ([]StripeEvent, error) {
	out := []StripeEvent{}
	err := s.db.WithContext(ctx).Where("outcome <> ?", OutcomeApplied).Order("created_at DESC, event_id").
		Limit(limit).Find(&out).Error
	return out, err
}

// OrderFor returns the order whose payment has this reference (the
// PaymentIntent id the storefront gave as payment.reference), the oldest
// if several do.
func (s *Service) OrderFor(ctx context.Context, reference string) (string, error) {
	var p Payment
	err := s.db.WithContext(ctx).Select("order_id").Where("reference = ?", reference).Order("created_at").Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", fmt.Errorf("%w: no payment has the reference %s", ErrNotFound, reference)
	}
	return p.OrderID, err
}
