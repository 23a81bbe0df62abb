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
		ShippingMinor   int64  `json:"shipping_minor"`
		ShippingAddress struct {
			Country string `json:"country"`
		} `json:"shipping_address"`
		Shipment struct {
			Carrier        string `json:"carrier"`
			TrackingNumber string `json:"tracking_number"`
			TrackingURL    string `json:"tracking_url"`
		} `json:"shipment"`
	} `json:"detail"`
}

func (s *Service) handle(ctx context.Context, d bus.Delivery[orderEvent]) error {
	ev := d.Payload.Detail
	now := time.Now().UTC()
	switch ev.OrderState {
	case event.NewOrderCreated:
		rate, err := s.cfg.price(ev.ShippingAddress.Country, ev.ItemCount)
		if err != nil {
			return bus.Permanent(err) // retrying cannot add a rate; the dead letter shows it
		}
		charged := ev.ShippingMinor
		return create(d.Tx, Shipment{OrderID: ev.OrderID, Country: ev.ShippingAddress.Country, ItemCount: ev.ItemCount,
			RateMinor: rate, ChargedMinor: &charged, Currency: ev.Currency, Status: StatusCreated, CreatedAt: now, UpdatedAt: now})
	case event.OrderShipped:
		return move(d.Tx, ev.OrderID, []string{StatusCreated}, map[string]any{"status": StatusShipped, "shipped_at": now,
			"carrier": ev.Shipment.Carrier, "tracking_number": ev.Shipment.TrackingNumber, "tracking_url": ev.Shipment.TrackingURL})
	case event.OrderDelivered:
		return move(d.Tx, ev.OrderID, []string{StatusCreated, StatusShipped}, map[string]any{"status": StatusDelivered, "delivered_at": now})
	case event.OrderCancelled:
		return move(d.Tx, ev.OrderID, []string{StatusCreated}, map[string]any{"status": StatusCancelled})
	}
	return nil
}
