package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/shopbus/shopbus/config"
)

// checkedApp wires the modules to the bus without opening the database, so
// the rules are compiled and checked exactly as serve would.
func checkedApp(load loader, stderr io.Writer) (*app, error) {
	cfg, err := load()
	if err != nil {
		return nil, invalidInput{err}
	}
	if err := cfg.Validate(); err != nil {
		return nil, invalidInput{err}
	}
	a := &app{cfg: cfg, log: newLogger(config.Log{Level: "error"}, stderr)}
	if err := a.wire(); err != nil {
		return nil, invalidInput{err}
	}
	return a, nil
}

func rulesCmd(load loader) *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "Check and try the routing rules in the config"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the config and its rules; every error names its file, line and rule",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := checkedApp(load, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d rules, all valid\n", a.cfg.File, len(a.cfg.Rules))
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
			a, err := checkedApp(load, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			matches, err := a.bus.Test(ev)
			if err != nil {
				return invalidInput{err}
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
