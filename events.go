package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shopbus/shopbus/bus/pattern"
	"github.com/shopbus/shopbus/bus/transform"
)

// invalidInput marks an error in what the user gave: shopbus exits 2.
type invalidInput struct{ err error }

func (e invalidInput) Error() string { return e.err.Error() }
func (e invalidInput) Unwrap() error { return e.err }

// argument reads a flag's value, or the file it names as @file.json.
func argument(name, v string) ([]byte, error) {
	if file, ok := strings.CutPrefix(v, "@"); ok {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, invalidInput{fmt.Errorf("--%s: %w", name, err)}
		}
		return b, nil
	}
	if v == "" {
		return nil, invalidInput{fmt.Errorf("--%s is required", name)}
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
		return nil, invalidInput{fmt.Errorf("--event: not a JSON object: %w", err)}
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
				return invalidInput{err}
			}
			ok, err := p.Match(ev)
			if err != nil {
				return invalidInput{err}
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
					return invalidInput{fmt.Errorf("--input-paths-map: want a JSON object of strings: %w", err)}
				}
			}
			if fields != "" {
				spec.Fields = strings.Split(fields, ",")
			}
			if spec.InputPath == "" && spec.InputTemplate == "" && spec.Fields == nil && spec.InputPathsMap == nil {
				return invalidInput{fmt.Errorf("give --input-path, --input-paths-map with --input-template, or --fields")}
			}
			t, err := transform.Compile(spec)
			if err != nil {
				return invalidInput{err}
			}
			out, err := t.Apply(ev, ruleName)
			if err != nil {
				return invalidInput{err}
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
