package shipping

import (
	"context"
	"time"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/event"
)

// orderEvent is the part of an "Order State Change" that shipping reads.
type orderEvent struct {
	Detail struct {
		OrderID         string `json:"order_id"`
		OrderState      string `json:"order_state"`
		Currency        string `json:"currency"`
		ItemCount       int64  `json:"item_count"`
		ShippingAddress struct {
			Country string `json:"country"`
		} `json:"shipping_address"`
	} `json:"detail"`
}

func (s *Service) handle(ctx context.Context, d bus.Delivery[orderEvent]) error {
	ev := d.Payload.Detail
	switch ev.OrderState {
	case event.NewOrderCreated:
		rate, err := s.cfg.price(ev.ShippingAddress.Country, ev.ItemCount)
		if err != nil {
			return bus.Permanent(err) // retrying cannot add a rate; the dead letter shows it
		}
		now := time.Now().UTC()
		return create(d.Tx, Shipment{OrderID: ev.OrderID, Country: ev.ShippingAddress.Country, ItemCount: ev.ItemCount,
			RateMinor: rate, Currency: ev.Currency, Status: StatusCreated, CreatedAt: now, UpdatedAt: now})
	case event.OrderCancelled:
		return cancel(d.Tx, ev.OrderID)
	}
	return nil
}
