package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/modules/inventory"
	"github.com/shopbus/shopbus/web"
)

type loader func() (*config.Config, error)

func migrateCmd(load loader) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database schema migrations (serve also does this at start-up)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			fmt.Fprintln(cmd.OutOrStdout(), "database is up to date")
			return nil
		},
	}
}

// withDB runs fn on the migrated database named by the config.
func withDB(cmd *cobra.Command, load loader, fn func(ctx context.Context, a *app) error) error {
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
	return fn(cmd.Context(), &app{cfg: cfg, log: log, db: db, keys: web.NewKeys(db), inventory: inventory.New(db)})
}

func apikeyCmd(load loader) *cobra.Command {
	cmd := &cobra.Command{Use: "apikey", Short: "Manage API keys"}
	var name string
	create := &cobra.Command{
		Use:   "create --name NAME",
		Short: "Create an API key and print it (it is shown only once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withDB(cmd, load, func(ctx context.Context, a *app) error {
				key, err := a.keys.Create(ctx, name)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), key)
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "a name for the key, e.g. storefront")
	_ = create.MarkFlagRequired("name")
	cmd.AddCommand(create)
	return cmd
}

func stockCmd(load loader) *cobra.Command {
	cmd := &cobra.Command{Use: "stock", Short: "Manage inventory"}
	cmd.AddCommand(&cobra.Command{
		Use:   "set SKU QTY",
		Short: "Set a SKU's on-hand quantity",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			qty, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil || qty < 0 {
				return fmt.Errorf("QTY must be a whole number of at least 0, got %q", args[1])
			}
			return withDB(cmd, load, func(ctx context.Context, a *app) error {
				st, err := a.inventory.Set(ctx, args[0], qty)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: on hand %d, reserved %d, available %d\n", st.SKU, st.OnHand, st.Reserved, st.Available)
				return nil
			})
		},
	})
	return cmd
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "shopbus", version)
		},
	}
}
