package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestAPIRefusesBadRequests checks that each bad request gets its status
// and a problem+json body, and writes nothing.
func TestAPIRefusesBadRequests(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	s := startShop(t, testConfig(t, mail.Addr()), mail)
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-1", "a@example.com", "MUG", 1)))

	bad := newOrder("ord-bad", "not-an-email", "MUG", 0)
	bad["currency"] = "euro"
	bad["items"].([]map[string]any)[0]["unit_price_minor"] = -5

	tests := []struct {
		name, method, path string
		body               any
		key                string
		header             map[string]string
		status             int
		fields             []string // for 422: the bad fields listed
	}{
		{name: "no key", method: "POST", path: "/v1/orders", body: newOrder("x1", "a@example.com", "MUG", 1), status: 401},
		{name: "wrong key", method: "POST", path: "/v1/orders", body: newOrder("x2", "a@example.com", "MUG", 1), key: "sb_live_wrong", status: 401},
		{name: "wrong key on read", method: "GET", path: "/v1/orders/ord-1", key: "nope", status: 401},
		{name: "duplicate order id", method: "POST", path: "/v1/orders", body: newOrder("ord-1", "b@example.com", "MUG", 1), key: testKey, status: 409},
		{name: "invalid fields", method: "POST", path: "/v1/orders", body: bad, key: testKey, status: 422,
			fields: []string{"customer.email", "currency", "items[0].quantity", "items[0].unit_price_minor"}},
		{name: "empty order", method: "POST", path: "/v1/orders", body: "{}", key: testKey, status: 422,
			fields: []string{"customer.email", "customer.name", "items", "currency", "shipping_address.line1", "shipping_address.country", "payment.method"}},
		{name: "malformed JSON", method: "POST", path: "/v1/orders", body: `{"order_id": "x3",`, key: testKey, status: 400},
		{name: "unknown field", method: "POST", path: "/v1/orders", body: `{"order_id": "x4", "coupon": "FREE"}`, key: testKey, status: 400},
		{name: "two JSON values", method: "POST", path: "/v1/orders", body: `{} {}`, key: testKey, status: 400},
		{name: "not JSON", method: "POST", path: "/v1/orders", body: "order_id=x5", key: testKey, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, status: 415},
		{name: "unknown order", method: "GET", path: "/v1/orders/ord-404", key: testKey, status: 404},
		{name: "unknown state", method: "POST", path: "/v1/orders/ord-1/state", body: map[string]string{"order_state": "order_lost"}, key: testKey, status: 422, fields: []string{"order_state"}},
		{name: "impossible move", method: "POST", path: "/v1/orders/ord-1/state", body: map[string]string{"order_state": "order_delivered"}, key: testKey, status: 409},
		{name: "state of unknown order", method: "POST", path: "/v1/orders/ord-404/state", body: map[string]string{"order_state": "order_paid"}, key: testKey, status: 404},
		{name: "negative stock", method: "PUT", path: "/v1/inventory/MUG", body: map[string]int{"on_hand": -1}, key: testKey, status: 422, fields: []string{"on_hand"}},
		{name: "bad page size", method: "GET", path: "/v1/orders?limit=0", key: testKey, status: 422, fields: []string{"limit"}},
		{name: "unknown route", method: "GET", path: "/v1/nothing", key: testKey, status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawRequest(t, tc.method, s.url+tc.path, tc.body, tc.key, tc.header)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			p := must[problem](t, tc.status)(resp.StatusCode, body)
			if p.Status != tc.status || p.Title == "" || p.Type == "" {
				t.Errorf("problem %+v", p)
			}
			listed := map[string]bool{}
			for _, f := range p.Errors {
				listed[f.Field] = true
			}
			for _, f := range tc.fields {
				if !listed[f] {
					t.Errorf("field %s not listed in %+v", f, p.Errors)
				}
			}
		})
	}

	// Nothing above wrote an order or an event beyond ord-1's.
	var orders, events int
	queryRow(t, s.cfg.Database, "SELECT COUNT(*) FROM checkout_orders", &orders)
	queryRow(t, s.cfg.Database, "SELECT COUNT(*) FROM bus_events WHERE source = 'shopbus.checkout'", &events)
	if orders != 1 || events != 1 {
		t.Errorf("%d orders and %d events after refused requests, want 1 and 1", orders, events)
	}
}

// TestAPIKeyHeaders accepts both ways of sending a key.
func TestAPIKeyHeaders(t *testing.T) {
	s := startShop(t, testConfig(t, smtptest.FreeAddr(t)), nil)
	for _, h := range []map[string]string{{"X-API-Key": testKey}, {"Authorization": "bearer " + testKey}} {
		resp, body := rawRequest(t, "GET", s.url+"/v1/orders", nil, "", h)
		if resp.StatusCode != 200 {
			t.Errorf("%v: %d %s", h, resp.StatusCode, body)
		}
	}
	resp, _ := rawRequest(t, "GET", s.url+"/healthz", nil, "", nil)
	if resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
}

// TestListOrders pages through orders newest first.
func TestListOrders(t *testing.T) {
	s := startShop(t, testConfig(t, smtptest.FreeAddr(t)), nil)
	for i := range 5 {
		must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder(fmt.Sprintf("ord-l%d", i), "a@example.com", "MUG", 1)))
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
		p := must[page](t, http.StatusOK)(s.request("GET", "/v1/orders?limit=2&after="+after, nil))
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
	s := startShop(t, testConfig(t, smtptest.FreeAddr(t)), nil)
	body := newOrder("", "a@example.com", "MUG", 1)
	delete(body, "order_id")
	acc := must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", body))
	if !strings.HasPrefix(acc["order_id"], "ord-") {
		t.Fatalf("generated id %q", acc["order_id"])
	}
	if v := s.order(acc["order_id"]); v.TotalMinor != 1250 {
		t.Errorf("order %+v", v)
	}
}
