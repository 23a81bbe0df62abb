package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestFailedEmailInTheDeadLetters: an email the mail server refused for
// good (553: the address needs SMTPUTF8) is at once a dead letter of kind
// email, with the server's reply, in GET /v1/dlq and `shopbus dlq`; once
// the server takes it, a redrive from the API sends it.
func TestFailedEmailInTheDeadLetters(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	mail.RefuseRecipients(553, smtp.EnhancedCode{5, 6, 7}, "SMTPUTF8 is required for this address")
	cfg := testConfig(t, mail.Addr())
	// No shortage and no owner's new-order email: the customer's is the one email.
	cfg.Rules = slices.DeleteFunc(cfg.Rules, func(r bus.RuleConfig) bool { return r.Name == "new-order-owner" })
	s := startShop(t, cfg, mail)
	s.setStock("MUG", 10)
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-m1", "ada@example.com", "MUG", 1)))

	type deadLetter struct {
		ID        int64  `json:"id"`
		Kind      string `json:"kind"`
		Target    string `json:"target"`
		OrderID   string `json:"order_id"`
		Template  string `json:"template"`
		To        string `json:"to"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
		Errors    []struct {
			Error string `json:"error"`
		} `json:"errors"`
	}
	type list struct {
		DeadLetters []deadLetter `json:"dead_letters"`
	}
	var dl deadLetter
	waitFor(t, "the refused email in the dead letters", 20*time.Second, func() (bool, string) {
		l := must[list](t, http.StatusOK)(s.request("GET", "/v1/dlq", nil))
		if len(l.DeadLetters) != 1 {
			return false, fmt.Sprint(l)
		}
		dl = l.DeadLetters[0]
		return true, ""
	})
	if dl.Kind != "email" || dl.Target != "email" || dl.OrderID != "ord-m1" || dl.Template != "order_success" ||
		dl.To != "ada@example.com" || dl.Attempts != 1 || !strings.Contains(dl.LastError, "553") ||
		!strings.Contains(dl.LastError, "SMTPUTF8 is required") || len(dl.Errors) != 1 {
		t.Errorf("dead letter %+v", dl)
	}
	if one := must[deadLetter](t, http.StatusOK)(s.request("GET", fmt.Sprintf("/v1/dlq/%d?kind=email", dl.ID), nil)); one.ID != dl.ID || one.LastError != dl.LastError {
		t.Errorf("GET /v1/dlq/%d?kind=email gave %+v", dl.ID, one)
	}
	if status, body := s.request("GET", fmt.Sprintf("/v1/dlq/%d", dl.ID), nil); status != http.StatusNotFound {
		t.Errorf("GET /v1/dlq/%d without kind: %d %s, want 404 (no dead delivery has that id)", dl.ID, status, body)
	}
	if n := len(must[list](t, http.StatusOK)(s.request("GET", "/v1/dlq?target=email", nil)).DeadLetters); n != 1 {
		t.Errorf("%d dead letters of target email, want 1", n)
	}
	must[problem](t, http.StatusUnprocessableEntity)(s.request("POST", "/v1/dlq/redrive", map[string]any{"all": true, "kind": "sms"}))

	// The CLI sees it in the same database.
	useDatabase(t, s.cfg.Database)
	t.Setenv("SHOPBUS_MAIL_DIR", t.TempDir())
	code, out, errOut := runCLI(t, "dlq", "list")
	lines := strings.Split(out, "\n")
	if code != 0 || len(lines) < 2 || strings.Join(strings.Fields(lines[0]), " ") != "ID KIND TARGET RULE ORDER ATTEMPTS DIED LAST ERROR" ||
		!strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), fmt.Sprintf("%d email email order_success ord-m1 1 ", dl.ID)) ||
		!strings.Contains(lines[1], "553") {
		t.Errorf("dlq list: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "dlq", "show", fmt.Sprint(dl.ID), "--kind", "email"); code != 0 ||
		!strings.Contains(out, `"kind": "email"`) || !strings.Contains(out, `"to": "ada@example.com"`) {
		t.Errorf("dlq show --kind email: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "dlq", "redrive", "999999", "--kind", "email"); code != 1 || !strings.Contains(errOut, "no failed email") {
		t.Errorf("dlq redrive of no failed email: %d %q %q", code, out, errOut)
	}

	mail.RefuseRecipients(0, smtp.EnhancedCode{}, "")
	res := must[map[string]int](t, http.StatusOK)(s.request("POST", "/v1/dlq/redrive", map[string]any{"ids": []int64{dl.ID}, "kind": "email"}))
	if res["redriven"] != 1 {
		t.Errorf("redrive answered %v", res)
	}
	waitFor(t, "the redriven email to be sent", 20*time.Second, func() (bool, string) {
		return len(mail.Messages()) == 1, fmt.Sprint(len(mail.Messages()), " messages")
	})
	if n := len(must[list](t, http.StatusOK)(s.request("GET", "/v1/dlq", nil)).DeadLetters); n != 0 {
		t.Errorf("%d dead letters left", n)
	}
}
