package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/transform"
	"github.com/shopbus/shopbus/bus/webhook"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is a third-party endpoint: it answers what the test tells it
// to and records every request, verifying each signature.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	// answer returns the status for the n-th request (from 0); a negative
	// status means "hang until the sender gives up".
	answer func(n int) int
	got    []hookRequest
}

type hookRequest struct {
	ID       string
	Status   int
	Verified bool
	Body     map[string]any
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	r := &receiver{answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.got)
		status := r.answer(n)
		h := hookRequest{ID: req.Header.Get("webhook-id"), Status: status,
			Verified: webhook.Verify(hookSecret, req.Header, body, time.Minute, time.Now()) == nil}
		_ = json.Unmarshal(body, &h.Body)
		r.got = append(r.got, h)
		r.mu.Unlock()
		if status < 0 {
			<-req.Context().Done() // hang: the sender's timeout ends it
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []hookRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookRequest(nil), r.got...)
}

func (r *receiver) setAnswer(answer func(n int) int) {
	r.mu.Lock()
	r.answer = answer
	r.mu.Unlock()
}

// withWebhook adds a rule sending every order state change to the
// receiver as target "erp", with only the order id and state.
func withWebhook(t *testing.T, cfg *config.Config, r *receiver) {
	t.Setenv("TEST_HOOK_SECRET", hookSecret)
	cfg.Rules = append(cfg.Rules, bus.RuleConfig{
		Name:    "orders-to-erp",
		Pattern: map[string]any{"source": []any{"shopbus.checkout"}},
		Targets: []bus.TargetConfig{{
			Name:    "erp",
			Webhook: &webhook.Config{URL: r.srv.URL + "/hooks/shopbus", SecretEnv: "TEST_HOOK_SECRET", Timeout: 300 * time.Millisecond},
			Spec:    transform.Spec{Fields: []string{"detail.order_id", "detail.order_state"}},
		}},
		Retry: &bus.Retry{MaxAttempts: 10},
	})
}

func (s *shop) delivery(id, target string) (status string, attempts int, lastError string) {
	s.t.Helper()
	for _, d := range s.order(id).Deliveries {
		if d.Target == target {
			return d.Status, d.Attempts, d.LastError
		}
	}
	return "", 0, ""
}

// TestWebhookOutage: a receiver that fails with 500, then times out, then
// answers 200 gets the event, signed, under one webhook-id.
func TestWebhookOutage(t *testing.T) {
	r := newReceiver(t, func(n int) int { return []int{500, -1, 200}[min(n, 2)] })
	cfg := testConfig(t, smtptest.FreeAddr(t))
	withWebhook(t, cfg, r)
	s := startShop(t, cfg, nil)
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-w1", "a@example.com", "MUG", 1)))

	waitFor(t, "the webhook delivery to be done", 20*time.Second, func() (bool, string) {
		status, attempts, last := s.delivery("ord-w1", "erp")
		return status == "done", fmt.Sprintf("%s after %d attempts: %s", status, attempts, last)
	})
	got := r.requests()
	if len(got) != 3 {
		t.Fatalf("receiver saw %d requests, want 3 (500, timeout, 200): %+v", len(got), got)
	}
	for _, h := range got {
		if !h.Verified || h.ID != got[0].ID || h.ID == "" {
			t.Errorf("request %+v: want a verified signature and the same webhook-id as the first", h)
		}
	}
	want := map[string]any{"detail": map[string]any{"order_id": "ord-w1", "order_state": "new_order_created"}}
	if mustMarshal(t, got[2].Body) != mustMarshal(t, want) {
		t.Errorf("payload %v, want %v", got[2].Body, want)
	}
	if _, attempts, _ := s.delivery("ord-w1", "erp"); attempts != 3 {
		t.Errorf("attempts %d, want 3", attempts)
	}
}

// TestWebhookDeadLetterRedrive: a 400 goes straight to the dead letters,
// and once the receiver is fixed a redrive delivers it.
func TestWebhookDeadLetterRedrive(t *testing.T) {
	r := newReceiver(t, func(int) int { return 400 })
	cfg := testConfig(t, smtptest.FreeAddr(t))
	withWebhook(t, cfg, r)
	s := startShop(t, cfg, nil)
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-w2", "a@example.com", "MUG", 1)))
	waitFor(t, "the delivery to be dead", 20*time.Second, func() (bool, string) {
		status, attempts, last := s.delivery("ord-w2", "erp")
		return status == "dead", fmt.Sprintf("%s after %d attempts: %s", status, attempts, last)
	})
	if _, attempts, last := s.delivery("ord-w2", "erp"); attempts != 1 || !strings.Contains(last, "400") {
		t.Errorf("dead after %d attempts with %q; want 1 attempt and the 400", attempts, last)
	}

	type deadLetter struct {
		ID      int64          `json:"id"`
		Target  string         `json:"target"`
		Rule    string         `json:"rule"`
		Payload map[string]any `json:"payload"`
		Errors  []struct {
			Error string `json:"error"`
		} `json:"errors"`
	}
	list := must[struct {
		DeadLetters []deadLetter `json:"dead_letters"`
	}](t, http.StatusOK)(s.request("GET", "/v1/dlq?target=erp", nil))
	if len(list.DeadLetters) != 1 {
		t.Fatalf("dead letters %+v", list.DeadLetters)
	}
	dl := list.DeadLetters[0]
	if dl.Rule != "orders-to-erp" || len(dl.Errors) != 1 || dl.Payload["detail"] == nil {
		t.Errorf("dead letter %+v", dl)
	}
	one := must[deadLetter](t, http.StatusOK)(s.request("GET", fmt.Sprintf("/v1/dlq/%d", dl.ID), nil))
	if one.ID != dl.ID {
		t.Errorf("GET /v1/dlq/%d gave %+v", dl.ID, one)
	}
	// The CLI sees the same dead letter in the same database.
	useDatabase(t, s.cfg.Database)
	t.Setenv("SHOPBUS_MAIL_DIR", t.TempDir())
	if code, out, errOut := runCLI(t, "dlq", "list", "--target", "erp"); code != 0 || !strings.Contains(out, fmt.Sprint(dl.ID)) || !strings.Contains(out, "400") {
		t.Errorf("dlq list: %d %q %q", code, out, errOut)
	}

	if code, out, errOut := runCLI(t, "dlq", "show", fmt.Sprint(dl.ID)); code != 0 || !strings.Contains(out, `"rule": "orders-to-erp"`) || !strings.Contains(out, `"errors"`) {
		t.Errorf("dlq show: %d %q %q", code, out, errOut)
	}
	if code, _, _ := runCLI(t, "dlq", "redrive"); code != 2 {
		t.Errorf("dlq redrive with nothing named: exit %d, want 2", code)
	}

	must[problem](t, http.StatusUnprocessableEntity)(s.request("POST", "/v1/dlq/redrive", map[string]any{"target": "erp", "all": true}))
	r.setAnswer(func(int) int { return 204 })
	if code, out, errOut := runCLI(t, "dlq", "redrive", fmt.Sprint(dl.ID), "999999"); code != 0 || out != "redriven: 1 of 2 (the others are not dead deliveries)\n" {
		t.Errorf("dlq redrive by id: %d %q %q", code, out, errOut)
	}
	waitFor(t, "the redriven delivery to be done", 20*time.Second, func() (bool, string) {
		status, attempts, last := s.delivery("ord-w2", "erp")
		return status == "done", fmt.Sprintf("%s after %d attempts: %s", status, attempts, last)
	})
	if n := len(must[struct {
		DeadLetters []deadLetter `json:"dead_letters"`
	}](t, http.StatusOK)(s.request("GET", "/v1/dlq", nil)).DeadLetters); n != 0 {
		t.Errorf("%d dead letters left", n)
	}
	if res := must[map[string]int](t, http.StatusOK)(s.request("POST", "/v1/dlq/redrive", map[string]any{"target": "erp"})); res["redriven"] != 0 {
		t.Errorf("a redrive with nothing dead answered %v", res)
	}
}

// TestWebhookKeepsOrderPerOrder: an order's cancellation waits for its
// creation, which is being retried.
func TestWebhookKeepsOrderPerOrder(t *testing.T) {
	r := newReceiver(t, func(int) int { return 200 })
	cfg := testConfig(t, smtptest.FreeAddr(t))
	withWebhook(t, cfg, r)
	s := startShop(t, cfg, nil)

	r.setAnswer(func(n int) int {
		if n < 3 {
			return 503 // the first three requests (all for ord-a's creation) fail
		}
		return 200
	})
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-a", "a@example.com", "MUG", 1)))
	waitFor(t, "ord-a's first attempt", 10*time.Second, func() (bool, string) { return len(r.requests()) >= 1, "" })
	must[map[string]string](t, http.StatusOK)(s.request("POST", "/v1/orders/ord-a/state", map[string]string{"order_state": "order_cancelled"}))
	waitFor(t, "both of ord-a's webhook deliveries", 20*time.Second, func() (bool, string) {
		done := 0
		for _, d := range s.order("ord-a").Deliveries {
			if d.Target == "erp" && d.Status == "done" {
				done++
			}
		}
		return done == 2, fmt.Sprint(s.order("ord-a").Deliveries)
	})
	var states []string
	for _, h := range r.requests() {
		if h.Status == 200 {
			d := h.Body["detail"].(map[string]any)
			states = append(states, fmt.Sprint(d["order_id"], ":", d["order_state"]))
		}
	}
	if got := strings.Join(states, ","); got != "ord-a:new_order_created,ord-a:order_cancelled" {
		t.Errorf("the receiver got %s; want the creation before the cancellation", got)
	}
}
