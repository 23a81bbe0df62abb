// Package dashboard is shopbus's browser dashboard at /dashboard: orders and
// their journeys, the flow of events through the rules, dead letters, a
// rule tester and stock. It is server-rendered HTML from templates built
// into the binary, with one small script of its own that applies live
// updates, so it works offline and needs nothing from a CDN.
//
// An operator logs in with an admin API key; the dashboard keeps a session
// (session.go) and checks on every request that the key is still live.
// Everything it shows it reads through the modules and the bus, and the
// actions it offers are the ones the command line and the API use: redrive
// and rule test are the bus's, moving an order is checkout's state machine
// (Apply), setting stock is inventory's Set.
package dashboard

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/backup"
	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/modules/inventory"
	"github.com/shopbus/shopbus/modules/payment"
	"github.com/shopbus/shopbus/modules/shipping"
	"github.com/shopbus/shopbus/web"
)

// Keys checks API keys (web.Keys).
type Keys interface {
	Authenticate(ctx context.Context, key string) (web.Principal, error)
	AuthenticateRef(ctx context.Context, ref string) (web.Principal, error)
}

// Orders reads orders and moves them through their states (checkout.Service).
type Orders interface {
	Search(ctx context.Context, f checkout.Filter, limit int, after string) (checkout.Page, error)
	Get(ctx context.Context, orderID string) (checkout.Order, error)
	Orders(ctx context.Context, ids []string) ([]checkout.Order, error)
	Changed(ctx context.Context, since time.Time, afterID string, limit int) ([]checkout.Order, error)
	Apply(ctx context.Context, orderID string, ch checkout.Change) (checkout.Accepted, error)
}

// Journeys reads where orders' events went (bus.Bus).
type Journeys interface {
	OrderEvents(ctx context.Context, orderID string) ([]bus.Event, error)
	OrderDeliveries(ctx context.Context, orderID string) ([]bus.DeliveryRecord, error)
	DeliveriesOf(ctx context.Context, orderIDs []string) (map[string][]bus.DeliveryStatus, error)
	ChangedDeliveries(ctx context.Context, since time.Time, afterID int64, orderID string, limit int) ([]bus.DeliveryRecord, error)
}

// Rules are the routing rules, their traffic and their dry run (bus.Bus).
type Rules interface {
	Rules() []bus.RuleInfo
	Traffic(ctx context.Context, since time.Time) (bus.Traffic, error)
	Test(event []byte) ([]bus.RuleMatch, error)
}

// DeadLetters are the deliveries that ran out of retries and the emails
// that could not be sent (bus.DLQ).
type DeadLetters interface {
	DeadLetters(ctx context.Context, target string, limit int) ([]bus.DeadLetter, error)
	DeadByTarget(ctx context.Context) (map[string]int64, error)
	Redrive(ctx context.Context, r bus.Redrive) (int64, error)
}

// Emails reads orders' emails (email.Service).
type Emails interface {
	ForOrder(ctx context.Context, orderID string) ([]email.Job, error)
	ForOrders(ctx context.Context, orderIDs []string) (map[string][]email.Job, error)
}

// Stock reads and sets the inventory, and what it recorded of orders
// (inventory.Service).
type Stock interface {
	List(ctx context.Context, after string, limit int) ([]inventory.Stock, error)
	Set(ctx context.Context, sku string, onHand int64) (inventory.Stock, error)
	OrderStock(ctx context.Context, orderID string) (inventory.OrderStock, error)
	Statuses(ctx context.Context, orderIDs []string) (map[string]string, error)
}

// Shipments reads what shipping recorded of orders (shipping.Service).
type Shipments interface {
	Get(ctx context.Context, orderID string) (shipping.Shipment, error)
}

// Payments reads what payment recorded of orders, and the Stripe events
// the shop received (payment.Service).
type Payments interface {
	Get(ctx context.Context, orderID string) (payment.Payment, error)
	StripeEvents(ctx context.Context, orderID string) ([]payment.StripeEvent, error)
	UnappliedStripeEvents(ctx context.Context, limit int) ([]payment.StripeEvent, error)
}

// Backups tell how the backups stand (backup.Scheduler).
type Backups interface {
	Status() backup.Status
}

// Deps are what the dashboard reads and acts through.
type Deps struct {
	// DB holds the sessions (Migrations).
	DB          *gorm.DB
	Keys        Keys
	Orders      Orders
	Journeys    Journeys
	Rules       Rules
	DeadLetters DeadLetters
	Emails      Emails
	Stock       Stock
	Shipments   Shipments
	Payments    Payments
	// Backups, if set, are shown on the flow page.
	Backups Backups
	Log     *slog.Logger
}

// Dashboard serves the pages under /dashboard.
type Dashboard struct {
	Deps
	pages  map[string]*template.Template
	rows   *template.Template // the partials live.go renders alone
	static map[string]staticFile

	stopping chan struct{}
	stopOnce sync.Once
}

//go:embed templates/*.html
var templateFiles embed.FS

// pageNames are the templates in templates/ that are whole pages.
var pageNames = []string{"login", "orders", "order", "flow", "dlq", "rules", "inventory", "error"}

// New parses the templates built into the binary.
func New(d Deps) (*Dashboard, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	dash := &Dashboard{Deps: d, pages: map[string]*template.Template{}, stopping: make(chan struct{})}
	base, err := template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: templates: %w", err)
	}
	dash.rows = base
	for _, name := range pageNames {
		t, err := base.Clone()
		if err == nil {
			t, err = t.ParseFS(templateFiles, "templates/"+name+".html")
		}
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", name, err)
		}
		dash.pages[name] = t
	}
	if dash.static, err = loadStatic(); err != nil {
		return nil, err
	}
	return dash, nil
}

// Close ends the live streams, so that a server shutting down does not wait
// for browsers that would keep them open.
func (d *Dashboard) Close() { d.stopOnce.Do(func() { close(d.stopping) }) }

// Register adds the dashboard's routes to e.
func (d *Dashboard) Register(e *echo.Echo) {
	g := e.Group("/dashboard", d.guard)
	toOrders := func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/dashboard/orders") }
	g.GET("", toOrders)
	g.GET("/", toOrders)
	g.GET("/static/:name", d.serveStatic)
	g.GET("/login", d.loginPage)
	g.POST("/login", d.login, loginLimit())

	page := func(path string, h echo.HandlerFunc) { g.GET(path, h, d.requireSession) }
	page("/orders", d.ordersPage)
	page("/orders/:id", d.orderPage)
	page("/flow", d.flowPage)
	page("/dlq", d.dlqPage)
	page("/rules", d.rulesPage)
	page("/inventory", d.inventoryPage)
	page("/live", d.live)

	form := func(path string, h echo.HandlerFunc) { g.POST(path, h, d.requireSession, d.requireCSRF) }
	form("/logout", d.logout)
	form("/dlq/redrive", d.redrive)
	form("/rules/test", d.testRules)
	form("/orders/:id/state", d.moveOrder)
	form("/inventory", d.setStock)
}

// csp allows the pages nothing but their own stylesheet, script and forms:
// no inline script or style, no other origin, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// guard sets the dashboard's security headers on every answer and turns a
// handler's error into an HTML page.
func (d *Dashboard) guard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", csp)
		h.Set(echo.HeaderXFrameOptions, "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set(echo.HeaderCacheControl, "no-store") // pages hold customers' data
		err := next(c)
		if err == nil || c.Response().Committed || errors.Is(err, context.Canceled) {
			return err
		}
		return d.errorPage(c, err)
	}
}

// errorPage answers err with the status the API would use (web.StatusOf).
// What it does not know is logged and shown as a plain failure.
func (d *Dashboard) errorPage(c echo.Context, err error) error {
	status := web.StatusOf(err)
	detail := err.Error()
	var he *echo.HTTPError
	if errors.As(err, &he) {
		detail, _ = he.Message.(string)
	}
	if status >= http.StatusInternalServerError {
		d.Log.Error("dashboard: request failed", "method", c.Request().Method, "path", c.Path(),
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
		detail = "Something went wrong on the server; it is in the log."
	}
	v := view{Title: http.StatusText(status), Data: errorView{Status: status, Detail: detail}}
	if s, ok := current(c); ok {
		v.User, v.CSRF = s.KeyName, s.CSRF
	}
	return d.render(c, status, "error", v)
}

type errorView struct {
	Status int
	Detail string
}

// view is what every page template gets.
type view struct {
	Title string
	// Section names the navigation entry of the page.
	Section string
	// User and CSRF are the session's key name and form token; empty on the
	// login page.
	User, CSRF string
	// Live is the page's stream of updates (live.go), or empty.
	Live string
	Data any
	// Backup, on the pages that show it, is how the backups stand.
	Backup *backup.Status
}

// render executes a page into a buffer first, so a template error becomes
// an error page rather than half a page.
func (d *Dashboard) render(c echo.Context, status int, page string, v view) error {
	t, ok := d.pages[page]
	if !ok {
		return fmt.Errorf("dashboard: no page %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("dashboard: render %s: %w", page, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}
