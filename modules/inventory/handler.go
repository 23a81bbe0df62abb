package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/event"
)

// orderEvent is the part of an "Order State Change" that inventory reads.
type orderEvent struct {
	Detail struct {
		OrderID    string      `json:"order_id"`
		OrderState string      `json:"order_state"`
		Items      []orderLine `json:"items"`
		CreatedAt  time.Time   `json:"created_at"`
	} `json:"detail"`
}

// orderLine is the part of an order line that inventory reads.
type orderLine struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

func (s *Service) handle(ctx context.Context, d bus.Delivery[orderEvent]) error {
	ev := d.Payload.Detail
	switch ev.OrderState {
	case event.NewOrderCreated:
		return s.place(ctx, d.Tx, ev.OrderID, ev.CreatedAt, ev.Items)
	case event.OrderCancelled:
		return s.cancel(d.Tx, ev.OrderID)
	case event.OrderShipped:
		return ship(d.Tx, ev.OrderID)
	}
	return nil // other states don't move stock
}

// place reserves a new order's items, all or none. An order it cannot
// reserve is recorded as backordered, with its lines, and announced as a
// shortage; the sweeper or the next stock to arrive reserves it.
func (s *Service) place(ctx context.Context, tx *gorm.DB, orderID string, placed time.Time, items []orderLine) error {
	if placed.IsZero() {
		placed = time.Now().UTC()
	}
	// The record first, as reserved: a replayed order finds it there and
	// reserves nothing twice, and no statement is spent looking first.
	if added, err := addOrder(tx, orderID, StatusReserved, placed); err != nil || !added {
		return err
	}
	// One order may list a SKU on several lines: reserve the sum once.
	want := map[string]int64{}
	var skus []string
	for _, it := range items {
		if _, ok := want[it.SKU]; !ok {
			skus = append(skus, it.SKU)
		}
		want[it.SKU] += it.Quantity
	}
	// SKU by SKU in one order, the same for every order: two orders then
	// never each hold a stock row the other waits for (on PostgreSQL, a
	// deadlock that fails one of them).
	slices.Sort(skus)
	err := reserveAll(tx, orderID, skus, want) // all items or none
	switch {
	case err == nil:
		_, err := bus.Publish(ctx, tx, stockReserved(orderID, skus, want, false))
		return err
	case !errors.Is(err, ErrOutOfStock):
		return err
	}
	if err := markOrder(tx, orderID, StatusBackordered); err != nil {
		return err
	}
	for _, sku := range skus {
		if err := tx.Create(&backorderRow{OrderID: orderID, SKU: sku, Quantity: want[sku]}).Error; err != nil {
			return err
		}
	}
	// Stock set while this waited for its commit may fit it already.
	s.released.Store(true)
	return s.reportShortage(ctx, tx, orderID, skus, want)
}

func stockReserved(orderID string, skus []string, want map[string]int64, backordered bool) event.StockReserved {
	ev := event.StockReserved{OrderID: orderID, Items: []event.StockItem{}, Backordered: backordered}
	for _, sku := range skus {
		ev.Items = append(ev.Items, event.StockItem{SKU: sku, Quantity: want[sku]})
	}
	return ev
}

// cancel gives a reserved order's units back, or stops a backordered order
// waiting.
func (s *Service) cancel(tx *gorm.DB, orderID string) error {
	rec, found, err := lockOrder(tx, orderID)
	if err != nil || !found {
		return err
	}
	switch rec.Status {
	case StatusReserved:
		if err := settle(tx, orderID, released); err != nil {
			return err
		}
		s.released.Store(true) // what it gave back may fit a waiting order
	case StatusBackordered:
		if err := dropBackorders(tx, orderID); err != nil {
			return err
		}
	default:
		return nil // released or shipped already
	}
	return markOrder(tx, orderID, StatusReleased)
}

// ship takes a shipped order's units off the shelf, once: a reserved order
// its reservations, a backordered one what the shelf holds of its lines
// (takeShort), recording what it lacked.
func ship(tx *gorm.DB, orderID string) error {
	rec, found, err := lockOrder(tx, orderID)
	if err != nil || !found {
		return err
	}
	switch rec.Status {
	case StatusReserved:
		if err := settle(tx, orderID, committed); err != nil {
			return err
		}
	case StatusBackordered:
		lines, err := backorders(tx, orderID)
		if err != nil {
			return err
		}
		if err := takeShort(tx, orderID, lines); err != nil {
			return err
		}
		if err := dropBackorders(tx, orderID); err != nil {
			return err
		}
	default:
		return nil // cancelled, or shipped already
	}
	return markOrder(tx, orderID, StatusSettled)
}

func (s *Service) reportShortage(ctx context.Context, tx *gorm.DB, orderID string, skus []string, want map[string]int64) error {
	have, err := available(tx, skus)
	if err != nil {
		return fmt.Errorf("shortage for %s: %w", orderID, err)
	}
	sh := event.InventoryShortage{OrderID: orderID}
	for _, sku := range skus {
		if have[sku] < want[sku] {
			sh.Items = append(sh.Items, event.ShortItem{SKU: sku, Requested: want[sku], Available: max(have[sku], 0)})
		}
	}
	_, err = bus.Publish(ctx, tx, sh)
	return err
}
