package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
)

// sweepEvery is how often Run looks for backordered orders that stock now
// fits, besides when a delivery gave stock back. Stock that arrives through
// Set reserves at once; the sweep is for what a race or a crash left
// waiting (an order that backordered while stock was being set, or a Set
// that stopped half way).
const sweepEvery = 5 * time.Second

// waitingPage bounds the waiting orders one pass reads.
const waitingPage = 100

// OrderStock is what inventory recorded of one order's items.
type OrderStock struct {
	OrderID string `json:"order_id"`
	// Status is StatusReserved, StatusBackordered, StatusReleased or
	// StatusSettled.
	Status string `json:"status"`
	// Missing is, for a backordered order, what the shelf lacks now to
	// reserve it; for a settled order, what its shipment took that the
	// shelf did not hold. Empty otherwise.
	Missing   []Line    `json:"missing"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Line is a quantity of one SKU.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// OrderStock returns what inventory recorded of an order: ErrNoRecord until
// inventory has handled the new order (or when it was never sent it).
func (s *Service) OrderStock(ctx context.Context, orderID string) (OrderStock, error) {
	db := s.db.WithContext(ctx)
	var rec orderRow
	if err := db.Where("order_id = ?", orderID).Take(&rec).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return OrderStock{}, fmt.Errorf("%w: %s", ErrNoRecord, orderID)
		}
		return OrderStock{}, err
	}
	out := OrderStock{OrderID: orderID, Status: rec.Status, Missing: []Line{}, UpdatedAt: rec.UpdatedAt}
	switch rec.Status {
	case StatusBackordered:
		lines, err := backorders(db, orderID)
		if err != nil {
			return OrderStock{}, err
		}
		skus := make([]string, len(lines))
		for i, l := range lines {
			skus[i] = l.SKU
		}
		have, err := available(db, skus)
		if err != nil {
			return OrderStock{}, err
		}
		for _, l := range lines {
			if short := l.Quantity - max(have[l.SKU], 0); short > 0 {
				out.Missing = append(out.Missing, Line{SKU: l.SKU, Quantity: short})
			}
		}
	case StatusSettled:
		var rows []reservationRow
		if err := db.Where("order_id = ? AND missing > 0", orderID).Order("sku").Find(&rows).Error; err != nil {
			return OrderStock{}, err
		}
		for _, r := range rows {
			out.Missing = append(out.Missing, Line{SKU: r.SKU, Quantity: r.Missing})
		}
	}
	return out, nil
}

// Statuses returns the stock status of each of the orders named that
// inventory has a record of, for a list of orders.
func (s *Service) Statuses(ctx context.Context, orderIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(orderIDs))
	if len(orderIDs) == 0 {
		return out, nil
	}
	var rows []orderRow
	if err := s.db.WithContext(ctx).Select("order_id", "status").Where("order_id IN ?", orderIDs).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("inventory: order statuses: %w", err)
	}
	for _, r := range rows {
		out[r.OrderID] = r.Status
	}
	return out, nil
}

// reserveWaiting reserves a backordered order if stock now holds all of
// it, in one transaction that locks the order's record first: the order's
// shipment or cancellation, or another instance reserving it, waits for
// it or is waited for, and finds it no longer waiting. It reports whether
// it reserved the order.
func (s *Service) reserveWaiting(ctx context.Context, orderID string) (bool, error) {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		rec, found, err := lockOrder(tx, orderID)
		if err != nil {
			return err
		}
		if !found || rec.Status != StatusBackordered {
			return errNotWaiting
		}
		lines, err := backorders(tx, orderID)
		if err != nil {
			return err
		}
		want := make(map[string]int64, len(lines))
		skus := make([]string, len(lines))
		for i, l := range lines { // by SKU, as every reservation locks them
			want[l.SKU], skus[i] = l.Quantity, l.SKU
		}
		if err := reserveAll(tx, orderID, skus, want); err != nil {
			return err // short still: the rollback undoes the lines before
		}
		if err := dropBackorders(tx, orderID); err != nil {
			return err
		}
		if err := markOrder(tx, orderID, StatusReserved); err != nil {
			return err
		}
		_, err = bus.Publish(ctx, tx, stockReserved(orderID, skus, want, true))
		return err
	})
	switch {
	case err == nil:
		s.wake()
		return true, nil
	case errors.Is(err, errNotWaiting), errors.Is(err, ErrOutOfStock):
		return false, nil
	}
	return false, fmt.Errorf("inventory: reserve waiting order %s: %w", orderID, err)
}

// errNotWaiting ends the transaction of an order that is not backordered.
var errNotWaiting = errors.New("inventory: the order is not waiting")

// reserveWaitingFor reserves the orders waiting for sku, oldest first, each
// in its own transaction, until the SKU runs out. An order that still
// lacks another SKU stays waiting, and the next one is tried. It returns
// the orders it reserved.
func (s *Service) reserveWaitingFor(ctx context.Context, sku string) ([]string, error) {
	var done []string
	var after orderRow
	for {
		var page []orderRow
		q := s.db.WithContext(ctx).Model(&orderRow{}).
			Joins("JOIN inventory_backorders b ON b.order_id = inventory_orders.order_id AND b.sku = ?", sku).
			Where("inventory_orders.status = ?", StatusBackordered)
		if after.OrderID != "" {
			q = q.Where("(inventory_orders.placed_at > ? OR (inventory_orders.placed_at = ? AND inventory_orders.order_id > ?))",
				after.PlacedAt, after.PlacedAt, after.OrderID)
		}
		err := q.Select("inventory_orders.order_id", "inventory_orders.placed_at").
			Order("inventory_orders.placed_at, inventory_orders.order_id").Limit(waitingPage).Find(&page).Error
		if err != nil {
			return done, err
		}
		for _, o := range page {
			st, err := getStock(s.db.WithContext(ctx), sku)
			if err != nil || st.Available <= 0 {
				return done, ignoreNotFound(err) // nothing left for the rest
			}
			ok, err := s.reserveWaiting(ctx, o.OrderID)
			if err != nil {
				return done, err
			}
			if ok {
				done = append(done, o.OrderID)
			}
		}
		if len(page) < waitingPage {
			return done, nil
		}
		after = page[len(page)-1]
	}
}

func ignoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// ReserveWaiting reserves, oldest first, the backordered orders whose every
// line stock now holds, each in its own transaction, and returns them. Run
// calls it; it is safe on several instances at once.
func (s *Service) ReserveWaiting(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.db.WithContext(ctx).Raw(`SELECT o.order_id FROM inventory_orders o
		WHERE o.status = ? AND NOT EXISTS (
			SELECT 1 FROM inventory_backorders b LEFT JOIN inventory_stock s ON s.sku = b.sku
			WHERE b.order_id = o.order_id AND (s.sku IS NULL OR s.on_hand - s.reserved < b.quantity))
		ORDER BY o.placed_at, o.order_id LIMIT ?`, StatusBackordered, waitingPage).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("inventory: waiting orders: %w", err)
	}
	var done []string
	for _, id := range ids {
		ok, err := s.reserveWaiting(ctx, id)
		if err != nil {
			return done, err
		}
		if ok {
			done = append(done, id)
		}
	}
	return done, nil
}

// Run sweeps for backordered orders that stock now fits (ReserveWaiting)
// every sweepEvery, and at once after a delivery gave stock back, until
// ctx ends. A failed sweep is logged and tried again at the next.
func (s *Service) Run(ctx context.Context, log *slog.Logger) error {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kick:
		}
		done, err := s.ReserveWaiting(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("inventory: reserve waiting orders", "err", err)
		}
		if len(done) > 0 {
			log.Info("inventory: stock reserved for waiting orders", "orders", done)
		}
	}
}

// afterCommit kicks the sweeper after a delivery that released stock or
// backordered an order has committed.
func (s *Service) afterCommit() {
	if s.released.CompareAndSwap(true, false) {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}
