package email

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"

	"golang.org/x/text/language"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/event"
)

// envelope is the EventBridge envelope a rule routes to the "email" target.
type envelope struct {
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

// Recipients a rule's email target names in its "to", besides an address.
const (
	ToCustomer = "customer" // the order's customer.email, in their locale
	ToOwner    = "owner"    // mail.owner_email, in the shop's locale
)

// notification is an email target's settings: which template, to whom.
type notification struct {
	template, to string
}

// Subscribe makes the service the bus target "email" and wakes the worker
// after each delivery commits. A rule's email target names a template and
// a recipient ({module: email, template: order_shipped, to: customer});
// one that names neither mails the owner the inventory shortage alert, as
// before templates could be named.
func (s *Service) Subscribe(b *bus.Bus) {
	bus.Subscribe(b, "email", s.handle)
	b.Settings("email", bus.TargetSettings{
		Check: func(set map[string]string) error { _, err := s.notification(set); return err },
		Payload: func(set map[string]string, payload []byte) error {
			n, err := s.notification(set)
			if err != nil || n.template == "" {
				return err
			}
			return s.checkPayload(n, payload)
		},
	})
	b.AfterCommit(s.Wake)
}

// notification reads an email target's settings; none is the alert.
func (s *Service) notification(set map[string]string) (notification, error) {
	if len(set) == 0 {
		return notification{}, nil
	}
	n := notification{template: set["template"], to: set["to"]}
	switch {
	case n.template == "":
		return n, errors.New("template is required: the email to send, such as order_shipped")
	case n.to == "":
		return n, errors.New("to is required: customer, owner or an email address")
	}
	if _, ok := s.templates.lookup(n.template, s.lang); !ok {
		return n, fmt.Errorf("template %q does not exist (there are %s; templates_dir adds others)", n.template,
			strings.Join(s.templates.names(), ", "))
	}
	switch n.to {
	case ToCustomer:
	case ToOwner:
		if s.cfg.OwnerEmail == "" {
			return n, errors.New("to: owner, but mail.owner_email is not set")
		}
	default:
		a, err := mail.ParseAddress(n.to)
		if err == nil && a.Name == "" && a.Address == n.to {
			_, err = mailable(n.to)
		} else if err == nil {
			err = errors.New("give the address alone, without a name")
		}
		if err != nil {
			return n, fmt.Errorf("to %q: want customer, owner or an email address: %v", n.to, err)
		}
	}
	return n, nil
}

// orderHead is what every templated email needs of an event's detail: the
// order it is filed under, and for the customer's emails, the customer.
type orderHead struct {
	OrderID  string `json:"order_id"`
	Customer struct {
		Email  string `json:"email"`
		Locale string `json:"locale"`
	} `json:"customer"`
}

// message builds the email n sends for an event's payload, or says what
// the payload lacks.
func (s *Service) message(n notification, eventID string, ev envelope) (Message, error) {
	var head orderHead
	if len(ev.Detail) == 0 || json.Unmarshal(ev.Detail, &head) != nil || head.OrderID == "" {
		return Message{}, errors.New("it has no detail.order_id, which every email is filed under")
	}
	m := Message{EventID: eventID, OrderID: head.OrderID, Template: n.template, To: n.to}
	switch n.to {
	case ToCustomer:
		if head.Customer.Email == "" {
			return Message{}, errors.New("it has no detail.customer.email to send to")
		}
		m.To, m.Locale = head.Customer.Email, head.Customer.Locale
	case ToOwner:
		m.To = s.cfg.OwnerEmail
	}
	data, err := fromDetail(n.template, ev.Detail)
	if err != nil {
		return Message{}, err
	}
	m.Data = data
	return m, nil
}

// checkPayload refuses, at start-up, a payload the email target would
// receive that lacks what n's email needs, and renders the email from it
// in every language the template is written in, so a template that cannot
// show what the rule sends is refused before the first order.
func (s *Service) checkPayload(n notification, payload []byte) error {
	var ev envelope
	if err := json.Unmarshal(payload, &ev); err != nil {
		return err
	}
	m, err := s.message(n, "example", ev)
	if err != nil {
		return err
	}
	data, err := json.Marshal(m.Data)
	if err != nil {
		return err
	}
	for _, lang := range slices.Sorted(maps.Keys(s.templates)) {
		t, ok := s.templates[lang][n.template]
		if !ok {
			continue
		}
		if _, err := t.render(data, language.Make(lang)); err != nil {
			return fmt.Errorf("template %s (%s) cannot show it: %w", n.template, lang, err)
		}
	}
	return nil
}

// handle queues a delivery's email in the delivery's transaction, so a
// redelivered event finds its job already there and queues nothing.
func (s *Service) handle(_ context.Context, d bus.Delivery[envelope]) error {
	n, err := s.notification(d.Settings)
	if err != nil {
		return bus.Permanent(fmt.Errorf("email: rule %s: %w", d.Rule, err))
	}
	if n.template == "" {
		return s.alert(d)
	}
	m, err := s.message(n, d.EventID, d.Payload)
	if err != nil {
		return bus.Permanent(fmt.Errorf("email: %s for event %s: the payload does not suit it: %w", n.template, d.EventID, err))
	}
	return s.Enqueue(d.Tx, m)
}

// alert mails the owner an inventory shortage, once per order: what an
// email target without settings does.
func (s *Service) alert(d bus.Delivery[envelope]) error {
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
