package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shopbus/shopbus/bus/pattern"
	"github.com/shopbus/shopbus/bus/transform"
)

// ErrInvalidRule wraps every reason a rule is refused at start-up.
var ErrInvalidRule = errors.New("invalid rule")

// RuleConfig is one rule as written in config.yaml.
type RuleConfig struct {
	Name        string         `yaml:"name"`
	Description string         `yaml:"description"`
	Pattern     map[string]any `yaml:"pattern"`
	Targets     []TargetConfig `yaml:"targets"`
	Retry       *Retry         `yaml:"retry"`
	// Where the rule was written, for error messages.
	File string `yaml:"-"`
	Line int    `yaml:"-"`
}

// TargetConfig is one target of a rule: an in-process module and the
// transform that shapes what it receives.
type TargetConfig struct {
	Module         string `yaml:"module"`
	transform.Spec `yaml:",inline"`
}

// Retry bounds how long a failing delivery is retried before it is dead.
type Retry struct {
	MaxAttempts    int           `yaml:"max_attempts"`
	MaxAge         time.Duration `yaml:"max_age"`
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
}

// DefaultRetry is what a rule without its own retry gets: a shop's
// components are on the same machine, so a day of retries that start fast
// and settle at one every five minutes covers any restart or outage.
var DefaultRetry = Retry{MaxAttempts: 300, MaxAge: 24 * time.Hour, InitialBackoff: time.Second, MaxBackoff: 5 * time.Minute}

func (r *Retry) setDefaults(def Retry) {
	if r.MaxAttempts == 0 {
		r.MaxAttempts = def.MaxAttempts
	}
	if r.MaxAge == 0 {
		r.MaxAge = def.MaxAge
	}
	if r.InitialBackoff == 0 {
		r.InitialBackoff = def.InitialBackoff
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = def.MaxBackoff
	}
}

// Validate refuses retry settings that could never deliver or never stop.
func (r Retry) Validate() error {
	switch {
	case r.MaxAttempts < 1:
		return errors.New("retry.max_attempts must be at least 1")
	case r.MaxAge <= 0:
		return errors.New("retry.max_age must be positive")
	case r.InitialBackoff <= 0 || r.MaxBackoff < r.InitialBackoff:
		return errors.New("retry backoff must be positive with max_backoff >= initial_backoff")
	}
	return nil
}

// rule is a compiled RuleConfig.
type rule struct {
	config  RuleConfig
	name    string
	pattern *pattern.Pattern
	targets []target
	retry   Retry
}

type target struct {
	module    string
	transform *transform.Transform
}

func (c RuleConfig) where() string {
	if c.File == "" {
		return fmt.Sprintf("rule %q", c.Name)
	}
	return fmt.Sprintf("%s:%d: rule %q", c.File, c.Line, c.Name)
}

// compile turns a rule's config into its matcher and transforms; modules
// lists the targets that exist.
func (c RuleConfig) compile(def Retry, modules map[string]bool) (*rule, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", c.where(), ErrInvalidRule, fmt.Sprintf(format, args...))
	}
	if c.Name == "" {
		return nil, fail("name is required")
	}
	if len(c.Pattern) == 0 {
		return nil, fail("pattern is required")
	}
	src, err := json.Marshal(c.Pattern)
	if err != nil {
		return nil, fail("pattern: %v", err)
	}
	p, err := pattern.Compile(src)
	if err != nil {
		return nil, fail("%v", err)
	}
	if len(c.Targets) == 0 {
		return nil, fail("at least one target is required")
	}
	r := &rule{config: c, name: c.Name, pattern: p}
	seen := map[string]bool{}
	for i, t := range c.Targets {
		switch {
		case t.Module == "":
			return nil, fail("target %d: module is required", i+1)
		case !modules[t.Module]:
			return nil, fail("target %d: unknown module %q (known: %s)", i+1, t.Module, known(modules))
		case seen[t.Module]:
			return nil, fail("target %d: module %q is named twice", i+1, t.Module)
		}
		seen[t.Module] = true
		tr, err := transform.Compile(t.Spec)
		if err != nil {
			return nil, fail("target %d (%s): %v", i+1, t.Module, err)
		}
		r.targets = append(r.targets, target{module: t.Module, transform: tr})
	}
	r.retry = def
	if c.Retry != nil {
		r.retry = *c.Retry
		r.retry.setDefaults(def)
	}
	if err := r.retry.Validate(); err != nil {
		return nil, fail("%v", err)
	}
	return r, nil
}
