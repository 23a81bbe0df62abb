package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/modules/email"
)

// withRecords runs fn with the dead letters of every kind in the
// configured database, the bus's dead deliveries and the email module's
// failed emails: they need neither the rules nor the modules. A redrive
// is picked up by the running instances at their next poll.
func withRecords(cmd *cobra.Command, load loader, fn func(ctx context.Context, q bus.DLQ) error) error {
	return withDB(cmd, load, func(ctx context.Context, _ *config.Config, db *gorm.DB, log *slog.Logger) error {
		return fn(ctx, bus.DLQ{bus.NewRecords(db, log), email.NewRecords(db)})
	})
}

func dlqCmd(load loader) *cobra.Command {
	cmd := &cobra.Command{Use: "dlq", Short: "Inspect and redrive dead deliveries and failed emails"}
	var target string
	var limit int
	list := &cobra.Command{
		Use:   "list [--target T]",
		Short: "List dead deliveries and failed emails, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withRecords(cmd, load, func(ctx context.Context, q bus.DLQ) error {
				dead, err := q.DeadLetters(ctx, target, limit)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tKIND\tTARGET\tRULE\tORDER\tATTEMPTS\tDIED\tLAST ERROR")
				for _, d := range dead {
					rule := cmp.Or(d.Rule, d.Template) // an email has its template where a delivery has its rule
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Kind, d.Target, rule, d.OrderID, d.Attempts,
						d.DiedAt.Format(time.RFC3339), oneLine(d.LastError, 80))
				}
				return w.Flush()
			})
		},
	}
	list.Flags().StringVar(&target, "target", "", "only this target")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many")
	var showKind string
	show := &cobra.Command{
		Use:   "show ID [--kind email]",
		Short: "Show a dead delivery (or failed email) with its payload and every error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			return withRecords(cmd, load, func(ctx context.Context, q bus.DLQ) error {
				d, err := q.DeadLetter(ctx, showKind, ids[0])
				if err != nil {
					return err
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(d)
			})
		},
	}
	show.Flags().StringVar(&showKind, "kind", bus.KindDelivery, "the dead letter's kind: delivery or email")
	var redriveTarget, redriveKind string
	var all bool
	redrive := &cobra.Command{
		Use:   "redrive (ID... | --target T | --all) [--kind email]",
		Short: "Send dead deliveries and failed emails again, with a fresh retry budget",
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := parseIDs(args)
			if err != nil {
				return err
			}
			return withRecords(cmd, load, func(ctx context.Context, q bus.DLQ) error {
				n, err := q.Redrive(ctx, bus.Redrive{IDs: ids, Target: redriveTarget, All: all, Kind: redriveKind})
				if err != nil {
					return err
				}
				if int64(len(ids)) > n {
					what := "dead deliveries"
					if redriveKind == email.DeadLetterKind {
						what = "failed emails"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "redriven: %d of %d (the others are not %s)\n", n, len(ids), what)
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "redriven: %d\n", n)
				return nil
			})
		},
	}
	redrive.Flags().StringVar(&redriveTarget, "target", "", "every dead delivery of this target")
	redrive.Flags().BoolVar(&all, "all", false, "every dead delivery and failed email")
	redrive.Flags().StringVar(&redriveKind, "kind", "", "only this kind: delivery or email (IDs name deliveries unless it says email)")
	cmd.AddCommand(list, show, redrive)
	return cmd
}

func parseIDs(args []string) ([]int64, error) {
	var ids []int64
	for _, a := range args {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id < 1 {
			return nil, fault.Errorf(fault.Invalid, "%q is not a dead letter's ID", a)
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
