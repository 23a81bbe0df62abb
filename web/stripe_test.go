package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	stripehook "github.com/stripe/stripe-go/v84/webhook"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/web/webtest"
)

// The endpoint's secrets while one is rolled: Stripe signs with the new,
// a delivery in flight may carry the old.
const (
	oldStripeSecret = "whsec_old0123456789abcdef"
	newStripeSecret = "whsec_new0123456789abcdef"
)

// stripeEvent is a Stripe event as Stripe delivers it.
func stripeEvent(id, typ string, object map[string]any) []byte {
	raw, _ := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": "2025-03-31.basil",
		"created": time.Now().Unix(), "livemode": false, "pending_webhooks": 1, "type": typ,
		"data": map[string]any{"object": object}})
	return raw
}

// paymentIntent is a PaymentIntent whose metadata names orderID, if set.
func paymentIntent(id, orderID string, amount int64, status string) map[string]any {
	pi := map[string]any{"id": id, "object": "payment_intent", "amount": amount, "currency": "eur", "status": status,
		"metadata": map[string]string{}}
	if orderID != "" {
		pi["metadata"] = map[string]string{"order_id": orderID}
	}
	return pi
}

// charge is a charge of a PaymentIntent with refunds summing to refunded,
// as charge.refunded carries it: amount_refunded is the running total.
func charge(id, pi string, amount, refunded int64) map[string]any {
	return map[string]any{"id": id, "object": "charge", "amount": amount, "amount_refunded": refunded,
		"refunded": refunded == amount, "currency": "eur", "payment_intent": pi, "metadata": map[string]string{}}
}

// signed is a scenario posting body to the Stripe endpoint, signed by
// stripe-go's own test helper with secret at the given time.
func signed(name string, body []byte, secret string, at time.Time) webtest.Scenario {
	sig := stripehook.GenerateTestSignedPayload(&stripehook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	return webtest.Scenario{Name: name, Method: "POST", URL: "/v1/webhooks/stripe", Body: body,
		Headers: []string{"Stripe-Signature: " + sig.Header, "Content-Type: application/json; charset=utf-8"}}
}

// expect fills what the scenario must answer.
func expect(sc webtest.Scenario, status int, json map[string]any) webtest.Scenario {
	sc.Status, sc.JSON = status, json
	return sc
}

// stripeShop is a shop whose Stripe endpoint takes both secrets, with the
// bus running so payments are recorded.
func stripeShop(t *testing.T) *webtest.Shop {
	return webtest.New(t, webtest.Options{Run: true, Config: func(c *config.Config) {
		c.Stripe.WebhookSecrets = []string{newStripeSecret, oldStripeSecret}
	}})
}

// orderView is what the tests read of GET /v1/orders/{id}.
type orderView struct {
	State       string `json:"order_state"`
	RefundMinor int64  `json:"refund_minor"`
	Payment     struct {
		Status        string `json:"status"`
		CapturedMinor int64  `json:"captured_minor"`
		RefundedMinor int64  `json:"refunded_minor"`
	} `json:"payment"`
	StripeEvents []struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Outcome string `json:"outcome"`
		Reason  string `json:"reason"`
	} `json:"stripe_events"`
}

func view(t *testing.T, s *webtest.Shop, id string) orderView {
	t.Helper()
	return webtest.Decode[orderView](t, http.StatusOK, s.Request(t, "GET", "/v1/orders/"+id, nil, admin))
}

// waitView waits until the order's view satisfies ok.
func waitView(t *testing.T, s *webtest.Shop, id string, ok func(orderView) bool) orderView {
	t.Helper()
	var v orderView
	webtest.WaitFor(t, id+"'s view", 10*time.Second, func() (bool, string) {
		v = view(t, s, id)
		return ok(v), fmt.Sprintf("%+v", v)
	})
	return v
}

// placeStripeOrder places an order of 25.00 paid by the PaymentIntent pi
// and waits for payment to record it.
func placeStripeOrder(t *testing.T, s *webtest.Shop, id, pi string) {
	t.Helper()
	body := newOrder(id, "a@example.com", "MUG", 2)
	body["payment"].(map[string]any)["reference"] = pi
	webtest.Decode[map[string]string](t, http.StatusCreated, s.Request(t, "POST", "/v1/orders", body, admin))
	waitView(t, s, id, func(v orderView) bool { return v.Payment.Status == "authorized" })
}

// TestStripeMovesOrders: Stripe's signed events pay, refund (partly, then
// wholly) and cancel orders, found by metadata.order_id or by their
// PaymentIntent; each event applies once; the old and the new secret both
// verify while a secret is rolled.
func TestStripeMovesOrders(t *testing.T) {
	t.Parallel()
	s := stripeShop(t)
	now := time.Now()
	placeStripeOrder(t, s, "ord-s1", "pi_s1")
	placeStripeOrder(t, s, "ord-s2", "pi_s2")
	placeStripeOrder(t, s, "ord-s3", "pi_s3")

	paid := stripeEvent("evt_paid1", "payment_intent.succeeded", paymentIntent("pi_s1", "ord-s1", 2500, "succeeded"))
	s.Run(t,
		expect(signed("paid, by metadata, signed with the new secret", paid, newStripeSecret, now), 200,
			map[string]any{"/outcome": "applied", "/order_id": "ord-s1"}),
		expect(signed("the same event again, signed anew", paid, newStripeSecret, now.Add(time.Second)), 200,
			map[string]any{"/outcome": "duplicate"}),
		expect(signed("paid, by the PaymentIntent, signed with the old secret",
			stripeEvent("evt_paid2", "payment_intent.succeeded", paymentIntent("pi_s2", "", 2500, "succeeded")), oldStripeSecret, now), 200,
			map[string]any{"/outcome": "applied", "/order_id": "ord-s2"}),
	)
	v := waitView(t, s, "ord-s1", func(v orderView) bool { return v.Payment.Status == "captured" })
	if v.State != "order_paid" || len(v.StripeEvents) != 1 || v.StripeEvents[0].ID != "evt_paid1" || v.StripeEvents[0].Outcome != "applied" {
		t.Errorf("ord-s1 after payment: %+v", v)
	}
	if n := s.Count(t, "bus_events WHERE order_id = 'ord-s1' AND source = 'shopbus.checkout'"); n != 2 {
		t.Errorf("ord-s1 has %d events, want 2: the duplicate moved it again", n)
	}
	if v := view(t, s, "ord-s2"); v.State != "order_paid" {
		t.Errorf("ord-s2 = %s, want paid", v.State)
	}

	// Refunds: amount_refunded is the running total, each event refunds
	// what it adds; the total that adds nothing is recorded, not applied.
	s.Run(t,
		expect(signed("a partial refund", stripeEvent("evt_ref1", "charge.refunded", charge("ch_s1", "pi_s1", 2500, 1000)),
			newStripeSecret, now), 200, map[string]any{"/outcome": "applied", "/order_id": "ord-s1"}),
		expect(signed("the same running total in another event", stripeEvent("evt_ref1b", "charge.refunded", charge("ch_s1", "pi_s1", 2500, 1000)),
			newStripeSecret, now), 200, map[string]any{"/outcome": "refused"}),
	)
	v = waitView(t, s, "ord-s1", func(v orderView) bool { return v.Payment.Status == "refunded" })
	if v.State != "order_paid" || v.RefundMinor != 1000 || v.Payment.RefundedMinor != 1000 {
		t.Errorf("after a partial refund: %+v", v)
	}
	s.Run(t, expect(signed("the rest refunded", stripeEvent("evt_ref2", "charge.refunded", charge("ch_s1", "pi_s1", 2500, 2500)),
		newStripeSecret, now), 200, map[string]any{"/outcome": "applied"}))
	v = waitView(t, s, "ord-s1", func(v orderView) bool { return v.Payment.RefundedMinor == 2500 })
	if v.State != "order_refunded" || v.RefundMinor != 1500 {
		t.Errorf("after the whole refund: %+v", v)
	}
	if n := s.Count(t, "bus_events WHERE order_id = 'ord-s1' AND detail_type = 'Order Partially Refunded'"); n != 1 {
		t.Errorf("%d partial refund events, want 1", n)
	}

	// Cancelled before payment; a cancellation the state machine refuses
	// is recorded, logged, answered 200 and shown on the order.
	s.Run(t,
		expect(signed("cancelled", stripeEvent("evt_can1", "payment_intent.canceled", paymentIntent("pi_s3", "ord-s3", 2500, "canceled")),
			newStripeSecret, now), 200, map[string]any{"/outcome": "applied", "/order_id": "ord-s3"}),
		expect(signed("a cancellation of a refunded order", stripeEvent("evt_can2", "payment_intent.canceled", paymentIntent("pi_s1", "", 2500, "canceled")),
			newStripeSecret, now), 200, map[string]any{"/outcome": "refused", "/order_id": "ord-s1"}),
		expect(signed("an unknown order", stripeEvent("evt_unknown", "payment_intent.succeeded", paymentIntent("pi_nobody", "", 100, "succeeded")),
			newStripeSecret, now), 200, map[string]any{"/outcome": "unknown_order"}),
		expect(signed("an order named that does not exist", stripeEvent("evt_gone", "payment_intent.succeeded", paymentIntent("pi_x", "ord-gone", 100, "succeeded")),
			newStripeSecret, now), 200, map[string]any{"/outcome": "unknown_order", "/order_id": "ord-gone"}),
		unchanged(expect(signed("a type that moves nothing", stripeEvent("evt_cust", "customer.created", map[string]any{"id": "cus_1", "object": "customer"}),
			newStripeSecret, now), 200, map[string]any{"/outcome": "ignored"})),
	)
	if v := view(t, s, "ord-s3"); v.State != "order_cancelled" {
		t.Errorf("ord-s3 = %s, want cancelled", v.State)
	}
	waitView(t, s, "ord-s3", func(v orderView) bool { return v.Payment.Status == "voided" })
	v = view(t, s, "ord-s1")
	if last := v.StripeEvents[len(v.StripeEvents)-1]; last.ID != "evt_can2" || last.Outcome != "refused" ||
		!strings.Contains(last.Reason, "cannot go from order_refunded to order_cancelled") {
		t.Errorf("the refused cancellation on the order: %+v", v.StripeEvents)
	}
	if n := s.Count(t, "payment_stripe_events WHERE outcome <> 'applied'"); n != 4 {
		t.Errorf("%d events recorded as changing nothing, want 4", n)
	}
	if logs := s.Logs(); !strings.Contains(logs, "stripe: event changed nothing") || !strings.Contains(logs, "evt_can2") {
		t.Errorf("the refused event is not logged:\n%s", logs)
	}
}

// unchanged requires that the scenario writes nothing, once what the bus
// and the email worker were doing in the background is done.
func unchanged(sc webtest.Scenario) webtest.Scenario {
	sc.Unchanged = true
	sc.Before = func(t *testing.T, s *webtest.Shop) { s.Settled(t) }
	return sc
}

// TestStripeRefusesUnverified: a request whose signature does not verify
// (missing, malformed, made with another secret, too old, or made for
// another body) is answered 400 and stores nothing; an endpoint with no
// secret answers 503, which Stripe retries until one is set.
func TestStripeRefusesUnverified(t *testing.T) {
	t.Parallel()
	s := stripeShop(t)
	placeStripeOrder(t, s, "ord-u1", "pi_u1")
	now := time.Now()
	paid := stripeEvent("evt_u1", "payment_intent.succeeded", paymentIntent("pi_u1", "ord-u1", 2500, "succeeded"))
	other := stripeEvent("evt_u1", "payment_intent.canceled", paymentIntent("pi_u1", "ord-u1", 2500, "canceled"))

	tampered := signed("the body changed after signing", paid, newStripeSecret, now)
	tampered.Body = []byte(strings.Replace(string(paid), `"amount":2500`, `"amount":1`, 1))
	replayed := signed("a captured signature replayed with another body", paid, newStripeSecret, now)
	replayed.Body = other
	noHeader := signed("no Stripe-Signature", paid, newStripeSecret, now)
	noHeader.Headers = []string{"-Stripe-Signature", "Content-Type: application/json"}
	garbled := signed("a garbled header", paid, newStripeSecret, now)
	garbled.Headers = []string{"Stripe-Signature: t=notatime,v1=zz", "Content-Type: application/json"}
	v0 := stripehook.GenerateTestSignedPayload(&stripehook.UnsignedPayload{Payload: paid, Secret: newStripeSecret, Scheme: "v0"})
	oldScheme := signed("only a v0 signature", paid, newStripeSecret, now)
	oldScheme.Headers = []string{"Stripe-Signature: " + v0.Header, "Content-Type: application/json"}

	var scenarios []webtest.Scenario
	for _, sc := range []webtest.Scenario{
		tampered, replayed, noHeader, garbled, oldScheme,
		signed("another endpoint's secret", paid, "whsec_another0123456789", now),
		signed("signed six minutes ago", paid, newStripeSecret, now.Add(-6*time.Minute)),
	} {
		sc.Status = http.StatusBadRequest
		scenarios = append(scenarios, unchanged(sc))
	}
	s.Run(t, scenarios...)
	if v := view(t, s, "ord-u1"); v.State != "new_order_created" || len(v.StripeEvents) != 0 {
		t.Errorf("a refused request moved the order: %+v", v)
	}
	// Within Stripe's five minutes, the same event verifies.
	s.Run(t, expect(signed("signed four minutes ago", paid, newStripeSecret, now.Add(-4*time.Minute)), 200,
		map[string]any{"/outcome": "applied"}))
	if strings.Contains(s.Logs(), newStripeSecret) || strings.Contains(s.Logs(), oldStripeSecret) {
		t.Error("a secret is in the log")
	}

	bare := webtest.New(t, webtest.Options{})
	bare.Run(t, unchanged(expect(signed("no secret configured", paid, newStripeSecret, now), http.StatusServiceUnavailable, nil)))
}
