package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/app"
	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/pattern"
	"github.com/shopbus/shopbus/bus/transform"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/modules/email"
)

// argument reads a flag's value, or the file it names as @file.json.
func argument(name, v string) ([]byte, error) {
	if file, ok := strings.CutPrefix(v, "@"); ok {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fault.Errorf(fault.Invalid, "--%s: %w", name, err)
		}
		return b, nil
	}
	if v == "" {
		return nil, fault.Errorf(fault.Invalid, "--%s is required", name)
	}
	return []byte(v), nil
}

// event reads an event argument and checks it is a JSON object.
func event(v string) ([]byte, error) {
	b, err := argument("event", v)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fault.Errorf(fault.Invalid, "--event: not a JSON object: %w", err)
	}
	return b, nil
}

func eventsCmd(load loader) *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Try event patterns and transforms; replay archived events"}
	cmd.AddCommand(testPatternCmd(), testTransformCmd(), replayCmd(load))
	return cmd
}

func testPatternCmd() *cobra.Command {
	var patternArg, eventArg string
	cmd := &cobra.Command{
		Use:   "test-pattern --pattern JSON|@FILE --event JSON|@FILE",
		Short: `Print {"result":true} if the event matches the pattern, like aws events test-event-pattern`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := argument("pattern", patternArg)
			if err != nil {
				return err
			}
			ev, err := event(eventArg)
			if err != nil {
				return err
			}
			p, err := pattern.Compile(src)
			if err != nil {
				return err
			}
			ok, err := p.Match(ev)
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]bool{"result": ok})
		},
	}
	cmd.Flags().StringVar(&patternArg, "pattern", "", "the event pattern (JSON, or @file.json)")
	cmd.Flags().StringVar(&eventArg, "event", "", "the event (JSON, or @file.json)")
	return cmd
}

func testTransformCmd() *cobra.Command {
	var eventArg, pathsMap, fields, ruleName string
	var spec transform.Spec
	cmd := &cobra.Command{
		Use:   "test-transform --event JSON|@FILE (--input-path P | --input-paths-map JSON --input-template T | --fields a,b)",
		Short: "Print exactly what a target with this transform would receive",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ev, err := event(eventArg)
			if err != nil {
				return err
			}
			if pathsMap != "" {
				src, err := argument("input-paths-map", pathsMap)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(src, &spec.InputPathsMap); err != nil {
					return fault.Errorf(fault.Invalid, "--input-paths-map: want a JSON object of strings: %w", err)
				}
			}
			if fields != "" {
				spec.Fields = strings.Split(fields, ",")
			}
			if spec.InputPath == "" && spec.InputTemplate == "" && spec.Fields == nil && spec.InputPathsMap == nil {
				return fault.Errorf(fault.Invalid, "give --input-path, --input-paths-map with --input-template, or --fields")
			}
			t, err := transform.Compile(spec)
			if err != nil {
				return err
			}
			out, err := t.Apply(ev, ruleName)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(out))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&eventArg, "event", "", "the event (JSON, or @file.json)")
	f.StringVar(&spec.InputPath, "input-path", "", "a JSONPath such as $.detail")
	f.StringVar(&pathsMap, "input-paths-map", "", `the input transformer's paths, e.g. {"id":"$.detail.order_id"}`)
	f.StringVar(&spec.InputTemplate, "input-template", "", "the input transformer's template")
	f.StringVar(&fields, "fields", "", "paths to keep, comma-separated, e.g. detail.order_id,detail.payment")
	f.StringVar(&ruleName, "rule-name", "test-rule", "the rule name for <aws.events.rule-name>")
	return cmd
}

// parseTime reads an RFC 3339 time, or a duration meaning that long ago.
func parseTime(flag, v string, now time.Time) (time.Time, error) {
	if d, err := config.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fault.Errorf(fault.Invalid, "--%s %q: want an RFC 3339 time (2026-11-25T18:00:00Z) or a duration ago (1h, 1d)", flag, v)
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
			return withDB(cmd, load, func(ctx context.Context, cfg *config.Config, db *gorm.DB, log *slog.Logger) error {
				rt, err := app.Route(cfg, bus.Deps{DB: db, Log: log}, email.Deps{DB: db, Log: log})
				if err != nil {
					return err
				}
				res, err := rt.Bus.Replay(ctx, r)
				if err != nil {
					return err
				}
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "the first event time: RFC 3339, or a duration ago such as 1h or 7d")
	f.StringVar(&to, "to", "", "the end (exclusive; default now)")
	f.StringVar(&r.Rule, "rule", "", "only this rule")
	f.StringVar(&r.Target, "target", "", "only this target")
	f.BoolVar(&r.Force, "force", false, "deliver again what was already delivered")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}
