package event

import "time"

// Order states, as they appear in an Order State Change's order_state.
const (
	NewOrderCreated = "new_order_created"
	OrderPaid       = "order_paid"
	OrderShipped    = "order_shipped"
	OrderDelivered  = "order_delivered"
	OrderCancelled  = "order_cancelled"
	OrderRefunded   = "order_refunded"
)

// OrderStates lists every order state, in the order an order lives them.
func OrderStates() []string {
	return []string{NewOrderCreated, OrderPaid, OrderShipped, OrderDelivered, OrderCancelled, OrderRefunded}
}

// OrderStateChange is the detail of an "Order State Change" event: the whole
// order as it is after the change, so rules can filter on any of its fields.
// Amounts are minor units (cents).
type OrderStateChange struct {
	OrderID         string   `json:"order_id"`
	Customer        Customer `json:"customer"`
	Items           []Item   `json:"items"`
	Currency        string   `json:"currency"`
	ShippingAddress Address  `json:"shipping_address"`
	ShippingMinor   int64    `json:"shipping_minor,omitempty"`
	TaxMinor        int64    `json:"tax_minor,omitempty"`
	DiscountMinor   int64    `json:"discount_minor,omitempty"`
	Payment         Payment  `json:"payment"`
	OrderState      string   `json:"order_state"`
	ItemCount       int64    `json:"item_count"`
	// SubtotalMinor is the items alone; TotalMinor is what the customer
	// pays: the subtotal plus shipping and tax, less the discount.
	SubtotalMinor int64     `json:"subtotal_minor"`
	TotalMinor    int64     `json:"total_minor"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// Shipment is how the order travels, from the change that shipped it
	// on; nil before.
	Shipment *Shipment `json:"shipment,omitempty"`
	// RefundMinor is what this event's refund gave back: set on a partial
	// refund (Order Partially Refunded) and on the refund that moved the
	// order to order_refunded, absent from every other event, so rules
	// filter refunds on it. Payment.RefundedMinor sums every refund.
	RefundMinor int64 `json:"refund_minor,omitempty"`
	// PreviousState is empty for a new order; a partial refund, which
	// changes no state, repeats the state.
	PreviousState string `json:"previous_state,omitempty"`
}

// EventSource names checkout, the owner of orders, as the event's source.
func (OrderStateChange) EventSource() string { return SourceCheckout }

// EventDetailType is the event's detail-type.
func (OrderStateChange) EventDetailType() string { return TypeOrderStateChange }

// OrderPartiallyRefunded is the detail of an "Order Partially Refunded"
// event: the whole order after a refund that left part of it paid, in
// the shape of an Order State Change whose order_state did not change.
type OrderPartiallyRefunded OrderStateChange

// EventSource names checkout as the event's source.
func (OrderPartiallyRefunded) EventSource() string { return SourceCheckout }

// EventDetailType is the event's detail-type.
func (OrderPartiallyRefunded) EventDetailType() string { return TypeOrderPartiallyRefunded }

// Customer is who ordered. Locale, a BCP 47 language tag such as de-DE,
// is the language the customer reads the shop's emails in; empty, the
// shop's own.
type Customer struct {
	Email  string `json:"email"`
	Name   string `json:"name"`
	Locale string `json:"locale,omitempty"`
}

// Item is one order line.
type Item struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int64  `json:"quantity"`
	UnitPriceMinor int64  `json:"unit_price_minor"`
}

// Address is where the order ships.
type Address struct {
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Payment is how the customer pays, as the storefront reports it, and how
// much of it was given back.
type Payment struct {
	Method      string `json:"method"`
	Reference   string `json:"reference"`
	AmountMinor int64  `json:"amount_minor"`
	// RefundedMinor is every refund of the order so far, summed: 0 until
	// one is made, and never set by the storefront when it places the order.
	RefundedMinor int64 `json:"refunded_minor,omitempty"`
}

// Shipment is what the shop said of a parcel when it shipped the order.
// Every field is optional.
type Shipment struct {
	Carrier        string `json:"carrier,omitempty"`
	TrackingNumber string `json:"tracking_number,omitempty"`
	TrackingURL    string `json:"tracking_url,omitempty"`
}
