package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/web"
)

// withKeys runs fn with the API keys of the configured database.
func withKeys(cmd *cobra.Command, load loader, fn func(ctx context.Context, keys *web.Keys) error) error {
	return withDB(cmd, load, func(ctx context.Context, _ *config.Config, db *gorm.DB, _ *slog.Logger) error {
		return fn(ctx, web.NewKeys(db))
	})
}

func apikeyCmd(load loader) *cobra.Command {
	cmd := &cobra.Command{Use: "apikey", Short: "Manage API keys"}
	var name, scopes, expires string
	create := &cobra.Command{
		Use:   "create --name NAME [--scopes orders:write,orders:read,events:put,admin] [--expires 90d]",
		Short: "Create an API key and print it (it is shown only once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := web.NewKey{Name: name, Scopes: strings.Split(scopes, ",")}
			if expires != "" {
				ttl, err := web.ParseTTL(expires)
				if err != nil {
					return fault.Errorf(fault.Invalid, "--expires %q: want days such as 90d or a duration such as 720h", expires)
				}
				n.TTL = ttl
			}
			return withKeys(cmd, load, func(ctx context.Context, keys *web.Keys) error {
				key, _, err := keys.Create(ctx, n)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), key)
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "a name for the key, e.g. storefront")
	create.Flags().StringVar(&scopes, "scopes", web.ScopeAdmin, "comma-separated: orders:write (a storefront), orders:read, events:put (another system's events), admin")
	create.Flags().StringVar(&expires, "expires", "", "expire after this long: 90d, 720h (default: never)")
	_ = create.MarkFlagRequired("name")
	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withKeys(cmd, load, func(ctx context.Context, keys *web.Keys) error {
				all, err := keys.List(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "NAME\tKEY\tSCOPES\tCREATED\tEXPIRES\tREVOKED")
				for _, k := range all {
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
			return withKeys(cmd, load, func(ctx context.Context, keys *web.Keys) error {
				if err := keys.Revoke(ctx, args[0]); err != nil {
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
