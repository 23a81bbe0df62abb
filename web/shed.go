package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// shed bounds the order writes waiting for their commit at once. Past the
// bound the writer cannot keep up, and a request that waited would only
// hold memory and make every other one slower: it is refused at once with
// 503 and Retry-After, before anything is stored (not even its
// Idempotency-Key), so the client's retry is as good as the first try.
// It runs after admit: a slot is taken once the body is read and checked,
// so only a write waiting for the writer holds one, never an upload.
func (s *Server) shed(limit int) echo.MiddlewareFunc {
	slots := make(chan struct{}, limit)
	report := func() {
		if s.Metrics != nil {
			s.Metrics.InflightOrders(len(slots))
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			select {
			case slots <- struct{}{}:
				report()
			default:
				c.Response().Header().Set("Retry-After", "1")
				return echo.NewHTTPError(http.StatusServiceUnavailable,
					"too many orders are being written at this moment; try again in a second")
			}
			defer func() { <-slots; report() }()
			return next(c)
		}
	}
}
