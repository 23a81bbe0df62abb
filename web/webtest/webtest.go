// Package webtest is the harness the HTTP API's tests run over: a real
// web.Server on a real database (SQLite in the test's folder, or
// PostgreSQL, as database/dbtest decides), with the real modules and the
// bus wired as `shopbus serve` wires them from the built-in config.yaml,
// mail written as .eml files to a temporary folder, and an admin key. A
// test then runs a table of Scenarios against it (scenario.go), in the
// manner of pocketbase's tests.ApiScenario.
//
// Requests go straight to the Echo handler unless Options.Network asks for
// a real listener on a loopback port (web.Front, as serve runs it): then
// the peer address is real and net/http parses the bytes.
package webtest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/app"
	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/metrics"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/modules/inventory"
	"github.com/shopbus/shopbus/web"
	"github.com/shopbus/shopbus/web/dashboard"
)

// AdminKey is the admin API key every Shop starts with, as
// SHOPBUS_BOOTSTRAP_API_KEY gives a new shop its first key.
const AdminKey = "sb_test_0123456789abcdef"

// Options change the shop a test gets. The zero value is the built-in
// config.yaml made quick for tests, with the rate limit off (tests that
// poll would trip it), the bus and the email worker not running, and
// requests handed to the handler in-process.
type Options struct {
	// Config, if set, changes the config before anything is built.
	Config func(*config.Config)
	// Server, if set, changes the server's dependencies and the gateway's
	// settings just before web.New.
	Server func(*web.Deps, *config.HTTP)
	// Routes, if set, adds a test's own routes to the server, after its
	// own and through the same middleware, e.g. a handler failing in a way
	// under test.
	Routes func(*echo.Echo)
	// Run runs what serve runs beside the API: group commits, the bus's
	// dispatcher and the email worker, so orders travel to the modules.
	Run bool
	// Network serves the API through web.Front on a loopback port.
	Network bool
}

// Shop is a web.Server with everything it serves.
type Shop struct {
	T         testing.TB
	Config    *config.Config
	DB        *gorm.DB
	Server    *web.Server
	Keys      *web.Keys
	Bus       *bus.Bus
	Checkout  *checkout.Service
	Inventory *inventory.Service
	Email     *email.Service
	Metrics   *metrics.Metrics
	// URL is where the API listens ("http://127.0.0.1:port"), with
	// Options.Network; empty otherwise.
	URL string

	logs   *SyncBuffer
	tables []string
}

// New builds a shop that lives until the test ends.
func New(t testing.TB, opts Options) *Shop {
	t.Helper()
	ctx := context.Background()
	cfg := testConfig(t)
	if opts.Config != nil {
		opts.Config(cfg)
	}
	s := &Shop{T: t, Config: cfg, logs: &SyncBuffer{}}
	log := cfg.Log.Logger(io.MultiWriter(t.Output(), s.logs))

	s.DB = dbtest.Connect(t, cfg.Database)
	if _, err := database.Migrate(ctx, s.DB, app.Migrations()); err != nil {
		t.Fatal(err)
	}
	db := s.DB
	s.Metrics = metrics.New(metrics.Backlogs{Bus: bus.NewRecords(db, log), Email: email.NewRecords(db)})
	busDeps := bus.Deps{DB: db, Log: log, Observer: s.Metrics}
	mailDeps := email.Deps{DB: db, Log: log, Observer: s.Metrics}
	var orders checkout.Committer = database.Direct{DB: db}
	var commits *database.Batcher
	if opts.Run {
		// Orders, deliveries and sends share group commits, as in serve.
		commits = database.NewBatcher(db, 256)
		orders, busDeps.Committer, mailDeps.Committer = commits, commits.Priority(), commits.Priority()
	}
	r, err := app.Route(cfg, busDeps, mailDeps)
	if err != nil {
		t.Fatal(err)
	}
	s.Bus, s.Email, s.Inventory = r.Bus, r.Email, r.Inventory
	s.Checkout = checkout.New(db, s.Bus, orders)
	s.Keys = web.NewKeys(db)
	if _, err := s.Keys.Bootstrap(ctx, AdminKey); err != nil {
		t.Fatal(err)
	}
	if opts.Run {
		// Cleanups run last first: the email worker and the bus stop
		// before the group commits their work goes through.
		bustest.Run(t, commits.Run)
		bustest.Run(t, s.Bus.Run)
		bustest.Run(t, s.Email.Run)
	}

	dash, err := dashboard.New(dashboard.Deps{DB: db, Keys: s.Keys, Orders: s.Checkout, Journeys: s.Bus, Rules: s.Bus,
		DeadLetters: s.Bus, Emails: s.Email, Stock: s.Inventory, Shipments: r.Shipping, Payments: r.Payment, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	deps := web.Deps{DB: db, Keys: s.Keys, Bus: s.Bus, Checkout: s.Checkout, Inventory: s.Inventory, Email: s.Email,
		Shipments: r.Shipping, Payments: r.Payment,
		Log: log, Metrics: s.Metrics, Dashboard: dash, StripeSecrets: cfg.Stripe.WebhookSecrets}
	if opts.Server != nil {
		opts.Server(&deps, &cfg.HTTP)
	}
	if opts.Routes != nil {
		deps.Dashboard = registrars{deps.Dashboard, registrar(opts.Routes)}
	}
	if s.Server, err = web.New(deps, cfg.HTTP); err != nil {
		t.Fatal(err)
	}
	if opts.Network {
		s.listen(log)
	}
	// The dashboard's live streams end before the front shuts down, as in
	// serve, so the shutdown does not wait for them.
	t.Cleanup(dash.Close)
	return s
}

// registrar is a function that adds routes, as a dashboard does.
type registrar func(*echo.Echo)

func (r registrar) Register(e *echo.Echo) { r(e) }

// registrars are web.Deps.Dashboard, the server's one hook for routes of
// others, holding several.
type registrars []interface{ Register(*echo.Echo) }

func (rs registrars) Register(e *echo.Echo) {
	for _, r := range rs {
		if r != nil {
			r.Register(e)
		}
	}
}

// listen serves the API through the front serve puts on the API's address.
func (s *Shop) listen(log *slog.Logger) {
	t := s.T
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := web.NewFront(log)
	front.Open(s.Server)
	done := make(chan error, 1)
	go func() { done <- front.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := front.Shutdown(ctx); err != nil {
			t.Errorf("webtest: shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("webtest: serve: %v", err)
		}
	})
	s.URL = "http://" + ln.Addr().String()
}

// Key creates an API key with scopes and returns its secret.
func (s *Shop) Key(name string, scopes ...string) string {
	s.T.Helper()
	key, _, err := s.Keys.Create(context.Background(), web.NewKey{Name: name, Scopes: scopes})
	if err != nil {
		s.T.Fatalf("webtest: create key %s: %v", name, err)
	}
	return key
}

// Logs is everything the shop has logged so far.
func (s *Shop) Logs() string { return s.logs.String() }

// testConfig is the built-in config.yaml made quick for tests: short polls
// and backoffs, a fresh database, mail to a temporary folder, the rate
// limit off.
func testConfig(t testing.TB) *config.Config {
	t.Helper()
	src, err := os.ReadFile(BuiltinConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("config.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Database = dbtest.Config(t)
	cfg.Mail.SMTPAddr, cfg.Mail.Dir = "", t.TempDir()
	cfg.Mail.PollInterval = 20 * time.Millisecond
	cfg.Mail.InitialBackoff, cfg.Mail.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	cfg.Delivery.PollInterval = 20 * time.Millisecond
	cfg.Delivery.Retry.InitialBackoff, cfg.Delivery.Retry.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	cfg.Log.Level = "warn"
	cfg.HTTP.RateLimit.RPS = 0
	return cfg
}

// BuiltinConfig is the path of the config.yaml the binary embeds, found
// from this file so that any package's tests can read it.
func BuiltinConfig() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "config.yaml")
}

// SyncBuffer is a buffer a server's goroutines log into while the test
// reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
