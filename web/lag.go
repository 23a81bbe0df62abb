package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// refuseWhileBehind refuses a new order with 503 and Retry-After when the
// bus says the shop is behind (bus.Bus.Behind: a share of new orders from
// half of delivery.max_lag, every one past it): an order accepted then
// would wait toward or past the bound for its deliveries and its email,
// and would make every order after it wait longer. It is the first
// thing createOrder does, after admit has read and checked the body: the
// refusal stores nothing (an Idempotency-Key is released, as for any 5xx),
// so the client's retry is as good as the first try. Refusing before the
// body is read was measured worse, not better (session 5, e6aad6c: fewer
// orders accepted at 2,000/s offered, the client working harder). State
// changes of existing orders are never refused for lag.
func (s *Server) refuseWhileBehind(c echo.Context) error {
	if s.Bus == nil {
		return nil
	}
	wait, behind := s.Bus.Behind()
	if !behind {
		return nil
	}
	c.Response().Header().Set("Retry-After", strconv.Itoa(int(max(time.Second, wait)/time.Second)))
	return echo.NewHTTPError(http.StatusServiceUnavailable,
		"the shop is behind with the orders it has accepted; try again in a moment")
}
