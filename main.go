// Command shopbus is a self-hosted checkout backend: one executable that
// takes orders over HTTP and fans each order's state changes out, through an
// in-process event bus routed by config.yaml, to inventory, shipping,
// payment, CRM and email.
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/modules/checkout"
	"github.com/shopbus/shopbus/modules/crm"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/modules/inventory"
	"github.com/shopbus/shopbus/modules/payment"
	"github.com/shopbus/shopbus/modules/shipping"
	"github.com/shopbus/shopbus/web"
	"github.com/shopbus/shopbus/web/dashboard"
)

// defaultConfig is config.yaml as built into the binary: what runs when no
// --config is given.
//
//go:embed config.yaml
var defaultConfig []byte

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes a command line and returns the exit status: 0 for success,
// 2 for invalid input (a malformed pattern, event, flag or config), 1 for
// anything else.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "shopbus:", err)
	if errors.As(err, new(invalidInput)) {
		return 2
	}
	return 1
}

func rootCmd() *cobra.Command {
	var configPath string
	root := &cobra.Command{
		Use:           "shopbus",
		Short:         "A self-hosted checkout backend with an EventBridge-style event bus",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return invalidInput{err} })
	root.PersistentFlags().StringVar(&configPath, "config", "", "config file (default: the built-in config.yaml)")
	load := func() (*config.Config, error) {
		cfg, err := config.Load(configPath, defaultConfig)
		if err != nil {
			return nil, invalidInput{err} // Load validates: a bad config is the user's to fix
		}
		return cfg, nil
	}
	root.AddCommand(serveCmd(load), migrateCmd(load), apikeyCmd(load), stockCmd(load), rulesCmd(load),
		eventsCmd(load), dlqCmd(load), versionCmd())
	return root
}

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

// app is shopbus wired together: config -> db -> bus -> modules.
type app struct {
	cfg       *config.Config
	log       *slog.Logger
	db        *gorm.DB
	bus       *bus.Bus
	checkout  *checkout.Service
	commits   *database.Batcher // group commit for orders, deliveries and sent emails
	inventory *inventory.Service
	email     *email.Service
	keys      *web.Keys
}

// openDB opens and migrates the database.
func openDB(ctx context.Context, cfg *config.Config, log *slog.Logger) (*gorm.DB, error) {
	if err := cfg.Database.Validate(); err != nil {
		return nil, invalidInput{fmt.Errorf("config: %s: %w", cfg.File, err)}
	}
	db, err := database.Open(cfg.Database)
	if err != nil {
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

// openApp wires every module to the bus. Each module subscribes itself; the
// bus then checks the rules against the modules that exist.
func openApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	if err := cfg.Validate(); err != nil {
		return nil, invalidInput{err}
	}
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, db: db, keys: web.NewKeys(db)}
	if err := a.wire(); err != nil {
		_ = database.Close(db)
		return nil, err
	}
	return a, nil
}

func (a *app) wire() error {
	b := bus.New(a.db, a.cfg.Rules, a.cfg.Delivery, a.log)
	mail, err := email.New(a.db, a.cfg.Mail, a.log)
	if err != nil {
		return fmt.Errorf("config: %s: mail: %w", a.cfg.File, err)
	}
	ship, err := shipping.New(a.db, a.cfg.Shipping)
	if err != nil {
		return fmt.Errorf("config: %s: %w", a.cfg.File, err)
	}
	inv := inventory.New(a.db)
	inv.Subscribe(b)
	ship.Subscribe(b)
	payment.New(a.db).Subscribe(b)
	crm.New(a.db, mail).Subscribe(b)
	mail.Subscribe(b)
	b.Example(checkout.Examples()...)
	b.Example(inventory.Example())
	if err := b.Start(); err != nil {
		return err
	}
	a.bus, a.email, a.inventory = b, mail, inv
	a.checkout = checkout.New(a.db, b)
	// Orders, deliveries and sends share group commits: one durable commit
	// covers every one written at the same moment. Deliveries and sends go
	// first (their workers are bounded), so a saturated writer finishes
	// accepted orders before it accepts more.
	a.commits = database.NewBatcher(a.db, 256)
	a.checkout.CommitWith(a.commits)
	b.CommitWith(a.commits.Priority())
	mail.CommitWith(a.commits.Priority())
	return nil
}

// newLogger builds the process's one logger from config.
func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
