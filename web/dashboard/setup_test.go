package dashboard_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/modules/email/smtptest"
	"github.com/shopbus/shopbus/modules/inventory"
	"github.com/shopbus/shopbus/modules/payment"
	"github.com/shopbus/shopbus/modules/shipping"
	"github.com/shopbus/shopbus/web"
	"github.com/shopbus/shopbus/web/dashboard"
)

// shop is the dashboard over a real database, with a running bus whose one
// rule sends orders to inventory (the real module: an order without stock
// is backordered) and to shipping (which fails for good, so each order
// leaves a dead letter).
type shop struct {
	t        *testing.T
	db       *gorm.DB
	keys     *web.Keys
	bus      *bus.Bus
	mail     *email.Service
	smtp     *smtptest.Server // accepts every message unless told to refuse
	checkout *checkout.Service
	stock    *inventory.Service
	dash     *dashboard.Dashboard
	url      string
	client   func() *http.Client // trusts the test server's certificate
	// admin holds the admin scope; reader only orders:read.
	admin, reader string
}

func newShop(t *testing.T) *shop { return startShop(t, httptest.NewServer) }

func startShop(t *testing.T, serve func(http.Handler) *httptest.Server) *shop {
	t.Helper()
	ctx := context.Background()
	db := dbtest.Open(t, bus.Migrations, bus.QueryMigrations, checkout.Migrations, checkout.QueryMigrations,
		inventory.Migrations, shipping.Migrations, payment.Migrations, email.Migrations, web.Migrations, dashboard.Migrations)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	b := bus.New(bus.Deps{DB: db, Log: log}, []bus.RuleConfig{{
		Name:    "new-orders",
		Pattern: map[string]any{"source": []any{"shopbus.checkout"}},
		Targets: []bus.TargetConfig{{Module: "inventory"}, {Module: "shipping"}},
	}}, bus.Options{PollInterval: 10 * time.Millisecond})
	stock := inventory.New(db)
	stock.Subscribe(b)
	bus.Subscribe(b, "shipping", func(context.Context, bus.Delivery[payload]) error {
		return bus.Permanent(errors.New("no carrier for this address"))
	})
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	bustest.Run(t, b.Run)
	smtp := smtptest.Start(t, "127.0.0.1:0")
	mail, err := email.New(email.Deps{DB: db, Log: log}, email.Config{From: "Shop <shop@example.com>", SMTPAddr: smtp.Addr(),
		PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	bustest.Run(t, mail.Run)
	s := &shop{t: t, db: db, keys: web.NewKeys(db), bus: b, mail: mail, smtp: smtp, checkout: checkout.New(db, b, database.Direct{DB: db}), stock: stock}
	ship, err := shipping.New(db, shipping.Config{Rates: []shipping.Rate{{RateMinor: 490}}})
	if err != nil {
		t.Fatal(err)
	}
	if s.admin, _, err = s.keys.Create(ctx, web.NewKey{Name: "ops", Scopes: []string{web.ScopeAdmin}}); err != nil {
		t.Fatal(err)
	}
	if s.reader, _, err = s.keys.Create(ctx, web.NewKey{Name: "reports", Scopes: []string{web.ScopeOrdersRead}}); err != nil {
		t.Fatal(err)
	}
	dash, err := dashboard.New(dashboard.Deps{DB: db, Keys: s.keys, Orders: s.checkout, Journeys: b, Rules: b,
		DeadLetters: bus.DLQ{b, mail}, Emails: mail, Stock: s.stock, Shipments: ship, Payments: payment.New(db), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	dash.Register(e)
	ts := serve(e)
	t.Cleanup(ts.Close)
	t.Cleanup(dash.Close) // before the server closes: it waits for live streams
	s.url, s.client, s.dash = ts.URL, ts.Client, dash
	return s
}

// payload is any JSON payload, for handlers that do not read theirs.
type payload = map[string]any

// place places an order and waits until its shipping delivery is dead.
func (s *shop) place(id, email string) {
	s.t.Helper()
	o := checkout.NewOrder{OrderID: id, Customer: checkout.Customer{Email: email, Name: "Ada"},
		Items:    []checkout.Item{{SKU: "MUG-1", Name: "Mug", Quantity: 2, UnitPriceMinor: 950}},
		Currency: "EUR", ShippingAddress: checkout.Address{Line1: "1 Rue de Rivoli", City: "Paris", PostalCode: "75001", Country: "FR"},
		Payment: checkout.Payment{Method: "card", Reference: "ch_1", AmountMinor: 1900}}
	if _, err := s.checkout.Place(context.Background(), o); err != nil {
		s.t.Fatal(err)
	}
	bustest.WaitFor(s.t, id+" to be done with inventory and dead for shipping", func() bool {
		ds, err := s.bus.OrderDeliveries(context.Background(), id)
		return err == nil && len(ds) == 2 && ds[0].Status == bus.StatusDone && ds[1].Status == bus.StatusDead
	})
}

func (s *shop) dead(target string) []bus.DeadLetter {
	s.t.Helper()
	dead, err := s.bus.DeadLetters(context.Background(), target, 100)
	if err != nil {
		s.t.Fatal(err)
	}
	return dead
}

func (s *shop) sessions() int64 { return dbtest.Count(s.t, s.db, "dashboard_sessions") }

// browser is an HTTP client with cookies that does not follow redirects,
// so a test sees each one.
type browser struct {
	t    *testing.T
	shop *shop
	c    *http.Client
}

func (s *shop) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	c := *s.client() // a copy: the test server hands out one shared client
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: s.t, shop: s, c: &c}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.shop.url+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(out)}
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil) }

func (b *browser) post(path string, form url.Values) page { return b.do(http.MethodPost, path, form) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the form token from a page.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	p := b.get(path)
	m := csrfField.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		b.t.Fatalf("GET %s: %d, no csrf field in %s", path, p.status, p.body)
	}
	return m[1]
}

// login submits the login form with key, as a browser would.
func (b *browser) login(key string) page {
	b.t.Helper()
	return b.post("/dashboard/login", url.Values{"csrf": {b.csrf("/dashboard/login")}, "key": {key}, "next": {"/dashboard/orders"}})
}

// loggedIn is a browser with an admin session.
func (s *shop) loggedIn() *browser {
	s.t.Helper()
	b := s.browser()
	if p := b.login(s.admin); p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/orders" {
		s.t.Fatalf("login: %d to %q: %s", p.status, p.header.Get("Location"), p.body)
	}
	return b
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// toLogin reports whether p sends the browser to the login page.
func toLogin(p page) bool {
	return p.status == http.StatusSeeOther && strings.HasPrefix(p.header.Get("Location"), "/dashboard/login")
}
