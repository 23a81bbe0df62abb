package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

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
	var name, scopes, expires string
	create := &cobra.Command{
		Use:   "create --name NAME [--scopes orders:write,orders:read,admin] [--expires 90d]",
		Short: "Create an API key and print it (it is shown only once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := web.NewKey{Name: name, Scopes: strings.Split(scopes, ",")}
			if expires != "" {
				ttl, err := web.ParseTTL(expires)
				if err != nil {
					return invalidInput{fmt.Errorf("--expires %q: want days such as 90d or a duration such as 720h", expires)}
				}
				n.TTL = ttl
			}
			return withDB(cmd, load, func(ctx context.Context, a *app) error {
				key, _, err := a.keys.Create(ctx, n)
				if errors.Is(err, web.ErrInvalidKey) {
					return invalidInput{err}
				}
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), key)
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "a name for the key, e.g. storefront")
	create.Flags().StringVar(&scopes, "scopes", web.ScopeAdmin, "comma-separated: orders:write (a storefront), orders:read, admin")
	create.Flags().StringVar(&expires, "expires", "", "expire after this long: 90d, 720h (default: never)")
	_ = create.MarkFlagRequired("name")
	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withDB(cmd, load, func(ctx context.Context, a *app) error {
				keys, err := a.keys.List(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "NAME\tKEY\tSCOPES\tCREATED\tEXPIRES\tREVOKED")
				for _, k := range keys {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Name, k.Hint, strings.Join(k.Scopes, ","),
						k.CreatedAt.Format(time.DateOnly), dateOr(k.ExpiresAt, "never"), dateOr(k.RevokedAt, "-"))
				}
				return w.Flush()
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a key; the next request with it is refused",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withDB(cmd, load, func(ctx context.Context, a *app) error {
				if err := a.keys.Revoke(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func dateOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.DateTime)
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
