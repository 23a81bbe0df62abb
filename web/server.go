// Package web is shopbus's API gateway: the Echo server that authenticates
// requests, validates them, and hands them to the modules. Errors become
// application/problem+json responses in one place (errors.go).
package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/modules/inventory"
)

// Deps are what the API serves.
type Deps struct {
	DB        *gorm.DB
	Keys      *Keys
	Bus       *bus.Bus
	Checkout  *checkout.Service
	Inventory *inventory.Service
	Email     *email.Service
	// Shipments and Payments, when set, add what shipping and payment
	// recorded to an order's view; Shipments also answers
	// GET /v1/shipping/quote.
	Shipments Shipments
	Payments  Payments
	Log       *slog.Logger
	// Metrics, if set, counts requests and answers GET /metrics.
	Metrics Metrics
	// Dashboard, when set, adds the browser dashboard's routes under
	// /dashboard (web/dashboard).
	Dashboard interface{ Register(e *echo.Echo) }
	// DeadLetters are what /v1/dlq lists and redrives: every kind
	// (bus.DLQ of the bus and the email module); unset, the bus's alone.
	DeadLetters DeadLetters
	// StripeSecrets verify POST /v1/webhooks/stripe (config.Stripe); with
	// none, or no Payments, it answers 503.
	StripeSecrets []string
}

// DeadLetters are the dead letters of every kind (bus.DLQ).
type DeadLetters interface {
	DeadLetters(ctx context.Context, target string, limit int) ([]bus.DeadLetter, error)
	DeadLetter(ctx context.Context, kind string, id int64) (bus.DeadLetter, error)
	Redrive(ctx context.Context, r bus.Redrive) (int64, error)
}

// ipExtractor believes X-Forwarded-For only from trusted proxies, so a
// client cannot pick the address its limits are counted against.
func ipExtractor(trustedProxies []string) echo.IPExtractor {
	if len(trustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, cidr := range trustedProxies {
		_, n, _ := net.ParseCIDR(netip.MustParsePrefix(cidr).String())
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// Server is the HTTP API.
type Server struct {
	Deps
	log      *slog.Logger
	echo     *echo.Echo
	failures *failures
}

// maxBody bounds every request body at 1 MiB, as the README and the
// OpenAPI document say; a 500-item order is far below it. Echo reads "1M"
// as 1,000,000 bytes, so the binary unit is spelled out.
const maxBody = "1MiB"

// New builds the server and its routes, with the gateway's settings from
// cfg, which is expected to have passed Validate (config.Load makes sure).
func New(d Deps, cfg config.HTTP) (*Server, error) {
	perMinute, burst := cmp.Or(cfg.AuthFailures.PerMinute, 10), cmp.Or(cfg.AuthFailures.Burst, 20)
	if d.DeadLetters == nil && d.Bus != nil {
		d.DeadLetters = bus.DLQ{d.Bus}
	}
	s := &Server{Deps: d, log: d.Log, echo: echo.New(), failures: newFailures(perMinute, burst)}
	e := s.echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = ipExtractor(cfg.TrustedProxies)
	e.SchemeExtractor = schemeExtractor(cfg.TrustedProxies)
	e.Use(unescapeParams, sanitizeRequestID, middleware.RequestID(), s.observe, s.recoverer(), secureHeaders(),
		paceBodies(cfg.BodyMinRate, cfg.BodyGrace))
	if cfg.MaxOpenRequestsPerAddress > 0 {
		e.Use(openPerAddress(cfg.MaxOpenRequestsPerAddress))
	}
	if len(cfg.CORSAllowOrigins) > 0 {
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:  cfg.CORSAllowOrigins,
			AllowMethods:  []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete},
			AllowHeaders:  []string{echo.HeaderAuthorization, "X-API-Key", echo.HeaderContentType, "Idempotency-Key"},
			ExposeHeaders: []string{echo.HeaderXRequestID, echo.HeaderLocation, "Retry-After", "Idempotent-Replayed"},
			MaxAge:        600,
		}))
	}
	// A deadline for each request's work, inside the server's read and
	// write timeouts: a request stuck behind a long write gives up.
	e.Use(middleware.BodyLimit(maxBody), middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: 20 * time.Second}))

	e.GET("/healthz", s.health)
	e.GET("/readyz", s.health)
	e.GET("/openapi.yaml", s.openAPI)
	// Authentication is route middleware, not group middleware: a group's
	// middleware makes Echo answer every unknown method under /v1 with 404
	// instead of 405.
	v1 := e.Group("/v1")
	auth := []echo.MiddlewareFunc{s.authenticate}
	if cfg.RateLimit.RPS > 0 {
		auth = append(auth, keyRateLimit(cfg.RateLimit.RPS, cfg.RateLimit.Burst))
	}
	if cfg.MaxOpenRequestsPerKey > 0 {
		auth = append(auth, openPerKey(cfg.MaxOpenRequestsPerKey))
	}
	guard := func(scope string, more ...echo.MiddlewareFunc) []echo.MiddlewareFunc {
		return slices.Concat(auth, []echo.MiddlewareFunc{require(scope)}, more)
	}
	// An order write reads and checks its body first (admit), and only
	// then may take a slot (shed) and its Idempotency-Key: a slot is held
	// while the write waits for the writer, never while a client uploads.
	var slots []echo.MiddlewareFunc // one bound shared by both routes
	if cfg.MaxInflightOrders > 0 {
		slots = append(slots, s.shed(cfg.MaxInflightOrders))
	}
	writes := func(admitted echo.MiddlewareFunc) []echo.MiddlewareFunc {
		return slices.Concat([]echo.MiddlewareFunc{idempotencyHeader, admitted}, slots, []echo.MiddlewareFunc{s.Idempotent})
	}
	v1.POST("/orders", s.createOrder, guard(ScopeOrdersWrite, writes(admit((*checkout.NewOrder).Validate))...)...)
	v1.POST("/orders/:id/state", s.changeState, guard(ScopeOrdersWrite, writes(admit[checkout.Change](nil))...)...)
	v1.GET("/orders", s.listOrders, guard(ScopeOrdersRead)...)
	v1.GET("/orders/:id", s.getOrder, guard(ScopeOrdersRead)...)
	v1.GET("/shipping/quote", s.shippingQuote, guard(ScopeOrdersWrite)...)
	v1.POST("/events", s.putEvents, guard(ScopeEventsPut, s.Idempotent)...)
	v1.POST("/webhooks/stripe", s.stripeWebhook) // no key: Stripe-Signature proves it
	v1.PUT("/inventory/:sku", s.setStock, guard(ScopeAdmin)...)
	v1.GET("/inventory/:sku", s.getStock, guard(ScopeAdmin)...)
	v1.POST("/rules/test", s.testRules, guard(ScopeAdmin)...)
	v1.GET("/dlq", s.listDeadLetters, guard(ScopeAdmin)...)
	v1.GET("/dlq/:id", s.getDeadLetter, guard(ScopeAdmin)...)
	v1.POST("/dlq/redrive", s.redrive, guard(ScopeAdmin)...)
	v1.POST("/apikeys", s.createKey, guard(ScopeAdmin)...)
	v1.GET("/apikeys", s.listKeys, guard(ScopeAdmin)...)
	v1.DELETE("/apikeys/:name", s.revokeKey, guard(ScopeAdmin)...)
	e.GET("/metrics", s.metrics, guard(ScopeAdmin)...)
	e.GET("/debug/pprof/:name", profile, guard(ScopeAdmin)...)
	if d.Dashboard != nil {
		d.Dashboard.Register(e)
	}

	return s, nil
}

// Handler returns the HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// recoverer turns a panic into a 500 that leaks nothing, logged with the
// request id.
func (s *Server) recoverer() echo.MiddlewareFunc {
	return middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("web: panic", "path", c.Path(), "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
				"err", err, "stack", string(stack))
			return err
		},
	})
}

func (s *Server) health(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := database.Ping(ctx, s.DB); err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the database does not answer")
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// requireJSON refuses a body that is not declared as plain JSON. JSON
// between systems is UTF-8 (RFC 8259), and the body is read as such, so a
// charset parameter naming anything else is refused rather than misread.
func requireJSON(c echo.Context) error {
	mt, params, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "the body must be application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "the body must be JSON in UTF-8; charset "+strconv.Quote(cs)+" is not accepted")
	}
	if enc := c.Request().Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "content encodings are not accepted; send the JSON as is")
	}
	return nil
}

// readBody reads a JSON body, bounded by the BodyLimit middleware.
func readBody(c echo.Context) ([]byte, error) {
	if err := requireJSON(c); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		var he *echo.HTTPError
		if errors.As(err, &mbe) || (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge) {
			return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge, "the body is larger than 1 MiB (1,048,576 bytes)")
		}
		if errors.Is(err, errTooSlow) {
			return nil, errTooSlow
		}
		return nil, echo.NewHTTPError(http.StatusBadRequest, "unreadable body: "+err.Error())
	}
	return body, nil
}

// bind decodes a JSON body strictly, as RFC 8259 and the types say: valid
// UTF-8, one value, member names matched exactly and each only once, no
// unknown members, no nulls (a null would quietly become a zero), and
// numbers that fit their fields.
func bind(c echo.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	return decode(body, v)
}

// decode is bind for a body already read.
func decode(body []byte, v any) error {
	if err := noNulls(body); err != nil {
		return err
	}
	if err := jsonv2.Unmarshal(body, v, jsonv2.RejectUnknownMembers(true)); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "invalid JSON body: "+describeJSON(err))
	}
	return nil
}

// describeJSON says what is wrong with a body in the client's terms: the
// member and its path, and the JSON it should have been. Never a Go type.
func describeJSON(err error) string {
	se, ok := errors.AsType[*jsonv2.SemanticError](err)
	if !ok {
		return err.Error() // a syntax error: its message names the offset, no types
	}
	where := cmp.Or(string(se.JSONPointer), "/")
	if errors.Is(se.Err, jsonv2.ErrUnknownName) {
		name := se.JSONPointer.LastToken()
		return fmt.Sprintf("unknown member %q at %s", name, where)
	}
	want := "a different value"
	if se.GoType != nil {
		switch se.GoType.Kind() {
		case reflect.Struct, reflect.Map:
			want = "an object"
		case reflect.Slice, reflect.Array:
			want = "an array"
		case reflect.String:
			want = "a string"
		case reflect.Bool:
			want = "true or false"
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			want = "a whole number in range"
		case reflect.Float32, reflect.Float64:
			want = "a number"
		}
	}
	if se.JSONKind != 0 {
		return fmt.Sprintf("%s must be %s, not %s", where, want, kindName(se.JSONKind))
	}
	return fmt.Sprintf("%s must be %s", where, want)
}

// kindName names a JSON kind as a person would.
func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "null"
}

// noNulls refuses a body holding null anywhere, naming where.
func noNulls(body []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "invalid JSON body: "+err.Error())
		}
		if tok.Kind() == 'n' {
			return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("invalid JSON body: null at %s; leave a field out instead", cmp.Or(string(dec.StackPointer()), "/")))
		}
	}
}

// sanitizeRequestID drops a client's X-Request-ID that is too long or not
// printable ASCII, so the RequestID middleware makes a fresh one instead of
// echoing it into responses and logs.
func sanitizeRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if id := h.Get(echo.HeaderXRequestID); len(id) > 128 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			h.Del(echo.HeaderXRequestID)
		}
		return next(c)
	}
}

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
