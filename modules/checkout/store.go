package checkout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/event"
)

// Migrations create checkout's tables.
var Migrations = []database.Migration{{
	ID: "checkout-0001",
	SQL: []string{
		`CREATE TABLE checkout_orders (
			seq $AUTOID,
			order_id TEXT NOT NULL UNIQUE,
			state TEXT NOT NULL,
			customer_email TEXT NOT NULL,
			total_minor BIGINT NOT NULL,
			body TEXT NOT NULL,
			created_at TIMESTAMP NOT NULL,
			updated_at TIMESTAMP NOT NULL
		)`,
		`CREATE INDEX checkout_orders_email ON checkout_orders (customer_email)`,
	},
}}

// orderRow stores the order as JSON beside the columns it is queried by.
type orderRow struct {
	Seq           int64 `gorm:"primaryKey;autoIncrement"`
	OrderID       string
	State         string
	CustomerEmail string
	TotalMinor    int64
	Body          string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (orderRow) TableName() string { return "checkout_orders" }

func (r orderRow) order() (Order, error) {
	var o Order
	if err := json.Unmarshal([]byte(r.Body), &o); err != nil {
		return Order{}, fmt.Errorf("order %s: decode: %w", r.OrderID, err)
	}
	o.State, o.CreatedAt, o.UpdatedAt = r.State, r.CreatedAt, r.UpdatedAt
	// Orders stored before subtotal_minor existed lack it; it is the items'
	// sum, so their later events carry it too.
	_, o.SubtotalMinor, _ = o.totals()
	return o, nil
}

type store struct {
	db     *gorm.DB
	commit Committer
}

func (s *Service) store() store { return store{db: s.db, commit: s.committer} }

func (st store) place(ctx context.Context, in NewOrder) (Accepted, error) {
	if in.OrderID == "" {
		in.OrderID = "ord-" + bus.NewID() // time-ordered
	}
	now := time.Now().UTC()
	o := Order{NewOrder: in, State: event.NewOrderCreated, CreatedAt: now, UpdatedAt: now}
	o.ItemCount, o.SubtotalMinor, o.TotalMinor = in.totals()
	body, err := json.Marshal(o)
	if err != nil {
		return Accepted{}, err
	}
	var acc Accepted
	err = st.commit.Do(ctx, func(tx *gorm.DB) error {
		// Fixed SQL rather than Create of an orderRow: every order runs it.
		err := tx.Exec(`INSERT INTO checkout_orders (order_id, state, customer_email, total_minor, body, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, o.OrderID, o.State, o.Customer.Email, o.TotalMinor, string(body), now, now).Error
		if err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return fmt.Errorf("%w: %s", ErrDuplicate, o.OrderID)
			}
			return err
		}
		ev, err := bus.Publish(ctx, tx, o.stateChange(""))
		acc = Accepted{OrderID: o.OrderID, EventID: ev.ID, State: o.State}
		return err
	})
	return acc, err
}

// changeState moves the order in one transaction, after first (when set)
// has run in it. The order's row is locked from the read on, so changes
// of one order, partial refunds included, apply one after the other.
func (st store) changeState(ctx context.Context, orderID string, ch Change, first func(tx *gorm.DB) error) (Accepted, error) {
	state := ch.State
	var acc Accepted
	err := st.commit.Do(ctx, func(tx *gorm.DB) error {
		if first != nil {
			if err := first(tx); err != nil {
				return err
			}
		}
		var row orderRow
		err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Where("order_id = ?", orderID).Take(&row).Error
		if err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return fmt.Errorf("%w: %s", ErrNotFound, orderID)
			}
			return err
		}
		if !slices.Contains(transitions[row.State], state) {
			return fmt.Errorf("%w: %s cannot go from %s to %s", ErrInvalidTransition, orderID, row.State, state)
		}
		o, err := row.order()
		if err != nil {
			return err
		}
		prev, hadRefund := o.State, o.RefundMinor != 0
		o.State, o.UpdatedAt = state, time.Now().UTC()
		partial, err := ch.apply(&o)
		if err != nil {
			return err
		}
		if partial {
			o.State = prev
		}
		set := map[string]any{"state": o.State, "updated_at": o.UpdatedAt}
		if ch.Shipment != nil || state == event.OrderRefunded || hadRefund { // the facts the change brought or cleared
			body, err := json.Marshal(o)
			if err != nil {
				return err
			}
			set["body"] = string(body)
		}
		res := tx.Model(&orderRow{}).Where("seq = ? AND state = ?", row.Seq, prev).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("%w: %s changed meanwhile", ErrInvalidTransition, orderID)
		}
		var detail bus.Detail = o.stateChange(prev)
		if partial {
			detail = event.OrderPartiallyRefunded(o.stateChange(prev))
		}
		ev, err := bus.Publish(ctx, tx, detail)
		acc = Accepted{OrderID: o.OrderID, EventID: ev.ID, State: o.State}
		return err
	})
	return acc, err
}

func (st store) get(ctx context.Context, orderID string) (Order, error) {
	var row orderRow
	if err := st.db.WithContext(ctx).Where("order_id = ?", orderID).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return Order{}, fmt.Errorf("%w: %s", ErrNotFound, orderID)
		}
		return Order{}, err
	}
	return row.order()
}
