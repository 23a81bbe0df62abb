package crm

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/modules/email"
)

// orderEvent is what CRM receives: the default rule keeps the customer,
// items, address and totals, and no payment data.
type orderEvent struct {
	Detail orderDetail `json:"detail"`
}

type orderDetail struct {
	OrderID         string        `json:"order_id"`
	OrderState      string        `json:"order_state"`
	Customer        customer      `json:"customer"`
	Items           []email.Line  `json:"items"`
	Currency        string        `json:"currency"`
	SubtotalMinor   int64         `json:"subtotal_minor"`
	ShippingMinor   int64         `json:"shipping_minor"`
	TaxMinor        int64         `json:"tax_minor"`
	DiscountMinor   int64         `json:"discount_minor"`
	TotalMinor      int64         `json:"total_minor"`
	ShippingAddress email.Address `json:"shipping_address"`
}

type customer struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

func (s *Service) handle(ctx context.Context, d bus.Delivery[orderEvent]) error {
	ev := d.Payload.Detail
	if ev.OrderState != "new_order_created" {
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
		mailer: s.mailer,
		mail: &email.Message{OrderID: ev.OrderID, Template: "order_success", To: ev.Customer.Email, Data: email.OrderSuccess{
			OrderID: ev.OrderID, CustomerName: ev.Customer.Name, CustomerEmail: ev.Customer.Email, Currency: ev.Currency,
			Items: ev.Items, SubtotalMinor: ev.SubtotalMinor, ShippingMinor: ev.ShippingMinor, TaxMinor: ev.TaxMinor,
			DiscountMinor: ev.DiscountMinor, TotalMinor: ev.TotalMinor, ShippingAddress: ev.ShippingAddress,
		}},
	}
	return tx.Create(o).Error
}
