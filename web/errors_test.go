package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/web"
	"github.com/shopbus/shopbus/web/webtest"
)

// codes are every fault code with the status it answers: the table a
// client may rely on.
var codes = []struct {
	code   fault.Code
	status int
}{
	{fault.Invalid, http.StatusUnprocessableEntity},
	{fault.NotFound, http.StatusNotFound},
	{fault.Conflict, http.StatusConflict},
	{fault.Unauthorized, http.StatusUnauthorized},
	{fault.Forbidden, http.StatusForbidden},
	{fault.Unavailable, http.StatusServiceUnavailable},
	{fault.Internal, http.StatusInternalServerError},
}

func TestStatusOf(t *testing.T) {
	t.Parallel()
	for _, tc := range codes {
		if got := web.StatusOf(fault.New(tc.code, "x")); got != tc.status {
			t.Errorf("%s: %d, want %d", tc.code, got, tc.status)
		}
		if got := web.StatusOf(fmt.Errorf("wrapped: %w", fault.New(tc.code, "x"))); got != tc.status {
			t.Errorf("%s wrapped: %d, want %d", tc.code, got, tc.status)
		}
	}
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"uncoded", errors.New("disk on fire"), http.StatusInternalServerError},
		{"a deadline passed", fmt.Errorf("query: %w", context.DeadlineExceeded), http.StatusServiceUnavailable},
		{"Echo's own", echo.NewHTTPError(http.StatusRequestEntityTooLarge, "big"), http.StatusRequestEntityTooLarge},
		{"Echo's, wrapped", fmt.Errorf("read: %w", echo.ErrUnsupportedMediaType), http.StatusUnsupportedMediaType},
		{"Echo's outside a coded one", fault.Wrap(fault.Conflict, echo.ErrNotFound), http.StatusNotFound},
		{"a field list", fault.InvalidFields(fault.Field{Field: "a", Message: "b"}), http.StatusUnprocessableEntity},
	} {
		if got := web.StatusOf(tc.err); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// failing is a shop with routes that fail as the test says: /fail/code/:code
// returns a coded error, /fail/echo/:status one of Echo's, /fail/{name}
// the error errs names.
func failing(t *testing.T, errs map[string]error) *webtest.Shop {
	return webtest.New(t, webtest.Options{Routes: func(e *echo.Echo) {
		e.Any("/fail/code/:code", func(c echo.Context) error {
			return fault.New(fault.Code(c.Param("code")), "the message of "+c.Param("code"))
		})
		e.GET("/fail/echo/:status", func(c echo.Context) error {
			status, _ := strconv.Atoi(c.Param("status"))
			if msg := c.QueryParam("msg"); msg != "" {
				return echo.NewHTTPError(status, msg)
			}
			return echo.NewHTTPError(status)
		})
		e.GET("/fail/committed", func(c echo.Context) error {
			_ = c.String(http.StatusOK, "half an answer")
			return errors.New("failed after the answer began")
		})
		for name, err := range errs {
			e.GET("/fail/"+name, func(echo.Context) error { return err })
		}
	}})
}

// TestErrorsAreProblems: every error answers application/problem+json
// with the status its code maps to and its message as the detail, whatever
// the code; Echo's own HTTP errors keep their status.
func TestErrorsAreProblems(t *testing.T) {
	t.Parallel()
	s := failing(t, map[string]error{
		"wrapped": fmt.Errorf("reserve MUG: %w", fault.New(fault.Conflict, "not enough stock")),
		"fields": fault.InvalidFields(fault.Field{Field: "customer.email", Message: "must be an address"},
			fault.Field{Field: "items[0].quantity", Message: "must be at least 1"}),
		"deadline": fmt.Errorf("commit: %w", context.DeadlineExceeded),
	})
	var scenarios []webtest.Scenario
	for _, tc := range codes {
		if tc.code == fault.Internal {
			continue // its message is for the log: TestInternalErrorsLeakNothing
		}
		scenarios = append(scenarios, webtest.Scenario{Name: string(tc.code), URL: "/fail/code/" + string(tc.code), Status: tc.status,
			JSON: map[string]any{"/type": "about:blank", "/title": http.StatusText(tc.status), "/status": tc.status,
				"/detail": "the message of " + string(tc.code)}})
	}
	scenarios = append(scenarios,
		webtest.Scenario{Name: "401 names the scheme", URL: "/fail/code/unauthorized", Status: 401,
			Header: map[string]string{"WWW-Authenticate": `Bearer realm="shopbus"`}},
		webtest.Scenario{Name: "403 does not", URL: "/fail/code/forbidden", Status: 403, Header: map[string]string{"WWW-Authenticate": ""}},
		webtest.Scenario{Name: "a wrapped code", URL: "/fail/wrapped", Status: 409,
			JSON: map[string]any{"/detail": "reserve MUG: not enough stock"}},
		webtest.Scenario{Name: "a deadline is unavailable", URL: "/fail/deadline", Status: 503},
		webtest.Scenario{Name: "a field list", URL: "/fail/fields", Status: 422, Fields: []string{"customer.email", "items[0].quantity"},
			JSON: map[string]any{"/detail": "the request has invalid fields", "/errors": []map[string]string{
				{"field": "customer.email", "message": "must be an address"},
				{"field": "items[0].quantity", "message": "must be at least 1"}}}},
		webtest.Scenario{Name: "Echo's status is kept", URL: "/fail/echo/413?msg=too+big", Status: 413,
			JSON: map[string]any{"/title": "Request Entity Too Large", "/detail": "too big"}},
		webtest.Scenario{Name: "Echo's bare status has no detail", URL: "/fail/echo/418", Status: 418,
			JSON: map[string]any{"/title": "I'm a teapot"}, NotContains: []string{`"detail"`}},
		webtest.Scenario{Name: "no route", URL: "/fail/nowhere/at/all", Status: 404, JSON: map[string]any{"/title": "Not Found"}},
		webtest.Scenario{Name: "no such method", Method: "DELETE", URL: "/fail/wrapped", Status: 405},
		webtest.Scenario{Name: "HEAD has no body", Method: "HEAD", URL: "/fail/code/not_found", Plain: true, Status: 404,
			Header: map[string]string{"Content-Type": "application/problem+json"},
			After: func(t *testing.T, _ *webtest.Shop, r webtest.Response) {
				if len(r.Body) != 0 {
					t.Errorf("HEAD answered a body: %s", r.Body)
				}
			}},
		webtest.Scenario{Name: "an answer already begun is left alone", URL: "/fail/committed", Status: 200,
			Contains: []string{"half an answer"}, NotContains: []string{"problem", "failed"}},
	)
	s.Run(t, scenarios...)
}

// TestInternalErrorsLeakNothing: an uncoded or Internal error answers a
// plain 500 whose body says nothing of it, and the log has it with the
// request id; a request the client gave up on is no error to log.
func TestInternalErrorsLeakNothing(t *testing.T) {
	t.Parallel()
	s := failing(t, map[string]error{
		"uncoded":   fmt.Errorf("query orders: %w", errors.New("pq: password authentication failed for user hunter2")),
		"cancelled": fmt.Errorf("query orders: %w", context.Canceled),
	})
	secret := "hunter2"
	for _, url := range []string{"/fail/uncoded", "/fail/code/internal"} {
		s.Run(t, webtest.Scenario{Name: url, URL: url, Status: 500, NotContains: []string{secret, "message of", "query"},
			JSON: map[string]any{"/title": "Internal Server Error", "/status": 500},
			After: func(t *testing.T, s *webtest.Shop, r webtest.Response) {
				if strings.Contains(string(r.Body), `"detail"`) {
					t.Errorf("a 500 with a detail: %s", r.Body)
				}
				if id := r.Header.Get(echo.HeaderXRequestID); !logged(s, "web: request failed", id) {
					t.Errorf("no log line of the failure with request id %s:\n%s", id, s.Logs())
				}
			}})
	}
	if !strings.Contains(s.Logs(), secret) {
		t.Errorf("the log lacks the cause:\n%s", s.Logs())
	}
	s.Run(t, webtest.Scenario{Name: "cancelled", URL: "/fail/cancelled", Status: 500, NotContains: []string{"canceled", "query"},
		After: func(t *testing.T, s *webtest.Shop, r webtest.Response) {
			if id := r.Header.Get(echo.HeaderXRequestID); logged(s, "web: request failed", id) {
				t.Errorf("a cancelled request logged as a failure:\n%s", s.Logs())
			}
		}})
}

// logged reports whether one line of the shop's log holds every part.
func logged(s *webtest.Shop, parts ...string) bool {
	for line := range strings.Lines(s.Logs()) {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}
