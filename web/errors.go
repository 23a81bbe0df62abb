package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/fault"
)

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type   string         `json:"type"`
	Title  string         `json:"title"`
	Status int            `json:"status"`
	Detail string         `json:"detail,omitempty"`
	Errors []FieldProblem `json:"errors,omitempty"`
}

// FieldProblem is one invalid field of a request, in a Problem.
type FieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// statusOf is the one table from shopbus's error codes to HTTP statuses.
// Adding a package adds nothing here: packages return coded errors.
var statusOfCode = map[fault.Code]int{
	fault.Invalid:      http.StatusUnprocessableEntity,
	fault.NotFound:     http.StatusNotFound,
	fault.Conflict:     http.StatusConflict,
	fault.Unauthorized: http.StatusUnauthorized,
	fault.Forbidden:    http.StatusForbidden,
	fault.Unavailable:  http.StatusServiceUnavailable,
	fault.Internal:     http.StatusInternalServerError,
}

// StatusOf is the HTTP status that answers err: Echo's own HTTP errors
// keep theirs, everything else is answered by its code. The dashboard's
// HTML error pages use it too, so they agree with the API.
func StatusOf(err error) int {
	if he, ok := errors.AsType[*echo.HTTPError](err); ok {
		return he.Code
	}
	if status, ok := statusOfCode[fault.CodeOf(err)]; ok {
		return status
	}
	return http.StatusInternalServerError // a code the table lacks is a bug of ours, not the client's
}

// invalidField is a 422 naming one field of the request.
func invalidField(field, message string) error {
	return fault.InvalidFields(fault.Field{Field: field, Message: message})
}

// handleError turns any error into a problem+json response. Echo's own
// HTTP errors (400 for bad JSON, 404 for no route, 413, 415) keep their
// status; everything else is answered by its code. Errors without one are
// logged and answered with a plain 500 that leaks nothing.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := StatusOf(err)
	detail := err.Error()
	if he, ok := errors.AsType[*echo.HTTPError](err); ok {
		detail = ""
		if msg, ok := he.Message.(string); ok && msg != http.StatusText(status) {
			detail = msg
		}
	}
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
	switch {
	case errors.Is(err, context.Canceled):
		// The client went away; nothing to tell anyone.
		s.log.Debug("web: request cancelled", "method", c.Request().Method, "path", c.Path())
		p.Detail = ""
	case status == http.StatusInternalServerError:
		s.log.Error("web: request failed", "method", c.Request().Method, "path", c.Path(),
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
		p.Detail = ""
	}
	if fields := fault.FieldsOf(err); len(fields) > 0 {
		p.Detail = "the request has invalid fields"
		for _, f := range fields {
			p.Errors = append(p.Errors, FieldProblem(f))
		}
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
