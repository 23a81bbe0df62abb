package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/config"
)

func migrateCmd(load loader) *cobra.Command {
	var status bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database schema migrations (serve also does this at start-up)",
		Long: "Apply the database schema migrations that are pending; serve also does this at start-up.\n" +
			"On SQLite, a database that holds data is backed up into backup.dir first.\n" +
			"With --status, list the applied and pending steps and change nothing.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status {
				return migrateStatus(cmd, load)
			}
			return withDB(cmd, load, func(context.Context, *config.Config, *gorm.DB, *slog.Logger) error {
				fmt.Fprintln(cmd.OutOrStdout(), "database is up to date")
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&status, "status", false, "list the applied and pending steps; apply nothing")
	return cmd
}
