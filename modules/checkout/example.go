package checkout

import (
	"time"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/event"
)

// Examples returns one event of every state, and a partial refund, each
// with every field set, for the bus to check at start-up that each rule's
// targets can read what it sends them.
func Examples() []bus.Detail {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	o := Order{
		NewOrder: NewOrder{
			OrderID:         "ord-example",
			Customer:        Customer{Email: "jane@example.com", Name: "Jane Doe", Locale: "en-GB"},
			Items:           []Item{{SKU: "SKU-1", Name: "Mug", Quantity: 2, UnitPriceMinor: 950}},
			Currency:        "EUR",
			ShippingAddress: Address{Line1: "12 Rue de Rivoli", City: "Paris", PostalCode: "75001", Country: "FR"},
			ShippingMinor:   490,
			TaxMinor:        380,
			DiscountMinor:   190,
			Payment:         Payment{Method: "card", Reference: "ch_1", AmountMinor: 2580},
		},
		ItemCount: 2, SubtotalMinor: 1900, TotalMinor: 2580, CreatedAt: at, UpdatedAt: at,
	}
	var out []bus.Detail
	for _, s := range event.OrderStates() {
		o.State = s
		ex := o
		// The facts a change brings travel from it on: the parcel from the
		// shipment, the money back from the refund.
		switch s {
		case event.OrderShipped, event.OrderDelivered, event.OrderRefunded:
			ex.Shipment = &Shipment{Carrier: "DHL", TrackingNumber: "JD0146", TrackingURL: "https://carrier.example/track/JD0146"}
		}
		if s == event.OrderRefunded {
			ex.RefundMinor, ex.Payment.RefundedMinor = 2580, 2580
		}
		out = append(out, ex.stateChange(event.NewOrderCreated))
	}
	o.State, o.RefundMinor, o.Payment.RefundedMinor = event.OrderDelivered, 500, 500
	return append(out, event.OrderPartiallyRefunded(o.stateChange(event.OrderDelivered)))
}
