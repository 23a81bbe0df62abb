package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/modules/inventory"
)

func stockCmd(load loader) *cobra.Command {
	cmd := &cobra.Command{Use: "stock", Short: "Manage inventory"}
	cmd.AddCommand(&cobra.Command{
		Use:   "set SKU QTY",
		Short: "Set a SKU's on-hand quantity, reserving the orders that wait for it",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			qty, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil || qty < 0 {
				return fault.Errorf(fault.Invalid, "QTY must be a whole number of at least 0, got %q", args[1])
			}
			return withDB(cmd, load, func(ctx context.Context, _ *config.Config, db *gorm.DB, _ *slog.Logger) error {
				st, err := inventory.New(db).Set(ctx, args[0], qty)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: on hand %d, reserved %d, available %d\n", st.SKU, st.OnHand, st.Reserved, st.Available)
				if st.WaitingOrders > 0 {
					// Set reserved every waiting order the stock fits: these lack more.
					fmt.Fprintf(cmd.OutOrStdout(), "%d backordered order(s) still wait, for %d in all\n", st.WaitingOrders, st.Backordered)
				}
				return nil
			})
		},
	})
	return cmd
}
