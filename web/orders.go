package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/email"
)

func (s *Server) createOrder(c echo.Context) error {
	in, err := input[checkout.NewOrder](c)
	if err != nil {
		return err
	}
	annotate(c, "order_id", in.OrderID)
	acc, err := s.Checkout.Place(c.Request().Context(), *in)
	if err != nil {
		return err
	}
	annotate(c, "event_id", acc.EventID)
	c.Response().Header().Set(echo.HeaderLocation, "/v1/orders/"+acc.OrderID)
	return c.JSON(http.StatusCreated, acc)
}

// stateChange is the body of POST /v1/orders/{id}/state.
type stateChange struct {
	OrderState string `json:"order_state"`
}

func (s *Server) changeState(c echo.Context) error {
	in, err := input[stateChange](c)
	if err != nil {
		return err
	}
	annotate(c, "order_id", c.Param("id"))
	acc, err := s.Checkout.ChangeState(c.Request().Context(), c.Param("id"), in.OrderState)
	if err != nil {
		return err
	}
	annotate(c, "event_id", acc.EventID)
	return c.JSON(http.StatusOK, acc)
}

// orderView is an order with its journey: where its events went and what
// was mailed.
type orderView struct {
	checkout.Order
	Deliveries []bus.DeliveryStatus `json:"deliveries"`
	Emails     []email.Job          `json:"emails"`
}

func (s *Server) getOrder(c echo.Context) error {
	ctx := c.Request().Context()
	o, err := s.Checkout.Get(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	v := orderView{Order: o}
	if v.Deliveries, err = s.Bus.Deliveries(ctx, o.OrderID); err != nil {
		return err
	}
	if v.Emails, err = s.Email.ForOrder(ctx, o.OrderID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) listOrders(c echo.Context) error {
	limit := 50
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return invalidField("limit", "must be a whole number from 1 to 500")
		}
		limit = n
	}
	page, err := s.Checkout.List(c.Request().Context(), limit, c.QueryParam("after"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}
