package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/web"
	"github.com/shopbus/shopbus/web/dashboard"
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
// the API listens on, as soon as it listens: /readyz answers 503 until the
// database is migrated and the modules are wired. On stop: the HTTP server
// first, then the bus and the email worker finish what they hold, then the
// database closes.
func serve(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer, ready func(addr string)) error {
	log := cfg.Log.Logger(stderr)
	lock, err := database.LockShared(cfg.Database) // restore refuses while it is held
	if err != nil {
		return err
	}
	defer lock.Release()
	web.RaiseOpenFileLimit(log)
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on %s: another program uses that address; choose another with http.addr or SHOPBUS_HTTP_ADDR: %w",
			cfg.HTTP.Addr, err)
	}
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTP.Addr, err)
	}
	ln = web.LimitListener(ln, cfg.HTTP, log)
	ln, stopRedirect, err := listenTLS(ln, cfg.HTTP, log)
	if err != nil {
		return err
	}
	defer stopRedirect()
	front := web.NewFront(log)
	errs := make(chan error, 6)
	go func() { errs <- front.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr().String())
	}
	// A start that fails takes the listener down with it; after a clean
	// stop, which shuts the front down first (below), this finds nothing.
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
		defer cancel()
		_ = front.Shutdown(shutdownCtx)
	}()

	d, err := openDaemon(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.store.Close()

	key, err := d.keys.Bootstrap(ctx, cfg.BootstrapAPIKey)
	if err != nil {
		return err
	}
	if key != "" {
		fmt.Fprintf(stdout, "Created the admin API key. It is shown only this once; keep it safe:\n\n    %s\n\n", key)
	}

	m := d.metrics
	backups := newBackups(cfg, log, m)
	dead := bus.DLQ{d.Bus, d.Email} // dead deliveries and failed emails, listed and redriven as one
	dash, err := dashboard.New(dashboard.Deps{DB: d.db, Keys: d.keys, Orders: d.checkout, Journeys: d.Bus, Rules: d.Bus,
		DeadLetters: dead, Emails: d.Email, Stock: d.Inventory, Shipments: d.Shipping, Payments: d.Payment, Backups: backups, Log: log})
	if err != nil {
		return err
	}
	srv, err := web.New(web.Deps{DB: d.db, Keys: d.keys, Bus: d.Bus, Checkout: d.checkout, Inventory: d.Inventory,
		Email: d.Email, Shipments: d.Shipping, Payments: d.Payment, Log: log, Metrics: m, Dashboard: dash, DeadLetters: dead,
		StripeSecrets: cfg.Stripe.WebhookSecrets}, cfg.HTTP)
	if err != nil {
		return err
	}
	var metricsSrv *http.Server
	if cfg.HTTP.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.HTTP.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen on %s (http.metrics_addr): %w", cfg.HTTP.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m)
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
		go func() {
			if err := metricsSrv.Serve(mln); !errors.Is(err, http.ErrServerClosed) {
				errs <- err
			}
		}()
		log.Info("metrics serving", "addr", mln.Addr().String())
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

	// The group committer stops last: the deliveries and sends in flight
	// commit through it while the bus and the email worker drain.
	commitCtx, stopCommits := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCommits()
	commitsDone := make(chan struct{})
	go func() { _ = d.commits.Run(commitCtx); close(commitsDone) }()
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var workers sync.WaitGroup
	purgeKeys := func(ctx context.Context) error { return every(ctx, time.Hour, srv.PurgeIdempotencyKeys) }
	sweepStock := func(ctx context.Context) error { return d.Inventory.Run(ctx, log) }
	for _, run := range []func(context.Context) error{d.Bus.Run, d.Email.Run, purgeKeys, sweepStock, backups.Run} {
		workers.Go(func() {
			if err := run(workCtx); err != nil {
				errs <- err
			}
		})
	}
	front.Open(srv)
	log.Info("shopbus serving", "addr", ln.Addr().String(), "dashboard", dashboardURL(ln.Addr()), "version", version,
		"database", cfg.Database.Where(), "transport", cfg.Bus.Transport)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	log.Info("shopbus stopping")
	dash.Close() // the dashboard's live streams end, so the HTTP shutdown does not wait for browsers
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := front.Shutdown(shutdownCtx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("http shutdown: %w", err))
	}
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(shutdownCtx)
	}
	stopWork()
	done := make(chan struct{})
	go func() { workers.Wait(); stopCommits(); <-commitsDone; close(done) }()
	select {
	case <-done:
	case <-shutdownCtx.Done():
		runErr = errors.Join(runErr, errors.New("shutdown timed out with deliveries in flight; they will run again at the next start"))
	}
	log.Info("shopbus stopped")
	return runErr
}

// dashboardURL is where a person on this machine opens the dashboard.
func dashboardURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "/dashboard"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/dashboard"
}
