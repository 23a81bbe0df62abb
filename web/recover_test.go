package web

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/shopbus/shopbus/config"
)

// TestPanicLeaksNothing: a panicking handler gives a plain 500
// problem+json that says nothing of the panic, and the log has the panic
// with the request id.
func TestPanicLeaksNothing(t *testing.T) {
	var logs bytes.Buffer
	s, err := New(Deps{Log: slog.New(slog.NewTextHandler(&logs, nil))}, config.HTTP{})
	if err != nil {
		t.Fatal(err)
	}
	s.echo.GET("/boom", func(echo.Context) error { panic("db password is hunter2") })
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))

	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != 500 || p.Detail != "" {
		t.Errorf("problem %+v (%v)", p, err)
	}
	if strings.Contains(rec.Body.String(), "hunter2") {
		t.Errorf("the response leaks the panic: %s", rec.Body)
	}
	id := rec.Header().Get(echo.HeaderXRequestID)
	if id == "" || !strings.Contains(logs.String(), id) || !strings.Contains(logs.String(), "hunter2") {
		t.Errorf("the log lacks the panic or the request id %q:\n%s", id, logs.String())
	}
}
