package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/fault"
	"gorm.io/gorm"

	"github.com/spf13/cobra"

	"github.com/shopbus/shopbus/bus"
)

// withRecords runs fn with the bus's records in the configured database:
// the dead letters need neither the rules nor the modules.
func withRecords(cmd *cobra.Command, load loader, fn func(ctx context.Context, r *bus.Records) error) error {
	return withDB(cmd, load, func(ctx context.Context, _ *config.Config, db *gorm.DB, log *slog.Logger) error {
		return fn(ctx, bus.NewRecords(db, log))
	})
}

func dlqCmd(load loader) *cobra.Command {
	cmd := &cobra.Command{Use: "dlq", Short: "Inspect and redrive dead deliveries"}
	var target string
	var limit int
	list := &cobra.Command{
		Use:   "list [--target T]",
		Short: "List dead deliveries, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withRecords(cmd, load, func(ctx context.Context, r *bus.Records) error {
				dead, err := r.DeadLetters(ctx, target, limit)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tTARGET\tRULE\tORDER\tATTEMPTS\tDIED\tLAST ERROR")
				for _, d := range dead {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Target, d.Rule, d.OrderID, d.Attempts,
						d.DiedAt.Format(time.RFC3339), oneLine(d.LastError, 80))
				}
				return w.Flush()
			})
		},
	}
	list.Flags().StringVar(&target, "target", "", "only this target")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a dead delivery with its payload and every error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			return withRecords(cmd, load, func(ctx context.Context, r *bus.Records) error {
				d, err := r.DeadLetter(ctx, ids[0])
				if err != nil {
					return err
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(d)
			})
		},
	}
	var redriveTarget string
	var all bool
	redrive := &cobra.Command{
		Use:   "redrive (ID... | --target T | --all)",
		Short: "Send dead deliveries again, with a fresh retry budget",
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			return withRecords(cmd, load, func(ctx context.Context, r *bus.Records) error {
				n, err := r.Redrive(ctx, bus.Redrive{IDs: ids, Target: redriveTarget, All: all})
				if err != nil {
					return err
				}
				if int64(len(ids)) > n {
					fmt.Fprintf(cmd.OutOrStdout(), "redriven: %d of %d (the others are not dead deliveries)\n", n, len(ids))
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "redriven: %d\n", n)
				return nil
			})
		},
	}
	redrive.Flags().StringVar(&redriveTarget, "target", "", "every dead delivery of this target")
	redrive.Flags().BoolVar(&all, "all", false, "every dead delivery")
	cmd.AddCommand(list, show, redrive)
	return cmd
}

func parseIDs(args []string) ([]int64, error) {
	var ids []int64
	for _, a := range args {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id < 1 {
			return nil, fault.Errorf(fault.Invalid, "%q is not a delivery ID", a)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-1] + "…"
	}
	return s
}
