package bus

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bus/transform"
	"github.com/shopbus/shopbus/database/dbtest"
)

// startWith starts a bus with inventory and shipping subscribed.
func startWith(t *testing.T, rules ...RuleConfig) (*Bus, error) {
	t.Helper()
	b := newTestBus(t, dbtest.Open(t, Migrations), rules)
	Subscribe(b, "inventory", nop[orderChange])
	Subscribe(b, "shipping", nop[orderChange])
	return b, b.Start()
}

func TestStartRefuses(t *testing.T) {
	good := func(name string) RuleConfig { return checkoutRule(name, TargetConfig{Module: "inventory"}) }
	with := func(name string, edit func(*RuleConfig)) RuleConfig {
		r := good(name)
		edit(&r)
		return r
	}
	for _, tc := range []struct {
		name  string
		rules []RuleConfig
		want  []string
	}{{
		name: "unknown module",
		rules: []RuleConfig{with("to-warehouse", func(r *RuleConfig) {
			r.Targets = []TargetConfig{{Module: "shipping"}, {Module: "warehouse"}}
		})},
		want: []string{`rule "to-warehouse"`, `target 2: unknown module "warehouse" (known: inventory, shipping)`},
	}, {
		name:  "duplicate rule name",
		rules: []RuleConfig{good("fulfilment"), good("other"), good("fulfilment")},
		want:  []string{`rule "fulfilment"`, "used twice"},
	}, {
		name:  "no name",
		rules: []RuleConfig{good("")},
		want:  []string{"name is required"},
	}, {
		name:  "empty pattern",
		rules: []RuleConfig{with("empty", func(r *RuleConfig) { r.Pattern = map[string]any{} })},
		want:  []string{`rule "empty"`, "pattern is required"},
	}, {
		name: "malformed pattern",
		rules: []RuleConfig{with("bare", func(r *RuleConfig) {
			r.Pattern = map[string]any{"detail": map[string]any{"x": "bare"}}
		})},
		want: []string{`rule "bare"`, "detail.x", "must be an array"},
	}, {
		name: "unknown pattern operator",
		rules: []RuleConfig{with("op", func(r *RuleConfig) {
			r.Pattern = map[string]any{"detail": map[string]any{"x": []any{map[string]any{"sounds-like": "a"}}}}
		})},
		want: []string{`rule "op"`, `unknown operator "sounds-like"`},
	}, {
		name:  "no targets",
		rules: []RuleConfig{with("nowhere", func(r *RuleConfig) { r.Targets = nil })},
		want:  []string{`rule "nowhere"`, "at least one target"},
	}, {
		name:  "target without module",
		rules: []RuleConfig{with("anon", func(r *RuleConfig) { r.Targets = []TargetConfig{{}} })},
		want:  []string{`rule "anon"`, "target 1:"},
	}, {
		name: "bad input_path",
		rules: []RuleConfig{with("path", func(r *RuleConfig) {
			r.Targets = []TargetConfig{{Module: "inventory", Spec: transform.Spec{InputPath: "detail.payment"}}}
		})},
		want: []string{`rule "path"`, "target 1 (inventory)", "input_path"},
	}, {
		name: "two transforms on one target",
		rules: []RuleConfig{with("both", func(r *RuleConfig) {
			r.Targets = []TargetConfig{{Module: "inventory", Spec: transform.Spec{InputPath: "$.detail", Fields: []string{"detail.items"}}}}
		})},
		want: []string{`rule "both"`, "target 1 (inventory)", "only one of"},
	}, {
		name: "template with an undeclared variable",
		rules: []RuleConfig{with("tmpl", func(r *RuleConfig) {
			r.Targets = []TargetConfig{{Module: "shipping", Spec: transform.Spec{
				InputPathsMap: map[string]string{"id": "$.detail.order_id"},
				InputTemplate: `{"order": <id>, "sku": <sku>}`,
			}}}
		})},
		want: []string{`rule "tmpl"`, "target 1 (shipping)", "<sku>"},
	}, {
		name: "duplicate target",
		rules: []RuleConfig{with("twice", func(r *RuleConfig) {
			r.Targets = []TargetConfig{{Module: "inventory"}, {Module: "shipping"}, {Module: "inventory"}}
		})},
		want: []string{`rule "twice"`, "target 3:", `"inventory" is named twice`},
	}, {
		name:  "negative max_attempts",
		rules: []RuleConfig{with("retry", func(r *RuleConfig) { r.Retry = &Retry{MaxAttempts: -1} })},
		want:  []string{`rule "retry"`, "max_attempts"},
	}, {
		name:  "negative max_age",
		rules: []RuleConfig{with("retry", func(r *RuleConfig) { r.Retry = &Retry{MaxAge: -time.Hour} })},
		want:  []string{`rule "retry"`, "max_age"},
	}, {
		name: "max_backoff below initial_backoff",
		rules: []RuleConfig{with("retry", func(r *RuleConfig) {
			r.Retry = &Retry{InitialBackoff: time.Minute, MaxBackoff: time.Second}
		})},
		want: []string{`rule "retry"`, "max_backoff >= initial_backoff"},
	}, {
		name: "file and line",
		rules: []RuleConfig{with("name", func(r *RuleConfig) {
			r.Targets = []TargetConfig{{Module: "warehouse"}}
			r.File, r.Line = "file.yaml", 12
		})},
		want: []string{`file.yaml:12: rule "name": invalid rule: target 1: unknown module "warehouse"`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := startWith(t, tc.rules...)
			if err == nil {
				t.Fatal("Start accepted the rules")
			}
			if !errors.Is(err, ErrInvalidRule) {
				t.Errorf("error %q does not wrap ErrInvalidRule", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestStartReportsEveryBadRule(t *testing.T) {
	_, err := startWith(t,
		RuleConfig{Name: "no-pattern", Targets: []TargetConfig{{Module: "inventory"}}, File: "config.yaml", Line: 3},
		checkoutRule("fine", TargetConfig{Module: "shipping"}),
		RuleConfig{Name: "to-nowhere", Pattern: map[string]any{"source": []any{"x"}}, Targets: []TargetConfig{{Module: "crm"}}, File: "config.yaml", Line: 9},
		RuleConfig{Name: "slow", Pattern: map[string]any{"source": []any{"x"}}, Targets: []TargetConfig{{Module: "inventory"}},
			Retry: &Retry{MaxAttempts: -3}, File: "config.yaml", Line: 14},
	)
	if err == nil {
		t.Fatal("Start accepted the rules")
	}
	msg := err.Error()
	for _, w := range []string{`config.yaml:3: rule "no-pattern"`, `config.yaml:9: rule "to-nowhere"`, `config.yaml:14: rule "slow"`} {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not name %s:\n%s", w, msg)
		}
	}
	if strings.Contains(msg, `"fine"`) {
		t.Errorf("error names the valid rule:\n%s", msg)
	}
	if n := len(strings.Split(msg, "\n")); n != 3 {
		t.Errorf("error has %d lines, want one per bad rule:\n%s", n, msg)
	}
}

func TestStartCompilesRetry(t *testing.T) {
	withRetry := checkoutRule("own", TargetConfig{Module: "inventory"})
	withRetry.Retry = &Retry{MaxAttempts: 3, MaxBackoff: time.Second}
	b, err := startWith(t, checkoutRule("default", TargetConfig{Module: "shipping"}), withRetry)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rule string
		want Retry
	}{
		{"default", fastRetry},
		{"own", Retry{MaxAttempts: 3, MaxAge: fastRetry.MaxAge, InitialBackoff: fastRetry.InitialBackoff, MaxBackoff: time.Second}},
	} {
		r, ok := b.ruleNamed(tc.rule)
		if !ok {
			t.Fatalf("rule %s not compiled", tc.rule)
		}
		if r.retry != tc.want {
			t.Errorf("rule %s retries %+v, want %+v", tc.rule, r.retry, tc.want)
		}
	}
}

func TestNewFillsDefaults(t *testing.T) {
	b := New(Deps{DB: dbtest.Open(t, Migrations), Log: testLogger(t)}, nil, Options{})
	if b.opts.Workers <= 0 || b.opts.PollInterval <= 0 || b.opts.Retry != DefaultRetry {
		t.Errorf("options %+v, want positive workers and poll interval, DefaultRetry", b.opts)
	}
	if err := DefaultRetry.Validate(); err != nil {
		t.Errorf("DefaultRetry is invalid: %v", err)
	}
}
