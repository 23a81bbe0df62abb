package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/config"
)

// ParseTTL reads a key lifetime in shopbus's one duration syntax
// (config.ParseDuration): 720h or 90d.
func ParseTTL(s string) (time.Duration, error) {
	d, err := config.ParseDuration(s)
	if err != nil {
		return 0, invalidField("expires_in", err.Error())
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
