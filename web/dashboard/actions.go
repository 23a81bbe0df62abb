package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/inventory"
	"github.com/shopbus/shopbus/modules/payment"
	"github.com/shopbus/shopbus/modules/shipping"
	"github.com/shopbus/shopbus/money"
	"github.com/shopbus/shopbus/web"
)

// records is what the modules recorded of an order, for its page: each is
// nil until its module has handled the order (or when the dashboard was
// given no way to read it).
type records struct {
	Currency string
	Stock    *inventory.OrderStock
	Shipment *shipping.Shipment
	Payment  *payment.Payment
	// Differs says the order charged for shipping other than the rate
	// table's price, by Difference (the charge less the rate).
	Differs    bool
	Difference int64
}

// records reads what inventory, shipping and payment recorded of o.
func (d *Dashboard) records(ctx context.Context, o checkout.Order) (records, error) {
	r := records{Currency: o.Currency}
	if d.Stock != nil {
		st, err := d.Stock.OrderStock(ctx, o.OrderID)
		if err = absent(err); err != nil {
			return r, err
		}
		if st.Status != "" {
			r.Stock = &st
		}
	}
	if d.Shipments != nil {
		sh, err := d.Shipments.Get(ctx, o.OrderID)
		if err = absent(err); err != nil {
			return r, err
		}
		if sh.OrderID != "" {
			r.Shipment = &sh
			diff, ok := sh.DifferenceMinor()
			r.Differs, r.Difference = ok && diff != 0, diff
		}
	}
	if d.Payments != nil {
		p, err := d.Payments.Get(ctx, o.OrderID)
		if err = absent(err); err != nil {
			return r, err
		}
		if p.OrderID != "" {
			r.Payment = &p
		}
	}
	return r, nil
}

// absent drops a not-found error: a module without a record of the order
// yet is no failure of the page.
func absent(err error) error {
	if fault.CodeOf(err) == fault.NotFound {
		return nil
	}
	return err
}

// actions are the owner's buttons on an order's page: one per move the
// state machine allows from the order's state (checkout.Moves).
type actions struct {
	OrderID, State, CSRF string
	Moves                []string
	// Refund is the refund form's amount: what is left of what was paid,
	// in major units.
	Refund, Currency string
}

func orderActions(o checkout.Order, csrf string) actions {
	left := o.TotalMinor - o.Payment.RefundedMinor
	refund := strings.TrimSuffix(money.Format(left, o.Currency), " "+o.Currency)
	return actions{OrderID: o.OrderID, State: o.State, CSRF: csrf, Moves: checkout.Moves(o.State), Refund: refund, Currency: o.Currency}
}

// moveOrder is the owner's action on an order: the form's order_state,
// with the shipment's carrier and tracking or the refund's amount, applied
// through checkout's state machine as POST /v1/orders/{id}/state applies
// it. A refused move shows the order again, saying why.
func (d *Dashboard) moveOrder(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	ch := checkout.Change{State: c.FormValue("order_state")}
	switch ch.State {
	case event.OrderShipped:
		sh := checkout.Shipment{Carrier: strings.TrimSpace(c.FormValue("carrier")),
			TrackingNumber: strings.TrimSpace(c.FormValue("tracking_number")), TrackingURL: strings.TrimSpace(c.FormValue("tracking_url"))}
		if sh != (checkout.Shipment{}) {
			ch.Shipment = &sh
		}
	case event.OrderRefunded:
		if amount := strings.TrimSpace(c.FormValue("refund_amount")); amount != "" {
			o, err := d.Orders.Get(ctx, id)
			if err != nil {
				return err
			}
			minor, err := money.Parse(amount, o.Currency)
			if err != nil {
				return d.showOrder(c, http.StatusUnprocessableEntity, id, "",
					"The refund amount "+amount+" is not an amount of "+o.Currency+": write it like "+orderActions(o, "").Refund+".")
			}
			ch.RefundMinor = &minor
		}
	}
	acc, err := d.Orders.Apply(ctx, id, ch)
	if err != nil {
		if code := fault.CodeOf(err); code == fault.Invalid || code == fault.Conflict {
			return d.showOrder(c, web.StatusOf(err), id, "", refusal(err))
		}
		return err
	}
	if acc.State != ch.State { // a refund of part: the order keeps its state
		return c.Redirect(http.StatusSeeOther, orderPath(id)+"?"+partlyRefunded)
	}
	return c.Redirect(http.StatusSeeOther, orderPath(id)+"?moved="+url.QueryEscape(ch.State))
}

// refusal says why the state machine or the inventory refused an action,
// in the words of the error and of each field it names.
func refusal(err error) string {
	fields := fault.FieldsOf(err)
	if len(fields) == 0 {
		return err.Error()
	}
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Field + " " + f.Message)
	}
	return b.String() + "."
}
