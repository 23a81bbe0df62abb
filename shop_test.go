package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/email/smtptest"
	"github.com/shopbus/shopbus/web/webtest"
)

const testKey = "sb_test_0123456789abcdef"

// shop is a real shopbus serving on a loopback port, with its database in
// a temporary folder and its mail going to an SMTP server inside the test.
type shop struct {
	t    *testing.T
	url  string
	smtp *smtptest.Server
	cfg  *config.Config
	stop func()
}

// testConfig is the built-in config.yaml made quick for tests: short polls
// and backoffs, a fresh database (SQLite, or PostgreSQL with
// SHOPBUS_TEST_POSTGRES_DSN set), mail to smtpAddr.
func testConfig(t *testing.T, smtpAddr string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("config.yaml", defaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTP.ShutdownTimeout = 10 * time.Second
	cfg.Database = dbtest.Config(t)
	cfg.Mail.SMTPAddr = smtpAddr
	cfg.Mail.PollInterval = 20 * time.Millisecond
	cfg.Mail.InitialBackoff, cfg.Mail.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	cfg.Delivery.PollInterval = 20 * time.Millisecond
	cfg.Delivery.Retry.InitialBackoff, cfg.Delivery.Retry.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	cfg.Log.Level = "warn"
	cfg.HTTP.RateLimit.RPS = 0 // tests that poll would trip it; web/gateway_test.go covers it
	cfg.BootstrapAPIKey = testKey
	return cfg
}

// startShop serves cfg until the test ends, logging to the test's output.
func startShop(t *testing.T, cfg *config.Config, mail *smtptest.Server) *shop {
	t.Helper()
	return startShopLogging(t, cfg, mail, t.Output())
}

// startShopLogging serves cfg until the test ends, logging to log.
func startShopLogging(t *testing.T, cfg *config.Config, mail *smtptest.Server, log io.Writer) *shop {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, log, func(addr string) { ready <- addr }) }()
	s := &shop{t: t, smtp: mail, cfg: cfg}
	select {
	case addr := <-ready:
		s.url = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("shopbus did not start")
	}
	// It listens before it migrates: wait until it says it is ready.
	deadline := time.Now().Add(30 * time.Second)
	for !s.isReady() {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("shopbus did not become ready")
		}
	}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned: %v", err)
		}
	}
	t.Cleanup(s.stop)
	return s
}

// isReady reports whether GET /readyz answers 200.
func (s *shop) isReady() bool {
	resp, err := http.Get(s.url + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// request sends a JSON request with the test's admin key and returns the
// status and body.
func (s *shop) request(method, path string, body any) (int, []byte) {
	return s.requestKey(method, path, body, testKey)
}

func (s *shop) requestKey(method, path string, body any, key string) (int, []byte) {
	s.t.Helper()
	return doJSON(s.t, method, s.url+path, body, key)
}

func doJSON(t testing.TB, method, url string, body any, key string) (int, []byte) {
	t.Helper()
	resp, out := rawRequest(t, method, url, body, key, nil)
	return resp.StatusCode, out
}

// rawRequest sends body (a string as is, anything else as JSON) with the
// key as a bearer token and any extra headers.
func rawRequest(t testing.TB, method, url string, body any, key string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

// must decodes a response that must have the wanted status.
func must[T any](t testing.TB, want int) func(int, []byte) T {
	return func(status int, body []byte) T {
		t.Helper()
		var v T
		if status != want {
			t.Fatalf("status %d, want %d: %s", status, want, body)
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		return v
	}
}

// waitFor polls cond until it holds or the deadline passes.
var waitFor = webtest.WaitFor

// orderView is GET /v1/orders/{id}.
type orderView struct {
	OrderID    string `json:"order_id"`
	OrderState string `json:"order_state"`
	TotalMinor int64  `json:"total_minor"`
	Deliveries []struct {
		Rule, Target, Status string
		Attempts             int
		LastError            string `json:"last_error"`
	} `json:"deliveries"`
	Emails []struct {
		Template, To, Status, Locale string
		Attempts                     int
	} `json:"emails"`
}

type stock struct {
	SKU           string `json:"sku"`
	OnHand        int64  `json:"on_hand"`
	Reserved      int64  `json:"reserved"`
	Available     int64  `json:"available"`
	Backordered   int64  `json:"backordered"`
	WaitingOrders int64  `json:"waiting_orders"`
}

// settled reports whether every delivery of the order is done and every
// email sent, with at least the given counts.
func (v orderView) settled(deliveries, emails int) (bool, string) {
	done, sent := 0, 0
	for _, d := range v.Deliveries {
		if d.Status == "done" {
			done++
		}
	}
	for _, e := range v.Emails {
		if e.Status == "sent" {
			sent++
		}
	}
	saw := fmt.Sprintf("%s: %d/%d deliveries done, %d/%d emails sent: %+v %+v", v.OrderID, done, len(v.Deliveries), sent, len(v.Emails), v.Deliveries, v.Emails)
	return done == len(v.Deliveries) && done >= deliveries && sent == len(v.Emails) && sent >= emails, saw
}

func (s *shop) order(id string) orderView {
	s.t.Helper()
	return must[orderView](s.t, http.StatusOK)(s.request("GET", "/v1/orders/"+id, nil))
}

func (s *shop) waitSettled(id string, deliveries, emails int) orderView {
	s.t.Helper()
	var v orderView
	waitFor(s.t, "order "+id+" to settle", 20*time.Second, func() (bool, string) {
		v = s.order(id)
		return v.settled(deliveries, emails)
	})
	return v
}

func (s *shop) setStock(sku string, n int64) {
	s.t.Helper()
	must[stock](s.t, http.StatusOK)(s.request("PUT", "/v1/inventory/"+sku, map[string]int64{"on_hand": n}))
}

func (s *shop) stock(sku string) stock {
	s.t.Helper()
	return must[stock](s.t, http.StatusOK)(s.request("GET", "/v1/inventory/"+sku, nil))
}

// newOrder is a valid order body; items are (sku, quantity) pairs at 12.50 each.
var newOrder = webtest.NewOrder

// problem is an application/problem+json body.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// queryRow reads one value straight from the shop's database, as an
// operator with sqlite3 or psql would.
func queryRow(t testing.TB, store database.Config, query string, dest any) {
	t.Helper()
	if err := operator(t, store).Raw(query).Scan(dest).Error; err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// operators are the connections queryRow reads with, one per database,
// kept until the test that opened it ends: tests poll with queryRow, and a
// new PostgreSQL connection per query would cost more than the query.
var operators sync.Map // database.Config -> *gorm.DB

func operator(t testing.TB, store database.Config) *gorm.DB {
	t.Helper()
	if db, ok := operators.Load(store); ok {
		return db.(*gorm.DB)
	}
	db, err := database.Open(store)
	if err != nil {
		t.Fatal(err)
	}
	if other, loaded := operators.LoadOrStore(store, db.DB); loaded {
		db.Close()
		return other.(*gorm.DB)
	}
	t.Cleanup(func() {
		operators.Delete(store)
		db.Close()
	})
	return db.DB
}

// useDatabase points the command line, run in-process, at store, as a
// deployment does through the environment.
func useDatabase(t *testing.T, store database.Config) {
	t.Setenv("SHOPBUS_DATABASE_DRIVER", store.Driver)
	t.Setenv("SHOPBUS_DATABASE_DSN", store.DSN)
}
