package main

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/shopbus/shopbus/app"
	"github.com/shopbus/shopbus/backup"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/fault"
)

func backupCmd(load loader) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Copy the SQLite database, consistently, while shopbus serves it",
		Long: "Copy the SQLite database into backup.dir (or --to FILE, or --to - for standard output),\n" +
			"consistently while shopbus serves it, and check the copy with PRAGMA integrity_check.\n" +
			"The file appears only once it is whole and checked. On PostgreSQL, use pg_dump.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			if err := sqliteOnly(cfg, "pg_dump is the tool: pg_dump -Fc -f shopbus.dump \"$SHOPBUS_DATABASE_DSN\" (pg_restore puts it back)"); err != nil {
				return err
			}
			ctx := cmd.Context()
			if to != "-" {
				dst := cmp.Or(to, filepath.Join(cfg.Backup.Dir, backup.Name(time.Now())))
				res, err := backup.Take(ctx, cfg.Database.DSN, dst)
				if err != nil {
					return err
				}
				report(cmd.OutOrStdout(), res)
				return nil
			}
			// Standard output cannot be renamed into place: the checked
			// copy is made in a temporary folder, then streamed.
			tmp, err := os.MkdirTemp("", "shopbus-backup-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			res, err := backup.Take(ctx, cfg.Database.DSN, filepath.Join(tmp, "shopbus.db"))
			if err != nil {
				return err
			}
			f, err := os.Open(res.Path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(cmd.OutOrStdout(), f); err != nil {
				return fmt.Errorf("backup: write to standard output: %w", err)
			}
			res.Path = "standard output"
			report(cmd.ErrOrStderr(), res)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "write the backup to this file, or - for standard output (default: backup.dir/shopbus-TIME.db)")
	return cmd
}

func restoreCmd(load loader) *cobra.Command {
	return &cobra.Command{
		Use:   "restore FILE",
		Short: "Put a backup in place of the SQLite database (shopbus must be stopped)",
		Long: "Check the backup FILE, copy it beside the SQLite database and check the copy, then swap it in.\n" +
			"The database it replaces is kept beside it as NAME.replaced-TIME. Refused while a shopbus\n" +
			"serves the database, and for a backup taken by a newer shopbus. On PostgreSQL, use pg_restore.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			if err := sqliteOnly(cfg, "pg_restore is the tool, for a dump pg_dump -Fc made"); err != nil {
				return err
			}
			steps := app.Migrations()
			known := map[string]bool{}
			for _, m := range steps {
				known[m.ID] = true
			}
			accept := func(applied []string) error {
				var p database.Plan
				for _, id := range applied {
					p.Applied = append(p.Applied, database.AppliedStep{ID: id})
					if !known[id] {
						p.Unknown = append(p.Unknown, id)
					}
				}
				if err := p.Newer(len(steps)); err != nil {
					return fmt.Errorf("restore %s: %w", args[0], err)
				}
				return nil
			}
			res, err := backup.Restore(cmd.Context(), args[0], cfg.Database.DSN, accept)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "restored %s into %s (schema version %d; integrity ok)\n", args[0], cfg.Database.DSN, len(res.Steps))
			if res.Kept != "" {
				fmt.Fprintf(w, "the database it replaced is kept at %s\n", res.Kept)
			}
			return nil
		},
	}
}

// sqliteOnly refuses, as invalid, a command that copies the SQLite file
// when the database is PostgreSQL, saying which tool does it there.
func sqliteOnly(cfg *config.Config, instead string) error {
	if cfg.Database.Driver == database.SQLite {
		return nil
	}
	return fault.Errorf(fault.Invalid, "the database is PostgreSQL (%s), whose backups are not shopbus's to take: %s",
		cfg.Database.Where(), instead)
}

func report(w io.Writer, res backup.Result) {
	fmt.Fprintf(w, "backed up to %s: %d bytes in %v, schema version %d, integrity ok\n",
		res.Path, res.Size, res.Took.Round(time.Millisecond), len(res.Steps))
}

// newBackups is serve's backup schedule: backup.every on SQLite; none on
// PostgreSQL, whose backups are pg_dump's.
func newBackups(cfg *config.Config, log *slog.Logger, obs backup.Observer) *backup.Scheduler {
	bc := cfg.Backup
	if cfg.Database.Driver != database.SQLite {
		bc.Every, bc.Dir = 0, ""
	}
	return backup.NewScheduler(cfg.Database.DSN, bc, log, obs)
}
