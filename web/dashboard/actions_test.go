package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/modules/inventory"
)

// move posts an order page's action form, with the page's own token.
func (b *browser) move(id, state string, fields url.Values) page {
	b.t.Helper()
	f := url.Values{"csrf": {b.csrf("/dashboard/orders/" + id)}, "order_state": {state}}
	for k, v := range fields {
		f[k] = v
	}
	return b.post("/dashboard/orders/"+id+"/state", f)
}

// TestOrderActions walks an order through the owner's buttons: each goes
// through checkout's state machine, and the page offers only the moves it
// allows.
func TestOrderActions(t *testing.T) {
	s := newShop(t)
	s.place("ord-1", "ada@example.com")
	b := s.loggedIn()
	ctx := context.Background()

	p := b.get("/dashboard/orders/ord-1")
	for _, want := range []string{`id="act-paid"`, `id="act-ship"`, `id="act-cancel"`, `name="tracking_url"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("a new order's page lacks %s", want)
		}
	}
	if strings.Contains(p.body, `id="act-refund"`) || strings.Contains(p.body, `id="act-delivered"`) {
		t.Error("a new order's page offers a refund or a delivery")
	}

	steps := []struct {
		state  string
		fields url.Values
	}{
		{event.OrderPaid, nil},
		{event.OrderShipped, url.Values{"carrier": {"DHL"}, "tracking_number": {" JD0142 "}, "tracking_url": {"https://track.example/JD0142"}}},
		{event.OrderDelivered, nil},
	}
	for _, st := range steps {
		p := b.move("ord-1", st.state, st.fields)
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/orders/ord-1?moved="+st.state {
			t.Fatalf("%s: %d to %q: %s", st.state, p.status, p.header.Get("Location"), p.body)
		}
		o, err := s.checkout.Get(ctx, "ord-1")
		if err != nil || o.State != st.state {
			t.Fatalf("after %s the order is %s (%v)", st.state, o.State, err)
		}
	}
	// A refund of part keeps the order delivered, and says so.
	p = b.move("ord-1", event.OrderRefunded, url.Values{"refund_amount": {"5.50"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/orders/ord-1?refunded=partly" {
		t.Fatalf("a partial refund: %d to %q: %s", p.status, p.header.Get("Location"), p.body)
	}
	o, _ := s.checkout.Get(ctx, "ord-1")
	if o.State != event.OrderDelivered || o.Shipment == nil || o.Shipment.Carrier != "DHL" || o.Shipment.TrackingNumber != "JD0142" ||
		o.RefundMinor != 550 || o.Payment.RefundedMinor != 550 {
		t.Errorf("the order's facts: %s, shipment %+v, refund %d; want delivered, DHL JD0142 and 550", o.State, o.Shipment, o.RefundMinor)
	}
	p = b.get("/dashboard/orders/ord-1?refunded=partly")
	if !strings.Contains(p.body, `id="refunded" data-refunded="550"`) || !strings.Contains(p.body, "5.50 EUR refunded so far") || !strings.Contains(p.body, "keeps its state, order delivered, until the rest is refunded") ||
		!strings.Contains(p.body, `id="act-refund"`) {
		t.Errorf("the page after a partial refund:\n%s", p.body)
	}
	// The rest, the amount left to refund by default, refunds the order.
	if p := b.move("ord-1", event.OrderRefunded, nil); p.header.Get("Location") != "/dashboard/orders/ord-1?moved=order_refunded" {
		t.Fatalf("the rest refunded: %d to %q", p.status, p.header.Get("Location"))
	}
	if o, _ := s.checkout.Get(ctx, "ord-1"); o.State != event.OrderRefunded || o.Payment.RefundedMinor != o.TotalMinor {
		t.Errorf("after the rest: %s, refunded %d of %d", o.State, o.Payment.RefundedMinor, o.TotalMinor)
	}
	p = b.get("/dashboard/orders/ord-1?moved=order_refunded")
	if !strings.Contains(p.body, `id="moved"`) || !strings.Contains(p.body, "nothing more can happen to it") || strings.Contains(p.body, `class="action"`) {
		t.Errorf("a refunded order's page:\n%s", p.body)
	}

	// A move the state machine refuses shows the page again, saying why.
	p = b.move("ord-1", event.OrderPaid, nil)
	if p.status != http.StatusConflict || !strings.Contains(p.body, `id="problem"`) || !strings.Contains(p.body, "cannot go from order_refunded to order_paid") {
		t.Errorf("a refused move: %d\n%s", p.status, p.body)
	}
}

func TestOrderActionRefusals(t *testing.T) {
	s := newShop(t)
	s.place("ord-1", "ada@example.com")
	b := s.loggedIn()
	if p := b.move("ord-1", event.OrderPaid, nil); p.status != http.StatusSeeOther {
		t.Fatalf("pay: %d %s", p.status, p.body)
	}
	for _, tc := range []struct {
		name   string
		state  string
		fields url.Values
		status int
		want   string
	}{
		{"an amount that is not one", event.OrderRefunded, url.Values{"refund_amount": {"five"}}, http.StatusUnprocessableEntity, "is not an amount of EUR: write it like 19.00"},
		{"more than was paid", event.OrderRefunded, url.Values{"refund_amount": {"19.01"}}, http.StatusConflict, "refund exceeds what was paid"},
		{"a tracking link that is no web address", event.OrderShipped, url.Values{"tracking_url": {"javascript:alert(1)"}}, http.StatusUnprocessableEntity, "shipment.tracking_url must be an http or https address"},
		{"a state that does not exist", "order_lost", nil, http.StatusUnprocessableEntity, "order_state must be one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.move("ord-1", tc.state, tc.fields)
			if p.status != tc.status || !strings.Contains(p.body, tc.want) {
				t.Errorf("%d, want %d with %q:\n%s", p.status, tc.status, tc.want, p.body)
			}
			if o, _ := s.checkout.Get(context.Background(), "ord-1"); o.State != event.OrderPaid {
				t.Errorf("a refused action moved the order to %s", o.State)
			}
		})
	}
	if p := b.post("/dashboard/orders/ord-none/state", url.Values{"csrf": {b.csrf("/dashboard/orders")}, "order_state": {"order_paid"}}); p.status != http.StatusNotFound {
		t.Errorf("an unknown order: %d", p.status)
	}
}

// TestActionsNeedSessionAndToken: without a session the forms lead to the
// login page, without the session's token they are refused; either way
// nothing moves.
func TestActionsNeedSessionAndToken(t *testing.T) {
	s := newShop(t)
	s.place("ord-1", "ada@example.com")
	forms := map[string]url.Values{
		"/dashboard/orders/ord-1/state": {"order_state": {"order_cancelled"}},
		"/dashboard/inventory":          {"sku": {"MUG-1"}, "on_hand": {"9"}},
	}
	anon, b := s.browser(), s.loggedIn()
	for path, form := range forms {
		if p := anon.post(path, form); !toLogin(p) {
			t.Errorf("POST %s without a session: %d %q", path, p.status, p.header.Get("Location"))
		}
		f := url.Values{"csrf": {"forged"}}
		for k, v := range form {
			f[k] = v
		}
		if p := b.post(path, f); p.status != http.StatusForbidden {
			t.Errorf("POST %s with a forged token: %d, want 403", path, p.status)
		}
	}
	if o, _ := s.checkout.Get(context.Background(), "ord-1"); o.State != event.NewOrderCreated {
		t.Errorf("the order moved to %s", o.State)
	}
	if _, err := s.stock.Get(context.Background(), "MUG-1"); err == nil {
		t.Error("stock was set")
	}
}

// TestSetStockReservesWaitingOrders: setting stock on the inventory page
// is inventory's Set: orders that waited are reserved, and both pages say
// so.
func TestSetStockReservesWaitingOrders(t *testing.T) {
	s := newShop(t)
	s.place("ord-1", "ada@example.com") // MUG-1 x2, no stock: backordered
	b := s.loggedIn()
	if p := b.get("/dashboard/orders"); !strings.Contains(p.body, "stock-backordered") {
		t.Errorf("the order list does not mark the backordered order:\n%s", p.body)
	}
	if p := b.get("/dashboard/orders/ord-1"); !strings.Contains(p.body, "waits for: <span class=\"missing\">2 × MUG-1</span>") {
		t.Errorf("the order page does not say what it waits for:\n%s", p.body)
	}
	csrf := b.csrf("/dashboard/inventory")
	p := b.post("/dashboard/inventory", url.Values{"csrf": {csrf}, "sku": {"MUG-1"}, "on_hand": {"3"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/inventory?set=MUG-1" {
		t.Fatalf("set: %d to %q: %s", p.status, p.header.Get("Location"), p.body)
	}
	bustest.WaitFor(t, "ord-1 reserved", func() bool {
		st, err := s.stock.OrderStock(context.Background(), "ord-1")
		return err == nil && st.Status == inventory.StatusReserved
	})
	if p := b.get("/dashboard/inventory?set=MUG-1"); !strings.Contains(p.body, "MUG-1: on hand 3, 2 reserved, 1 available.") {
		t.Errorf("the inventory page after the set:\n%s", p.body)
	}
	if p := b.get("/dashboard/orders"); strings.Contains(p.body, "stock-backordered") {
		t.Error("the order list still marks the order backordered")
	}

	for _, tc := range []struct {
		name, sku, onHand string
		status            int
		want              string
	}{
		{"a count that is no number", "MUG-1", "lots", http.StatusUnprocessableEntity, "is a whole number, 0 or more"},
		{"below what is reserved", "MUG-1", "1", http.StatusConflict, "has 2 reserved for open orders"},
		{"a SKU with a control character", "MUG\x01", "1", http.StatusUnprocessableEntity, "printable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.post("/dashboard/inventory", url.Values{"csrf": {csrf}, "sku": {tc.sku}, "on_hand": {tc.onHand}})
			if p.status != tc.status || !strings.Contains(p.body, tc.want) || !strings.Contains(p.body, `id="problem"`) {
				t.Errorf("%d, want %d with %q:\n%s", p.status, tc.status, tc.want, p.body)
			}
		})
	}
	if st, _ := s.stock.Get(context.Background(), "MUG-1"); st.OnHand != 3 {
		t.Errorf("a refused set changed the stock: %+v", st)
	}
}
