package main

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestOrdersRefusedWhileBehind: once the oldest unsent email has waited
// longer than half of delivery.max_lag, new orders are refused (a share
// of them, all past max_lag) with 503 and Retry-After and nothing of them
// is stored, while the orders already accepted can still change state;
// the lag is on /metrics; once the shop catches up, orders are taken
// again.
func TestOrdersRefusedWhileBehind(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	mail.SetDelay(time.Second) // a relay far slower than the orders
	cfg := testConfig(t, mail.Addr())
	cfg.Delivery.MaxLag = 300 * time.Millisecond
	cfg.Mail.Workers = 1
	s := startShop(t, cfg, mail)
	s.setStock("MUG", 100)

	for i := range 4 {
		id := fmt.Sprintf("lag-%d", i)
		if status, body := s.request("POST", "/v1/orders", newOrder(id, id+"@example.com", "MUG", 1)); status != http.StatusCreated {
			t.Fatalf("%s before any lag: %d %s", id, status, body)
		}
	}
	var resp *http.Response
	refused, tries := "", 0
	waitFor(t, "a new order refused for lag", 10*time.Second, func() (bool, string) {
		tries++
		refused = fmt.Sprintf("lag-try-%d", tries)
		var body []byte
		resp, body = rawRequest(t, "POST", s.url+"/v1/orders", newOrder(refused, "r@example.com", "MUG", 1), testKey,
			map[string]string{"Idempotency-Key": refused})
		return resp.StatusCode == http.StatusServiceUnavailable, fmt.Sprintf("%d %s", resp.StatusCode, body)
	})
	if after, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || after < 1 ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("503 headers %v", resp.Header)
	}
	if lag := metricValue(metricFamilies(t, s.url+"/metrics", testKey), "shopbus_lag_seconds", nil); lag <= 0.15 {
		t.Errorf("shopbus_lag_seconds %v while refusing, want past 0.15 (half of max_lag)", lag)
	}
	if status, body := s.request("GET", "/v1/orders/"+refused, nil); status != http.StatusNotFound {
		t.Errorf("the refused order exists: %d %s", status, body)
	}
	// An accepted order still moves: lag refuses new work only.
	if status, body := s.request("POST", "/v1/orders/lag-0/state", map[string]string{"order_state": "order_cancelled"}); status != http.StatusOK {
		t.Errorf("cancelling while behind: %d %s, want 200", status, body)
	}

	mail.SetDelay(0)
	waitFor(t, "orders taken again once caught up", 30*time.Second, func() (bool, string) {
		resp, body := rawRequest(t, "POST", s.url+"/v1/orders", newOrder(refused, "r@example.com", "MUG", 1), testKey,
			map[string]string{"Idempotency-Key": refused})
		return resp.StatusCode == http.StatusCreated && resp.Header.Get("Idempotent-Replayed") == "",
			fmt.Sprintf("%d %s", resp.StatusCode, body)
	})
	s.waitSettled(refused, 4, 1)
}
