// Package transform shapes what a target receives for an event, with the
// behaviour of Amazon EventBridge target input transformation: InputPath,
// InputTransformer (paths map plus template) and shopbus's own fields
// shorthand. Events are EventBridge envelopes as JSON.
package transform

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/shopbus/shopbus/fault"
)

// ErrInvalidTransform is wrapped by every error Compile returns.
var ErrInvalidTransform = fault.New(fault.Invalid, "invalid transform")

// ErrInvalidEvent is returned by Apply for an event that is not valid JSON.
var ErrInvalidEvent = fault.New(fault.Invalid, "transform: event is not valid JSON")

// ErrNothingSelected is returned by Apply when an input_path selects
// nothing in the event. EventBridge documents that a path which doesn't
// exist in the event produces nothing, so there is no input to deliver:
// callers should skip the delivery rather than send an empty body.
var ErrNothingSelected = fault.New(fault.Invalid, "transform: input_path selected nothing")

// ErrNotJSON is returned by Apply when a JSON input_template, filled in for
// this event, is not valid JSON: an object or array placed inside quotes
// does that. EventBridge sends nothing then; the bus records the delivery
// as dead with this reason rather than drop it unseen.
var ErrNotJSON = fault.New(fault.Invalid, "rendered input_template is not valid JSON: EventBridge sends nothing for it")

// Spec is a target's transform as written in config.yaml. At most one of InputPath, (InputPathsMap+InputTemplate), Fields may be set; none means the whole event is delivered.
type Spec struct {
	InputPath     string            `yaml:"input_path" json:"input_path,omitempty"`
	InputPathsMap map[string]string `yaml:"input_paths_map" json:"input_paths_map,omitempty"`
	InputTemplate string            `yaml:"input_template" json:"input_template,omitempty"`
	Fields        []string          `yaml:"fields" json:"fields,omitempty"`
}

// Meta is what a delivery knows beyond the event, for the predefined
// template variables.
type Meta struct {
	RuleName string // <aws.events.rule-name>
	RuleARN  string // <aws.events.rule-arn>
	// IngestionTime fills <aws.events.event.ingestion-time>; when zero the
	// event's own "time" is used, which the bus sets when it accepts an event.
	IngestionTime time.Time
}

// Transform is a compiled Spec, safe for concurrent use.
type Transform struct {
	path   *jsonPath
	vars   map[string]jsonPath
	tmpl   *template
	fields *fieldTree
}

// keyPattern is EventBridge's pattern for InputPathsMap keys.
var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Compile validates a Spec and prepares it; errors name the problem (and wrap ErrInvalidTransform).
func Compile(s Spec) (*Transform, error) {
	t, err := compile(s)
	if err != nil {
		return nil, fmt.Errorf("transform: %w: %w", err, ErrInvalidTransform)
	}
	return t, nil
}

func compile(s Spec) (*Transform, error) {
	hasTransformer := len(s.InputPathsMap) > 0 || s.InputTemplate != ""
	set := 0
	for _, b := range []bool{s.InputPath != "", hasTransformer, len(s.Fields) > 0} {
		if b {
			set++
		}
	}
	if set > 1 {
		return nil, errors.New("only one of input_path, input_paths_map+input_template, fields may be set")
	}
	t := &Transform{}
	switch {
	case s.InputPath != "":
		p, err := parsePath(s.InputPath, true)
		if err != nil {
			return nil, fmt.Errorf("input_path: %w", err)
		}
		t.path = &p
	case hasTransformer:
		if len(s.InputPathsMap) > maxVariables {
			return nil, fmt.Errorf("input_paths_map has %d entries, at most %d are allowed", len(s.InputPathsMap), maxVariables)
		}
		t.vars = make(map[string]jsonPath, len(s.InputPathsMap))
		for name, src := range s.InputPathsMap {
			if err := checkVariableName(name); err != nil {
				return nil, err
			}
			p, err := parsePath(src, false)
			if err != nil {
				return nil, fmt.Errorf("input_paths_map[%s]: %w", name, err)
			}
			t.vars[name] = p
		}
		tmpl, err := compileTemplate(s.InputTemplate, t.vars)
		if err != nil {
			return nil, err
		}
		t.tmpl = tmpl
	case len(s.Fields) > 0:
		f, err := compileFields(s.Fields)
		if err != nil {
			return nil, err
		}
		t.fields = f
	}
	return t, nil
}

func checkVariableName(name string) error {
	switch {
	case isReserved(name) || strings.HasPrefix(strings.ToLower(name), "aws."):
		return fmt.Errorf("input_paths_map: %q is reserved for a predefined variable", name)
	case len(name) > maxNameLen || !keyPattern.MatchString(name):
		return fmt.Errorf("input_paths_map: name %q must be 1 to %d of A-Z a-z 0-9 _ -", name, maxNameLen)
	}
	return nil
}

// JSON reports whether Apply's output is always a JSON value (false only for a string-template input_template, whose output is plain text as EventBridge delivers it).
func (t *Transform) JSON() bool {
	return t == nil || t.tmpl == nil || t.tmpl.json
}

// Apply returns exactly what the target receives for this event. ruleName fills <aws.events.rule-name>.
func (t *Transform) Apply(event []byte, ruleName string) ([]byte, error) {
	return t.ApplyMeta(event, Meta{RuleName: ruleName})
}

// ApplyMeta is Apply with every predefined variable supplied. With no
// transform the event itself is returned, not a copy.
func (t *Transform) ApplyMeta(event []byte, m Meta) ([]byte, error) {
	return t.ApplyEvent(NewEvent(event), m)
}

// Event is an event to transform, parsed on first use and then shared by
// every transform applied to it: an event routed to several targets is
// parsed once. Not safe for concurrent use.
type Event struct {
	raw    []byte
	root   value
	err    error
	parsed bool
}

// NewEvent wraps an event's JSON for ApplyEvent.
func NewEvent(raw []byte) *Event { return &Event{raw: raw} }

func (e *Event) parse() (*value, error) {
	if !e.parsed {
		e.root, e.err = parseEvent(e.raw)
		e.parsed = true
	}
	return &e.root, e.err
}

// ApplyEvent is ApplyMeta for an event that other transforms may share.
func (t *Transform) ApplyEvent(e *Event, m Meta) ([]byte, error) {
	if t == nil || (t.path == nil && t.tmpl == nil && t.fields == nil) {
		return e.raw, nil
	}
	root, err := e.parse()
	if err != nil {
		return nil, err
	}
	switch {
	case t.path != nil:
		v := t.path.lookup(root)
		if v == nil {
			return nil, ErrNothingSelected
		}
		return appendCompact(make([]byte, 0, len(v.raw)), v.raw, false), nil
	case t.fields != nil:
		return t.fields.prune(make([]byte, 0, len(e.raw)), root), nil
	}
	out := t.tmpl.render(make([]byte, 0, 2*len(e.raw)), t.lookup(root, m))
	if !t.tmpl.json {
		return out, nil
	}
	return compact(out)
}

// lookup resolves template variables against one event, each at most once.
func (t *Transform) lookup(root *value, m Meta) func(string) *value {
	cache := make(map[string]*value, len(t.vars)+1)
	var lookup func(string) *value
	lookup = func(name string) *value {
		if v, ok := cache[name]; ok {
			return v
		}
		var v *value
		switch name {
		case varRuleName:
			v = &value{raw: appendQuoted(nil, m.RuleName)}
		case varRuleARN:
			v = &value{raw: appendQuoted(nil, m.RuleARN)}
		case varEventJSON:
			v = root
		case varEvent:
			v = awsEvent(root, lookup(varIngestionTime))
		case varIngestionTime:
			v = root.member("time")
			if !m.IngestionTime.IsZero() {
				ts := m.IngestionTime.UTC().Format(time.RFC3339Nano)
				v = &value{raw: appendQuoted(nil, ts)}
			}
		default:
			p := t.vars[name]
			v = p.lookup(root)
		}
		cache[name] = v
		return v
	}
	return lookup
}

// awsEventFields are the members of <aws.events.event> as AWS delivers it
// (recorded in testdata/recorded.jsonl): its own field names and order,
// detail-type as detailType, time as the ingestion time, no detail. The
// guide only says "the original event without detail".
var awsEventFields = [...]struct{ name, from string }{
	{"id", "id"}, {"account", "account"}, {"detailType", "detail-type"}, {"time", ""},
	{"source", "source"}, {"region", "region"}, {"resources", "resources"}, {"version", "version"},
}

// awsEvent is <aws.events.event>. Members the event lacks are left out.
func awsEvent(root, ingestion *value) *value {
	if root.kind() != '{' {
		return root
	}
	raw := []byte{'{'}
	for _, f := range awsEventFields {
		v := ingestion
		if f.from != "" {
			v = root.member(f.from)
		}
		if v == nil {
			continue
		}
		if len(raw) > 1 {
			raw = append(raw, ',')
		}
		raw = append(appendQuoted(raw, f.name), ':')
		raw = appendCompact(raw, v.raw, false)
	}
	return &value{raw: append(raw, '}')}
}
