package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/modules/email"
)

// TestPages renders every page over real data and checks what an operator
// must see on it.
func TestPages(t *testing.T) {
	s := newShop(t)
	s.place("ord-1", "ada@example.com")
	s.place("ord-2", "bob@example.org")
	ctx := context.Background()
	for sku, n := range map[string]int64{"MUG-1": 3, "TEA-1": 50, "CUP-0": 0} {
		if _, err := s.stock.Set(ctx, sku, n); err != nil {
			t.Fatal(err)
		}
	}
	b := s.loggedIn()
	for _, path := range []string{"/dashboard", "/dashboard/"} {
		if p := b.get(path); p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/orders" {
			t.Errorf("GET %s: %d to %q, want 303 to the orders", path, p.status, p.header.Get("Location"))
		}
	}
	for _, tc := range []struct {
		path       string
		wantStatus int
		want       []string
		wantNot    []string
	}{
		{"/dashboard/orders", http.StatusOK, []string{`id="order-ord-1"`, `id="order-ord-2"`, "ada@example.com", "new order created",
			`class="chip s-done"`, `class="chip s-dead"`, "19.00 EUR", `data-live-insert="start"`, `data-live="/dashboard/live?since=`}, nil},
		{"/dashboard/orders?q=BOB", http.StatusOK, []string{`id="order-ord-2"`, `Matching: <strong data-live-count="orders-body">1</strong>.`}, []string{`id="order-ord-1"`, "data-live-insert"}},
		{"/dashboard/orders?state=order_paid", http.StatusOK, []string{"No orders match."}, []string{`id="order-ord-`}},
		{"/dashboard/orders?state=lost", http.StatusBadRequest, []string{"There is no order state"}, nil},
		{"/dashboard/orders/ord-1", http.StatusOK, []string{"<h1>Order ord-1</h1>", "no carrier for this address", "Redrive", "Order State Change",
			"&#34;order_id&#34;: &#34;ord-1&#34;", "No emails for this order.", `data-live="/dashboard/live?order=ord-1`}, nil},
		{"/dashboard/orders/ord-none", http.StatusNotFound, []string{"order not found"}, nil},
		{"/dashboard/flow", http.StatusOK, []string{"new-orders", "<code>shopbus.checkout</code>", "Matched <strong>2</strong> events in the last hour",
			`<td class="bad">2</td>`}, nil},
		{"/dashboard/dlq", http.StatusOK, []string{"Redrive all 2", "new-orders → shipping", "no carrier for this address"}, nil},
		{"/dashboard/dlq?target=inventory", http.StatusOK, []string{"No dead deliveries to inventory."}, nil},
		{"/dashboard/rules", http.StatusOK, []string{"new_order_created", "Test the rules"}, nil},
		{"/dashboard/inventory", http.StatusOK, []string{"<strong>1</strong> out of stock, <strong>1</strong> low", `<tr class="out">`, `<tr class="low">`}, nil},
		{"/dashboard/inventory?low=-1", http.StatusBadRequest, []string{"threshold"}, nil},
		{"/dashboard/no-such-page", http.StatusNotFound, []string{"<h1>Not Found</h1>"}, nil},
	} {
		t.Run(tc.path, func(t *testing.T) {
			p := b.get(tc.path)
			if p.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", p.status, tc.wantStatus, p.body)
			}
			if ct := p.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q, want HTML", ct)
			}
			if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self';") ||
				p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v: want the strict CSP, no framing, no caching", p.header)
			}
			for _, w := range tc.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("the page lacks %q", w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(p.body, w) {
					t.Errorf("the page shows %q", w)
				}
			}
			if t.Failed() {
				t.Log(p.body)
			}
		})
	}
}

func TestRuleTester(t *testing.T) {
	s := newShop(t)
	b := s.loggedIn()
	token := b.csrf("/dashboard/rules")
	p := b.post("/dashboard/rules/test", url.Values{"csrf": {token},
		"event": {`{"source":"shopbus.checkout","detail-type":"Order State Change","detail":{"order_id":"ord-9"}}`}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "1 rule match") || !strings.Contains(p.body, "shipping would receive") ||
		!strings.Contains(p.body, "&#34;order_id&#34;: &#34;ord-9&#34;") {
		t.Errorf("a matching event: %d: %s", p.status, p.body)
	}
	p = b.post("/dashboard/rules/test", url.Values{"csrf": {token}, "event": {`{"source":"elsewhere"}`}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "0 rules match") || !strings.Contains(p.body, "No rule matches this event") {
		t.Errorf("an event nothing matches: %d: %s", p.status, p.body)
	}
	p = b.post("/dashboard/rules/test", url.Values{"csrf": {token}, "event": {`[1, 2`}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "must be a JSON object") || !strings.Contains(p.body, `aria-invalid="true"`) {
		t.Errorf("not JSON: %d: %s", p.status, p.body)
	}
}

// TestRedrive: one dead delivery or all of a target's go back in line, and
// the form returns to a page of the dashboard only.
func TestRedrive(t *testing.T) {
	s := newShop(t)
	s.place("ord-1", "ada@example.com")
	s.place("ord-2", "bob@example.org")
	ds, err := s.bus.OrderDeliveries(context.Background(), "ord-1")
	if err != nil {
		t.Fatal(err)
	}
	done := ds[0].ID // inventory's, not dead
	b := s.loggedIn()
	token := b.csrf("/dashboard/dlq")
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		// Shipping fails for good, so what is redriven soon dies again:
		// only the first count is sure.
		{"every one of a target", url.Values{"target": {"shipping"}, "back": {"/dashboard/dlq?target=shipping"}}, "/dashboard/dlq?redriven=2&target=shipping"},
		{"a delivery that is not dead", url.Values{"id": {itoa(done)}, "back": {"/dashboard/orders/ord-1"}}, "/dashboard/orders/ord-1?redriven=0"},
		{"back to another site", url.Values{"id": {itoa(done)}, "back": {"https://evil.example/dashboard/x"}}, "/dashboard/dlq?redriven=0"},
		{"back to a path outside", url.Values{"id": {itoa(done)}, "back": {"//evil.example/dashboard/"}}, "/dashboard/dlq?redriven=0"},
		{"back up and out", url.Values{"id": {itoa(done)}, "back": {"/dashboard/../v1/apikeys"}}, "/dashboard/dlq?redriven=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("csrf", token)
			if p := b.post("/dashboard/dlq/redrive", tc.form); p.status != http.StatusSeeOther || p.header.Get("Location") != tc.want {
				t.Errorf("redrive: %d to %q, want 303 to %q: %s", p.status, p.header.Get("Location"), tc.want, p.body)
			}
		})
	}
	if p := b.post("/dashboard/dlq/redrive", url.Values{"csrf": {token}, "id": {"x"}}); p.status != http.StatusBadRequest {
		t.Errorf("redrive of id x: %d, want 400", p.status)
	}
}

func TestStatic(t *testing.T) {
	s := newShop(t)
	b := s.browser() // the login page needs them too: no session
	p := b.get("/dashboard/static/live.js")
	if p.status != http.StatusOK || p.header.Get("Content-Type") != "text/javascript; charset=utf-8" || !strings.Contains(p.body, "EventSource") {
		t.Fatalf("live.js: %d %q", p.status, p.header.Get("Content-Type"))
	}
	req, _ := http.NewRequest(http.MethodGet, s.url+"/dashboard/static/live.js", nil)
	req.Header.Set("If-None-Match", p.header.Get("ETag"))
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("live.js again with its ETag: %d, want 304", resp.StatusCode)
	}
	if p := b.get("/dashboard/static/nothing.js"); p.status != http.StatusNotFound {
		t.Errorf("an unknown file: %d, want 404", p.status)
	}
}

// TestFailedEmailIsADeadLetter: an email the mail server refused for good
// is on the dead-letter page beside the dead deliveries, with the server's
// reply, and its redrive sends it once the server takes it.
func TestFailedEmailIsADeadLetter(t *testing.T) {
	s := newShop(t)
	s.place("ord-1", "ada@example.com")
	s.smtp.RefuseRecipients(553, smtp.EnhancedCode{5, 6, 7}, "SMTPUTF8 is required for this address")
	err := s.db.Transaction(func(tx *gorm.DB) error {
		return s.mail.Enqueue(tx, email.Message{OrderID: "ord-1", Template: "inventory_shortage", To: "owner@example.com",
			Data: email.Shortage{OrderID: "ord-1"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.mail.Wake()
	var id int64
	bustest.WaitFor(t, "the email to fail", func() bool {
		dead, err := s.mail.DeadLetters(context.Background(), "", 10)
		if err != nil || len(dead) != 1 {
			return false
		}
		id = dead[0].ID
		return true
	})

	b := s.loggedIn()
	p := b.get("/dashboard/dlq")
	for _, want := range []string{"Email #" + itoa(id) + " inventory_shortage → owner@example.com", "SMTPUTF8 is required for this address",
		"553", "Redrive email #" + itoa(id), `name="kind" value="email"`, ">email</a>: 1 dead", ">shipping</a>: 1 dead"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	s.smtp.RefuseRecipients(0, smtp.EnhancedCode{}, "")
	form := url.Values{"csrf": {b.csrf("/dashboard/dlq")}, "id": {itoa(id)}, "kind": {"email"}, "back": {"/dashboard/dlq"}}
	if p := b.post("/dashboard/dlq/redrive", form); p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/dlq?redriven=1" {
		t.Fatalf("redrive: %d to %q: %s", p.status, p.header.Get("Location"), p.body)
	}
	bustest.WaitFor(t, "the email to be sent", func() bool { return len(s.smtp.Messages()) == 1 })
	if dead := s.dead(""); len(dead) != 1 || dead[0].Kind != bus.KindDelivery {
		t.Errorf("dead letters of the bus after the redrive: %+v", dead)
	}
}
