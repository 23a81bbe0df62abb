package email

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/event"
)

// alert is the EventBridge envelope a rule routes to the "email" target.
type alert struct {
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

// Subscribe makes the service the bus target "email", which mails alerts
// to the shop owner, and wakes the worker after each delivery commits.
func (s *Service) Subscribe(b *bus.Bus) {
	bus.Subscribe(b, "email", s.handleAlert)
	b.AfterCommit(s.Wake)
}

// handleAlert queues the owner's email in the delivery's transaction, so a
// redelivered alert finds its job already there and queues nothing.
func (s *Service) handleAlert(_ context.Context, d bus.Delivery[alert]) error {
	switch d.Payload.DetailType {
	case event.TypeInventoryShortage:
		if s.cfg.OwnerEmail == "" {
			return bus.Permanent(errors.New("email: inventory shortage alert, but no owner_email is configured"))
		}
		var shortage Shortage
		if err := json.Unmarshal(d.Payload.Detail, &shortage); err != nil {
			return bus.Permanent(fmt.Errorf("email: decode inventory shortage: %w", err))
		}
		if shortage.OrderID == "" {
			return bus.Permanent(errors.New("email: inventory shortage without order_id"))
		}
		return s.Enqueue(d.Tx, Message{OrderID: shortage.OrderID, Template: "inventory_shortage",
			To: s.cfg.OwnerEmail, Data: shortage})
	default:
		return bus.Permanent(fmt.Errorf("email: no email for detail-type %q", d.Payload.DetailType))
	}
}
