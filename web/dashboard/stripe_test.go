package dashboard_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/modules/payment"
)

// TestStripeEventsShown: the Stripe events that changed nothing are listed
// beside the dead letters, for the owner to see what Stripe will not send
// again; an order's page shows every Stripe event about it.
func TestStripeEventsShown(t *testing.T) {
	s := newShop(t)
	s.place("ord-1", "ada@example.com")
	pay := payment.New(s.db)
	ctx := context.Background()
	for _, e := range []payment.StripeEvent{
		{EventID: "evt_applied", Type: "payment_intent.succeeded", OrderID: "ord-1", Reference: "pi_1", Outcome: payment.OutcomeApplied},
		{EventID: "evt_refused", Type: "payment_intent.canceled", OrderID: "ord-1", Reference: "pi_1", Outcome: payment.OutcomeRefused,
			Reason: "checkout: state change not allowed: ord-1 cannot go from order_paid to order_cancelled"},
		{EventID: "evt_nobody", Type: "payment_intent.succeeded", Reference: "pi_nobody", Outcome: payment.OutcomeUnknownOrder,
			Reason: "no order has metadata.order_id or a payment reference \"pi_nobody\""},
	} {
		if err := pay.RecordStripeEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	b := s.loggedIn()
	p := b.get("/dashboard/dlq")
	for _, want := range []string{"Stripe events that changed nothing", `id="stripe-evt_refused"`, `id="stripe-evt_nobody"`,
		"pi_nobody", `<a href="/dashboard/orders/ord-1">ord-1</a>`, "cannot go from order_paid to order_cancelled"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the dead letters page lacks %s", want)
		}
	}
	if strings.Contains(p.body, "evt_applied") {
		t.Error("an applied event is listed as changing nothing")
	}
	p = b.get("/dashboard/orders/ord-1")
	for _, want := range []string{`id="stripe"`, "evt_applied", "evt_refused", "cannot go from order_paid to order_cancelled"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the order's page lacks %s", want)
		}
	}
	if strings.Contains(p.body, "evt_nobody") {
		t.Error("the order's page shows another order's event")
	}
}
