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
// The stock-news-crm rule sends inventory's events whole: their
// detail-type tells them apart, and their detail's order_id, items (SKUs)
// and backordered are read into the same type.
type orderEvent struct {
	DetailType string      `json:"detail-type"`
	Detail     orderDetail `json:"detail"`
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
	// Backordered is Stock Reserved's: the order had waited for stock.
	Backordered bool `json:"backordered"`
}

type customer struct {
	Email  string `json:"email"`
	Name   string `json:"name"`
	Locale string `json:"locale"`
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
	switch d.Payload.DetailType {
	case event.TypeInventoryShortage:
		return s.stockNews(d.Tx, d.EventID, ev.OrderID, "order_backordered", ev.Items)
	case event.TypeStockReserved:
		if !ev.Backordered {
			return nil // reserved at once: the confirmation said all there is
		}
		return s.stockNews(d.Tx, d.EventID, ev.OrderID, "order_in_stock", nil)
	}
	if ev.OrderState != event.NewOrderCreated {
		return nil
	}
	// An order recorded before (a replay) is neither counted nor recorded
	// nor mailed again: upsertCustomer and createOrder see to it.
	return s.record(d.Tx, d.EventID, ev)
}

// record stores the customer and the order, with the customer's language
// for the order's later emails; the order's AfterCreate hook queues the
// order-success email, in that language.
func (s *Service) record(tx *gorm.DB, eventID string, ev orderDetail) error {
	customerID, err := upsertCustomer(tx, ev.Customer.Email, ev.Customer.Name, ev.OrderID)
	if err != nil {
		return err
	}
	o := &Order{
		OrderID: ev.OrderID, CustomerID: customerID, Currency: ev.Currency, TotalMinor: ev.TotalMinor,
		Items: mustJSON(ev.Items), ShippingAddress: mustJSON(ev.ShippingAddress), Locale: ev.Customer.Locale,
		CreatedAt: time.Now().UTC(),
	}
	mail := email.Message{EventID: eventID, OrderID: ev.OrderID, Template: "order_success", To: ev.Customer.Email,
		Locale: ev.Customer.Locale, Data: successEmail{
			OrderID: ev.OrderID, CustomerName: ev.Customer.Name, CustomerEmail: ev.Customer.Email, Currency: ev.Currency,
			Items: ev.Items, SubtotalMinor: ev.SubtotalMinor, ShippingMinor: ev.ShippingMinor, TaxMinor: ev.TaxMinor,
			DiscountMinor: ev.DiscountMinor, TotalMinor: ev.TotalMinor, ShippingAddress: ev.ShippingAddress,
		}}
	return createOrder(tx, o, pendingMail{mailer: s.mailer, msg: mail})
}

// stockNews tells the customer of a recorded order what inventory found,
// in their language: which items the order waits for
// (order_backordered), or that it waits no more (order_in_stock). An
// order CRM never recorded has nobody to tell. Email keeps one job per
// event, template and recipient, so a replay mails nothing twice.
func (s *Service) stockNews(tx *gorm.DB, eventID, orderID, template string, short []item) error {
	rec, err := recorded(tx, orderID)
	if err != nil || rec == nil {
		return err
	}
	notice := email.StockNotice{OrderID: orderID, CustomerName: rec.name}
	for _, sh := range short {
		line := email.Line{SKU: sh.SKU, Name: sh.SKU}
		for _, it := range rec.items {
			if it.SKU == sh.SKU {
				line.Name, line.Quantity, line.UnitPriceMinor = it.Name, it.Quantity, it.UnitPriceMinor
				break
			}
		}
		notice.Items = append(notice.Items, line)
	}
	return s.mailer.Enqueue(tx, email.Message{EventID: eventID, OrderID: orderID, Template: template, To: rec.email,
		Locale: rec.locale, Data: notice})
}
