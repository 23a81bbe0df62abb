package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database"
)

// withBus runs fn with the whole app wired and the rules compiled, on the
// database serve uses; a running server picks up what fn queues.
func withBus(cmd *cobra.Command, load loader, fn func(ctx context.Context, a *app) error) error {
	cfg, err := load()
	if err != nil {
		return invalidInput{err}
	}
	a, err := openApp(cmd.Context(), cfg, newLogger(cfg.Log, cmd.ErrOrStderr()))
	if err != nil {
		return err
	}
	defer database.Close(a.db)
	return fn(cmd.Context(), a)
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
			return withBus(cmd, load, func(ctx context.Context, a *app) error {
				dead, err := a.bus.DeadLetters(ctx, target, limit)
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
			return withBus(cmd, load, func(ctx context.Context, a *app) error {
				d, err := a.bus.DeadLetter(ctx, ids[0])
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
			return withBus(cmd, load, func(ctx context.Context, a *app) error {
				n, err := a.bus.Redrive(ctx, bus.Redrive{IDs: ids, Target: redriveTarget, All: all})
				if errors.Is(err, bus.ErrBadRedrive) {
					return invalidInput{err}
				}
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
			return nil, invalidInput{fmt.Errorf("%q is not a delivery ID", a)}
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

// parseTime reads an RFC 3339 time, or a duration meaning that long ago.
func parseTime(flag, v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, invalidInput{fmt.Errorf("--%s %q: want an RFC 3339 time (2026-11-25T18:00:00Z) or a duration ago (1h)", flag, v)}
	}
	return t, nil
}

func replayCmd(load loader) *cobra.Command {
	var from, to string
	var r bus.Replay
	cmd := &cobra.Command{
		Use:   "replay --from T [--to T] [--rule R] [--target T] [--force]",
		Short: "Run archived events through today's rules again, as replays",
		Long: "Events written between --from and --to go through the current rules again. Without --force, a delivery\n" +
			"that already happened (or is pending) is skipped, so a replay fills gaps and sends nothing twice.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now().UTC()
			var err error
			if r.From, err = parseTime("from", from, now); err != nil {
				return err
			}
			r.To = now
			if to != "" {
				if r.To, err = parseTime("to", to, now); err != nil {
					return err
				}
			}
			return withBus(cmd, load, func(ctx context.Context, a *app) error {
				res, err := a.bus.Replay(ctx, r)
				if err != nil {
					return invalidInput{err}
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the first event time: RFC 3339, or a duration ago such as 1h")
	f.StringVar(&to, "to", "", "the end (exclusive; default now)")
	f.StringVar(&r.Rule, "rule", "", "only this rule")
	f.StringVar(&r.Target, "target", "", "only this target")
	f.BoolVar(&r.Force, "force", false, "deliver again what was already delivered")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}
