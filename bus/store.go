package bus

import (
	"context"

	"time"

	"github.com/shopbus/shopbus/database"
)

// Delivery statuses. A delivery is pending until first tried, failed while
// it waits for a retry, done once its target committed, and dead once its
// rule's retry limit is spent.
const (
	StatusPending = "pending"
	StatusDone    = "done"
	StatusFailed  = "failed"
	StatusDead    = "dead"
)

// eventRow is the outbox: written in the same transaction as the change it
// announces, routed to deliveries after commit.
type eventRow struct {
	Seq        int64 `gorm:"primaryKey;autoIncrement"`
	ID         string
	Source     string
	DetailType string
	OrderID    string
	Body       string
	CreatedAt  time.Time
	RoutedAt   *time.Time
}

func (eventRow) TableName() string { return "bus_events" }

// deliveryRow is one (event, rule, target) with the payload the target gets.
type deliveryRow struct {
	ID        int64 `gorm:"primaryKey;autoIncrement"`
	EventSeq  int64
	EventID   string
	OrderID   string
	Rule      string
	Target    string
	Payload   string
	Status    string
	Attempts  int
	LastError string
	// Errors holds every failed attempt, as JSON []AttemptError.
	Errors string
	// Replay counts replays of this (event, rule, target): 0 is the original.
	Replay        int
	NextAttemptAt time.Time
	// StartedAt is when the current series of attempts began (routing, or
	// the last redrive); a rule's max_age counts from it.
	StartedAt time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
	// LeaseOwner is the instance that last claimed the delivery, and
	// LeaseUntil, while set, when its claim ends: until then no other
	// instance takes it.
	LeaseOwner string
	LeaseUntil *time.Time
}

// AttemptError is one failed attempt of a delivery.
type AttemptError struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

func (deliveryRow) TableName() string { return "bus_deliveries" }

// Migrations create the bus's tables.
var Migrations = []database.Migration{{
	ID: "bus-0001",
	SQL: []string{
		`CREATE TABLE bus_events (
			seq $AUTOID,
			id TEXT NOT NULL UNIQUE,
			source TEXT NOT NULL,
			detail_type TEXT NOT NULL,
			order_id TEXT NOT NULL DEFAULT '',
			body TEXT NOT NULL,
			created_at TIMESTAMP NOT NULL,
			routed_at TIMESTAMP
		)`,
		`CREATE INDEX bus_events_unrouted ON bus_events (seq) WHERE routed_at IS NULL`,
		`CREATE TABLE bus_deliveries (
			id $AUTOID,
			event_seq BIGINT NOT NULL,
			event_id TEXT NOT NULL,
			order_id TEXT NOT NULL DEFAULT '',
			rule TEXT NOT NULL,
			target TEXT NOT NULL,
			payload TEXT NOT NULL,
			status TEXT NOT NULL,
			attempts INTEGER NOT NULL DEFAULT 0,
			last_error TEXT NOT NULL DEFAULT '',
			errors TEXT NOT NULL DEFAULT '[]',
			replay INTEGER NOT NULL DEFAULT 0,
			next_attempt_at TIMESTAMP NOT NULL,
			started_at TIMESTAMP NOT NULL,
			created_at TIMESTAMP NOT NULL,
			updated_at TIMESTAMP NOT NULL,
			UNIQUE (event_id, rule, target, replay)
		)`,
		`CREATE INDEX bus_deliveries_due ON bus_deliveries (next_attempt_at) WHERE status IN ('pending', 'failed')`,
		`CREATE INDEX bus_deliveries_order ON bus_deliveries (order_id, target, id)`,
		`CREATE INDEX bus_deliveries_dead ON bus_deliveries (target, id) WHERE status = 'dead'`,
		`CREATE INDEX bus_events_time ON bus_events (created_at)`,
	},
}, {
	// Instances that share a database (PostgreSQL) claim deliveries with a
	// lease, so each is worked by one at a time, and one that dies leaves
	// its claims to the others when the lease ends.
	ID: "bus-0002",
	SQL: []string{
		`ALTER TABLE bus_deliveries ADD COLUMN lease_owner TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE bus_deliveries ADD COLUMN lease_until TIMESTAMP`,
		// Routing takes each order's oldest unrouted event (see takeEvents).
		`CREATE INDEX bus_events_unrouted_order ON bus_events (order_id, seq) WHERE routed_at IS NULL`,
	},
}, {
	// The unfinished deliveries by order and target: what routing asks of
	// each order before working its deliveries at once (an earlier one
	// must go first), and what a claim asks of each due delivery. Done
	// deliveries, nearly all of them, are not in it.
	ID: "bus-0003",
	SQL: []string{
		`CREATE INDEX bus_deliveries_open ON bus_deliveries (order_id, target, id) WHERE status IN ('pending', 'failed')`,
	},
}}

// DeliveryStatus is one delivery as an order's journey shows it.
type DeliveryStatus struct {
	ID        int64     `json:"id"`
	EventID   string    `json:"event_id"`
	Rule      string    `json:"rule"`
	Target    string    `json:"target"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	Replay    int       `json:"replay,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Deliveries lists every delivery of an order's events, oldest first.
func (b *Records) Deliveries(ctx context.Context, orderID string) ([]DeliveryStatus, error) {
	out := []DeliveryStatus{}
	err := b.db.WithContext(ctx).Model(&deliveryRow{}).Where("order_id = ?", orderID).Order("id").Find(&out).Error
	return out, err
}
