package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/shopbus/shopbus/fault"

	"github.com/shopbus/shopbus/bus/transform"
)

// Example registers events a module publishes. Start routes each through
// the rules and checks that every target's payload decodes into the type its
// subscriber reads, so a transform that would starve a module is refused at
// start-up instead of failing on the first order.
func (b *Bus) Example(details ...Detail) {
	b.examples = append(b.examples, details...)
}

// envelope wraps a detail in the EventBridge envelope, as Publish does.
func envelope(id string, d Detail) ([]byte, error) {
	detail, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Event{Version: "0", ID: id, DetailType: d.EventDetailType(), Source: d.EventSource(),
		Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Resources: []string{}, Detail: detail})
}

// decodeCheck returns a check that payload decodes into T and fills at
// least one of its fields.
func decodeCheck[T any]() func(payload []byte) error {
	return func(payload []byte) error {
		var v T
		if err := json.Unmarshal(payload, &v); err != nil {
			return err
		}
		if reflect.ValueOf(&v).Elem().IsZero() {
			return fmt.Errorf("it has none of the fields the module reads (%s)", strings.Join(jsonFields(reflect.TypeFor[T]()), ", "))
		}
		return nil
	}
}

// CheckEnvelope refuses JSON that is not an EventBridge event: rules match
// events by their source, detail-type and detail, so an order's body (or
// any other object) would match nothing and look like an answer.
func CheckEnvelope(event []byte) error {
	var env struct {
		Source     *string         `json:"source"`
		DetailType *string         `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(event, &env); err != nil {
		return fault.Errorf(fault.Invalid, "not an EventBridge event: %w", err)
	}
	var missing []string
	if env.Source == nil {
		missing = append(missing, `"source"`)
	}
	if env.DetailType == nil {
		missing = append(missing, `"detail-type"`)
	}
	if len(env.Detail) == 0 || env.Detail[0] != '{' {
		missing = append(missing, `"detail" (an object)`)
	}
	if len(missing) > 0 {
		return fault.Errorf(fault.Invalid, "not an EventBridge event: it has no %s; an event looks like docs/order-event.json",
			strings.Join(missing, ", "))
	}
	return nil
}

// jsonFields names the top-level JSON members a payload type reads: what
// a user can put in a transform, never a Go type's name.
func jsonFields(t reflect.Type) []string {
	if t.Kind() != reflect.Struct {
		return []string{"a JSON " + t.Kind().String()}
	}
	var names []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names = append(names, name)
	}
	return names
}

// checkExamples runs every example event through the compiled rules.
func (b *Bus) checkExamples() error {
	var errs []error
	reported := map[[2]string]bool{} // one error per (rule, target), however many examples show it
	for i, d := range b.examples {
		ev, err := envelope(fmt.Sprintf("example-%d", i), d)
		if err != nil {
			return fmt.Errorf("bus: example %T: %w", d, err)
		}
		ev = []byte(b.origin.stamp(string(ev))) // as the dispatcher routes it
		matches, err := b.Test(ev)
		if err != nil {
			return fmt.Errorf("bus: example %T: %w", d, err)
		}
		for _, m := range matches {
			for _, t := range m.Targets {
				check, module := b.checks[t.Module]
				if !module || t.err != nil || reported[[2]string{m.Rule, t.Module}] {
					continue // webhooks take any payload; errors show at delivery
				}
				if !t.json {
					reported[[2]string{m.Rule, t.Module}] = true
					errs = append(errs, fmt.Errorf("%s: %w: target %s: the template makes text, but the module reads JSON", m.config.where(), ErrInvalidRule, t.Module))
					continue
				}
				err := check(t.Payload)
				if s := b.settings[t.Module]; err == nil && s.Payload != nil {
					err = s.Payload(t.settings, t.Payload)
				}
				if err != nil {
					reported[[2]string{m.Rule, t.Module}] = true
					errs = append(errs, fmt.Errorf("%s: %w: target %s: for %q events the payload does not suit the module: %v",
						m.config.where(), ErrInvalidRule, t.Module, d.EventDetailType(), err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// RuleMatch is one rule that matches an event, with what each of its
// targets would receive.
type RuleMatch struct {
	Rule    string          `json:"rule"`
	Targets []TargetPayload `json:"targets"`
	config  RuleConfig
}

// TargetPayload is what one target would receive: JSON, or a string for a
// text template. Error says why nothing would be sent.
type TargetPayload struct {
	Module  string          `json:"module"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Error   string          `json:"error,omitempty"`
	json    bool
	err     error
	// settings are the target's, for the module's check of the payload.
	settings map[string]string
}

// Test routes an event through the rules without storing or sending
// anything: the dry run behind `shopbus rules test` and POST /v1/rules/test.
func (b *Bus) Test(event []byte) ([]RuleMatch, error) {
	matched, err := b.matcher.Match(event, nil)
	if err != nil {
		return nil, err
	}
	out := []RuleMatch{}
	for _, i := range matched {
		r := b.rules[i]
		m := RuleMatch{Rule: r.name, Targets: []TargetPayload{}, config: r.config}
		for _, t := range r.targets {
			tp := TargetPayload{Module: t.module, json: t.transform.JSON(), settings: t.settings}
			payload, err := t.transform.Apply(event, r.name)
			switch {
			case errors.Is(err, transform.ErrNothingSelected):
				tp.Error, tp.err = "input_path selects nothing: no delivery", err
			case err != nil:
				tp.Error, tp.err = err.Error(), err
			case tp.json:
				tp.Payload = payload
			default:
				tp.Payload, _ = json.Marshal(string(payload))
			}
			m.Targets = append(m.Targets, tp)
		}
		out = append(out, m)
	}
	return out, nil
}
