package checkout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database"
)

// QueryMigrations index orders by when they last changed, for the
// dashboard's live view.
var QueryMigrations = []database.Migration{{
	ID:  "checkout-query-0001",
	SQL: []string{`CREATE INDEX checkout_orders_updated ON checkout_orders (updated_at, order_id)`},
}}

// Filter narrows the order list. The zero Filter lists every order.
type Filter struct {
	// Text matches any part of the order id or of the customer's email,
	// ignoring case.
	Text string
	// State, when set, keeps only orders in that state.
	State string
}

// likeEscaper makes user text literal inside a LIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func (f Filter) apply(q *gorm.DB) *gorm.DB {
	if text := strings.TrimSpace(f.Text); text != "" {
		pattern := "%" + likeEscaper.Replace(strings.ToLower(text)) + "%"
		// LOWER on both sides: LIKE ignores case in SQLite but not in PostgreSQL.
		q = q.Where(`(LOWER(order_id) LIKE ? ESCAPE '\' OR LOWER(customer_email) LIKE ? ESCAPE '\')`, pattern, pattern)
	}
	if f.State != "" {
		q = q.Where("state = ?", f.State)
	}
	return q
}

// Search is List narrowed by a filter: up to limit orders (1 to MaxPage)
// that match f, newest first, after the order named by after. Total counts
// every match.
func (s *Service) Search(ctx context.Context, f Filter, limit int, after string) (Page, error) {
	limit = min(max(limit, 1), MaxPage)
	if after != "" && !possibleOrderID(after) {
		return Page{}, fmt.Errorf("%w: %s", ErrNotFound, after)
	}
	db := s.db.WithContext(ctx)
	var p Page
	if err := f.apply(db.Model(&orderRow{})).Count(&p.Total).Error; err != nil {
		return Page{}, fmt.Errorf("checkout: search: %w", err)
	}
	q := f.apply(db.Order("seq DESC").Limit(limit + 1))
	if after != "" {
		var cursor orderRow
		if err := db.Select("seq").Where("order_id = ?", after).Take(&cursor).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return Page{}, fmt.Errorf("%w: %s", ErrNotFound, after)
			}
			return Page{}, err
		}
		q = q.Where("seq < ?", cursor.Seq)
	}
	var rows []orderRow
	if err := q.Find(&rows).Error; err != nil {
		return Page{}, fmt.Errorf("checkout: search: %w", err)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		p.Next = rows[limit-1].OrderID
	}
	var err error
	p.Orders, err = orders(rows)
	return p, err
}

// Orders returns those of the orders named that exist, newest first.
func (s *Service) Orders(ctx context.Context, ids []string) ([]Order, error) {
	if len(ids) == 0 {
		return []Order{}, nil
	}
	var rows []orderRow
	if err := s.db.WithContext(ctx).Where("order_id IN ?", ids).Order("seq DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("checkout: orders: %w", err)
	}
	return orders(rows)
}

// Changed lists up to limit orders whose (updated_at, order_id) comes
// after (since, afterID), oldest change first: new orders and state
// changes, for a live view. A writer that took its timestamp before a
// later one committed can land behind the cursor, so callers that must see
// every change look back a little.
func (s *Service) Changed(ctx context.Context, since time.Time, afterID string, limit int) ([]Order, error) {
	since = since.UTC()
	var rows []orderRow
	err := s.db.WithContext(ctx).Where("updated_at >= ? AND (updated_at > ? OR order_id > ?)", since, since, afterID).
		Order("updated_at, order_id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("checkout: changed orders: %w", err)
	}
	return orders(rows)
}

func orders(rows []orderRow) ([]Order, error) {
	out := make([]Order, 0, len(rows))
	for _, r := range rows {
		o, err := r.order()
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}
