package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/web/webtest"
)

var newOrder = webtest.NewOrder

// TestAPIRefusesBadRequests checks that each bad request gets its status
// and a problem+json body, and writes nothing.
func TestAPIRefusesBadRequests(t *testing.T) {
	t.Parallel()
	s := webtest.New(t, webtest.Options{})
	s.Run(t, webtest.Scenario{Name: "an order to refer to", Key: admin, URL: "/v1/orders",
		Body: newOrder("ord-1", "a@example.com", "MUG", 1), Status: http.StatusCreated})

	bad := newOrder("ord-bad", "not-an-email", "MUG", 0)
	bad["currency"] = "euro"
	bad["items"].([]map[string]any)[0]["unit_price_minor"] = -5

	scenarios := []webtest.Scenario{
		{Name: "no key", Method: "POST", URL: "/v1/orders", Body: newOrder("x1", "a@example.com", "MUG", 1), Status: 401},
		{Name: "wrong key", Method: "POST", URL: "/v1/orders", Body: newOrder("x2", "a@example.com", "MUG", 1), Key: "sb_live_wrong", Status: 401},
		{Name: "wrong key on read", Method: "GET", URL: "/v1/orders/ord-1", Key: "nope", Status: 401},
		{Name: "duplicate order id", Method: "POST", URL: "/v1/orders", Body: newOrder("ord-1", "b@example.com", "MUG", 1), Key: admin, Status: 409},
		{Name: "invalid fields", Method: "POST", URL: "/v1/orders", Body: bad, Key: admin, Status: 422,
			Fields: []string{"customer.email", "currency", "items[0].quantity", "items[0].unit_price_minor"}},
		{Name: "empty order", Method: "POST", URL: "/v1/orders", Body: "{}", Key: admin, Status: 422,
			Fields: []string{"customer.email", "customer.name", "items", "currency", "shipping_address.line1", "shipping_address.country", "payment.method"}},
		{Name: "malformed JSON", Method: "POST", URL: "/v1/orders", Body: `{"order_id": "x3",`, Key: admin, Status: 400},
		{Name: "unknown field", Method: "POST", URL: "/v1/orders", Body: `{"order_id": "x4", "coupon": "FREE"}`, Key: admin, Status: 400},
		{Name: "two JSON values", Method: "POST", URL: "/v1/orders", Body: `{} {}`, Key: admin, Status: 400},
		{Name: "not JSON", Method: "POST", URL: "/v1/orders", Body: "order_id=x5", Key: admin, Headers: []string{"Content-Type: application/x-www-form-urlencoded"}, Status: 415},
		{Name: "unknown order", Method: "GET", URL: "/v1/orders/ord-404", Key: admin, Status: 404},
		{Name: "unknown state", Method: "POST", URL: "/v1/orders/ord-1/state", Body: map[string]string{"order_state": "order_lost"}, Key: admin, Status: 422, Fields: []string{"order_state"}},
		{Name: "impossible move", Method: "POST", URL: "/v1/orders/ord-1/state", Body: map[string]string{"order_state": "order_delivered"}, Key: admin, Status: 409},
		{Name: "state of unknown order", Method: "POST", URL: "/v1/orders/ord-404/state", Body: map[string]string{"order_state": "order_paid"}, Key: admin, Status: 404},
		{Name: "negative stock", Method: "PUT", URL: "/v1/inventory/MUG", Body: map[string]int{"on_hand": -1}, Key: admin, Status: 422, Fields: []string{"on_hand"}},
		{Name: "bad page size", Method: "GET", URL: "/v1/orders?limit=0", Key: admin, Status: 422, Fields: []string{"limit"}},
		{Name: "unknown route", Method: "GET", URL: "/v1/nothing", Key: admin, Status: 404},
	}
	for i := range scenarios {
		scenarios[i].Unchanged = true
	}
	s.Run(t, scenarios...)

	// Nothing above wrote an order or an event beyond ord-1's.
	orders, events := s.Count(t, "checkout_orders"), s.Count(t, "bus_events WHERE source = 'shopbus.checkout'")
	if orders != 1 || events != 1 {
		t.Errorf("%d orders and %d events after refused requests, want 1 and 1", orders, events)
	}
}

// TestAPIKeyHeaders accepts both ways of sending a key.
func TestAPIKeyHeaders(t *testing.T) {
	t.Parallel()
	webtest.New(t, webtest.Options{}).Run(t,
		webtest.Scenario{Name: "X-API-Key", URL: "/v1/orders", Headers: []string{"X-API-Key: " + admin}, Status: 200},
		webtest.Scenario{Name: "bearer in lower case", URL: "/v1/orders", Headers: []string{"Authorization: bearer " + admin}, Status: 200},
		webtest.Scenario{Name: "healthz needs none", URL: "/healthz", Status: 200},
	)
}

// TestListOrders pages through orders newest first.
func TestListOrders(t *testing.T) {
	t.Parallel()
	s := webtest.New(t, webtest.Options{})
	for i := range 5 {
		webtest.Decode[map[string]string](t, http.StatusCreated,
			s.Request(t, "POST", "/v1/orders", newOrder(fmt.Sprintf("ord-l%d", i), "a@example.com", "MUG", 1), admin))
	}
	type page struct {
		Orders []struct {
			OrderID string `json:"order_id"`
		} `json:"orders"`
		Total int    `json:"total"`
		Next  string `json:"next"`
	}
	var seen []string
	after := ""
	for range 5 {
		p := webtest.Decode[page](t, http.StatusOK, s.Request(t, "GET", "/v1/orders?limit=2&after="+after, nil, admin))
		if p.Total != 5 {
			t.Errorf("total %d", p.Total)
		}
		for _, o := range p.Orders {
			seen = append(seen, o.OrderID)
		}
		if after = p.Next; after == "" {
			break
		}
	}
	if got := strings.Join(seen, ","); got != "ord-l4,ord-l3,ord-l2,ord-l1,ord-l0" {
		t.Errorf("pages gave %s", got)
	}
}

// TestOrderIDGenerated: an order without an id gets one.
func TestOrderIDGenerated(t *testing.T) {
	t.Parallel()
	s := webtest.New(t, webtest.Options{})
	body := newOrder("", "a@example.com", "MUG", 1)
	delete(body, "order_id")
	acc := webtest.Decode[map[string]string](t, http.StatusCreated, s.Request(t, "POST", "/v1/orders", body, admin))
	if !strings.HasPrefix(acc["order_id"], "ord-") {
		t.Fatalf("generated id %q", acc["order_id"])
	}
	s.Run(t, webtest.Scenario{Name: "the order", Key: admin, URL: "/v1/orders/" + acc["order_id"], Status: 200,
		JSON: map[string]any{"/total_minor": 1250}})
}

// setStock puts n of sku on the shelf.
func setStock(t *testing.T, s *webtest.Shop, sku string, n int64) {
	t.Helper()
	s.Run(t, webtest.Scenario{Name: "stock " + sku, Method: "PUT", URL: "/v1/inventory/" + sku, Key: admin,
		Body: map[string]int64{"on_hand": n}, Status: http.StatusOK})
}

// waitSettled waits until every delivery of the order is done and every
// email sent, with at least the given counts, as GET /v1/orders/{id} shows
// them (the shop must run its bus).
func waitSettled(t *testing.T, s *webtest.Shop, id string, deliveries, emails int) {
	t.Helper()
	webtest.WaitFor(t, "order "+id+" to settle", 20*time.Second, func() (bool, string) {
		v := webtest.Decode[struct {
			Deliveries, Emails []struct{ Status string }
		}](t, http.StatusOK, s.Request(t, "GET", "/v1/orders/"+id, nil, admin))
		done, sent := 0, 0
		for _, d := range v.Deliveries {
			if d.Status == "done" {
				done++
			}
		}
		for _, e := range v.Emails {
			if e.Status == "sent" {
				sent++
			}
		}
		return done == len(v.Deliveries) && done >= deliveries && sent == len(v.Emails) && sent >= emails,
			fmt.Sprintf("%d/%d deliveries done, %d/%d emails sent", done, len(v.Deliveries), sent, len(v.Emails))
	})
}
