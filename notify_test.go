package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestNotificationsEndToEnd runs the shop as config.yaml ships it, over
// real SMTP: every step of an order mails its customer, in the language
// the order names, and every new order mails the owner with a link to its
// page on the dashboard. A locale that is not a language tag is refused.
func TestNotificationsEndToEnd(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	cfg := testConfig(t, mail.Addr())
	cfg.Mail.DashboardURL = "https://shop.example/dashboard"
	s := startShop(t, cfg, mail)
	s.setStock("MUG", 100)
	s.setStock("TEE", 100)

	german := newOrder("ord-de", "jana@example.de", "MUG", 2)
	german["customer"].(map[string]string)["locale"] = "de-DE"
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", german))
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-en", "ada@example.com", "TEE", 1)))
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-x", "bob@example.com", "TEE", 1)))

	confirmed := mailTo(t, mail, "jana@example.de", "Ihre Bestellung ord-de bei My Shop ist bestätigt")
	if !strings.Contains(confirmed.Text, "Gesamt: 25,00 EUR") || confirmed.Header.Get("Content-Language") != "de" {
		t.Errorf("the German confirmation:\n%s", confirmed.Text)
	}
	owner := mailTo(t, mail, cfg.Mail.OwnerEmail, "New order ord-de: 25.00 EUR")
	if !strings.Contains(owner.Text, "https://shop.example/dashboard/orders/ord-de") ||
		!strings.Contains(owner.HTML, `href="https://shop.example/dashboard/orders/ord-de"`) {
		t.Errorf("the owner's email has no link to the order's page:\n%s", owner.Text)
	}

	move := func(id string, body map[string]any) {
		t.Helper()
		must[map[string]string](t, http.StatusOK)(s.request("POST", "/v1/orders/"+id+"/state", body))
	}
	s.waitSettled("ord-de", 5, 2)
	move("ord-de", map[string]any{"order_state": "order_shipped",
		"shipment": map[string]any{"carrier": "DHL", "tracking_number": "JD0146", "tracking_url": "https://www.dhl.de/track?id=JD0146"}})
	shipped := mailTo(t, mail, "jana@example.de", "Ihre Bestellung ord-de bei My Shop ist unterwegs")
	for _, want := range []string{"Versanddienst: DHL", "Sendungsnummer: JD0146", "Sendung verfolgen: https://www.dhl.de/track?id=JD0146"} {
		if !strings.Contains(shipped.Text, want) {
			t.Errorf("the shipment email lacks %q:\n%s", want, shipped.Text)
		}
	}
	move("ord-de", map[string]any{"order_state": "order_refunded", "refund_minor": 1250})
	refunded := mailTo(t, mail, "jana@example.de", "Erstattung von 12,50 EUR für Ihre Bestellung ord-de")
	if !strings.Contains(refunded.Text, "Weiterhin bezahlt: 12,50 EUR") {
		t.Errorf("the refund email does not say what remains paid:\n%s", refunded.Text)
	}

	s.waitSettled("ord-en", 5, 2)
	move("ord-en", map[string]any{"order_state": "order_shipped"})
	untracked := mailTo(t, mail, "ada@example.com", "Your order ord-en at My Shop is on its way")
	if strings.Contains(untracked.Text, "Tracking") {
		t.Errorf("a shipment without tracking speaks of tracking:\n%s", untracked.Text)
	}
	move("ord-en", map[string]any{"order_state": "order_delivered"})
	mailTo(t, mail, "ada@example.com", "Your order ord-en at My Shop has arrived")
	move("ord-x", map[string]any{"order_state": "order_cancelled"})
	mailTo(t, mail, "bob@example.com", "Your order ord-x at My Shop is cancelled")

	// The order's page lists its emails: the confirmation, the owner's,
	// the shipment's and the refund's, each under its event, in German but
	// the owner's.
	v := s.waitSettled("ord-de", 11, 4)
	locales := map[string]string{}
	for _, e := range v.Emails {
		locales[e.Template] = e.To + " " + e.Locale
	}
	for tmpl, want := range map[string]string{"order_success": "jana@example.de de-DE", "owner_new_order": cfg.Mail.OwnerEmail + " ",
		"order_shipped": "jana@example.de de-DE", "order_refunded": "jana@example.de de-DE"} {
		if locales[tmpl] != want {
			t.Errorf("email %s: %q, want %q (all: %+v)", tmpl, locales[tmpl], want, v.Emails)
		}
	}
	s.waitSettled("ord-en", 11, 4)
	s.waitSettled("ord-x", 9, 3)
	if n := len(mail.Messages()); n != 11 {
		t.Errorf("%d messages, want 11: 3 confirmations, 3 to the owner, 2 shipments, a refund, a delivery and a cancellation", n)
	}

	bad := newOrder("ord-bad", "x@example.com", "MUG", 1)
	bad["customer"].(map[string]string)["locale"] = "Deutsch"
	p := must[problem](t, http.StatusUnprocessableEntity)(s.request("POST", "/v1/orders", bad))
	if len(p.Errors) != 1 || p.Errors[0].Field != "customer.locale" {
		t.Errorf("a locale that is no language tag: %+v", p)
	}
}
