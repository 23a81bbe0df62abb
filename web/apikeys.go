package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// ParseTTL reads a key lifetime: a Go duration ("720h") or days ("90d").
func ParseTTL(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 36500 {
			return 0, echo.NewHTTPError(http.StatusUnprocessableEntity, "expires_in: days must be 1 to 36500, as in 90d")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, echo.NewHTTPError(http.StatusUnprocessableEntity, "expires_in: want a positive duration such as 90d or 720h")
	}
	return d, nil
}

func (s *Server) createKey(c echo.Context) error {
	var in struct {
		Name      string   `json:"name"`
		Scopes    []string `json:"scopes"`
		ExpiresIn string   `json:"expires_in"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	n := NewKey{Name: in.Name, Scopes: in.Scopes}
	if in.ExpiresIn != "" {
		var err error
		if n.TTL, err = ParseTTL(in.ExpiresIn); err != nil {
			return err
		}
	}
	key, info, err := s.Keys.Create(c.Request().Context(), n)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, struct {
		Key string `json:"key"`
		KeyInfo
	}{key, info})
}

func (s *Server) listKeys(c echo.Context) error {
	keys, err := s.Keys.List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"keys": keys})
}

func (s *Server) revokeKey(c echo.Context) error {
	if err := s.Keys.Revoke(c.Request().Context(), c.Param("name")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
