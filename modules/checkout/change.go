package checkout

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/fault"
)

// Shipment is how a shipped order travels, as the shop tells it.
type Shipment = event.Shipment

// Change moves an order to a new state, with the facts that come with the
// move: how it ships (order_shipped) and what a refund gives back
// (order_refunded). It is the body of POST /v1/orders/{id}/state.
type Change struct {
	State    string    `json:"order_state"`
	Shipment *Shipment `json:"shipment,omitempty"`
	// RefundMinor is what the refund gives back, at least 1 and at most
	// what was paid; absent, everything paid.
	RefundMinor *int64 `json:"refund_minor,omitempty"`
	// RefundedTo is for a caller that knows refunds as a running total,
	// as Stripe's amount_refunded is: what the order's refunds sum to
	// after this change, the refund being the difference. Stripe may tell
	// the same total twice, so a total that adds nothing is refused with
	// ErrNothingToRefund rather than refunded again. Never read from a
	// request body.
	RefundedTo *int64 `json:"-"`
}

// Errors of refunds.
var (
	// ErrOverRefund means a refund would give back more than was paid.
	ErrOverRefund = fault.New(fault.Conflict, "checkout: refund exceeds what was paid")
	// ErrNothingToRefund means a running total of refunds adds nothing to
	// what the order has refunded already.
	ErrNothingToRefund = fault.New(fault.Conflict, "checkout: nothing more to refund")
)

// Moves lists the states an order may move to from state, in the order
// event.OrderStates gives them.
func Moves(state string) []string { return slices.Clone(transitions[state]) }

const maxURLLength = 2000

// validate checks what a change can be checked for without its order.
func (ch Change) validate() error {
	if !slices.Contains(event.OrderStates(), ch.State) {
		return fault.InvalidFields(fault.Field{Field: "order_state", Message: "must be one of " + fmt.Sprint(event.OrderStates())})
	}
	var c checker
	if sh := ch.Shipment; sh != nil {
		if ch.State != event.OrderShipped {
			c.add("shipment", "goes only with order_shipped")
		}
		c.optional("shipment.carrier", sh.Carrier, maxTextLength)
		c.optional("shipment.tracking_number", sh.TrackingNumber, maxTextLength)
		if sh.TrackingURL != "" && c.optional("shipment.tracking_url", sh.TrackingURL, maxURLLength) {
			if u, err := url.Parse(sh.TrackingURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				c.add("shipment.tracking_url", "must be an http or https address, such as https://carrier.example/track/123")
			}
		}
	}
	if r := ch.RefundMinor; r != nil {
		if ch.State != event.OrderRefunded {
			c.add("refund_minor", "goes only with order_refunded")
		}
		if *r < 1 || *r > MaxPriceMinor {
			c.add("refund_minor", "must be between 1 and %d", int64(MaxPriceMinor))
		}
	}
	if r := ch.RefundedTo; r != nil && (ch.State != event.OrderRefunded || ch.RefundMinor != nil || *r < 1) {
		c.add("refunded_to", "goes only with order_refunded, without refund_minor, and is at least 1")
	}
	if len(c.errs) > 0 {
		return fault.InvalidFields(c.errs...)
	}
	return nil
}

// optional checks a string that may be empty as text does one that may
// not, and reports whether it passed.
func (c *checker) optional(field, v string, maxRunes int) bool {
	if v == "" {
		return true
	}
	if strings.TrimSpace(v) == "" {
		c.add(field, "must not be only spaces")
		return false
	}
	return c.text(field, v, maxRunes)
}

// apply writes the change's facts onto o, which is in the change's state
// already, and says whether a refund is partial: one that leaves part of
// the order paid, after which the order keeps the state it had. A refund
// may not give back more than the order paid, less what earlier refunds
// gave. The amount of a refund belongs to its own event: any other change
// clears it.
func (ch Change) apply(o *Order) (partial bool, err error) {
	o.RefundMinor = 0
	if ch.Shipment != nil {
		sh := *ch.Shipment
		o.Shipment = &sh
	}
	if ch.State != event.OrderRefunded {
		return false, nil
	}
	left := o.TotalMinor - o.Payment.RefundedMinor
	refund := left
	switch {
	case ch.RefundMinor != nil:
		refund = *ch.RefundMinor
	case ch.RefundedTo != nil:
		refund = *ch.RefundedTo - o.Payment.RefundedMinor
		if refund < 1 {
			return false, fmt.Errorf("%w: %s has %d refunded already, which a total of %d does not add to",
				ErrNothingToRefund, o.OrderID, o.Payment.RefundedMinor, *ch.RefundedTo)
		}
	}
	if refund > left {
		return false, fmt.Errorf("%w: %s paid %d, of which %d is left to refund, not %d", ErrOverRefund, o.OrderID, o.TotalMinor, left, refund)
	}
	o.RefundMinor = refund
	o.Payment.RefundedMinor += refund
	return refund < left, nil
}
