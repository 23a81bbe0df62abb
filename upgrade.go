package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/app"
	"github.com/shopbus/shopbus/backup"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
)

// beforeMigrating refuses a database whose schema is newer than this
// binary's (exit 2, both versions named), and on SQLite backs up a
// database that has steps pending and data to lose into backup.dir, so an
// upgrade that goes wrong can be undone with `shopbus restore`.
func beforeMigrating(ctx context.Context, cfg *config.Config, db *gorm.DB, log *slog.Logger) error {
	steps := app.Migrations()
	plan, err := database.Inspect(ctx, db, steps)
	if err != nil {
		return err
	}
	if err := plan.Newer(len(steps)); err != nil {
		return fmt.Errorf("shopbus %s: %w", version, err)
	}
	if len(plan.Pending) == 0 || len(plan.Applied) == 0 || cfg.Database.Driver != database.SQLite {
		return nil
	}
	res, err := backup.Take(ctx, cfg.Database.DSN, filepath.Join(cfg.Backup.Dir, backup.NameBefore(time.Now(), plan.Pending[0])))
	if err != nil {
		return fmt.Errorf("back up before migrating (nothing was migrated): %w", err)
	}
	log.Info("database backed up before migrating", "file", res.Path, "bytes", res.Size, "pending", len(plan.Pending))
	return nil
}

// schemaVersion is the schema this binary expects: its number of steps
// and the newest of them.
func schemaVersion() string {
	steps := app.Migrations()
	return fmt.Sprintf("%d (%s)", len(steps), steps[len(steps)-1].ID)
}

// migrateStatus prints the applied and pending steps without applying any.
func migrateStatus(cmd *cobra.Command, load loader) error {
	cfg, err := load()
	if err != nil {
		return err
	}
	db, err := database.Open(cfg.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	steps := app.Migrations()
	plan, err := database.Inspect(cmd.Context(), db.DB, steps)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "database %s: schema version %d; this shopbus (%s) expects %s\n",
		cfg.Database.Where(), plan.Version(), version, schemaVersion())
	unknown := map[string]bool{}
	for _, id := range plan.Unknown {
		unknown[id] = true
	}
	for _, a := range plan.Applied {
		note := ""
		if unknown[a.ID] {
			note = "  (unknown to this shopbus: a newer one applied it)"
		}
		fmt.Fprintf(w, "applied  %-28s %s%s\n", a.ID, a.AppliedAt.UTC().Format(time.RFC3339), note)
	}
	for _, id := range plan.Pending {
		fmt.Fprintf(w, "pending  %s\n", id)
	}
	switch {
	case len(plan.Unknown) > 0:
		return plan.Newer(len(steps))
	case len(plan.Pending) == 0:
		fmt.Fprintln(w, "up to date")
	default:
		fmt.Fprintf(w, "%d step(s) pending: `shopbus migrate`, or serve at start-up, applies them\n", len(plan.Pending))
	}
	return nil
}
