package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/event"
)

// orderEvent is the part of an "Order State Change" that inventory reads.
type orderEvent struct {
	Detail struct {
		OrderID    string `json:"order_id"`
		OrderState string `json:"order_state"`
		Items      []struct {
			SKU      string `json:"sku"`
			Quantity int64  `json:"quantity"`
		} `json:"items"`
	} `json:"detail"`
}

func (s *Service) handle(ctx context.Context, d bus.Delivery[orderEvent]) error {
	ev := d.Payload.Detail
	switch ev.OrderState {
	case event.NewOrderCreated:
		if done, err := hasReservations(d.Tx, ev.OrderID); err != nil || done {
			return err // a replayed order reserves nothing twice
		}
		// One order may list a SKU on several lines: reserve the sum once.
		want := map[string]int64{}
		var skus []string
		for _, it := range ev.Items {
			if _, ok := want[it.SKU]; !ok {
				skus = append(skus, it.SKU)
			}
			want[it.SKU] += it.Quantity
		}
		err := d.Tx.Transaction(func(tx *gorm.DB) error { // a savepoint: all items or none
			// SKU by SKU in one order, the same for every order: two orders
			// then never each hold a stock row the other waits for (on
			// PostgreSQL, a deadlock that fails one of them).
			for _, sku := range slices.Sorted(slices.Values(skus)) {
				if err := reserve(tx, ev.OrderID, sku, want[sku]); err != nil {
					return err
				}
			}
			return nil
		})
		if !errors.Is(err, ErrOutOfStock) {
			return err
		}
		return s.reportShortage(ctx, d.Tx, ev.OrderID, skus, want)
	case event.OrderCancelled:
		return settle(d.Tx, ev.OrderID, released)
	case event.OrderShipped:
		return settle(d.Tx, ev.OrderID, committed)
	}
	return nil // other states don't move stock
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
