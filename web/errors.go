package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/inventory"
)

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type   string                `json:"type"`
	Title  string                `json:"title"`
	Status int                   `json:"status"`
	Detail string                `json:"detail,omitempty"`
	Errors []checkout.FieldError `json:"errors,omitempty"`
}

// statusOf maps the domain's errors to HTTP statuses. It is the one place
// that knows both.
func statusOf(err error) int {
	var he *echo.HTTPError
	var ve *checkout.ValidationError
	switch {
	case errors.As(err, &he):
		return he.Code
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable // the request's deadline passed: busy, try again
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrKeyNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrKeyExists):
		return http.StatusConflict
	case errors.Is(err, ErrInvalidKey):
		return http.StatusUnprocessableEntity
	case errors.Is(err, checkout.ErrNotFound), errors.Is(err, inventory.ErrNotFound), errors.Is(err, bus.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, checkout.ErrDuplicate), errors.Is(err, checkout.ErrInvalidTransition),
		errors.Is(err, inventory.ErrBelowReserved):
		return http.StatusConflict
	case errors.Is(err, inventory.ErrInvalid), errors.Is(err, bus.ErrBadRedrive):
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// handleError turns any error into a problem+json response. Errors it does
// not know are logged and answered with a plain 500 that leaks nothing.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := statusOf(err)
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status}
	var he *echo.HTTPError
	var ve *checkout.ValidationError
	switch {
	case errors.Is(err, context.Canceled):
		// The client went away; nothing to tell anyone.
		s.log.Debug("web: request cancelled", "method", c.Request().Method, "path", c.Path())
	case status == http.StatusInternalServerError:
		s.log.Error("web: request failed", "method", c.Request().Method, "path", c.Path(),
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
	case errors.As(err, &ve):
		p.Detail, p.Errors = "the request has invalid fields", ve.Fields
	case errors.As(err, &he):
		if msg, ok := he.Message.(string); ok && msg != http.StatusText(status) {
			p.Detail = msg
		}
	default:
		p.Detail = err.Error()
	}
	if status == http.StatusUnauthorized {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="shopbus"`)
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(status)
	if c.Request().Method != http.MethodHead {
		_ = jsonEncode(c.Response(), p)
	}
}
