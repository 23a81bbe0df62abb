package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shopbus/shopbus/fault"

	"github.com/shopbus/shopbus/bus/pattern"
	"github.com/shopbus/shopbus/bus/transform"
	"github.com/shopbus/shopbus/bus/webhook"
)

// ErrInvalidRule wraps every reason a rule is refused at start-up.
var ErrInvalidRule = fault.New(fault.Invalid, "invalid rule")

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

// TargetConfig is one target of a rule: an in-process module or a webhook
// (a third-party component over HTTP), and the transform that shapes what
// it receives.
type TargetConfig struct {
	Module  string          `yaml:"module"`
	Webhook *webhook.Config `yaml:"webhook"`
	// Name names a webhook target in deliveries and the dead letters
	// (default "webhook:" and the URL's host).
	Name           string `yaml:"name"`
	transform.Spec `yaml:",inline"`
	// Template and To are the email target's settings: which email, and
	// to whom (customer, owner or an address). The bus hands a target's
	// settings to the module that serves it, which declares that it takes
	// them and checks them (Bus.Settings); any other target refuses them.
	// They are fields rather than a map so that a misspelt key is still
	// refused, with its line, when the file is read.
	Template string `yaml:"template"`
	To       string `yaml:"to"`
}

// Settings are the target's settings, by their key in config.yaml; nil
// when it sets none.
func (t TargetConfig) Settings() map[string]string {
	var out map[string]string
	for k, v := range map[string]string{"template": t.Template, "to": t.To} {
		if v != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// target names the target as its deliveries do.
func (t TargetConfig) target() string {
	switch {
	case t.Webhook == nil:
		return t.Module
	case t.Name != "":
		return t.Name
	}
	if u, err := url.Parse(t.Webhook.URL); err == nil && u.Host != "" {
		return "webhook:" + u.Host
	}
	return "webhook"
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
	module    string // the delivery's target: a module's or a webhook's name
	transform *transform.Transform
	hook      *webhook.Target   // nil for a module
	settings  map[string]string // a module target's own keys, checked
}

// TargetSettings is what a module whose targets take settings in
// config.yaml tells the bus: Check refuses a target's settings, and
// Payload refuses a payload that a rule's example event would bring a
// target with those settings (an email whose recipient the payload lacks,
// say). Both run at start-up and in rules check, so the error names the
// file, line and rule.
type TargetSettings struct {
	Check   func(settings map[string]string) error
	Payload func(settings map[string]string, payload []byte) error
}

// Settings declares that target's rules may give it settings, and how they
// are checked. A module that declares none takes no settings.
func (b *Bus) Settings(target string, s TargetSettings) {
	if b.settings == nil {
		b.settings = map[string]TargetSettings{}
	}
	b.settings[target] = s
}

// targetSettings are the settings the rule gives the target, for its
// handler: the current configuration's, as a retry's limits are.
func (b *Bus) targetSettings(rule, target string) map[string]string {
	if r, ok := b.ruleNamed(rule); ok {
		for _, t := range r.targets {
			if t.module == target {
				return t.settings
			}
		}
	}
	return nil
}

// checkSettings refuses settings the target does not take, any on a
// webhook or on a module that declared none, and what the module's own
// check refuses.
func checkSettings(t TargetConfig, settings map[string]TargetSettings) error {
	set := t.Settings()
	s, takes := settings[t.Module]
	if t.Webhook != nil || !takes || s.Check == nil {
		if len(set) > 0 {
			who := "a webhook"
			if t.Webhook == nil {
				who = "module " + t.Module
			}
			return fmt.Errorf("%s takes no %s (the email module does)", who, strings.Join(slices.Sorted(maps.Keys(set)), " or "))
		}
		return nil
	}
	return s.Check(set)
}

func (c RuleConfig) where() string {
	if c.File == "" {
		return fmt.Sprintf("rule %q", c.Name)
	}
	return fmt.Sprintf("%s:%d: rule %q", c.File, c.Line, c.Name)
}

// compile turns a rule's config into its matcher and transforms; modules
// lists the targets that exist, and settings how those that take settings
// check them.
func (c RuleConfig) compile(def Retry, modules map[string]bool, settings map[string]TargetSettings) (*rule, error) {
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
		name := t.target()
		switch {
		case t.Module == "" && t.Webhook == nil:
			return nil, fail("target %d: give a module or a webhook", i+1)
		case t.Module != "" && t.Webhook != nil:
			return nil, fail("target %d: give a module or a webhook, not both", i+1)
		case t.Webhook == nil && t.Name != "":
			return nil, fail("target %d: name is for webhooks; a module is named by module", i+1)
		case t.Webhook == nil && !modules[t.Module]:
			return nil, fail("target %d: unknown module %q (known: %s)", i+1, t.Module, known(modules))
		case t.Webhook != nil && modules[name]:
			return nil, fail("target %d: webhook name %q is a module's name", i+1, name)
		case seen[name] && t.Webhook == nil:
			return nil, fail("target %d: module %q is named twice (a rule sends to a module once: give the second its own rule)", i+1, name)
		case seen[name]:
			return nil, fail("target %d: %q is named twice (give webhooks distinct names)", i+1, name)
		}
		seen[name] = true
		if err := checkSettings(t, settings); err != nil {
			return nil, fail("target %d (%s): %v", i+1, name, err)
		}
		tr, err := transform.Compile(t.Spec)
		if err != nil {
			return nil, fail("target %d (%s): %v", i+1, name, err)
		}
		tg := target{module: name, transform: tr, settings: t.Settings()}
		if t.Webhook != nil {
			if tg.hook, err = webhook.New(*t.Webhook); err != nil {
				return nil, fail("target %d (%s): %v", i+1, name, err)
			}
		}
		r.targets = append(r.targets, tg)
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
