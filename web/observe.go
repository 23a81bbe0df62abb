package web

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	rpprof "runtime/pprof"
	"time"

	"github.com/labstack/echo/v4"
)

// Metrics is what the server needs of its metrics: a scrape endpoint and a
// place to count the requests it answered.
type Metrics interface {
	http.Handler
	ObserveHTTP(method, route string, status int, took time.Duration)
	// InflightOrders is told how many order writes wait for their commit.
	InflightOrders(n int)
}

// logAttrsKey holds attributes a handler adds to its request's log line.
const logAttrsKey = "web.log_attrs"

// annotate adds an attribute, such as the order id, to the request's log
// line, so one order can be followed from its request through the bus.
func annotate(c echo.Context, key string, value any) {
	attrs, _ := c.Get(logAttrsKey).([]any)
	c.Set(logAttrsKey, append(attrs, key, value))
}

// observe logs every request once it is answered, with its request id and
// whatever the handler annotated, and counts it in the metrics. Errors are
// answered here (as Echo's own logger middleware does) so the status logged
// is the status sent.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		took := time.Since(start)
		req, res := c.Request(), c.Response()
		// The route's pattern, never the raw path: a scanner's random paths
		// must not become series. Echo names the nearest route even for a
		// 404 or 405, and nothing when no route is near.
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		if s.Metrics != nil {
			s.Metrics.ObserveHTTP(req.Method, route, res.Status, took)
		}
		level := slog.LevelInfo
		if res.Status >= 500 {
			level = slog.LevelError
		}
		attrs := []any{"request_id", res.Header().Get(echo.HeaderXRequestID), "method", req.Method, "route", route,
			"status", res.Status, "duration_ms", float64(took.Microseconds()) / 1000, "remote", c.RealIP()}
		extra, _ := c.Get(logAttrsKey).([]any)
		s.log.Log(req.Context(), level, "web: request", append(attrs, extra...)...)
		return nil
	}
}

// profile serves Go's profiler at /debug/pprof/{name} for the admin key:
// profile (CPU, ?seconds=30), trace, heap, allocs, goroutine, block, mutex,
// threadcreate, cmdline, symbol. Fetched with the key (curl -H
// 'Authorization: Bearer KEY' .../debug/pprof/profile?seconds=30 > cpu.pprof)
// and read with go tool pprof, it shows what a busy shop spends its time on.
func profile(c echo.Context) error {
	var h http.Handler
	switch name := c.Param("name"); name {
	case "profile":
		h = http.HandlerFunc(pprof.Profile)
	case "trace":
		h = http.HandlerFunc(pprof.Trace)
	case "cmdline":
		h = http.HandlerFunc(pprof.Cmdline)
	case "symbol":
		h = http.HandlerFunc(pprof.Symbol)
	default:
		if rpprof.Lookup(name) == nil {
			return echo.NewHTTPError(http.StatusNotFound, "no profile named "+name)
		}
		h = pprof.Handler(name)
	}
	h.ServeHTTP(c.Response(), c.Request())
	return nil
}

// metrics answers a Prometheus scrape.
func (s *Server) metrics(c echo.Context) error {
	if s.Metrics == nil {
		return echo.NewHTTPError(http.StatusNotFound, "metrics are not collected by this server")
	}
	s.Metrics.ServeHTTP(c.Response(), c.Request())
	return nil
}
