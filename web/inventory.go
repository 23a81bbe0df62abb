package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

func (s *Server) setStock(c echo.Context) error {
	var in struct {
		OnHand *int64 `json:"on_hand"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.OnHand == nil || *in.OnHand < 0 {
		return invalidField("on_hand", "is required and must not be negative")
	}
	st, err := s.Inventory.Set(c.Request().Context(), c.Param("sku"), *in.OnHand)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (s *Server) getStock(c echo.Context) error {
	st, err := s.Inventory.Get(c.Request().Context(), c.Param("sku"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}
