package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/web"
)

func serveCmd(load loader) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the checkout API, the event bus and the modules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg, cmd.OutOrStdout(), cmd.ErrOrStderr(), nil)
		},
	}
}

// serve runs shopbus until ctx is done. ready, if set, is told the address
// the API listens on. On stop: the HTTP server first, then the bus and the
// email worker finish what they hold, then the database closes.
func serve(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer, ready func(addr string)) error {
	log := newLogger(cfg.Log, stderr)
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer database.Close(a.db)

	key, err := a.keys.Bootstrap(ctx, cfg.BootstrapAPIKey)
	if err != nil {
		return err
	}
	if key != "" {
		fmt.Fprintf(stdout, "Created the admin API key. It is shown only this once; keep it safe:\n\n    %s\n\n", key)
	}

	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTP.Addr, err)
	}
	srv, err := web.New(web.Deps{DB: a.db, Keys: a.keys, Bus: a.bus, Checkout: a.checkout,
		Inventory: a.inventory, Email: a.email, Log: log}, cfg.HTTP.Config)
	if err != nil {
		return err
	}
	every := func(ctx context.Context, d time.Duration, fn func(context.Context, time.Time) (int64, error)) error {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case now := <-t.C:
				if _, err := fn(ctx, now); err != nil && ctx.Err() == nil {
					log.Error("purge expired idempotency keys", "err", err)
				}
			}
		}
	}

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var workers sync.WaitGroup
	errs := make(chan error, 3)
	purgeKeys := func(ctx context.Context) error { return every(ctx, time.Hour, srv.PurgeIdempotencyKeys) }
	for _, run := range []func(context.Context) error{a.orders.Run, a.bus.Run, a.email.Run, purgeKeys} {
		workers.Go(func() {
			if err := run(workCtx); err != nil {
				errs <- err
			}
		})
	}
	go func() { errs <- srv.Serve(ln) }()
	log.Info("shopbus serving", "addr", ln.Addr().String(), "version", version, "database", cfg.Database.Where())
	if ready != nil {
		ready(ln.Addr().String())
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	log.Info("shopbus stopping")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("http shutdown: %w", err))
	}
	stopWork()
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-shutdownCtx.Done():
		runErr = errors.Join(runErr, errors.New("shutdown timed out with deliveries in flight; they will run again at the next start"))
	}
	log.Info("shopbus stopped")
	return runErr
}
