package main

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/natsbus"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/metrics"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/crm"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/modules/inventory"
	"github.com/shopbus/shopbus/modules/payment"
	"github.com/shopbus/shopbus/modules/shipping"
	"github.com/shopbus/shopbus/web"
	"github.com/shopbus/shopbus/web/dashboard"
)

// migrations lists every module's schema steps, in the order they apply.
func migrations() []database.Migration {
	var all []database.Migration
	for _, m := range [][]database.Migration{bus.Migrations, checkout.Migrations, inventory.Migrations,
		shipping.Migrations, payment.Migrations, crm.Migrations, email.Migrations, web.Migrations, web.IdempotencyMigrations,
		bus.QueryMigrations, checkout.QueryMigrations, dashboard.Migrations} {
		all = append(all, m...)
	}
	return all
}

// openDB opens and migrates the database the config names. It refuses a
// database a newer shopbus migrated, and on SQLite it backs the database up
// before it applies a step to one that holds data.
func openDB(ctx context.Context, cfg *config.Config, log *slog.Logger) (*gorm.DB, error) {
	db, err := database.Open(cfg.Database)
	if err != nil {
		return nil, err
	}
	if err := beforeMigrating(ctx, cfg, db, log); err != nil {
		_ = database.Close(db)
		return nil, err
	}
	applied, err := database.Migrate(ctx, db, migrations())
	if err != nil {
		_ = database.Close(db)
		return nil, err
	}
	if len(applied) > 0 {
		log.Info("database migrated", "steps", applied)
	}
	return db, nil
}

// routing is the bus with every module subscribed to it.
type routing struct {
	bus       *bus.Bus
	inventory *inventory.Service
	email     *email.Service
}

// route builds the modules, subscribes each to a new bus and compiles the
// rules against them, refusing (as invalid) any rule that names a target
// no module serves or sends one a payload it cannot read. The database in
// the deps may be nil when the rules are only checked: nothing runs then.
func route(cfg *config.Config, busDeps bus.Deps, mailDeps email.Deps) (routing, error) {
	db := busDeps.DB
	b := bus.New(busDeps, cfg.Rules, cfg.Delivery)
	mail, err := email.New(mailDeps, cfg.Mail)
	if err != nil {
		return routing{}, fault.Errorf(fault.Invalid, "config: %s: mail: %w", cfg.File, err)
	}
	ship, err := shipping.New(db, cfg.Shipping)
	if err != nil {
		return routing{}, fault.Errorf(fault.Invalid, "config: %s: %w", cfg.File, err)
	}
	inv := inventory.New(db)
	inv.Subscribe(b)
	ship.Subscribe(b)
	payment.New(db).Subscribe(b)
	crm.New(db, mail).Subscribe(b)
	mail.Subscribe(b)
	b.Example(checkout.Examples()...)
	b.Example(inventory.Example())
	if err := b.Start(); err != nil {
		return routing{}, fault.Wrap(fault.Invalid, err)
	}
	return routing{bus: b, inventory: inv, email: mail}, nil
}

// app is everything serve runs, each part built once, in order: database,
// group commit, metrics, transport, modules and bus, checkout, keys.
type app struct {
	routing
	db       *gorm.DB
	commits  *database.Batcher
	metrics  *metrics.Metrics
	checkout *checkout.Service
	keys     *web.Keys
}

// openApp builds the shop on the migrated database. On failure it closes
// what it opened.
func openApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *app, err error) {
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = database.Close(db)
		}
	}()
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
	r, err := route(cfg, bus.Deps{DB: db, Log: log, Committer: commits.Priority(), Observer: m, Transport: transport},
		email.Deps{DB: db, Log: log, Committer: commits.Priority(), Observer: m})
	if err != nil {
		if transport != nil {
			_ = transport.Close()
		}
		return nil, err
	}
	return &app{routing: r, db: db, commits: commits, metrics: m, checkout: checkout.New(db, r.bus, commits),
		keys: web.NewKeys(db)}, nil
}

// withDB runs fn on the migrated database the config names, for the
// commands that need little else.
func withDB(cmd *cobra.Command, load loader, fn func(ctx context.Context, cfg *config.Config, db *gorm.DB, log *slog.Logger) error) error {
	cfg, err := load()
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, cmd.ErrOrStderr())
	db, err := openDB(cmd.Context(), cfg, log)
	if err != nil {
		return err
	}
	defer database.Close(db)
	return fn(cmd.Context(), cfg, db, log)
}
