package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Front is the HTTP server on the API's address, up from the process's
// first moment: while the database migrates it answers /healthz 200 and
// /readyz 503, and everything else 503 with Retry-After, so an orchestrator
// sees a live process that is not ready yet; Open then hands every request
// to the API.
type Front struct {
	http *http.Server
	api  atomic.Pointer[Server]
}

// NewFront returns a front answering "starting" until Open.
func NewFront(log *slog.Logger) *Front {
	f := &Front{}
	f.http = &http.Server{
		Handler:           http.HandlerFunc(f.serveHTTP),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return f
}

// Open sends every request from now on to the API.
func (f *Front) Open(s *Server) { f.api.Store(s) }

func (f *Front) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s := f.api.Load(); s != nil {
		s.echo.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case "/healthz":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"starting"}` + "\n"))
	case "/readyz":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"starting"}` + "\n"))
	default:
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"type":"about:blank","title":"Service Unavailable","status":503,` +
			`"detail":"shopbus is starting (migrating its database); try again in a moment"}` + "\n"))
	}
}

// Serve answers requests on l until Shutdown.
func (f *Front) Serve(l net.Listener) error {
	if err := f.http.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting requests and waits for those in progress.
func (f *Front) Shutdown(ctx context.Context) error { return f.http.Shutdown(ctx) }
