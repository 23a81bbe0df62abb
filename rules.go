package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/shopbus/shopbus/app"
	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/modules/email"
)

// checkRules compiles the config's rules against the modules exactly as
// serve would, without a database: nothing runs.
func checkRules(load loader, stderr io.Writer) (*config.Config, *bus.Bus, error) {
	cfg, err := load()
	if err != nil {
		return nil, nil, err
	}
	quiet := config.Log{Level: "error"}.Logger(stderr)
	r, err := app.Route(cfg, bus.Deps{Log: quiet}, email.Deps{Log: quiet})
	if err != nil {
		return nil, nil, err
	}
	return cfg, r.Bus, nil
}

func rulesCmd(load loader) *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "Check and try the routing rules in the config"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the config and its rules; every error names its file, line and rule",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := checkRules(load, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d rules, all valid\n", cfg.File, len(cfg.Rules))
			return nil
		},
	})
	var eventArg string
	test := &cobra.Command{
		Use:   "test --event JSON|@FILE",
		Short: "List the rules an event matches and what each target would receive",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ev, err := event(eventArg)
			if err != nil {
				return err
			}
			if err := bus.CheckEnvelope(ev); err != nil {
				return fmt.Errorf("--event: %w", err)
			}
			_, b, err := checkRules(load, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			matches, err := b.Test(ev)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"matches": matches})
		},
	}
	test.Flags().StringVar(&eventArg, "event", "", "the event (JSON, or @file.json)")
	cmd.AddCommand(test)
	return cmd
}
