package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/modules/payment"
)

// pageSize is how many orders a page of the list shows.
const pageSize = 25

type ordersView struct {
	Filter checkout.Filter
	States []string
	Rows   []orderRow
	Total  int64
	// NewestURL and OlderURL page through the list; empty when there is
	// nowhere to go.
	NewestURL, OlderURL string
	// Insert lets the live view add new orders at the top: only on the
	// newest page of the whole list.
	Insert bool
}

// orderRow is one order with its journey at a glance, and its stock
// status (empty until inventory has handled it).
type orderRow struct {
	checkout.Order
	Journey []step
	Emails  []email.Job
	Stock   string
}

func (d *Dashboard) ordersPage(c echo.Context) error {
	ctx := c.Request().Context()
	f := checkout.Filter{Text: c.QueryParam("q"), State: c.QueryParam("state")}
	if f.State != "" && !slices.Contains(event.OrderStates(), f.State) {
		return echo.NewHTTPError(http.StatusBadRequest, "There is no order state "+strconv.Quote(f.State)+".")
	}
	after := c.QueryParam("after")
	since := time.Now() // taken before reading: the live view sends whatever changes after
	page, err := d.Orders.Search(ctx, f, pageSize, after)
	if err != nil {
		return err
	}
	rows, err := d.orderRows(ctx, page.Orders)
	if err != nil {
		return err
	}
	v := ordersView{Filter: f, States: event.OrderStates(), Rows: rows, Total: page.Total, Insert: after == "" && f == (checkout.Filter{})}
	if after != "" {
		v.NewestURL = ordersURL(f, "")
	}
	if page.Next != "" {
		v.OlderURL = ordersURL(f, page.Next)
	}
	s, _ := current(c)
	return d.render(c, http.StatusOK, "orders", view{Title: "Orders", Section: "orders", User: s.KeyName, CSRF: s.CSRF,
		Live: liveURL("", since), Data: v})
}

// ordersURL is the order list filtered by f, starting after an order.
func ordersURL(f checkout.Filter, after string) string {
	q := url.Values{}
	for k, v := range map[string]string{"q": f.Text, "state": f.State, "after": after} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return "/dashboard/orders"
	}
	return "/dashboard/orders?" + q.Encode()
}

// orderRows adds their journeys to orders, in two queries for the lot.
func (d *Dashboard) orderRows(ctx context.Context, orders []checkout.Order) ([]orderRow, error) {
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.OrderID
	}
	deliveries, err := d.Journeys.DeliveriesOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	mails, err := d.Emails.ForOrders(ctx, ids)
	if err != nil {
		return nil, err
	}
	stock, err := d.Stock.Statuses(ctx, ids)
	if err != nil {
		return nil, err
	}
	rows := make([]orderRow, len(orders))
	for i, o := range orders {
		rows[i] = orderRow{Order: o, Journey: journey(deliveries[o.OrderID]), Emails: mails[o.OrderID], Stock: stock[o.OrderID]}
	}
	return rows, nil
}

type orderView struct {
	Order      checkout.Order
	Records    records
	Actions    actions
	Events     []eventView
	Deliveries []deliveryRow
	Emails     []email.Job
	// Redriven is how many deliveries the last redrive sent again, or -1.
	Redriven int64
	// Moved is the state the owner's last action moved the order to;
	// Problem why the last action was refused.
	Moved, Problem string
	// PartlyRefunded says the owner's last action was a refund that left
	// part of the order paid, so the order kept its state.
	PartlyRefunded bool
	// StripeEvents are what Stripe told of the order, and what came of it.
	StripeEvents []payment.StripeEvent
}

type eventView struct {
	bus.Event
	JSON json.RawMessage
}

// deliveryRow is a delivery as its table row shows it, with what its
// redrive form needs.
type deliveryRow struct {
	bus.DeliveryRecord
	CSRF string
	// Back is where a redrive returns to.
	Back string
}

func (d *Dashboard) orderPage(c echo.Context) error {
	moved := c.QueryParam("moved")
	if !slices.Contains(event.OrderStates(), moved) {
		moved = ""
	}
	return d.showOrder(c, http.StatusOK, c.Param("id"), moved, "")
}

// partlyRefunded is the query an order's page is shown with after a refund
// that left part of it paid.
const partlyRefunded = "refunded=partly"

// showOrder renders an order's page: after an action, with the state it
// moved to or why it was refused.
func (d *Dashboard) showOrder(c echo.Context, status int, id, moved, problem string) error {
	ctx := c.Request().Context()
	s, _ := current(c)
	since := time.Now()
	o, err := d.Orders.Get(ctx, id)
	if err != nil {
		return err
	}
	v := orderView{Order: o, Redriven: redriven(c), Moved: moved, Problem: problem, Actions: orderActions(o, s.CSRF),
		PartlyRefunded: c.QueryParam("refunded") == "partly"}
	if d.Payments != nil {
		if v.StripeEvents, err = d.Payments.StripeEvents(ctx, o.OrderID); err != nil {
			return err
		}
	}
	if v.Records, err = d.records(ctx, o); err != nil {
		return err
	}
	events, err := d.Journeys.OrderEvents(ctx, o.OrderID)
	if err != nil {
		return err
	}
	for _, ev := range events {
		raw, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		v.Events = append(v.Events, eventView{Event: ev, JSON: raw})
	}
	ds, err := d.Journeys.OrderDeliveries(ctx, o.OrderID)
	if err != nil {
		return err
	}
	for _, dl := range ds {
		v.Deliveries = append(v.Deliveries, deliveryRow{DeliveryRecord: dl, CSRF: s.CSRF, Back: orderPath(o.OrderID)})
	}
	if v.Emails, err = d.Emails.ForOrder(ctx, o.OrderID); err != nil {
		return err
	}
	return d.render(c, status, "order", view{Title: "Order " + o.OrderID, Section: "orders", User: s.KeyName,
		CSRF: s.CSRF, Live: liveURL(o.OrderID, since), Data: v})
}

func orderPath(id string) string { return "/dashboard/orders/" + url.PathEscape(id) }

// redriven reads the count a redrive passed back in the query, or -1.
func redriven(c echo.Context) int64 {
	n, err := strconv.ParseInt(c.QueryParam("redriven"), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
