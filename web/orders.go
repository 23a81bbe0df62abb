package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/modules/inventory"
	"github.com/shopbus/shopbus/modules/payment"
	"github.com/shopbus/shopbus/modules/shipping"
)

// Shipments reads what shipping recorded of orders and prices parcels
// (shipping.Service).
type Shipments interface {
	Get(ctx context.Context, orderID string) (shipping.Shipment, error)
	Quote(country string, items int64) (int64, error)
}

// Payments reads what payment recorded of orders, and keeps the Stripe
// events the shop received (payment.Service).
type Payments interface {
	Get(ctx context.Context, orderID string) (payment.Payment, error)
	StripeEvent(ctx context.Context, id string) (payment.StripeEvent, error)
	StripeEvents(ctx context.Context, orderID string) ([]payment.StripeEvent, error)
	RecordStripeEvent(ctx context.Context, e payment.StripeEvent) error
	OrderFor(ctx context.Context, reference string) (string, error)
}

// orderStock reads what inventory recorded of an order (inventory.Service).
type orderStock interface {
	OrderStock(ctx context.Context, orderID string) (inventory.OrderStock, error)
}

func (s *Server) createOrder(c echo.Context) error {
	if err := s.refuseWhileBehind(c); err != nil {
		return err
	}
	in, err := input[checkout.NewOrder](c)
	if err != nil {
		return err
	}
	annotate(c, "order_id", in.OrderID)
	acc, err := s.Checkout.Place(c.Request().Context(), *in)
	if err != nil {
		return err
	}
	annotate(c, "event_id", acc.EventID)
	c.Response().Header().Set(echo.HeaderLocation, "/v1/orders/"+acc.OrderID)
	return c.JSON(http.StatusCreated, acc)
}

func (s *Server) changeState(c echo.Context) error {
	in, err := input[checkout.Change](c)
	if err != nil {
		return err
	}
	annotate(c, "order_id", c.Param("id"))
	acc, err := s.Checkout.Apply(c.Request().Context(), c.Param("id"), *in)
	if err != nil {
		return err
	}
	annotate(c, "event_id", acc.EventID)
	return c.JSON(http.StatusOK, acc)
}

// orderView is an order with its journey (where its events went and what
// was mailed) and what the modules recorded of it: stock and shipment are
// null until their module has a record, and the payment gains the payment
// module's status and amounts once it has one.
type orderView struct {
	checkout.Order
	Stock      *stockView           `json:"stock"`
	Shipment   *shipmentView        `json:"shipment"`
	Payment    paymentView          `json:"payment"`
	Deliveries []bus.DeliveryStatus `json:"deliveries"`
	Emails     []email.Job          `json:"emails"`
	// StripeEvents are the Stripe events about the order, oldest first,
	// each with what came of it.
	StripeEvents []payment.StripeEvent `json:"stripe_events"`
}

// stockView is what inventory did with the order's items.
type stockView struct {
	// Status is reserved, backordered, released or settled.
	Status string `json:"status"`
	// Missing is what a backordered order lacks now, or what a settled
	// one's shipment took that the shelf did not hold.
	Missing []inventory.Line `json:"missing"`
}

// shipmentView is the order's parcel as shipping recorded it.
type shipmentView struct {
	// Status is created, shipped, delivered or cancelled.
	Status string `json:"status"`
	// RateMinor is the rate table's price; ChargedMinor what the order
	// charged, and DifferenceMinor the charge less the rate (below 0, the
	// shop pays the rest). Both are absent for shipments recorded before
	// the charge was kept.
	RateMinor       int64      `json:"rate_minor"`
	ChargedMinor    *int64     `json:"charged_minor,omitempty"`
	DifferenceMinor *int64     `json:"difference_minor,omitempty"`
	Currency        string     `json:"currency"`
	Carrier         string     `json:"carrier"`
	TrackingNumber  string     `json:"tracking_number"`
	TrackingURL     string     `json:"tracking_url"`
	ShippedAt       *time.Time `json:"shipped_at,omitempty"`
	DeliveredAt     *time.Time `json:"delivered_at,omitempty"`
}

// paymentView is the order's payment as the storefront sent it (method,
// reference, amount_minor) with what the payment module recorded of the
// money: its status (absent until it has a record) and what was
// authorised, captured and refunded.
type paymentView struct {
	checkout.Payment
	// Status is authorized, captured, voided or refunded.
	Status          string `json:"status,omitempty"`
	AuthorizedMinor int64  `json:"authorized_minor"`
	CapturedMinor   int64  `json:"captured_minor"`
	RefundedMinor   int64  `json:"refunded_minor"`
}

func (s *Server) getOrder(c echo.Context) error {
	ctx := c.Request().Context()
	o, err := s.Checkout.Get(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	v := orderView{Order: o, Payment: paymentView{Payment: o.Payment, RefundedMinor: o.Payment.RefundedMinor},
		StripeEvents: []payment.StripeEvent{}}
	if v.Deliveries, err = s.Bus.Deliveries(ctx, o.OrderID); err != nil {
		return err
	}
	if v.Emails, err = s.Email.ForOrder(ctx, o.OrderID); err != nil {
		return err
	}
	if err := s.addRecords(ctx, &v); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// addRecords adds what inventory, shipping and payment recorded of the
// order, through the interfaces the server was given.
func (s *Server) addRecords(ctx context.Context, v *orderView) error {
	id := v.OrderID
	if s.Inventory != nil {
		var stock orderStock = s.Inventory
		st, err := stock.OrderStock(ctx, id)
		if err := absent(err); err != nil {
			return err
		}
		if err == nil {
			v.Stock = &stockView{Status: st.Status, Missing: st.Missing}
		}
	}
	if s.Shipments != nil {
		sh, err := s.Shipments.Get(ctx, id)
		if err := absent(err); err != nil {
			return err
		}
		if err == nil {
			v.Shipment = &shipmentView{Status: sh.Status, RateMinor: sh.RateMinor, ChargedMinor: sh.ChargedMinor,
				Currency: sh.Currency, Carrier: sh.Carrier, TrackingNumber: sh.TrackingNumber, TrackingURL: sh.TrackingURL,
				ShippedAt: sh.ShippedAt, DeliveredAt: sh.DeliveredAt}
			if d, ok := sh.DifferenceMinor(); ok {
				v.Shipment.DifferenceMinor = &d
			}
		}
	}
	if s.Payments != nil {
		p, err := s.Payments.Get(ctx, id)
		if err := absent(err); err != nil {
			return err
		}
		if err == nil {
			v.Payment.Status, v.Payment.AuthorizedMinor = p.Status, p.AmountMinor
			v.Payment.CapturedMinor, v.Payment.RefundedMinor = p.CapturedMinor, p.RefundedMinor
		}
		if v.StripeEvents, err = s.Payments.StripeEvents(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// absent drops a not-found error: a module without a record yet is not a
// failure of the view.
func absent(err error) error {
	if fault.CodeOf(err) == fault.NotFound {
		return nil
	}
	return err
}

func (s *Server) listOrders(c echo.Context) error {
	limit := 50
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return invalidField("limit", "must be a whole number from 1 to 500")
		}
		limit = n
	}
	page, err := s.Checkout.List(c.Request().Context(), limit, c.QueryParam("after"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

// quote is the answer of GET /v1/shipping/quote.
type quote struct {
	Country   string `json:"country"`
	Items     int64  `json:"items"`
	RateMinor int64  `json:"rate_minor"`
}

// shippingQuote prices a parcel from the rate table, as shipping will
// when the order comes: what the storefront should charge as its
// shipping_minor.
func (s *Server) shippingQuote(c echo.Context) error {
	country := c.QueryParam("country")
	if len(country) != 2 || country[0] < 'A' || country[0] > 'Z' || country[1] < 'A' || country[1] > 'Z' {
		return invalidField("country", "must be an ISO 3166-1 two-letter country code in capitals, such as FR")
	}
	items, err := strconv.ParseInt(c.QueryParam("items"), 10, 64)
	if err != nil || items < 1 || items > checkout.MaxItems*checkout.MaxQuantity {
		return invalidField("items", "must be a whole number from 1 to "+strconv.Itoa(checkout.MaxItems*checkout.MaxQuantity))
	}
	if s.Shipments == nil {
		return errors.New("web: the shipping quote has no shipping module")
	}
	rate, err := s.Shipments.Quote(country, items)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, quote{Country: country, Items: items, RateMinor: rate})
}
