package crm

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/modules/email"
)

// orderEvent is what CRM receives: the shipped new-order-crm rule keeps the
// customer, items, address and totals, and no payment data. CRM declares
// every type it reads, so neither the producer nor email can change it.
type orderEvent struct {
	Detail orderDetail `json:"detail"`
}

type orderDetail struct {
	OrderID         string   `json:"order_id"`
	OrderState      string   `json:"order_state"`
	Customer        customer `json:"customer"`
	Items           []item   `json:"items"`
	Currency        string   `json:"currency"`
	SubtotalMinor   int64    `json:"subtotal_minor"`
	ShippingMinor   int64    `json:"shipping_minor"`
	TaxMinor        int64    `json:"tax_minor"`
	DiscountMinor   int64    `json:"discount_minor"`
	TotalMinor      int64    `json:"total_minor"`
	ShippingAddress address  `json:"shipping_address"`
}

type customer struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

// item is one order line, as CRM reads it and records it in crm_orders.
type item struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int64  `json:"quantity"`
	UnitPriceMinor int64  `json:"unit_price_minor"`
}

// address is where the order ships, as CRM reads it and records it.
type address struct {
	Line1      string `json:"line1"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// successEmail is the data CRM hands email for the "order_success"
// template. The contract with email is its JSON, which email decodes into
// the template's own data type when it sends, as a bus consumer decodes a
// payload: TestEmailDataFitsTheTemplate pins it.
type successEmail struct {
	OrderID         string  `json:"order_id"`
	CustomerName    string  `json:"customer_name"`
	CustomerEmail   string  `json:"customer_email"`
	Currency        string  `json:"currency"`
	Items           []item  `json:"items"`
	SubtotalMinor   int64   `json:"subtotal_minor"`
	ShippingMinor   int64   `json:"shipping_minor,omitempty"`
	TaxMinor        int64   `json:"tax_minor,omitempty"`
	DiscountMinor   int64   `json:"discount_minor,omitempty"`
	TotalMinor      int64   `json:"total_minor"`
	ShippingAddress address `json:"shipping_address"`
}

func (s *Service) handle(ctx context.Context, d bus.Delivery[orderEvent]) error {
	ev := d.Payload.Detail
	if ev.OrderState != event.NewOrderCreated {
		return nil
	}
	// A record that exists means this order was recorded (and mailed) before.
	var n int64
	if err := d.Tx.Model(&Order{}).Where("order_id = ?", ev.OrderID).Count(&n).Error; err != nil || n > 0 {
		return err
	}
	return s.record(d.Tx, ev)
}

// record stores the customer and the order; the order's AfterCreate hook
// queues the order-success email.
func (s *Service) record(tx *gorm.DB, ev orderDetail) error {
	customerID, err := upsertCustomer(tx, ev.Customer.Email, ev.Customer.Name)
	if err != nil {
		return err
	}
	o := &Order{
		OrderID: ev.OrderID, CustomerID: customerID, Currency: ev.Currency, TotalMinor: ev.TotalMinor,
		Items: mustJSON(ev.Items), ShippingAddress: mustJSON(ev.ShippingAddress), CreatedAt: time.Now().UTC(),
	}
	mail := email.Message{OrderID: ev.OrderID, Template: "order_success", To: ev.Customer.Email, Data: successEmail{
		OrderID: ev.OrderID, CustomerName: ev.Customer.Name, CustomerEmail: ev.Customer.Email, Currency: ev.Currency,
		Items: ev.Items, SubtotalMinor: ev.SubtotalMinor, ShippingMinor: ev.ShippingMinor, TaxMinor: ev.TaxMinor,
		DiscountMinor: ev.DiscountMinor, TotalMinor: ev.TotalMinor, ShippingAddress: ev.ShippingAddress,
	}}
	return createOrder(tx, o, pendingMail{mailer: s.mailer, msg: mail})
}
