package main

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/app"
	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/natsbus"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/metrics"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/web"
)

// openDB opens and migrates the database the config names. It refuses a
// database a newer shopbus migrated, and on SQLite it backs the database up
// before it applies a step to one that holds data.
func openDB(ctx context.Context, cfg *config.Config, log *slog.Logger) (*database.DB, error) {
	db, err := database.Open(cfg.Database)
	if err != nil {
		return nil, err
	}
	if err := beforeMigrating(ctx, cfg, db.DB, log); err != nil {
		_ = db.Close()
		return nil, err
	}
	applied, err := database.Migrate(ctx, db.DB, app.Migrations())
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	if len(applied) > 0 {
		log.Info("database migrated", "steps", applied)
	}
	return db, nil
}

// daemon is everything serve runs, each part built once, in order: database,
// group commit, metrics, transport, modules and bus, checkout, keys.
type daemon struct {
	app.Routing
	store    *database.DB // closed by serve, last
	db       *gorm.DB
	commits  *database.Batcher
	metrics  *metrics.Metrics
	checkout *checkout.Service
	keys     *web.Keys
}

// openDaemon builds the daemon on the migrated database. On failure it closes
// what it opened.
func openDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *daemon, err error) {
	store, err := openDB(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = store.Close()
		}
	}()
	db := store.DB
	// Orders, deliveries and sends share group commits: one durable commit
	// covers every one written at the same moment. Deliveries and sends go
	// first (their workers are bounded), so a saturated writer finishes
	// accepted orders before it accepts more.
	commits := database.NewBatcher(db, 256)
	m := metrics.New(metrics.Backlogs{Bus: bus.NewRecords(db, log), Email: email.NewRecords(db)})
	var transport bus.Transport
	if cfg.Bus.Transport == config.TransportNATS {
		// The bus closes it when it stops, after the handlers in flight.
		if transport, err = natsbus.Dial(ctx, cfg.Bus.NATSURL, natsbus.Options{Workers: cfg.Delivery.Workers,
			EventRetention: cfg.Delivery.Retention, Log: log}); err != nil {
			return nil, err
		}
	}
	r, err := app.Route(cfg, bus.Deps{DB: db, Log: log, Committer: commits.Priority(), Observer: m, Transport: transport,
		LagSources: []bus.LagSource{email.NewRecords(db)}},
		email.Deps{DB: db, Log: log, Committer: commits.Priority(), Observer: m})
	if err != nil {
		if transport != nil {
			_ = transport.Close()
		}
		return nil, err
	}
	return &daemon{Routing: r, store: store, db: db, commits: commits, metrics: m, checkout: checkout.New(db, r.Bus, commits),
		keys: web.NewKeys(db)}, nil
}

// withDB runs fn on the migrated database the config names, for the
// commands that need little else.
func withDB(cmd *cobra.Command, load loader, fn func(ctx context.Context, cfg *config.Config, db *gorm.DB, log *slog.Logger) error) error {
	cfg, err := load()
	if err != nil {
		return err
	}
	log := cfg.Log.Logger(cmd.ErrOrStderr())
	db, err := openDB(cmd.Context(), cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(cmd.Context(), cfg, db.DB, log)
}
