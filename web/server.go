// Package web is shopbus's API gateway: the Echo server that authenticates
// requests, validates them, and hands them to the modules. Errors become
// application/problem+json responses in one place (errors.go).
package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
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
	Log       *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	Deps
	log  *slog.Logger
	echo *echo.Echo
	http *http.Server
}

// maxBody bounds every request body; a 500-item order is far below it.
const maxBody = "1M"

// New builds the server and its routes.
func New(d Deps) *Server {
	s := &Server{Deps: d, log: d.Log, echo: echo.New()}
	e := s.echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	// Trust only the peer address: X-Forwarded-For is whatever a client says.
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(middleware.RequestID(), s.recoverer(), middleware.BodyLimit(maxBody))

	e.GET("/healthz", s.health)
	v1 := e.Group("/v1", s.authenticate)
	v1.POST("/orders", s.createOrder, s.Idempotent)
	v1.GET("/orders", s.listOrders)
	v1.GET("/orders/:id", s.getOrder)
	v1.POST("/orders/:id/state", s.changeState, s.Idempotent)
	v1.PUT("/inventory/:sku", s.setStock)
	v1.GET("/inventory/:sku", s.getStock)
	v1.POST("/rules/test", s.testRules)
	v1.GET("/dlq", s.listDeadLetters)
	v1.GET("/dlq/:id", s.getDeadLetter)
	v1.POST("/dlq/redrive", s.redrive)

	s.http = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(d.Log.Handler(), slog.LevelWarn),
	}
	return s
}

// Handler returns the HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve answers requests on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	if err := s.http.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting requests and waits for those in progress.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

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

// authenticate accepts "Authorization: Bearer <key>" or "X-API-Key: <key>".
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := c.Request().Header.Get("X-API-Key")
		if auth := c.Request().Header.Get(echo.HeaderAuthorization); key == "" && auth != "" {
			scheme, token, ok := strings.Cut(auth, " ")
			if ok && strings.EqualFold(scheme, "Bearer") {
				key = strings.TrimSpace(token)
			}
		}
		name, err := s.Keys.Authenticate(c.Request().Context(), key)
		if err != nil {
			return err
		}
		c.Set("api_key", name)
		return next(c)
	}
}

func (s *Server) health(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := database.Ping(ctx, s.DB); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "unreachable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// requireJSON refuses a body that is not declared as JSON.
func requireJSON(c echo.Context) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), echo.MIMEApplicationJSON) {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "the body must be application/json")
	}
	return nil
}

// bodyError explains why a body could not be read or decoded.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "the body is larger than "+maxBody+"B")
	}
	return echo.NewHTTPError(http.StatusBadRequest, "invalid JSON body: "+err.Error())
}

// bind decodes a JSON body strictly: JSON only, no unknown fields, one value.
func bind(c echo.Context, v any) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return echo.NewHTTPError(http.StatusBadRequest, "invalid JSON body: more than one value")
	}
	return nil
}

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
