package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/stripe/stripe-go/v84"
	stripehook "github.com/stripe/stripe-go/v84/webhook"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/payment"
)

// stripeTolerance is Stripe's own: a signature made more than five
// minutes ago is refused, which bounds how long a captured request can be
// replayed.
const stripeTolerance = stripehook.DefaultTolerance

// The Stripe events that move orders. Any other type is answered 200 and
// ignored, so an endpoint that sends more than these costs nothing.
const (
	stripePaymentSucceeded = "payment_intent.succeeded"
	stripePaymentCanceled  = "payment_intent.canceled"
	stripeChargeRefunded   = "charge.refunded"
)

// stripeAnswer is what the Stripe endpoint answers with 200; Stripe keeps
// it with the delivery, where the shop can read it in Stripe's dashboard.
type stripeAnswer struct {
	Received bool `json:"received"`
	// Outcome is applied, unknown_order or refused (payment's outcomes),
	// duplicate for an event received before, or ignored for a type that
	// moves no order.
	Outcome string `json:"outcome"`
	OrderID string `json:"order_id,omitempty"`
	// EventID is the bus event of the move, when it applied.
	EventID string `json:"event_id,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// stripeWebhook is POST /v1/webhooks/stripe. It needs no API key: the
// Stripe-Signature header, checked with Stripe's own library against the
// endpoint's secrets, proves the event is Stripe's. A request that does
// not verify is answered 400 and stores nothing. A verified event is
// applied once: a payment moves the order to order_paid, a cancellation to
// order_cancelled, a refund refunds what the charge's running total adds.
// An event that cannot move its order is recorded, logged and answered
// 200, since Stripe would otherwise retry it for days to no end.
func (s *Server) stripeWebhook(c echo.Context) error {
	if len(s.StripeSecrets) == 0 || s.Payments == nil {
		s.log.Error("stripe: an event arrived, but no endpoint secret is set: set SHOPBUS_STRIPE_WEBHOOK_SECRET")
		return fault.New(fault.Unavailable, "Stripe webhooks are not configured on this shop")
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	ev, err := verifyStripe(body, c.Request().Header.Get("Stripe-Signature"), s.StripeSecrets)
	if err != nil {
		s.log.Warn("stripe: event refused", "client", c.RealIP(), "reason", err)
		return echo.NewHTTPError(http.StatusBadRequest, "Stripe-Signature: "+err.Error())
	}
	annotate(c, "stripe_event", ev.ID)
	annotate(c, "stripe_type", string(ev.Type))
	answer, err := s.applyStripe(c, ev)
	if err != nil {
		return err
	}
	annotate(c, "outcome", answer.Outcome)
	return c.JSON(http.StatusOK, answer)
}

// verifyStripe checks the signature against each secret in turn, as
// Stripe's library does for one: a missing, malformed or expired header
// fails whatever the secret.
func verifyStripe(body []byte, header string, secrets []string) (stripe.Event, error) {
	opts := stripehook.ConstructEventOptions{Tolerance: stripeTolerance,
		// The endpoint may be pinned to another API version than the
		// library's; the few fields read here are the same in all.
		IgnoreAPIVersionMismatch: true}
	for _, secret := range secrets {
		ev, err := stripehook.ConstructEventWithOptions(body, header, secret, opts)
		switch {
		case err == nil && ev.ID == "":
			return ev, errors.New("the event has no id")
		case err == nil:
			return ev, nil
		case !errors.Is(err, stripehook.ErrNoValidSignature):
			return ev, err
		}
	}
	return stripe.Event{}, errors.New("no signature matches the endpoint's secret")
}

// stripeMove is what a Stripe event asks of its order.
type stripeMove struct {
	change checkout.Change
	// orderID is the order the event's metadata names; reference its
	// PaymentIntent, by which the order is found when the metadata names
	// none.
	orderID, reference string
}

// moveOf reads what ev asks; ok is false for a type that moves no order.
func moveOf(ev stripe.Event) (m stripeMove, ok bool, err error) {
	if ev.Data == nil {
		return m, false, fmt.Errorf("stripe: event %s has no data", ev.ID)
	}
	switch ev.Type {
	case stripePaymentSucceeded, stripePaymentCanceled:
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
			return m, false, fmt.Errorf("stripe: event %s: %w", ev.ID, err)
		}
		m.orderID, m.reference = pi.Metadata["order_id"], pi.ID
		m.change.State = event.OrderPaid
		if ev.Type == stripePaymentCanceled {
			m.change.State = event.OrderCancelled
		}
	case stripeChargeRefunded:
		var ch stripe.Charge
		if err := json.Unmarshal(ev.Data.Raw, &ch); err != nil {
			return m, false, fmt.Errorf("stripe: event %s: %w", ev.ID, err)
		}
		m.orderID = ch.Metadata["order_id"]
		if ch.PaymentIntent != nil {
			m.reference = ch.PaymentIntent.ID
		}
		// amount_refunded is the charge's refunds so far: the order
		// refunds what it adds to what the order has refunded.
		total := ch.AmountRefunded
		m.change = checkout.Change{State: event.OrderRefunded, RefundedTo: &total}
	default:
		return m, false, nil
	}
	return m, true, nil
}

// applyStripe applies a verified event once, recording it with its
// outcome in the transaction of the move it made.
func (s *Server) applyStripe(c echo.Context, ev stripe.Event) (stripeAnswer, error) {
	ctx := c.Request().Context()
	m, ok, err := moveOf(ev)
	if err != nil {
		return stripeAnswer{}, echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	if !ok {
		return stripeAnswer{Received: true, Outcome: "ignored"}, nil
	}
	if seen, err := s.Payments.StripeEvent(ctx, ev.ID); err == nil {
		return stripeAnswer{Received: true, Outcome: "duplicate", OrderID: seen.OrderID}, nil
	} else if fault.CodeOf(err) != fault.NotFound {
		return stripeAnswer{}, err
	}
	rec := payment.StripeEvent{EventID: ev.ID, Type: string(ev.Type), OrderID: m.orderID, Reference: m.reference,
		Outcome: payment.OutcomeApplied}
	if rec.OrderID == "" && m.reference != "" {
		id, err := s.Payments.OrderFor(ctx, m.reference)
		if err != nil && fault.CodeOf(err) != fault.NotFound {
			return stripeAnswer{}, err
		}
		rec.OrderID = id
	}
	if rec.OrderID == "" {
		return s.stripeUnapplied(c, rec, payment.OutcomeUnknownOrder,
			fmt.Sprintf("no order has metadata.order_id or a payment reference %q", m.reference))
	}
	acc, err := s.Checkout.ApplyWith(ctx, rec.OrderID, m.change, func(tx *gorm.DB) error {
		return payment.RecordStripeEvent(tx, rec)
	})
	switch {
	case err == nil:
		s.log.Info("stripe: event applied", "stripe_event", ev.ID, "type", ev.Type, "order_id", acc.OrderID,
			"order_state", acc.State, "event_id", acc.EventID)
		return stripeAnswer{Received: true, Outcome: payment.OutcomeApplied, OrderID: acc.OrderID, EventID: acc.EventID}, nil
	case errors.Is(err, payment.ErrStripeEventSeen): // the same event, delivered twice at once
		return stripeAnswer{Received: true, Outcome: "duplicate", OrderID: rec.OrderID}, nil
	case fault.CodeOf(err) == fault.NotFound:
		return s.stripeUnapplied(c, rec, payment.OutcomeUnknownOrder, err.Error())
	case fault.CodeOf(err) == fault.Conflict || fault.CodeOf(err) == fault.Invalid:
		return s.stripeUnapplied(c, rec, payment.OutcomeRefused, err.Error())
	}
	return stripeAnswer{}, err // Stripe retries
}

// stripeUnapplied records an event that moved nothing, so the shop sees
// it on the dashboard and in the order's view, and answers Stripe 200.
func (s *Server) stripeUnapplied(c echo.Context, rec payment.StripeEvent, outcome, reason string) (stripeAnswer, error) {
	rec.Outcome, rec.Reason = outcome, reason
	err := s.Payments.RecordStripeEvent(c.Request().Context(), rec)
	if errors.Is(err, payment.ErrStripeEventSeen) {
		return stripeAnswer{Received: true, Outcome: "duplicate", OrderID: rec.OrderID}, nil
	}
	if err != nil {
		return stripeAnswer{}, err
	}
	s.log.Warn("stripe: event changed nothing", "stripe_event", rec.EventID, "type", rec.Type, "order_id", rec.OrderID,
		"reference", rec.Reference, "outcome", outcome, "reason", reason)
	return stripeAnswer{Received: true, Outcome: outcome, OrderID: rec.OrderID, Reason: reason}, nil
}
