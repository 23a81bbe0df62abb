// Package config loads config.yaml: the shop's HTTP, database, mail,
// delivery and shipping settings and its routing rules. Unknown keys are
// refused with their line, and environment variables override the keys a
// deployment changes.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/modules/shipping"
	"github.com/shopbus/shopbus/web"
)

// Config is the whole of config.yaml.
type Config struct {
	HTTP     HTTP             `yaml:"http"`
	Database database.Config  `yaml:"database"`
	Mail     email.Config     `yaml:"mail"`
	Bus      Bus              `yaml:"bus"`
	Delivery bus.Options      `yaml:"delivery"`
	Shipping shipping.Config  `yaml:"shipping"`
	Rules    []bus.RuleConfig `yaml:"rules"`
	Log      Log              `yaml:"log"`

	// BootstrapAPIKey, from SHOPBUS_BOOTSTRAP_API_KEY only, is stored as the
	// admin key when none exists. It is never read from the file.
	BootstrapAPIKey string `yaml:"-"`
	// File is where the configuration came from, for messages.
	File string `yaml:"-"`
}

// HTTP is the API server's settings.
type HTTP struct {
	Addr            string        `yaml:"addr"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MetricsAddr, if set, serves GET /metrics without a key on a second
	// address, for a Prometheus on a private network.
	MetricsAddr string `yaml:"metrics_addr"`
	web.Config  `yaml:",inline"`
}

// Transports that carry deliveries.
const (
	// TransportInProc hands deliveries to this process's handlers: one
	// instance, or several on PostgreSQL each handling what it claimed.
	TransportInProc = "inproc"
	// TransportNATS hands deliveries over NATS JetStream to whichever
	// instance has a free worker.
	TransportNATS = "nats"
)

// Bus chooses how deliveries travel between the dispatcher and handlers.
type Bus struct {
	// Transport is "inproc" (the default) or "nats".
	Transport string `yaml:"transport"`
	// NATSURL is the NATS server (or cluster: URLs separated by commas),
	// required with the nats transport.
	NATSURL string `yaml:"nats_url"`
}

// Validate refuses an unknown transport, and nats without a server.
func (b Bus) Validate() error {
	switch b.Transport {
	case "", TransportInProc:
		return nil
	case TransportNATS:
		if b.NATSURL == "" {
			return errors.New("bus.nats_url is required with bus.transport nats (or SHOPBUS_NATS_URL)")
		}
		return nil
	}
	return fmt.Errorf("bus.transport %q is neither %s nor %s (or SHOPBUS_BUS_TRANSPORT)", b.Transport, TransportInProc, TransportNATS)
}

// Log sets the log's level ("debug", "info", "warn", "error") and format
// ("text" or "json").
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Validate refuses a level or format the logger would not know.
func (l Log) Validate() error {
	var level slog.Level
	if l.Level != "" && level.UnmarshalText([]byte(l.Level)) != nil {
		return fmt.Errorf("log.level: %q is not one of debug, info, warn, error (or SHOPBUS_LOG_LEVEL)", l.Level)
	}
	if l.Format != "" && !strings.EqualFold(l.Format, "text") && !strings.EqualFold(l.Format, "json") {
		return fmt.Errorf("log.format: %q is not text or json (or SHOPBUS_LOG_FORMAT)", l.Format)
	}
	return nil
}

// Env lists the environment variables that override config keys.
var Env = map[string]func(*Config, string){
	"SHOPBUS_HTTP_ADDR":         func(c *Config, v string) { c.HTTP.Addr = v },
	"SHOPBUS_DATABASE_DRIVER":   func(c *Config, v string) { c.Database.Driver = v },
	"SHOPBUS_DATABASE_DSN":      func(c *Config, v string) { c.Database.DSN = v },
	"SHOPBUS_BUS_TRANSPORT":     func(c *Config, v string) { c.Bus.Transport = v },
	"SHOPBUS_NATS_URL":          func(c *Config, v string) { c.Bus.NATSURL = v },
	"SHOPBUS_SMTP_ADDR":         func(c *Config, v string) { c.Mail.SMTPAddr = v },
	"SHOPBUS_MAIL_DIR":          func(c *Config, v string) { c.Mail.Dir = v },
	"SHOPBUS_BOOTSTRAP_API_KEY": func(c *Config, v string) { c.BootstrapAPIKey = v },
	"SHOPBUS_METRICS_ADDR":      func(c *Config, v string) { c.HTTP.MetricsAddr = v },
	"SHOPBUS_LOG_LEVEL":         func(c *Config, v string) { c.Log.Level = v },
	"SHOPBUS_LOG_FORMAT":        func(c *Config, v string) { c.Log.Format = v },
	"SHOPBUS_RATE_LIMIT_RPS": func(c *Config, v string) {
		// Not a number: left as NaN, which Validate refuses with the variable's name.
		c.HTTP.RateLimit.RPS = math.NaN()
		if rps, err := strconv.ParseFloat(v, 64); err == nil {
			c.HTTP.RateLimit.RPS = rps
		}
	},
}

// Load reads the configuration from path, or from embedded (the defaults
// built into the binary) when path is empty, then applies the environment.
func Load(path string, embedded []byte) (*Config, error) {
	src, name := embedded, "config.yaml (built in)"
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		src, name = b, path
	}
	c, err := Parse(name, src)
	if err != nil {
		return nil, err
	}
	for key, set := range Env {
		if v, ok := os.LookupEnv(key); ok && v != "" {
			set(c, v)
		}
	}
	c.setDefaults()
	return c, nil
}

// Parse decodes a configuration file's text; name is used in messages.
func Parse(name string, src []byte) (*Config, error) {
	c := &Config{File: name}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("config: %s: %w", name, err)
	}
	// A second pass over the node tree finds the line of each rule, so rule
	// errors found later point at the file.
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("config: %s: %w", name, err)
	}
	if rules := find(&doc, "rules"); rules != nil {
		for i, n := range rules.Content {
			if i < len(c.Rules) {
				c.Rules[i].File, c.Rules[i].Line = name, n.Line
			}
		}
	}
	return c, nil
}

// find returns the value node of a top-level key.
func find(doc *yaml.Node, key string) *yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = ":8080"
	}
	if c.HTTP.ShutdownTimeout == 0 {
		c.HTTP.ShutdownTimeout = 10 * time.Second
	}
	if c.Database.Driver == "" {
		c.Database.Driver = database.SQLite
	}
	if c.Bus.Transport == "" {
		c.Bus.Transport = TransportInProc
	}
	if c.HTTP.RateLimit.RPS > 0 && c.HTTP.RateLimit.Burst == 0 {
		c.HTTP.RateLimit.Burst = max(1, int(2*c.HTTP.RateLimit.RPS))
	}

}

// Validate checks what can be checked without opening anything; rules are
// checked by the bus once the modules are known.
func (c *Config) Validate() error {
	var errs []error
	if d := c.Database.Driver; d != "" && d != database.SQLite && d != database.Postgres {
		errs = append(errs, fmt.Errorf("database.driver %q is neither %s nor %s (or SHOPBUS_DATABASE_DRIVER)", d, database.SQLite, database.Postgres))
	}
	if c.Database.DSN == "" {
		errs = append(errs, errors.New("database.dsn is required (or SHOPBUS_DATABASE_DSN)"))
	}
	if err := c.Bus.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Shipping.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Rules) == 0 {
		errs = append(errs, errors.New("rules: at least one rule is required"))
	}
	if err := c.Log.Validate(); err != nil {
		errs = append(errs, err)
	}
	if math.IsNaN(c.HTTP.RateLimit.RPS) {
		errs = append(errs, errors.New("SHOPBUS_RATE_LIMIT_RPS must be a number (0 turns the limit off)"))
	} else if err := c.HTTP.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config: %s: %w", c.File, err)
	}
	return nil
}
