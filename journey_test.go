package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestJourney posts concurrent orders to the real server and follows each
// to every target and to the customer's inbox.
func TestJourney(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	s := startShop(t, testConfig(t, mail.Addr()), mail)
	s.setStock("MUG", 100)
	s.setStock("TEE", 100)

	const orders = 30
	var wg sync.WaitGroup
	for i := range orders {
		wg.Go(func() {
			id := fmt.Sprintf("ord-%03d", i)
			acc := must[map[string]string](t, http.StatusCreated)(
				s.request("POST", "/v1/orders", newOrder(id, fmt.Sprintf("c%d@example.com", i), "MUG", 2, "TEE", 1)))
			if acc["order_id"] != id || acc["order_state"] != "new_order_created" || acc["event_id"] == "" {
				t.Errorf("201 body %v", acc)
			}
		})
	}
	wg.Wait()

	for i := range orders {
		id := fmt.Sprintf("ord-%03d", i)
		v := s.waitSettled(id, 5, 2)
		targets := map[string]bool{}
		for _, d := range v.Deliveries {
			targets[d.Target] = true
		}
		for _, want := range []string{"inventory", "shipping", "payment", "crm", "email"} {
			if !targets[want] {
				t.Errorf("%s: no delivery to %s: %+v", id, want, v.Deliveries)
			}
		}
		// The customer's confirmation (CRM's), the owner's new-order email.
		emails := map[string]string{}
		for _, e := range v.Emails {
			emails[e.Template] = e.To
		}
		if len(v.Emails) != 2 || emails["order_success"] != fmt.Sprintf("c%d@example.com", i) || emails["owner_new_order"] != s.cfg.Mail.OwnerEmail {
			t.Errorf("%s: emails %+v", id, v.Emails)
		}
	}
	if st := s.stock("MUG"); st.OnHand != 100 || st.Reserved != 2*orders || st.Available != 100-2*orders {
		t.Errorf("MUG stock %+v, want 100 on hand, %d reserved", st, 2*orders)
	}
	if st := s.stock("TEE"); st.Reserved != orders {
		t.Errorf("TEE stock %+v, want %d reserved", st, orders)
	}

	// Exactly one email per order reached the SMTP server for the
	// customer, and one for the owner, each naming the order.
	got, owner := map[string]int{}, map[string]int{}
	for _, m := range mail.Messages() {
		p, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		id := orderIDPattern.FindString(p.Subject)
		if !strings.Contains(p.Text, id) || !strings.Contains(p.HTML, id) {
			t.Errorf("%s: body does not name the order", id)
		}
		if len(m.To) == 1 && m.To[0] == s.cfg.Mail.OwnerEmail {
			owner[id]++
			continue
		}
		got[id]++
		want := fmt.Sprintf("c%d@example.com", atoi(t, id[4:]))
		if len(m.To) != 1 || m.To[0] != want {
			t.Errorf("%s mailed to %v, want %s", id, m.To, want)
		}
	}
	for i := range orders {
		if id := fmt.Sprintf("ord-%03d", i); got[id] != 1 || owner[id] != 1 {
			t.Errorf("%s: %d emails received by the customer, %d by the owner; want 1 and 1", id, got[id], owner[id])
		}
	}
	if n := len(mail.Messages()); n != 2*orders {
		t.Errorf("SMTP server received %d messages, want %d", n, 2*orders)
	}
}

var orderIDPattern = regexp.MustCompile(`ord-\d{3}`)

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCancelReleasesStock follows an order through cancellation: stock goes
// back, the shipment is cancelled and the payment voided.
func TestCancelReleasesStock(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	s := startShop(t, testConfig(t, mail.Addr()), mail)
	s.setStock("MUG", 10)

	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-c1", "a@example.com", "MUG", 3)))
	s.waitSettled("ord-c1", 4, 1)
	if st := s.stock("MUG"); st.Reserved != 3 || st.Available != 7 {
		t.Fatalf("after order: %+v", st)
	}
	acc := must[map[string]string](t, http.StatusOK)(s.request("POST", "/v1/orders/ord-c1/state", map[string]string{"order_state": "order_cancelled"}))
	if acc["order_state"] != "order_cancelled" {
		t.Fatalf("state change answered %v", acc)
	}
	v := s.waitSettled("ord-c1", 9, 3) // + inventory, shipping, payment and the customer's email for the cancellation
	if v.OrderState != "order_cancelled" {
		t.Errorf("state %s", v.OrderState)
	}
	if st := s.stock("MUG"); st.Reserved != 0 || st.Available != 10 || st.OnHand != 10 {
		t.Errorf("after cancel: %+v, want all 10 available", st)
	}
	var shipment, payment string
	queryRow(t, s.cfg.Database, "SELECT status FROM shipping_shipments WHERE order_id = 'ord-c1'", &shipment)
	queryRow(t, s.cfg.Database, "SELECT status FROM payment_payments WHERE order_id = 'ord-c1'", &payment)
	if shipment != "cancelled" || payment != "voided" {
		t.Errorf("shipment %q, payment %q; want cancelled, voided", shipment, payment)
	}

	// A cancelled order cannot be shipped: 409, and no new event.
	p := must[problem](t, http.StatusConflict)(s.request("POST", "/v1/orders/ord-c1/state", map[string]string{"order_state": "order_shipped"}))
	if !strings.Contains(p.Detail, "cannot go from order_cancelled to order_shipped") {
		t.Errorf("ship after cancel: %+v", p)
	}
	if v := s.order("ord-c1"); len(v.Deliveries) != 9 {
		t.Errorf("refused change made deliveries: %+v", v.Deliveries)
	}
}

// TestShipCommitsStock: shipping takes reserved units off the shelf and
// captures the payment.
func TestShipCommitsStock(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	s := startShop(t, testConfig(t, mail.Addr()), mail)
	s.setStock("MUG", 10)
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-s1", "a@example.com", "MUG", 4)))
	s.waitSettled("ord-s1", 4, 1)
	must[map[string]string](t, http.StatusOK)(s.request("POST", "/v1/orders/ord-s1/state", map[string]string{"order_state": "order_shipped"}))
	s.waitSettled("ord-s1", 6, 1) // + inventory, payment
	if st := s.stock("MUG"); st.OnHand != 6 || st.Reserved != 0 || st.Available != 6 {
		t.Errorf("after shipping: %+v, want 6 on hand, none reserved", st)
	}
	var payment string
	queryRow(t, s.cfg.Database, "SELECT status FROM payment_payments WHERE order_id = 'ord-s1'", &payment)
	if payment != "captured" {
		t.Errorf("payment %q, want captured", payment)
	}
}

// TestShortageAlert: an order for more than is available reserves nothing
// and mails the shop owner.
func TestShortageAlert(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	s := startShop(t, testConfig(t, mail.Addr()), mail)
	s.setStock("MUG", 5)
	s.setStock("TEE", 1)

	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-short", "a@example.com", "MUG", 2, "TEE", 3)))
	// The order's five deliveries (four modules and the owner's email),
	// and the Inventory Shortage event's two (the alert, CRM); emails: the
	// confirmation, the owner's, the alert and the customer's backorder
	// notice.
	v := s.waitSettled("ord-short", 7, 4)
	templates := map[string]string{}
	for _, e := range v.Emails {
		templates[e.Template] = e.To
	}
	if templates["inventory_shortage"] != s.cfg.Mail.OwnerEmail || templates["order_success"] != "a@example.com" {
		t.Errorf("emails %+v", v.Emails)
	}
	if st := s.stock("MUG"); st.Reserved != 0 {
		t.Errorf("MUG reserved %d: a short order must reserve nothing", st.Reserved)
	}
	var alert *smtptest.Parsed
	for _, m := range mail.Messages() {
		p, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if m.To[0] == s.cfg.Mail.OwnerEmail {
			alert = &p
		}
	}
	if alert == nil {
		t.Fatal("the owner received no alert")
	}
	if !strings.Contains(alert.Subject, "ord-short") || !strings.Contains(alert.Text, "TEE") {
		t.Errorf("alert subject %q text %q", alert.Subject, alert.Text)
	}
}

// TestSMTPDownThenUp: mail queued while the SMTP server is down arrives,
// once, when it comes up.
func TestSMTPDownThenUp(t *testing.T) {
	addr := smtptest.FreeAddr(t)
	s := startShop(t, testConfig(t, addr), nil)
	s.setStock("MUG", 5)
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-d1", "a@example.com", "MUG", 1)))
	// The customer's confirmation and the owner's new-order email.
	waitFor(t, "a failed send attempt", 20*time.Second, func() (bool, string) {
		v := s.order("ord-d1")
		return len(v.Emails) == 2 && v.Emails[0].Attempts >= 2 && v.Emails[0].Status == "queued" &&
			v.Emails[1].Attempts >= 2 && v.Emails[1].Status == "queued", fmt.Sprintf("%+v", v.Emails)
	})
	mail := smtptest.Start(t, addr)
	v := s.waitSettled("ord-d1", 5, 2)
	for _, e := range v.Emails {
		if e.Attempts < 3 {
			t.Errorf("%s: attempts %d: the email should have failed before it was sent", e.Template, e.Attempts)
		}
	}
	waitFor(t, "the messages at the server", 20*time.Second, func() (bool, string) {
		return len(mail.Messages()) == 2, fmt.Sprint(len(mail.Messages()), " messages")
	})
	if n := len(mail.Messages()); n != 2 {
		t.Errorf("%d messages received, want 2", n)
	}
}

// TestOrderCharges: shipping, tax and a discount make the grand total the
// payment must equal, travel in the event, and show in the customer's email.
func TestOrderCharges(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	s := startShop(t, testConfig(t, mail.Addr()), mail)
	s.setStock("MUG", 5)
	body := newOrder("ord-ch", "a@example.com", "MUG", 2) // 25.00
	body["shipping_minor"], body["tax_minor"], body["discount_minor"] = 490, 500, 300
	body["payment"].(map[string]any)["amount_minor"] = 2500 // not the grand total
	p := must[problem](t, http.StatusUnprocessableEntity)(s.request("POST", "/v1/orders", body))
	if len(p.Errors) != 1 || p.Errors[0].Field != "payment.amount_minor" || !strings.Contains(p.Errors[0].Message, "3190") {
		t.Errorf("a payment short of the grand total: %+v", p)
	}
	body["payment"].(map[string]any)["amount_minor"] = 3190
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", body))
	if v := s.waitSettled("ord-ch", 4, 1); v.TotalMinor != 3190 {
		t.Errorf("total_minor %d, want 3190", v.TotalMinor)
	}
	m := mailTo(t, mail, "a@example.com", "ord-ch")
	for _, want := range []string{"Subtotal: 25.00 EUR", "Shipping: 4.90 EUR", "Tax: 5.00 EUR", "Discount: -3.00 EUR", "Total: 31.90 EUR"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the email lacks %q:\n%s", want, m.Text)
		}
	}
}
