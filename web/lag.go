package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// refuseWhileBehind refuses a new order with 503 and Retry-After while the
// shop is further behind than delivery.max_lag (bus.Bus.Behind): an order
// accepted then would wait past the bound for its deliveries and its
// email, and would make every order after it wait longer. It is the route
// middleware of POST /v1/orders that runs right after the key's checks,
// before the body is read, decoded and validated (admit) and before an
// Idempotency-Key is taken: a refusal costs next to nothing and stores
// nothing, so the client's retry is as good as the first try, and a shop
// refusing a flood of orders keeps its CPU for those it accepted. State
// changes of existing orders are never refused for lag.
func (s *Server) refuseWhileBehind(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.Bus == nil {
			return next(c)
		}
		wait, behind := s.Bus.Behind()
		if !behind {
			return next(c)
		}
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(max(time.Second, wait)/time.Second)))
		return echo.NewHTTPError(http.StatusServiceUnavailable,
			"the shop is behind with the orders it has accepted; try again in a moment")
	}
}
