package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/bus"
)

func (s *Server) listDeadLetters(c echo.Context) error {
	limit := 100
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return invalidField("limit", "must be a whole number from 1 to 1000")
		}
		limit = n
	}
	dead, err := s.DeadLetters.DeadLetters(c.Request().Context(), c.QueryParam("target"), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"dead_letters": dead})
}

// getDeadLetter answers GET /v1/dlq/{id}: a dead delivery, or with
// ?kind=email a failed email.
func (s *Server) getDeadLetter(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "no dead delivery "+c.Param("id"))
	}
	d, err := s.DeadLetters.DeadLetter(c.Request().Context(), c.QueryParam("kind"), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

func (s *Server) redrive(c echo.Context) error {
	var in struct {
		IDs    []int64 `json:"ids"`
		Target string  `json:"target"`
		All    bool    `json:"all"`
		Kind   string  `json:"kind"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	n, err := s.DeadLetters.Redrive(c.Request().Context(), bus.Redrive{IDs: in.IDs, Target: in.Target, All: in.All, Kind: in.Kind})
	if err != nil {
		return err
	}
	out := map[string]int64{"redriven": n}
	if len(in.IDs) > 0 {
		out["requested"] = int64(len(in.IDs))
	}
	return c.JSON(http.StatusOK, out)
}
