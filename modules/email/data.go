package email

import (
	"encoding/json"
	"fmt"
	"time"
)

// OrderSuccess is the data of the "order_success" email. Its JSON names
// follow the order event's detail (snake_case), except that the customer's
// name and email are flat fields here rather than a nested "customer".
type OrderSuccess struct {
	OrderID         string  `json:"order_id"`
	CustomerName    string  `json:"customer_name"`
	CustomerEmail   string  `json:"customer_email"`
	Currency        string  `json:"currency"`
	Items           []Line  `json:"items"`
	SubtotalMinor   int64   `json:"subtotal_minor"`
	ShippingMinor   int64   `json:"shipping_minor,omitempty"`
	TaxMinor        int64   `json:"tax_minor,omitempty"`
	DiscountMinor   int64   `json:"discount_minor,omitempty"`
	TotalMinor      int64   `json:"total_minor"`
	ShippingAddress Address `json:"shipping_address"`
}

// Line is one item of an order.
type Line struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int64  `json:"quantity"`
	UnitPriceMinor int64  `json:"unit_price_minor"`
}

// LineTotalMinor is the line's quantity times its unit price.
func (l Line) LineTotalMinor() int64 { return l.Quantity * l.UnitPriceMinor }

// Address is a shipping address.
type Address struct {
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Shortage is the data of the "inventory_shortage" email to the shop owner.
type Shortage struct {
	OrderID string      `json:"order_id"`
	Items   []ShortItem `json:"items"`
}

// ShortItem is one SKU the order wanted more of than was in stock.
type ShortItem struct {
	SKU       string `json:"sku"`
	Requested int64  `json:"requested"`
	Available int64  `json:"available"`
}

// StockNotice is the data of the customer's "order_backordered" email
// (Items: the lines stock lacks) and "order_in_stock" email (no items:
// everything arrived).
type StockNotice struct {
	OrderID      string `json:"order_id"`
	CustomerName string `json:"customer_name"`
	Items        []Line `json:"items,omitempty"`
}

// Order is the data of the emails a rule sends about an order's state
// (order_shipped, order_delivered, order_cancelled, order_refunded) and of
// the owner's owner_new_order: the order as its event's detail carries it,
// after the change. Only what an email may show is kept: no payment
// reference.
type Order struct {
	OrderID         string    `json:"order_id"`
	OrderState      string    `json:"order_state"`
	PreviousState   string    `json:"previous_state,omitempty"`
	Customer        Customer  `json:"customer"`
	Items           []Line    `json:"items"`
	ItemCount       int64     `json:"item_count"`
	Currency        string    `json:"currency"`
	ShippingAddress Address   `json:"shipping_address"`
	SubtotalMinor   int64     `json:"subtotal_minor"`
	ShippingMinor   int64     `json:"shipping_minor,omitempty"`
	TaxMinor        int64     `json:"tax_minor,omitempty"`
	DiscountMinor   int64     `json:"discount_minor,omitempty"`
	TotalMinor      int64     `json:"total_minor"`
	Payment         Payment   `json:"payment"`
	Shipment        *Shipment `json:"shipment,omitempty"`
	// RefundMinor is what the refund that sent this email gave back.
	RefundMinor int64     `json:"refund_minor,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// PaidMinor is what the customer has paid for the order and not had back:
// the total less every refund so far.
func (o Order) PaidMinor() int64 { return o.TotalMinor - o.Payment.RefundedMinor }

// Customer is who ordered.
type Customer struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

// Payment is how the order is paid, and how much of it was given back.
type Payment struct {
	Method        string `json:"method"`
	AmountMinor   int64  `json:"amount_minor"`
	RefundedMinor int64  `json:"refunded_minor,omitempty"`
}

// Shipment is how a shipped order travels; every field may be empty.
type Shipment struct {
	Carrier        string `json:"carrier,omitempty"`
	TrackingNumber string `json:"tracking_number,omitempty"`
	TrackingURL    string `json:"tracking_url,omitempty"`
}

// dataTypes maps a built-in template to the type its job's JSON data
// decodes into. A template added through TemplatesDir gets the JSON as a
// map (numbers as json.Number).
var dataTypes = map[string]func() any{
	"order_success":      func() any { return new(OrderSuccess) },
	"inventory_shortage": func() any { return new(Shortage) },
	"order_backordered":  func() any { return new(StockNotice) },
	"order_in_stock":     func() any { return new(StockNotice) },
	"order_shipped":      func() any { return new(Order) },
	"order_delivered":    func() any { return new(Order) },
	"order_cancelled":    func() any { return new(Order) },
	"order_refunded":     func() any { return new(Order) },
	"owner_new_order":    func() any { return new(Order) },
}

// fromDetail builds template's data from an event's detail, as a rule's
// email target sends it: the detail decoded into the template's type, or,
// where the type flattens the customer (the emails CRM sends), taken from
// the order. A template of the shop's own gets the detail as it is.
func fromDetail(template string, detail json.RawMessage) (any, error) {
	switch template {
	case "order_success":
		var o Order
		if err := json.Unmarshal(detail, &o); err != nil {
			return nil, err
		}
		return OrderSuccess{OrderID: o.OrderID, CustomerName: o.Customer.Name, CustomerEmail: o.Customer.Email,
			Currency: o.Currency, Items: o.Items, SubtotalMinor: o.SubtotalMinor, ShippingMinor: o.ShippingMinor,
			TaxMinor: o.TaxMinor, DiscountMinor: o.DiscountMinor, TotalMinor: o.TotalMinor, ShippingAddress: o.ShippingAddress}, nil
	case "order_backordered", "order_in_stock":
		var o Order
		if err := json.Unmarshal(detail, &o); err != nil {
			return nil, err
		}
		return StockNotice{OrderID: o.OrderID, CustomerName: o.Customer.Name}, nil
	}
	newData, ok := dataTypes[template]
	if !ok {
		return detail, nil
	}
	v := newData()
	if err := json.Unmarshal(detail, v); err != nil {
		return nil, fmt.Errorf("the detail does not suit %s: %w", template, err)
	}
	return v, nil
}
