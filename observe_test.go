package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/email/smtptest"
	"github.com/shopbus/shopbus/web/webtest"
)

// metricFamilies scrapes url and parses the Prometheus text format.
func metricFamilies(t *testing.T, url, key string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := rawRequest(t, "GET", url, nil, key, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// metricValue is the sum of a family's series whose labels include want (a
// counter's or gauge's value, a histogram's count); -1 when the family is
// missing.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	return webtest.SumSeries(fams[name], want)
}

// TestMetricsMoveWithAnOrder scrapes /metrics before and after one order's
// journey: requests, events, rule matches, deliveries, emails and backlogs
// must each say what happened.
func TestMetricsMoveWithAnOrder(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	s := startShop(t, testConfig(t, mail.Addr()), mail)
	s.setStock("MUG", 10)

	before := metricFamilies(t, s.url+"/metrics", testKey)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "shopbus_backlog", "shopbus_dead_letters"} {
		if _, ok := before[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	must[map[string]any](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("m-1", "m@example.com", "MUG", 2)))
	s.waitSettled("m-1", 4, 1)

	// The workers count an outcome just after its commit, which the rows
	// above show: wait for the last counts to land, then compare them all.
	var after map[string]*dto.MetricFamily
	waitFor(t, "the outcomes to be counted", 10*time.Second, func() (bool, string) {
		after = metricFamilies(t, s.url+"/metrics", testKey)
		sent := metricValue(after, "shopbus_emails_total", map[string]string{"template": "order_success", "outcome": "sent"}) -
			max(metricValue(before, "shopbus_emails_total", map[string]string{"template": "order_success", "outcome": "sent"}), 0)
		done := metricValue(after, "shopbus_deliveries_total", map[string]string{"outcome": "done"}) -
			max(metricValue(before, "shopbus_deliveries_total", map[string]string{"outcome": "done"}), 0)
		// Inventory's Stock Reserved event is routed after the order's.
		events := metricValue(after, "shopbus_backlog", map[string]string{"queue": "events"})
		return sent >= 1 && done >= 4 && events == 0, fmt.Sprintf("%v sent, %v deliveries done, %v events unrouted", sent, done, events)
	})
	moved := func(name string, labels map[string]string, by float64) {
		t.Helper()
		b, a := max(metricValue(before, name, labels), 0), metricValue(after, name, labels)
		if a-b != by {
			t.Errorf("%s%v went from %v to %v, want +%v", name, labels, b, a, by)
		}
	}
	moved("shopbus_http_requests_total", map[string]string{"method": "POST", "route": "/v1/orders", "status": "201"}, 1)
	moved("shopbus_http_request_duration_seconds", map[string]string{"method": "POST", "route": "/v1/orders"}, 1)
	moved("shopbus_events_total", map[string]string{"source": "shopbus.checkout", "detail_type": "Order State Change"}, 1)
	for _, rule := range []string{"new-order-fulfilment", "order-payment", "new-order-crm"} {
		moved("shopbus_rule_matches_total", map[string]string{"rule": rule}, 1)
	}
	moved("shopbus_rule_matches_total", map[string]string{"rule": "order-cancelled-shipping"}, 0)
	for _, target := range []string{"inventory", "shipping", "payment", "crm"} {
		moved("shopbus_deliveries_total", map[string]string{"target": target, "outcome": "done"}, 1)
		moved("shopbus_delivery_duration_seconds", map[string]string{"target": target, "outcome": "done"}, 1)
	}
	moved("shopbus_deliveries_total", map[string]string{"outcome": "dead"}, 0)
	moved("shopbus_emails_total", map[string]string{"template": "order_success", "outcome": "sent"}, 1)
	for _, q := range []string{"events", "deliveries", "emails"} {
		if v := metricValue(after, "shopbus_backlog", map[string]string{"queue": q}); v != 0 {
			t.Errorf("shopbus_backlog{queue=%q} = %v once the order settled, want 0", q, v)
		}
	}
}

// TestMetricsAddrServesWithoutAKey: http.metrics_addr is a second listener
// for a Prometheus on a private network.
func TestMetricsAddrServesWithoutAKey(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	cfg := testConfig(t, mail.Addr())
	cfg.HTTP.MetricsAddr = "127.0.0.1:0"
	cfg.Log.Level, cfg.Log.Format = "info", "json"
	var logs syncBuffer
	startShopLogging(t, cfg, mail, &logs)
	var addr string
	for line := range strings.Lines(logs.String()) {
		var l struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "metrics serving" {
			addr = l.Addr
		}
	}
	if addr == "" {
		t.Fatalf("no \"metrics serving\" line in the log:\n%s", logs.String())
	}
	fams := metricFamilies(t, "http://"+addr+"/metrics", "")
	if metricValue(fams, "shopbus_backlog", map[string]string{"queue": "deliveries"}) != 0 {
		t.Errorf("metrics_addr: no shopbus_backlog gauge")
	}
	// Only /metrics: the API is not on the metrics address.
	if resp, _ := rawRequest(t, "GET", "http://"+addr+"/v1/orders", nil, testKey, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("metrics_addr serves /v1/orders: %d", resp.StatusCode)
	}
}

// TestLogsFollowAnOrder: with JSON logs at debug, the request, its event
// and every delivery of one order carry the order id, and the request line
// carries the request id the client saw.
func TestLogsFollowAnOrder(t *testing.T) {
	mail := smtptest.Start(t, "127.0.0.1:0")
	cfg := testConfig(t, mail.Addr())
	cfg.Log.Level, cfg.Log.Format = "debug", "json"
	var logs syncBuffer
	s := startShopLogging(t, cfg, mail, &logs)
	s.setStock("MUG", 10)
	resp, body := rawRequest(t, "POST", s.url+"/v1/orders", newOrder("log-1", "l@example.com", "MUG", 1), testKey,
		map[string]string{"X-Request-ID": "req-follow-me"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var acc struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(body, &acc)
	s.waitSettled("log-1", 5, 2)

	waitFor(t, "every delivery of log-1 in the log", 10*time.Second, func() (bool, string) {
		var request bool
		delivered := map[string]bool{}
		sent := false
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("a log line is not JSON: %q", sc.Text())
			}
			if line["order_id"] != "log-1" {
				continue
			}
			switch line["msg"] {
			case "web: request":
				request = line["request_id"] == "req-follow-me" && line["event_id"] == acc.EventID &&
					line["route"] == "/v1/orders" && line["status"] == float64(201)
			case "bus: delivered":
				if line["event_id"] == acc.EventID && line["delivery_id"] != nil {
					delivered[line["target"].(string)] = true
				}
			case "email: sent":
				sent = true
			}
		}
		return request && len(delivered) == 5 && sent, logs.String() // inventory, shipping, payment, crm, email
	})
}

// TestReadyzWhileMigrating: the API listens before it migrates; until the
// migrations are done /readyz answers 503 and the API refuses with 503, while
// /healthz says the process lives.
func TestReadyzWhileMigrating(t *testing.T) {
	dbtest.SQLiteOnly(t, "holds SQLite's write lock to keep the migrations waiting")
	mail := smtptest.Start(t, "127.0.0.1:0")
	cfg := testConfig(t, mail.Addr())
	// Another connection holds the database's write lock, so the migrations
	// wait for it (within SQLite's busy timeout).
	release := dbtest.HoldWriteLock(t, cfg.Database)
	ctx := context.Background()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(runCtx, cfg, io.Discard, t.Output(), func(addr string) { ready <- addr }) }()
	var url string
	select {
	case addr := <-ready:
		url = "http://" + addr
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not listen")
	}
	for path, want := range map[string]int{"/readyz": 503, "/healthz": 200, "/v1/orders": 503} {
		if resp, body := rawRequest(t, "GET", url+path, nil, testKey, nil); resp.StatusCode != want {
			t.Errorf("while migrating, GET %s: %d %s, want %d", path, resp.StatusCode, body, want)
		}
	}
	release()
	s := &shop{t: t, url: url}
	waitFor(t, "/readyz 200 after the migrations", 20*time.Second, func() (bool, string) { return s.isReady(), "503" })
	must[map[string]any](t, http.StatusOK)(s.request("GET", "/v1/orders", nil))
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// syncBuffer is a buffer the server's goroutines log into while the test
// reads it.
type syncBuffer = webtest.SyncBuffer
