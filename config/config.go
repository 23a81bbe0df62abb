// Package config loads config.yaml: the shop's HTTP, database, mail,
// delivery and shipping settings and its routing rules. Load decodes the
// file, applies the environment, fills every section's defaults and
// validates every section, once, so a bad setting is refused before
// anything opens or listens. Its errors name the file and, where the file
// holds the key, its line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shopbus/shopbus/backup"
	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/modules/shipping"
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
	Backup   backup.Config    `yaml:"backup"`
	// Stripe's secrets come from SHOPBUS_STRIPE_WEBHOOK_SECRET only: the
	// file may not hold a stripe: section.
	Stripe Stripe `yaml:"stripe"`

	// BootstrapAPIKey, from SHOPBUS_BOOTSTRAP_API_KEY only, is stored as the
	// admin key when none exists. It is never read from the file.
	BootstrapAPIKey string `yaml:"-"`
	// File is where the configuration came from, for messages: the path
	// read, or BuiltIn.
	File string `yaml:"-"`

	// doc is the file's node tree, where Validate finds the line of a key.
	doc *yaml.Node
	// fromEnv names the variable that set a key, for the keys the
	// environment set.
	fromEnv map[string]string
}

// BuiltIn is Config.File for the configuration built into the binary.
const BuiltIn = "config.yaml (built in)"

// LocalFile is the file Choose picks in the working directory.
const LocalFile = "config.yaml"

// Choose says which file to load: flag (the --config option) when given,
// else LocalFile when the working directory has one, as `make run` expects,
// else "" for the built-in configuration. Anything at LocalFile that is not
// plainly absent is chosen, so that an unreadable file is reported by Load
// rather than silently passed over.
func Choose(flag string) string {
	if flag != "" {
		return flag
	}
	if _, err := os.Stat(LocalFile); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return LocalFile
	}
	return ""
}

// An Override is the config key an environment variable sets, and how.
type Override struct {
	// Key is the config.yaml key, such as "http.addr"; empty for a setting
	// the file never holds.
	Key string
	Set func(*Config, string)
}

// Env lists the environment variables that override config keys.
var Env = map[string]Override{
	"SHOPBUS_HTTP_ADDR":         {"http.addr", func(c *Config, v string) { c.HTTP.Addr = v }},
	"SHOPBUS_DATABASE_DRIVER":   {"database.driver", func(c *Config, v string) { c.Database.Driver = v }},
	"SHOPBUS_DATABASE_DSN":      {"database.dsn", func(c *Config, v string) { c.Database.DSN = v }},
	"SHOPBUS_BUS_TRANSPORT":     {"bus.transport", func(c *Config, v string) { c.Bus.Transport = v }},
	"SHOPBUS_NATS_URL":          {"bus.nats_url", func(c *Config, v string) { c.Bus.NATSURL = v }},
	"SHOPBUS_SMTP_ADDR":         {"mail.smtp_addr", func(c *Config, v string) { c.Mail.SMTPAddr = v }},
	"SHOPBUS_MAIL_DIR":          {"mail.mail_dir", func(c *Config, v string) { c.Mail.Dir = v }},
	"SHOPBUS_DASHBOARD_URL":     {"mail.dashboard_url", func(c *Config, v string) { c.Mail.DashboardURL = v }},
	"SHOPBUS_BOOTSTRAP_API_KEY": {"", func(c *Config, v string) { c.BootstrapAPIKey = v }},
	"SHOPBUS_METRICS_ADDR":      {"http.metrics_addr", func(c *Config, v string) { c.HTTP.MetricsAddr = v }},
	"SHOPBUS_LOG_LEVEL":         {"log.level", func(c *Config, v string) { c.Log.Level = v }},
	"SHOPBUS_LOG_FORMAT":        {"log.format", func(c *Config, v string) { c.Log.Format = v }},
	// Several secrets, separated by commas or spaces, while one is rolled.
	"SHOPBUS_STRIPE_WEBHOOK_SECRET": {"stripe.webhook_secrets", func(c *Config, v string) { c.Stripe.WebhookSecrets = splitSecrets(v) }},
	"SHOPBUS_DELIVERY_MAX_LAG": {"delivery.max_lag", func(c *Config, v string) {
		// Not a duration: left negative, which Validate refuses with the
		// variable's name. 0 (or 0s) turns the bound off, as in the file.
		c.Delivery.MaxLag = -1
		if d, err := ParseDuration(v); err == nil {
			c.Delivery.MaxLag = d
		} else if d, err := time.ParseDuration(v); err == nil && d == 0 {
			c.Delivery.MaxLag = 0
		}
	}},
	"SHOPBUS_RATE_LIMIT_RPS": {"http.rate_limit.rps", func(c *Config, v string) {
		// Not a number: left as NaN, which Validate refuses with the variable's name.
		c.HTTP.RateLimit.RPS = math.NaN()
		if rps, err := strconv.ParseFloat(v, 64); err == nil {
			c.HTTP.RateLimit.RPS = rps
		}
	}},
	"SHOPBUS_SMTP_USERNAME": {"mail.smtp_username", func(c *Config, v string) { c.Mail.SMTPUsername = v }},
	// The password is a secret: a deployment keeps it out of the file
	// (systemd's EnvironmentFile, a container's secret), and nothing logs it.
	"SHOPBUS_SMTP_PASSWORD": {"mail.smtp_password", func(c *Config, v string) { c.Mail.SMTPPassword = v }},
	"SHOPBUS_TLS_DOMAINS": {"http.tls.domains", func(c *Config, v string) {
		c.HTTP.TLS.Domains = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
	}},
	"SHOPBUS_TLS_EMAIL":  {"http.tls.email", func(c *Config, v string) { c.HTTP.TLS.Email = v }},
	"SHOPBUS_BACKUP_DIR": {"backup.dir", func(c *Config, v string) { c.Backup.Dir = v }},
	// Connection and request bounds: a deployment behind a load balancer, or a load test, changes them.
	"SHOPBUS_MAX_CONNECTIONS":               {"http.max_connections", func(c *Config, v string) { c.HTTP.MaxConnections = count(v) }},
	"SHOPBUS_MAX_CONNECTIONS_PER_ADDRESS":   {"http.max_connections_per_address", func(c *Config, v string) { c.HTTP.MaxConnectionsPerAddress = count(v) }},
	"SHOPBUS_MAX_OPEN_REQUESTS_PER_KEY":     {"http.max_open_requests_per_key", func(c *Config, v string) { c.HTTP.MaxOpenRequestsPerKey = count(v) }},
	"SHOPBUS_MAX_OPEN_REQUESTS_PER_ADDRESS": {"http.max_open_requests_per_address", func(c *Config, v string) { c.HTTP.MaxOpenRequestsPerAddress = count(v) }},
}

// count reads a bound from the environment. Not a whole number: -1, which
// Validate refuses with the variable's name.
func count(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

// Load reads the configuration from path, or from embedded (the defaults
// built into the binary) when path is empty, applies the environment, fills
// the defaults and validates the whole: what it returns is ready for every
// constructor, which checks nothing again.
func Load(path string, embedded []byte) (*Config, error) {
	src, name := embedded, BuiltIn
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
	for env, o := range Env {
		if v, ok := os.LookupEnv(env); ok && v != "" {
			o.Set(c, v)
			if c.fromEnv == nil {
				c.fromEnv = map[string]string{}
			}
			c.fromEnv[o.Key] = env
		}
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse decodes a configuration file's text; name is used in messages. It
// neither fills defaults nor validates: Load does.
func Parse(name string, src []byte) (*Config, error) {
	c := &Config{File: name}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, decodeError(name, src, err)
	}
	// A second pass keeps the node tree, so that rules, and settings that
	// Validate refuses, point at their line.
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, decodeError(name, src, err)
	}
	c.doc = &doc
	if rules := lookup(&doc, "rules"); rules != nil {
		for i, n := range rules.Content {
			if i < len(c.Rules) {
				c.Rules[i].File, c.Rules[i].Line = name, n.Line
			}
		}
	}
	return c, nil
}

// SetDefaults fills, in every section, what the file and the environment
// left out.
func (c *Config) SetDefaults() {
	c.HTTP.SetDefaults()
	c.Database.SetDefaults()
	if c.Mail.DashboardURL == "" { // before mail's own default, which knows no http.addr
		c.Mail.DashboardURL = localDashboard(c.HTTP.Addr)
	}
	c.Mail.SetDefaults()
	c.Bus.SetDefaults()
	c.Delivery.SetDefaults()
	c.HTTP.TLS.setCacheDefault(c.Database)
	if c.Database.Driver == database.SQLite {
		c.Backup.SetDefaults(c.Database.DSN)
	} else {
		c.Backup.SetDefaults("") // pg_dump's job: no folder of SQLite copies
	}
}

// Validate checks every section, what can be checked without opening
// anything, and reports every problem at once, each with the file and,
// when the file holds the key, its line. Rules are checked by the bus once
// the modules are known.
func (c *Config) Validate() error {
	sections := []struct {
		key   string
		check func() error
	}{
		{"http", c.HTTP.Validate},
		{"database", c.Database.Validate},
		{"mail", c.Mail.Validate},
		{"bus", c.Bus.Validate},
		{"delivery", c.Delivery.Validate},
		{"shipping", c.Shipping.Validate},
		{"log", c.Log.Validate},
		{"backup", c.Backup.Validate},
		{"stripe", c.Stripe.Validate},
		{"rules", c.checkRules},
	}
	var errs []error
	for _, s := range sections {
		for _, err := range leaves(s.check()) {
			errs = append(errs, c.locate(s.key, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) checkRules() error {
	if len(c.Rules) == 0 {
		return errors.New("rules: at least one rule is required")
	}
	return nil
}

// localDashboard is where a person on the shop's machine opens the
// dashboard that listens on addr: the owner's emails link to it until
// mail.dashboard_url says where the world reaches it.
func localDashboard(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost:8080/dashboard"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/dashboard"
}

// ParseDuration reads a duration as everything shopbus takes one from a
// person (an API key's lifetime, how far back to replay): Go's syntax,
// such as 90m or 720h, or whole days, such as 90d. It must be positive.
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 36500 {
			return 0, fmt.Errorf("%q: days must be a whole number from 1 to 36500, as in 90d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want a positive duration such as 90d, 12h or 30m", s)
	}
	return d, nil
}
