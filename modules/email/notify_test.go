package email

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// notifyRule routes checkout's events in states (order_shipped if none) to
// one email target.
func notifyRule(name string, settings map[string]string, states ...string) bus.RuleConfig {
	if len(states) == 0 {
		states = []string{event.OrderShipped}
	}
	return bus.RuleConfig{
		Name: name,
		Pattern: map[string]any{"source": []any{event.SourceCheckout},
			"detail": map[string]any{"order_state": toAny(states)}},
		Targets: []bus.TargetConfig{{Module: "email", Template: settings["template"], To: settings["to"]}},
		Retry:   &bus.Retry{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// orderEvent is order ord-de's detail in state, from a German customer.
func orderEvent(state string) event.OrderStateChange {
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	return event.OrderStateChange{
		OrderID:         "ord-de",
		Customer:        event.Customer{Email: "jana@example.de", Name: "Jana Müller", Locale: "de-DE"},
		Items:           []event.Item{{SKU: "MUG-1", Name: "Becher", Quantity: 2, UnitPriceMinor: 64950}},
		Currency:        "EUR",
		ShippingAddress: event.Address{Line1: "Hauptstraße 1", City: "Berlin", PostalCode: "10115", Country: "DE"},
		Payment:         event.Payment{Method: "card", Reference: "pi_secret_ref", AmountMinor: 129900},
		OrderState:      state,
		ItemCount:       2, SubtotalMinor: 129900, TotalMinor: 129900,
		CreatedAt: at, UpdatedAt: at.Add(48 * time.Hour),
	}
}

// startNotifier runs a bus with rules and the email service as its
// "email" target, sending to a real SMTP server, until the test ends.
func startNotifier(t *testing.T, cfg Config, rules ...bus.RuleConfig) (*Service, *bus.Bus, *smtptest.Server, *gorm.DB) {
	t.Helper()
	db := dbtest.Open(t, Migrations, bus.Migrations)
	mail := smtptest.Start(t, "127.0.0.1:0")
	cfg.SMTPAddr = mail.Addr()
	s := newTestService(t, db, cfg)
	b := bus.New(bus.Deps{DB: db, Log: s.log}, rules, bus.Options{PollInterval: 20 * time.Millisecond})
	s.Subscribe(b)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	bustest.Run(t, b.Run)
	runWorker(t, s)
	return s, b, mail, db
}

func publishAll(t *testing.T, db *gorm.DB, b *bus.Bus, details ...bus.Detail) []bus.Event {
	t.Helper()
	var out []bus.Event
	for _, d := range details {
		err := db.Transaction(func(tx *gorm.DB) error {
			ev, err := bus.Publish(context.Background(), tx, d)
			out = append(out, ev)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	b.Wake()
	return out
}

// TestNotificationRules: rules name the email, the recipient and, through
// the customer's locale, the language. The customer hears of the shipment
// (with its tracking) and of each refund in German, the owner of the new
// order in the shop's language with a link to its dashboard page, and an
// address set in a rule gets its copy. Replaying every event, delivered
// again, sends nothing twice.
func TestNotificationRules(t *testing.T) {
	cfg := testConfig()
	cfg.DashboardURL = "https://shop.example/dashboard"
	s, b, mail, db := startNotifier(t, cfg,
		notifyRule("new-order-owner", map[string]string{"template": "owner_new_order", "to": ToOwner}, event.NewOrderCreated),
		notifyRule("shipped-customer", map[string]string{"template": "order_shipped", "to": ToCustomer}, event.OrderShipped),
		notifyRule("shipped-warehouse", map[string]string{"template": "order_shipped", "to": "warehouse@example.com"}, event.OrderShipped),
		notifyRule("refunded-customer", map[string]string{"template": "order_refunded", "to": ToCustomer}, event.OrderRefunded),
	)

	shipped := orderEvent(event.OrderShipped)
	shipped.Shipment = &event.Shipment{Carrier: "DHL", TrackingNumber: "JD014600", TrackingURL: "https://www.dhl.de/track?id=JD014600"}
	partly, rest := orderEvent(event.OrderRefunded), orderEvent(event.OrderRefunded)
	partly.RefundMinor, partly.Payment.RefundedMinor = 64950, 64950
	rest.RefundMinor, rest.Payment.RefundedMinor = 64950, 129900
	events := publishAll(t, db, b, orderEvent(event.NewOrderCreated), shipped, partly, rest)

	bustest.WaitFor(t, "five emails sent", func() bool {
		sent := 0
		for _, j := range jobsFor(t, s, "ord-de") {
			if j.Status == StatusSent {
				sent++
			}
		}
		return sent == 5 && len(mail.Messages()) >= 5
	})
	byID := map[string]smtptest.Parsed{}
	for _, m := range mail.Messages() {
		p := parseMail(t, m.Data)
		if _, dup := byID[p.Header.Get("Message-Id")]; dup {
			t.Errorf("Message-ID %s sent twice", p.Header.Get("Message-Id"))
		}
		byID[p.Header.Get("Message-Id")] = p
	}
	if len(byID) != 5 {
		t.Fatalf("%d distinct emails, want 5", len(byID))
	}
	for _, want := range []struct {
		event, template, to, lang, subject string
		text                               []string
	}{
		{events[0].ID, "owner_new_order", "owner@example.com", "en", "New order ord-de: 1,299.00 EUR from Jana Müller",
			[]string{"placed on 4 May 2026", "jana@example.de", "https://shop.example/dashboard/orders/ord-de"}},
		{events[1].ID, "order_shipped", "jana@example.de", "de", "Ihre Bestellung ord-de bei Test Shop ist unterwegs",
			[]string{"am 6. Mai 2026 verlassen", "Versanddienst: DHL", "Sendungsnummer: JD014600", "https://www.dhl.de/track?id=JD014600"}},
		{events[1].ID, "order_shipped", "warehouse@example.com", "en", "Your order ord-de at Test Shop is on its way",
			[]string{"left us on 6 May 2026", "Tracking number: JD014600"}},
		{events[2].ID, "order_refunded", "jana@example.de", "de", "Erstattung von 649,50 EUR für Ihre Bestellung ord-de bei Test Shop",
			[]string{"Erstattet insgesamt: 649,50 EUR", "Weiterhin bezahlt: 649,50 EUR"}},
		{events[3].ID, "order_refunded", "jana@example.de", "de", "Erstattung von 649,50 EUR für Ihre Bestellung ord-de bei Test Shop",
			[]string{"Erstattet insgesamt: 1.299,00 EUR", "vollständig erstattet"}},
	} {
		id := MessageID(Message{EventID: want.event, Template: want.template, To: want.to})
		p, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("no %s to %s for event %s", want.template, want.to, want.event)
			continue
		case !strings.Contains(p.Header.Get("To"), want.to):
			t.Errorf("%s: To %q, want %s", want.template, p.Header.Get("To"), want.to)
		case p.Subject != want.subject:
			t.Errorf("%s to %s: subject %q, want %q", want.template, want.to, p.Subject, want.subject)
		}
		for _, w := range want.text {
			if !strings.Contains(p.Text, w) {
				t.Errorf("%s to %s: text lacks %q:\n%s", want.template, want.to, w, p.Text)
			}
		}
		if lang := p.Header.Get("Content-Language"); lang != want.lang {
			t.Errorf("%s to %s: Content-Language %q, want %s", want.template, want.to, lang, want.lang)
		}
		if strings.Contains(p.Text+p.HTML, "pi_secret_ref") {
			t.Errorf("%s shows the payment reference", want.template)
		}
	}
	jobs := jobsFor(t, s, "ord-de")
	if len(jobs) != 5 || jobs[1].Locale != "de-DE" || jobs[0].Locale != "" || jobs[0].EventID != events[0].ID {
		t.Errorf("jobs %+v", jobs)
	}

	// Every event again, delivered anew: the jobs exist, nothing is sent.
	res, err := b.Replay(context.Background(), bus.Replay{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour), Force: true})
	if err != nil || res.Deliveries != 5 {
		t.Fatalf("replay: %+v, %v; want 5 deliveries", res, err)
	}
	bustest.WaitFor(t, "the replayed deliveries", func() bool {
		ds, err := b.Deliveries(context.Background(), "ord-de")
		done := 0
		for _, d := range ds {
			if d.Status == bus.StatusDone {
				done++
			}
		}
		return err == nil && done == 10
	})
	// A delivery queues its email in its own transaction: with every
	// replayed delivery done and still five jobs, all sent, no sixth email
	// can ever go.
	jobs = jobsFor(t, s, "ord-de")
	for _, j := range jobs {
		if j.Status != StatusSent {
			t.Errorf("job %+v not sent", j)
		}
	}
	if n := len(mail.Messages()); n != 5 || len(jobs) != 5 {
		t.Errorf("after the replay %d emails and %d jobs, want 5 of each", n, len(jobs))
	}
}

// TestNotificationRulesRefused: an email target that names no template
// there is, no recipient, a recipient it cannot have, or that would get a
// payload without what its email needs, is refused at start-up with its
// rule's name, file and line.
func TestNotificationRulesRefused(t *testing.T) {
	badDir := t.TempDir()
	for name, body := range map[string]string{"order_delivered.txt": "{{.Nope}}"} {
		if err := os.WriteFile(filepath.Join(badDir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shortage := bus.RuleConfig{Name: "r", Pattern: map[string]any{"source": []any{event.SourceInventory}},
		Targets: []bus.TargetConfig{{Module: "email", Template: "order_shipped", To: ToCustomer}}}
	detailOnly := notifyRule("r", map[string]string{"template": "order_shipped", "to": ToCustomer})
	detailOnly.Targets[0].InputPath = "$.detail"
	noOrder := notifyRule("r", map[string]string{"template": "order_shipped", "to": ToCustomer})
	noOrder.Targets[0].Fields = []string{"detail-type", "detail.customer", "detail.items"}
	for _, tc := range []struct {
		name    string
		rule    bus.RuleConfig
		noOwner bool
		dir     string
		want    string
	}{
		{"unknown template", notifyRule("r", map[string]string{"template": "order_shiped", "to": ToCustomer}), false, "",
			`template "order_shiped" does not exist (there are inventory_shortage, order_backordered`},
		{"no recipient", notifyRule("r", map[string]string{"template": "order_shipped"}), false, "", "to is required"},
		{"no template", notifyRule("r", map[string]string{"to": ToOwner}), false, "", "template is required"},
		{"owner without owner_email", notifyRule("r", map[string]string{"template": "owner_new_order", "to": ToOwner}), true, "",
			"mail.owner_email is not set"},
		{"not an address", notifyRule("r", map[string]string{"template": "order_shipped", "to": "the warehouse"}), false, "",
			`to "the warehouse": want customer, owner or an email address`},
		{"an address with a name", notifyRule("r", map[string]string{"template": "order_shipped", "to": "Hall <hall@example.com>"}), false, "",
			"without a name"},
		{"a payload without the customer", shortage, false, "",
			`for "Inventory Shortage" events the payload does not suit the module: it has no detail.customer.email to send to`},
		{"a payload without the envelope", detailOnly, false, "", "it has none of the fields the module reads (detail-type, detail)"},
		{"a payload without the order", noOrder, false, "", "it has no detail.order_id, which every email is filed under"},
		{"a template that cannot show the order", notifyRule("r", map[string]string{"template": "order_delivered", "to": ToCustomer},
			event.OrderDelivered), false, badDir, "template order_delivered (en) cannot show it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Dir, cfg.TemplatesDir = t.TempDir(), tc.dir
			if tc.noOwner {
				cfg.OwnerEmail = ""
			}
			s := newTestService(t, nil, cfg)
			tc.rule.File, tc.rule.Line = "config.yaml", 42
			b := bus.New(bus.Deps{Log: s.log}, []bus.RuleConfig{tc.rule}, bus.Options{})
			s.Subscribe(b)
			for _, st := range event.OrderStates() {
				b.Example(orderEvent(st))
			}
			b.Example(event.InventoryShortage{OrderID: "ord-de", Items: []event.ShortItem{{SKU: "MUG-1", Requested: 2, Available: 1}}})
			err := b.Start()
			if !errors.Is(err, bus.ErrInvalidRule) {
				t.Fatalf("Start = %v, want an invalid rule", err)
			}
			if !strings.Contains(err.Error(), `config.yaml:42: rule "r"`) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to name config.yaml:42, the rule and say %q", err, tc.want)
			}
		})
	}
}
