package config

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/modules/shipping"
)

// repoConfig is the config.yaml shipped with (and embedded in) the binary.
const repoConfig = "../config.yaml"

func readRepoConfig(t *testing.T) []byte {
	t.Helper()
	src, err := os.ReadFile(repoConfig)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// ruleLines finds the line of each "- name:" under rules:, independently of
// the YAML parser.
func ruleLines(t *testing.T, src []byte) map[string]int {
	t.Helper()
	re := regexp.MustCompile(`^\s*- name:\s*(\S+)`)
	lines := map[string]int{}
	inRules := false
	for i, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, "rules:") {
			inRules = true
			continue
		}
		if m := re.FindStringSubmatch(line); inRules && m != nil {
			lines[m[1]] = i + 1
		}
	}
	return lines
}

func TestParseRepoConfig(t *testing.T) {
	src := readRepoConfig(t)
	c, err := Parse("config.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("the shipped config does not validate: %v", err)
	}

	wantRules := []string{
		"new-order-fulfilment", "order-stock-moves", "order-cancelled-shipping",
		"order-payment", "new-order-crm", "inventory-shortage-alert", "stock-news-crm",
		"new-order-owner", "order-shipped-email", "order-delivered-email", "order-cancelled-email", "order-refunded-email",
	}
	var names []string
	for _, r := range c.Rules {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, wantRules) {
		t.Fatalf("rules = %v, want %v", names, wantRules)
	}

	lines := ruleLines(t, src)
	for _, r := range c.Rules {
		if r.File != "config.yaml" || r.Line != lines[r.Name] || r.Line == 0 {
			t.Errorf("rule %s at %s:%d, want config.yaml:%d", r.Name, r.File, r.Line, lines[r.Name])
		}
	}

	targets := func(name string) []string {
		for _, r := range c.Rules {
			if r.Name == name {
				var ts []string
				for _, tg := range r.Targets {
					ts = append(ts, tg.Module)
				}
				return ts
			}
		}
		return nil
	}
	if got := targets("new-order-fulfilment"); !slices.Equal(got, []string{"inventory", "shipping"}) {
		t.Errorf("new-order-fulfilment targets = %v", got)
	}
	if got := targets("inventory-shortage-alert"); !slices.Equal(got, []string{"email"}) {
		t.Errorf("inventory-shortage-alert targets = %v", got)
	}
	for _, r := range c.Rules {
		if r.Name == "order-payment" && len(r.Targets[0].Fields) != 4 {
			t.Errorf("order-payment fields = %v, want 4 paths", r.Targets[0].Fields)
		}
	}

	checks := []struct {
		name      string
		got, want any
	}{
		{"http.addr", c.HTTP.Addr, ":8080"},
		{"http.shutdown_timeout", c.HTTP.ShutdownTimeout, 10 * time.Second},
		{"database.driver", c.Database.Driver, "sqlite"},
		{"database.dsn", c.Database.DSN, "data/shopbus.db"},
		{"bus.transport", c.Bus.Transport, "inproc"},
		{"bus.nats_url", c.Bus.NATSURL, ""},
		{"mail.from", c.Mail.From, "My Shop <shop@example.com>"},
		{"mail.mail_dir", c.Mail.Dir, "data/mail"},
		{"delivery.workers", c.Delivery.Workers, 128},
		{"delivery.poll_interval", c.Delivery.PollInterval, 500 * time.Millisecond},
		{"delivery.retry.max_attempts", c.Delivery.Retry.MaxAttempts, 300},
		{"delivery.retry.max_age", c.Delivery.Retry.MaxAge, 24 * time.Hour},
		{"delivery.retry.max_backoff", c.Delivery.Retry.MaxBackoff, 5 * time.Minute},
		{"shipping.rates", len(c.Shipping.Rates), 4},
		{"shipping.rates[0].rate_minor", c.Shipping.Rates[0].RateMinor, int64(490)},
		{"shipping.rates[3].countries", len(c.Shipping.Rates[3].Countries), 0},
		{"log.level", c.Log.Level, "info"},
		{"http.max_connections", c.HTTP.MaxConnections, 10000},
		{"http.max_connections_per_address", c.HTTP.MaxConnectionsPerAddress, 256},
		{"http.first_byte_timeout", c.HTTP.FirstByteTimeout, 3 * time.Second},
		{"http.max_open_requests_per_key", c.HTTP.MaxOpenRequestsPerKey, 128},
		{"http.max_open_requests_per_address", c.HTTP.MaxOpenRequestsPerAddress, 256},
		{"http.body_min_rate", c.HTTP.BodyMinRate, 1024},
		{"http.body_grace", c.HTTP.BodyGrace, 5 * time.Second},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

// TestRepoConfigRulesCompile checks the shipped rules against a bus that
// has every module main.go subscribes.
func TestRepoConfigRulesCompile(t *testing.T) {
	c, err := Parse("config.yaml", readRepoConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	b := bus.New(bus.Deps{DB: nil, Log: slog.New(slog.DiscardHandler)}, c.Rules, c.Delivery)
	for _, m := range []string{"inventory", "shipping", "payment", "crm"} {
		bus.Subscribe(b, m, func(context.Context, bus.Delivery[map[string]any]) error { return nil })
	}
	// The email target's settings (template, recipient) are email's to check.
	mail, err := email.New(email.Deps{Log: slog.New(slog.DiscardHandler)}, c.Mail)
	if err != nil {
		t.Fatal(err)
	}
	mail.Subscribe(b)
	if err := b.Start(); err != nil {
		t.Fatalf("the shipped rules do not compile: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // substrings of the error
	}{
		{
			name: "unknown top-level key",
			src:  "http:\n  addr: \":1\"\nbogus: 1\n",
			want: []string{"shop.yaml", "line 3", "bogus"},
		},
		{
			name: "unknown nested key",
			src:  "http:\n  addr: \":1\"\n  adress: x\n",
			want: []string{"line 3", "adress"},
		},
		{
			name: "unknown rule key",
			src:  "rules:\n  - name: a\n    patern: {}\n",
			want: []string{"line 3", "patern"},
		},
		{
			name: "wrong type",
			src:  "delivery:\n  workers: many\n",
			want: []string{"line 2"},
		},
		{
			name: "bad duration",
			src:  "http:\n  shutdown_timeout: soon\n",
			want: []string{"line 2"},
		},
		{
			name: "not yaml",
			src:  "http: [\n",
			want: []string{"shop.yaml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("shop.yaml", []byte(tt.src))
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseRuleLines(t *testing.T) {
	src := `# a comment
database:
  dsn: x.db

rules:
  - name: first
    pattern: { source: ["a"] }
    targets: [{ module: inventory }]

  # the second rule
  - name: second
    pattern:
      source: ["b"]
    targets:
      - module: shipping
  - { name: third, pattern: { source: ["c"] }, targets: [{ module: crm }] }
`
	c, err := Parse("shop.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"first": 6, "second": 11, "third": 16}
	if len(c.Rules) != len(want) {
		t.Fatalf("got %d rules, want %d", len(c.Rules), len(want))
	}
	for _, r := range c.Rules {
		if r.File != "shop.yaml" || r.Line != want[r.Name] {
			t.Errorf("rule %s at %s:%d, want shop.yaml:%d", r.Name, r.File, r.Line, want[r.Name])
		}
	}
}

// valid is the rest of a configuration Load accepts, for tests about
// other sections.
const valid = "shipping:\n  rates: [{ rate_minor: 100 }]\nrules:\n  - name: r\n"

func TestLoadEnvOverrides(t *testing.T) {
	src := []byte("database:\n  dsn: file.db\nmail:\n  from: shop@example.com\n  smtp_addr: file:25\n  mail_dir: file-mail\nhttp:\n  addr: \":1111\"\n  max_connections_per_address: 7\n" + valid)
	tests := []struct {
		env   string
		value string
		get   func(*Config) string
		file  string // the value without the variable
	}{
		{"SHOPBUS_HTTP_ADDR", ":9999", func(c *Config) string { return c.HTTP.Addr }, ":1111"},
		{"SHOPBUS_DATABASE_DRIVER", "postgres", func(c *Config) string { return c.Database.Driver }, "sqlite"},
		{"SHOPBUS_DATABASE_DSN", "/var/lib/shop.db", func(c *Config) string { return c.Database.DSN }, "file.db"},
		{"SHOPBUS_BUS_TRANSPORT", "nats", func(c *Config) string { return c.Bus.Transport }, "inproc"},
		{"SHOPBUS_NATS_URL", "nats://10.0.0.5:4222", func(c *Config) string { return c.Bus.NATSURL }, ""},
		{"SHOPBUS_SMTP_ADDR", "mail.example:587", func(c *Config) string { return c.Mail.SMTPAddr }, "file:25"},
		{"SHOPBUS_MAIL_DIR", "/var/mail/shop", func(c *Config) string { return c.Mail.Dir }, "file-mail"},
		{"SHOPBUS_DASHBOARD_URL", "https://shop.example/dashboard", func(c *Config) string { return c.Mail.DashboardURL },
			"http://localhost:1111/dashboard"}, // from http.addr
		{"SHOPBUS_BOOTSTRAP_API_KEY", "sk-secret", func(c *Config) string { return c.BootstrapAPIKey }, ""},
		{"SHOPBUS_RATE_LIMIT_RPS", "7.5", func(c *Config) string { return fmt.Sprint(c.HTTP.RateLimit.RPS) }, "0"},
		{"SHOPBUS_METRICS_ADDR", "127.0.0.1:9090", func(c *Config) string { return c.HTTP.MetricsAddr }, ""},
		{"SHOPBUS_LOG_LEVEL", "debug", func(c *Config) string { return c.Log.Level }, ""},
		{"SHOPBUS_LOG_FORMAT", "json", func(c *Config) string { return c.Log.Format }, ""},
		{"SHOPBUS_SMTP_USERNAME", "shop", func(c *Config) string { return c.Mail.SMTPUsername }, ""},
		{"SHOPBUS_SMTP_PASSWORD", "s3cret", func(c *Config) string { return c.Mail.SMTPPassword }, ""},
		{"SHOPBUS_TLS_DOMAINS", "shop.example,www.shop.example", func(c *Config) string { return strings.Join(c.HTTP.TLS.Domains, ",") }, ""},
		{"SHOPBUS_TLS_EMAIL", "owner@shop.example", func(c *Config) string { return c.HTTP.TLS.Email }, ""},
		{"SHOPBUS_BACKUP_DIR", "/var/backups/shopbus", func(c *Config) string { return c.Backup.Dir }, "backups"},
		{"SHOPBUS_MAX_CONNECTIONS", "300", func(c *Config) string { return fmt.Sprint(c.HTTP.MaxConnections) }, "0"},
		{"SHOPBUS_MAX_CONNECTIONS_PER_ADDRESS", "0", func(c *Config) string { return fmt.Sprint(c.HTTP.MaxConnectionsPerAddress) }, "7"},
		{"SHOPBUS_MAX_OPEN_REQUESTS_PER_KEY", "9", func(c *Config) string { return fmt.Sprint(c.HTTP.MaxOpenRequestsPerKey) }, "0"},
		{"SHOPBUS_MAX_OPEN_REQUESTS_PER_ADDRESS", "11", func(c *Config) string { return fmt.Sprint(c.HTTP.MaxOpenRequestsPerAddress) }, "0"},
		{"SHOPBUS_STRIPE_WEBHOOK_SECRET", "whsec_a,whsec_b", func(c *Config) string { return strings.Join(c.Stripe.WebhookSecrets, ",") }, ""},
		{"SHOPBUS_DELIVERY_MAX_LAG", "5s", func(c *Config) string { return c.Delivery.MaxLag.String() }, "0s"},
	}
	// Every variable Env knows is covered here.
	var covered []string
	for _, tt := range tests {
		covered = append(covered, tt.env)
	}
	if got := slices.Sorted(maps.Keys(Env)); !slices.Equal(got, slices.Sorted(slices.Values(covered))) {
		t.Errorf("Env has %v, the test covers %v", got, covered)
	}

	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			for k := range Env { // a variable set in the developer's shell must not leak in
				t.Setenv(k, "")
			}
			c, err := Load("", src)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c); got != tt.file {
				t.Errorf("without %s: %q, want the file's %q", tt.env, got, tt.file)
			}

			t.Setenv(tt.env, tt.value)
			if tt.env == "SHOPBUS_BUS_TRANSPORT" { // nats is refused without a server
				t.Setenv("SHOPBUS_NATS_URL", "nats://127.0.0.1:4222")
			}
			c, err = Load("", src)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c); got != tt.value {
				t.Errorf("with %s=%q: %q", tt.env, tt.value, got)
			}
		})
	}
}

// TestLagBoundOffFromEnv: SHOPBUS_DELIVERY_MAX_LAG=0 turns the bound off,
// as max_lag: 0 does in the file; a negative or non-duration is refused.
func TestLagBoundOffFromEnv(t *testing.T) {
	for k := range Env {
		t.Setenv(k, "")
	}
	src := []byte("database:\n  dsn: x.db\nmail:\n  from: shop@example.com\n  mail_dir: mail\ndelivery:\n  max_lag: 2s\n" + valid)
	for _, v := range []string{"0", "0s"} {
		t.Setenv("SHOPBUS_DELIVERY_MAX_LAG", v)
		c, err := Load("", src)
		if err != nil || c.Delivery.MaxLag != 0 {
			t.Errorf("SHOPBUS_DELIVERY_MAX_LAG=%s: max_lag %v, %v; want 0 (off)", v, c.Delivery.MaxLag, err)
		}
	}
	for _, v := range []string{"-1s", "soon"} {
		t.Setenv("SHOPBUS_DELIVERY_MAX_LAG", v)
		if _, err := Load("", src); err == nil || !strings.Contains(err.Error(), "SHOPBUS_DELIVERY_MAX_LAG") {
			t.Errorf("SHOPBUS_DELIVERY_MAX_LAG=%s: %v, want an error naming the variable", v, err)
		}
	}
}

func TestLoadDefaults(t *testing.T) {
	for k := range Env {
		t.Setenv(k, "")
	}
	c, err := Load("", []byte("database:\n  dsn: x.db\nmail:\n  from: shop@example.com\n  mail_dir: mail\n"+valid))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != ":8080" || c.HTTP.ShutdownTimeout != 10*time.Second || c.Database.Driver != "sqlite" || c.Bus.Transport != "inproc" {
		t.Errorf("defaults: addr %q, shutdown %v, driver %q, transport %q; want :8080, 10s, sqlite, inproc",
			c.HTTP.Addr, c.HTTP.ShutdownTimeout, c.Database.Driver, c.Bus.Transport)
	}
	if c.File != "config.yaml (built in)" {
		t.Errorf("File = %q for the embedded config", c.File)
	}
	// The owner's emails link to the dashboard where this machine serves
	// it, and are written in English, until the file says otherwise.
	if c.Mail.DashboardURL != "http://localhost:8080/dashboard" || c.Mail.Locale != "en" {
		t.Errorf("mail.dashboard_url %q, mail.locale %q; want http://localhost:8080/dashboard and en", c.Mail.DashboardURL, c.Mail.Locale)
	}
	for addr, want := range map[string]string{":7": "http://localhost:7/dashboard", "0.0.0.0:80": "http://localhost:80/dashboard",
		"[::]:8080": "http://localhost:8080/dashboard", "10.0.0.5:9000": "http://10.0.0.5:9000/dashboard",
		"shop.internal:8080": "http://shop.internal:8080/dashboard", "[2001:db8::1]:443": "http://[2001:db8::1]:443/dashboard"} {
		if got := localDashboard(addr); got != want {
			t.Errorf("http.addr %s: dashboard %s, want %s", addr, got, want)
		}
	}

	// Values in the file win over the defaults.
	c, err = Load("", []byte("http:\n  addr: \":7\"\n  shutdown_timeout: 3s\ndatabase:\n  dsn: x.db\nmail:\n  from: shop@example.com\n  mail_dir: mail\n"+valid))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != ":7" || c.HTTP.ShutdownTimeout != 3*time.Second {
		t.Errorf("file values lost: addr %q, shutdown %v", c.HTTP.Addr, c.HTTP.ShutdownTimeout)
	}
}

func TestLoadFile(t *testing.T) {
	for k := range Env {
		t.Setenv(k, "")
	}
	path := filepath.Join(t.TempDir(), "shop.yaml")
	if err := os.WriteFile(path, []byte("database:\n  dsn: from-file.db\nmail:\n  from: shop@example.com\n  mail_dir: mail\n"+valid), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, []byte("database:\n  dsn: embedded.db\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.DSN != "from-file.db" || c.File != path {
		t.Errorf("Load(path) read dsn %q from %q, want from-file.db from %s", c.Database.DSN, c.File, path)
	}

	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestValidate(t *testing.T) {
	valid := func() *Config {
		return &Config{
			File:     "shop.yaml",
			Database: database.Config{DSN: "x.db"},
			Mail:     email.Config{From: "shop@example.com", Dir: "mail"},
			Shipping: shipping.Config{Rates: []shipping.Rate{{RateMinor: 100}}},
			Rules:    []bus.RuleConfig{{Name: "r"}},
		}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("a valid config: %v", err)
	}
	withNATS := valid()
	withNATS.Bus = Bus{Transport: "nats", NATSURL: "nats://127.0.0.1:4222"}
	if err := withNATS.Validate(); err != nil {
		t.Errorf("nats with a url: %v", err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		{"no dsn", func(c *Config) { c.Database.DSN = "" }, []string{"database.dsn"}},
		{"unknown driver", func(c *Config) { c.Database.Driver = "mysql" }, []string{`database.driver "mysql"`, "SHOPBUS_DATABASE_DRIVER"}},
		{"no rates", func(c *Config) { c.Shipping.Rates = nil }, []string{"shipping.rates"}},
		{"negative rate", func(c *Config) { c.Shipping.Rates[0].RateMinor = -1 }, []string{"shipping.rates[0]"}},
		{"no rules", func(c *Config) { c.Rules = nil }, []string{"rules"}},
		{"unknown transport", func(c *Config) { c.Bus.Transport = "kafka" }, []string{`bus.transport "kafka"`, "SHOPBUS_BUS_TRANSPORT"}},
		{"nats without a url", func(c *Config) { c.Bus.Transport = "nats" }, []string{"bus.nats_url", "SHOPBUS_NATS_URL"}},
		{"everything at once", func(c *Config) { *c = Config{File: "shop.yaml"} },
			[]string{"database.dsn", "shipping.rates", "rules: at least one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate succeeded")
			}
			for _, w := range append(tt.want, "shop.yaml") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLogSettingsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  Log
		want string // in the error; empty: valid
	}{
		{"defaults", Log{}, ""},
		{"debug json", Log{Level: "debug", Format: "json"}, ""},
		{"upper case", Log{Level: "WARN", Format: "TEXT"}, ""},
		{"unknown level", Log{Level: "verbose"}, `log.level: "verbose"`},
		{"unknown format", Log{Format: "xml"}, `log.format: "xml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.log.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// edit returns the shipped config.yaml with the first line that starts
// with prefix replaced by line, and that line's number.
func edit(t *testing.T, prefix, line string) ([]byte, int) {
	t.Helper()
	lines := strings.Split(string(readRepoConfig(t)), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			lines[i] = line
			return []byte(strings.Join(lines, "\n")), i + 1
		}
	}
	t.Fatalf("config.yaml has no line starting with %q", prefix)
	return nil, 0
}

// TestLoadRefusesEachSection: a bad value in any section is refused by
// Load, before anything is built from it, naming the file, the line and
// the key.
func TestLoadRefusesEachSection(t *testing.T) {
	for k := range Env {
		t.Setenv(k, "")
	}
	tests := []struct {
		prefix, line string
		want         string // the key the error names
	}{
		{"  shutdown_timeout:", "  shutdown_timeout: -1s", "http.shutdown_timeout"},
		{"  trusted_proxies:", "  trusted_proxies: [10.0.0.0/8, nope]", "http.trusted_proxies[1]"},
		{"  max_inflight_orders:", "  max_inflight_orders: -1", "http.max_inflight_orders"},
		{"  max_connections:", "  max_connections: -1", "http.max_connections"},
		{"  max_connections_per_address:", "  max_connections_per_address: -2", "http.max_connections_per_address"},
		{"  first_byte_timeout:", "  first_byte_timeout: -1s", "http.first_byte_timeout"},
		{"  max_open_requests_per_key:", "  max_open_requests_per_key: -1", "http.max_open_requests_per_key"},
		{"  max_open_requests_per_address:", "  max_open_requests_per_address: -1", "http.max_open_requests_per_address"},
		{"  body_min_rate:", "  body_min_rate: -1", "http.body_min_rate"},
		{"  body_grace:", "  body_grace: -5s", "http.body_grace"},
		{"  driver:", "  driver: mysql", `database.driver "mysql"`},
		{"  dsn:", `  dsn: ""`, "database.dsn"},
		{"  from:", `  from: "My Shop shop@example.com"`, "mail.from"},
		{"  smtp_tls:", "  smtp_tls: maybe", `mail.smtp_tls "maybe"`},
		{"  smtp_addr:", "  smtp_addr: localhost", `mail.smtp_addr "localhost"`},
		{"  locale:", "  locale: de_DE", `mail.locale "de_DE"`},
		{"  dashboard_url:", "  dashboard_url: shop.example/dashboard", `mail.dashboard_url "shop.example/dashboard"`},
		{"  transport:", "  transport: kafka", `bus.transport "kafka"`},
		{"  workers: 128                  # deliveries", "  workers: -1 # deliveries", "delivery.workers"},
		{"  workers: 128                  # emails", "  workers: -5 # emails", "mail.workers must not be negative"},
		{"  smtp_connections: 8", "  smtp_connections: -1", "mail.smtp_connections must not be negative"},
		{"    max_attempts:", "    max_attempts: -3", "delivery.retry.max_attempts"},
		{"      rate_minor: 490", "      rate_minor: -490", "shipping.rates[0].rate_minor"},
		{"  level:", "  level: verbose", `log.level: "verbose"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			src, line := edit(t, tt.prefix, tt.line)
			path := filepath.Join(t.TempDir(), "shop.yaml")
			if err := os.WriteFile(path, src, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, nil)
			if err == nil {
				t.Fatal("Load accepted it")
			}
			want := fmt.Sprintf("config: %s: line %d: %s", path, line, tt.want)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
			if n := strings.Count(err.Error(), "\n"); n != 0 {
				t.Errorf("%d more problems reported than the one made: %v", n, err)
			}
		})
	}
}

// TestLoadNamesTheVariable: a value the environment set is reported as
// the variable's, not as the file's line.
func TestLoadNamesTheVariable(t *testing.T) {
	for k := range Env {
		t.Setenv(k, "")
	}
	t.Setenv("SHOPBUS_DATABASE_DRIVER", "mysql")
	_, err := Load("", readRepoConfig(t))
	if err == nil {
		t.Fatal("Load accepted SHOPBUS_DATABASE_DRIVER=mysql")
	}
	if want := `config: config.yaml (built in): database.driver "mysql" is neither sqlite nor postgres (from SHOPBUS_DATABASE_DRIVER)`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// TestLoadRefusesABoundNotANumber: a connection or request bound from the
// environment that is not a whole number is refused with the variable's
// name, not taken as 0 (no bound).
func TestLoadRefusesABoundNotANumber(t *testing.T) {
	for k := range Env {
		t.Setenv(k, "")
	}
	t.Setenv("SHOPBUS_MAX_CONNECTIONS_PER_ADDRESS", "lots")
	_, err := Load("", readRepoConfig(t))
	if want := "config: config.yaml (built in): http.max_connections_per_address: must be 0 (no bound) or positive (from SHOPBUS_MAX_CONNECTIONS_PER_ADDRESS)"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestParseSyntaxErrorLine: a syntax error is reported at its own line
// and column, not where the mapping around it starts (the YAML decoder
// says "line 3" for a mis-indented key further down).
func TestParseSyntaxErrorLine(t *testing.T) {
	tests := []struct {
		name         string
		prefix, line string
		want         string
	}{
		{"mis-indented key", "  dsn:", " dsn: data/shopbus.db", "column 2: did not find expected key"}, // its line is checked below
		{"value on a key's line", "  workers: 128", "  workers: 128 poll: 1s", "column 20: mapping values are not allowed"},
		{"unterminated quote", "  from:", `  from: "My Shop`, "column 9:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, line := edit(t, tt.prefix, tt.line)
			_, err := Parse("shop.yaml", src)
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if want := fmt.Sprintf("config: shop.yaml: line %d, ", line); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseSuggestsKnownKey(t *testing.T) {
	tests := []struct {
		name         string
		prefix, line string
		want         string // "": no suggestion
	}{
		{"http", "  shutdown_timeout:", "  shutdown_timout: 10s", "shutdown_timeout"},
		{"nested struct", "    per_minute:", "    per_minut: 10", "per_minute"},
		{"mail", "  mail_dir:", "  mail_dirs: data/mail", "mail_dir"},
		{"rule", "    description: new orders go", "    descripton: x", "description"},
		{"target", "      - module: inventory", "      - modul: inventory", "module"},
		{"email target", "        template: inventory_shortage", "        tempalte: inventory_shortage", "template"},
		{"nothing close", "  workers: 128", "  bogus: 128", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, line := edit(t, tt.prefix, tt.line)
			_, err := Parse("shop.yaml", src)
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			key, _, _ := strings.Cut(strings.TrimLeft(tt.line, " -"), ":")
			want := fmt.Sprintf("config: shop.yaml: line %d: unknown key %q", line, key)
			if tt.want != "" {
				want += fmt.Sprintf("; did you mean `%s`?", tt.want)
			}
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
		})
	}
}

func TestChoose(t *testing.T) {
	for k := range Env {
		t.Setenv(k, "")
	}
	src := readRepoConfig(t) // before leaving the package's folder
	t.Chdir(t.TempDir())
	if got := Choose(""); got != "" {
		t.Errorf("no flag, no config.yaml: Choose = %q, want the built-in config", got)
	}
	c, err := Load(Choose(""), src)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != BuiltIn {
		t.Errorf("File = %q, want %q", c.File, BuiltIn)
	}

	local := bytes.Replace(src, []byte("dsn: data/shopbus.db"), []byte("dsn: local.db"), 1)
	if err := os.WriteFile("config.yaml", local, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := Choose(""); got != "config.yaml" {
		t.Errorf("no flag, with ./config.yaml: Choose = %q, want config.yaml", got)
	}
	c, err = Load(Choose(""), []byte("not: used"))
	if err != nil {
		t.Fatal(err)
	}
	if c.File != "config.yaml" || c.Database.DSN != "local.db" {
		t.Errorf("read dsn %q from %q, want local.db from config.yaml", c.Database.DSN, c.File)
	}

	if got := Choose("elsewhere.yaml"); got != "elsewhere.yaml" {
		t.Errorf("--config elsewhere.yaml: Choose = %q", got)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"720h", 720 * time.Hour, true},
		{"30m", 30 * time.Minute, true},
		{"0d", 0, false},
		{"-1h", 0, false},
		{"1.5d", 0, false},
		{"36501d", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
