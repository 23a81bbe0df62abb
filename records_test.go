package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestOrderRecords follows what the modules recorded of orders through
// GET /v1/orders/{id}: the shipment follows its order with the tracking
// the shop gave, the payment is captured when paid and refunded by the
// amount refunded, partly then wholly, and a shipping charge that differs from the rate table
// shows.
func TestOrderRecords(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	s := startShop(t, testConfig(t, mail.Addr()), mail)
	s.setStock("MUG", 10)

	body := newOrder("ord-m1", "a@example.com", "MUG", 2) // 25.00, to FR: the rate table asks 4.90
	body["shipping_minor"] = 700
	body["payment"].(map[string]any)["amount_minor"] = 3200
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", body))
	r := s.waitRecords("ord-m1", func(r orderRecords) bool { return r.Shipment != nil && r.Payment.Status != "" })
	if sh := r.Shipment; sh.Status != "created" || sh.RateMinor != 490 || sh.ChargedMinor == nil || *sh.ChargedMinor != 700 ||
		sh.DifferenceMinor == nil || *sh.DifferenceMinor != 210 {
		t.Errorf("shipment %+v: want created, rate 490, charged 700, difference 210", sh)
	}
	if p := r.Payment; p.Status != "authorized" || p.AuthorizedMinor != 3200 || p.CapturedMinor != 0 || p.Method != "card" {
		t.Errorf("payment %+v", p)
	}

	move := func(change map[string]any) {
		t.Helper()
		must[map[string]string](t, http.StatusOK)(s.request("POST", "/v1/orders/ord-m1/state", change))
	}
	move(map[string]any{"order_state": "order_paid"})
	s.waitRecords("ord-m1", func(r orderRecords) bool { return r.Payment.Status == "captured" && r.Payment.CapturedMinor == 3200 })
	move(map[string]any{"order_state": "order_shipped", "shipment": map[string]string{
		"carrier": "DHL", "tracking_number": "JD0142", "tracking_url": "https://track.example/JD0142"}})
	r = s.waitRecords("ord-m1", func(r orderRecords) bool { return r.Shipment.Status == "shipped" })
	if sh := r.Shipment; sh.Carrier != "DHL" || sh.TrackingNumber != "JD0142" || sh.TrackingURL != "https://track.example/JD0142" {
		t.Errorf("shipped shipment %+v", sh)
	}
	move(map[string]any{"order_state": "order_delivered"})
	s.waitRecords("ord-m1", func(r orderRecords) bool { return r.Shipment.Status == "delivered" })
	p := must[problem](t, http.StatusConflict)(s.request("POST", "/v1/orders/ord-m1/state", map[string]any{"order_state": "order_refunded", "refund_minor": 3201}))
	if !strings.Contains(p.Detail, "refund exceeds what was paid") {
		t.Errorf("an over-refund: %+v", p)
	}
	// A refund of part keeps the order delivered; the rest refunds it.
	move(map[string]any{"order_state": "order_refunded", "refund_minor": 1200})
	r = s.waitRecords("ord-m1", func(r orderRecords) bool { return r.Payment.Status == "refunded" })
	if r.Payment.RefundedMinor != 1200 || r.Payment.CapturedMinor != 3200 || r.OrderState != "order_delivered" {
		t.Errorf("after the partial refund: %+v", r)
	}
	move(map[string]any{"order_state": "order_refunded"})
	r = s.waitRecords("ord-m1", func(r orderRecords) bool { return r.Payment.RefundedMinor == 3200 })
	if r.OrderState != "order_refunded" {
		t.Errorf("after the rest was refunded: %+v", r)
	}
	if r.Stock == nil || r.Stock.Status != "settled" {
		t.Errorf("stock %+v, want settled", r.Stock)
	}

	// Cancelled before payment: the shipment is cancelled, the payment
	// voided, the stock released; a free shipping charge shows as the
	// shop paying the rate.
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-m2", "b@example.com", "MUG", 1)))
	r = s.waitRecords("ord-m2", func(r orderRecords) bool { return r.Shipment != nil && r.Payment.Status != "" && r.Stock != nil })
	if d := r.Shipment.DifferenceMinor; d == nil || *d != -490 {
		t.Errorf("difference %v, want -490 for free shipping", d)
	}
	must[map[string]string](t, http.StatusOK)(s.request("POST", "/v1/orders/ord-m2/state", map[string]string{"order_state": "order_cancelled"}))
	// Each module hears of the cancellation in its own delivery: wait for
	// all three, not two of them.
	r = s.waitRecords("ord-m2", func(r orderRecords) bool {
		return r.Shipment.Status == "cancelled" && r.Payment.Status == "voided" && r.Stock.Status == "released"
	})
	if r.Payment.CapturedMinor != 0 {
		t.Errorf("a cancelled order: %+v", r)
	}
}

func (s *shop) waitRecords(id string, ok func(orderRecords) bool) orderRecords {
	s.t.Helper()
	var r orderRecords
	waitFor(s.t, id+"'s records", 20*time.Second, func() (bool, string) {
		r = s.records(id)
		return ok(r), fmt.Sprintf("%+v", r)
	})
	return r
}

// TestStateChangeFacts: the API refuses facts that do not go with the move.
func TestStateChangeFacts(t *testing.T) {
	s := startShop(t, testConfig(t, smtptest.FreeAddr(t)), nil)
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-f1", "a@example.com", "MUG", 1)))
	for _, tc := range []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"a shipment with a payment", map[string]any{"order_state": "order_paid", "shipment": map[string]string{"carrier": "DHL"}}, 422, "shipment"},
		{"a refund amount with a shipment", map[string]any{"order_state": "order_shipped", "refund_minor": 5}, 422, "refund_minor"},
		{"a script for a tracking link", map[string]any{"order_state": "order_shipped", "shipment": map[string]string{"tracking_url": "javascript:alert(1)"}}, 422, "shipment.tracking_url"},
		{"an unknown shipment field", `{"order_state":"order_shipped","shipment":{"courier":"DHL"}}`, 400, ""},
		{"a refund of a new order", map[string]any{"order_state": "order_refunded", "refund_minor": 5}, 409, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := must[problem](t, tc.status)(s.request("POST", "/v1/orders/ord-f1/state", tc.body))
			if tc.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tc.field) {
				t.Errorf("errors %+v, want one on %s", p.Errors, tc.field)
			}
		})
	}
	if r := s.records("ord-f1"); r.OrderState != "new_order_created" {
		t.Errorf("a refused change moved the order to %s", r.OrderState)
	}
	p := must[problem](t, http.StatusUnprocessableEntity)(s.request("POST", "/v1/orders", func() map[string]any {
		b := newOrder("ord-f2", "a@example.com", "MUG", 1)
		b["payment"].(map[string]any)["refunded_minor"] = 100
		return b
	}()))
	if len(p.Errors) != 1 || p.Errors[0].Field != "payment.refunded_minor" {
		t.Errorf("a new order with a refund: %+v", p)
	}
}

// TestShippingQuote: a storefront asks the rate before it orders, with its
// own orders:write key; a key that only reads orders may not.
func TestShippingQuote(t *testing.T) {
	s := startShop(t, testConfig(t, smtptest.FreeAddr(t)), nil)
	key := func(name string, scopes ...string) string {
		k := must[struct {
			Key string `json:"key"`
		}](t, http.StatusCreated)(s.request("POST", "/v1/apikeys", map[string]any{"name": name, "scopes": scopes}))
		return k.Key
	}
	storefront, reader := key("storefront", "orders:write"), key("reporting", "orders:read")
	type quote struct {
		Country   string `json:"country"`
		Items     int64  `json:"items"`
		RateMinor int64  `json:"rate_minor"`
	}
	for q, want := range map[string]int64{"country=FR&items=2": 490, "country=DE&items=4": 990, "country=US&items=1": 1490, "country=JP&items=9": 2990} {
		got := must[quote](t, http.StatusOK)(s.requestKey("GET", "/v1/shipping/quote?"+q, nil, storefront))
		if got.RateMinor != want || !strings.Contains(q, got.Country) {
			t.Errorf("%s: %+v, want rate %d", q, got, want)
		}
	}
	if status, body := s.requestKey("GET", "/v1/shipping/quote?country=FR&items=1", nil, reader); status != http.StatusForbidden {
		t.Errorf("an orders:read key: %d %s", status, body)
	}
	for q, field := range map[string]string{"country=fr&items=1": "country", "items=1": "country", "country=FR&items=0": "items",
		"country=FR&items=x": "items", "country=FR": "items"} {
		p := must[problem](t, http.StatusUnprocessableEntity)(s.requestKey("GET", "/v1/shipping/quote?"+q, nil, storefront))
		if len(p.Errors) != 1 || p.Errors[0].Field != field {
			t.Errorf("%s: %+v, want a 422 on %s", q, p, field)
		}
	}
}
