package web

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"
)

// testRules answers which rules an event (the body) matches and what each
// target would receive, storing and sending nothing.
func (s *Server) testRules(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "the body must be an event: a JSON object ("+err.Error()+")")
	}
	matches, err := s.Bus.Test(body)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	return c.JSON(http.StatusOK, map[string]any{"matches": matches})
}
