package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/web/https"
)

// listenTLS returns ln as the API serves on it: unchanged with TLS off;
// with TLS on, wrapped so that its connections speak TLS, and with the
// plain-HTTP side (ACME challenges, the redirect to HTTPS) serving
// http.tls.redirect_addr until stop. On error it has closed ln.
func listenTLS(ln net.Listener, cfg config.HTTP, log *slog.Logger) (_ net.Listener, stop func(), err error) {
	if !cfg.TLS.On() {
		return ln, func() {}, nil
	}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	certs, err := https.New(cfg.TLS, log)
	if err != nil {
		return nil, nil, err
	}
	if cfg.TLS.RedirectAddr == config.RedirectOff {
		return certs.Listener(ln), func() {}, nil
	}
	rln, err := net.Listen("tcp", cfg.TLS.RedirectAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s (http.tls.redirect_addr): %w", cfg.TLS.RedirectAddr, err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	srv := &http.Server{Handler: certs.Redirect(port), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(rln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("the plain-HTTP redirect stopped serving", "addr", cfg.TLS.RedirectAddr, "err", err)
		}
	}()
	log.Info("https on", "addr", ln.Addr().String(), "redirect_addr", rln.Addr().String(), "acme", cfg.TLS.ACME())
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return certs.Listener(ln), stop, nil
}
