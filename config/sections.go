package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/shopbus/shopbus/bus"
)

// HTTP is the `http:` section: where the API listens, and the gateway's
// limits, which web.New applies.
type HTTP struct {
	Addr            string        `yaml:"addr"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MetricsAddr, if set, serves GET /metrics without a key on a second
	// address, for a Prometheus on a private network.
	MetricsAddr string `yaml:"metrics_addr"`
	// RateLimit is a token bucket per API key; rps 0 turns it off.
	RateLimit RateLimit `yaml:"rate_limit"`
	// AuthFailures limits failed authentications per client address.
	AuthFailures AuthFailures `yaml:"auth_failures"`
	// TrustedProxies are the CIDRs of reverse proxies whose X-Forwarded-For
	// and X-Forwarded-Proto are believed. Empty: the client is the
	// connection's peer, and the request is HTTPS only if it came over TLS,
	// whatever headers say.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// MaxInflightOrders bounds the order writes (new orders and state
	// changes) waiting for their commit at once; past it they are refused
	// with 503 and Retry-After. 0: no bound.
	MaxInflightOrders int `yaml:"max_inflight_orders"`
	// CORSAllowOrigins lets storefronts on these origins call the API from
	// the browser. Empty: no CORS headers.
	CORSAllowOrigins []string `yaml:"cors_allow_origins"`
	// TLS serves HTTPS on Addr.
	TLS TLS `yaml:"tls"`

	// MaxConnections bounds the open connections; past it a new one is
	// closed at once, before it costs more than its accept. It is lowered
	// at start-up to fit the process's open-file limit. 0: no bound.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerAddress bounds the open connections from one peer
	// address, so that one client cannot take them all; trusted proxies are
	// not bounded. 0: no bound.
	MaxConnectionsPerAddress int `yaml:"max_connections_per_address"`
	// FirstByteTimeout is how long a new connection may stay silent before
	// it is closed. 0: only the server's 5 s for a request's headers.
	FirstByteTimeout time.Duration `yaml:"first_byte_timeout"`
	// MaxOpenRequestsPerKey bounds the requests one API key (the key
	// itself, not its name) may have in progress at once; more get 429
	// and Retry-After. 0: no bound.
	MaxOpenRequestsPerKey int `yaml:"max_open_requests_per_key"`
	// MaxOpenRequestsPerAddress is the same bound for one client address.
	MaxOpenRequestsPerAddress int `yaml:"max_open_requests_per_address"`
	// BodyMinRate is the average rate, in bytes a second, at which a
	// request body must arrive once BodyGrace has passed; a slower one is
	// cut off with 408, so a slow upload holds nothing for long. 0: no
	// floor (the server's 15 s read timeout alone).
	BodyMinRate int `yaml:"body_min_rate"`
	// BodyGrace is how long any body may take before BodyMinRate applies.
	BodyGrace time.Duration `yaml:"body_grace"`
}

// RateLimit is a token bucket: RPS requests a second, Burst at once.
type RateLimit struct {
	RPS   float64 `yaml:"rps"`
	Burst int     `yaml:"burst"`
}

// AuthFailures is how many failed authentications a client address may
// make: PerMinute on average, Burst at once. Zero: 10 and 20.
type AuthFailures struct {
	PerMinute int `yaml:"per_minute"`
	Burst     int `yaml:"burst"`
}

// SetDefaults listens on :8080 (:443 with TLS on), waits 10s for work in
// flight on a stop, and gives a rate limit without a burst twice its rate.
func (h *HTTP) SetDefaults() {
	h.TLS.SetDefaults()
	if h.Addr == "" {
		h.Addr = ":8080"
		if h.TLS.On() {
			h.Addr = ":443"
		}
	}
	if h.ShutdownTimeout == 0 {
		h.ShutdownTimeout = 10 * time.Second
	}
	if h.RateLimit.RPS > 0 && h.RateLimit.Burst == 0 {
		h.RateLimit.Burst = max(1, int(2*h.RateLimit.RPS))
	}
}

// Validate checks the limits and the proxies' CIDRs.
func (h HTTP) Validate() error {
	errs := []error{h.TLS.Validate()}
	if h.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("http.shutdown_timeout must not be negative"))
	}
	switch rl := h.RateLimit; {
	case math.IsNaN(rl.RPS):
		errs = append(errs, errors.New("http.rate_limit.rps: SHOPBUS_RATE_LIMIT_RPS must be a number (0 turns the limit off)"))
	case rl.RPS < 0 || (rl.RPS > 0 && rl.Burst < 1):
		errs = append(errs, errors.New("http.rate_limit: rps must be 0 (off) or positive, with burst at least 1"))
	}
	if h.AuthFailures.PerMinute < 0 || h.AuthFailures.Burst < 0 {
		errs = append(errs, errors.New("http.auth_failures: per_minute and burst must be positive (0: the defaults, 10 and 20)"))
	}
	for _, bound := range []struct {
		key string
		n   int
	}{
		{"max_inflight_orders", h.MaxInflightOrders},
		{"max_connections", h.MaxConnections},
		{"max_connections_per_address", h.MaxConnectionsPerAddress},
		{"max_open_requests_per_key", h.MaxOpenRequestsPerKey},
		{"max_open_requests_per_address", h.MaxOpenRequestsPerAddress},
		{"body_min_rate", h.BodyMinRate},
	} {
		if bound.n < 0 {
			errs = append(errs, fmt.Errorf("http.%s: must be 0 (no bound) or positive", bound.key))
		}
	}
	if h.FirstByteTimeout < 0 {
		errs = append(errs, errors.New("http.first_byte_timeout must not be negative"))
	}
	if h.BodyGrace < 0 {
		errs = append(errs, errors.New("http.body_grace must not be negative"))
	}
	for i, cidr := range h.TrustedProxies {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			errs = append(errs, fmt.Errorf("http.trusted_proxies[%d]: %q is not a CIDR such as 10.0.0.0/8", i, cidr))
		}
	}
	return errors.Join(errs...)
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

// Bus is the `bus:` section: how deliveries travel between the dispatcher
// and handlers, and the bus's EventBridge identity.
type Bus struct {
	// Transport is "inproc" (the default) or "nats".
	Transport string `yaml:"transport"`
	// NATSURL is the NATS server (or cluster: URLs separated by commas),
	// required with the nats transport.
	NATSURL string `yaml:"nats_url"`
	// Account and Region are every event's "account" and "region", as
	// EventBridge gives its events the AWS account and region of their
	// bus, for patterns and transforms written for EventBridge that read
	// them. Defaults: bus.DefaultAccount and bus.DefaultRegion.
	Account string `yaml:"account"`
	Region  string `yaml:"region"`
}

// SetDefaults chooses the in-process transport, and the account and
// region of a bus that is not on AWS.
func (b *Bus) SetDefaults() {
	if b.Transport == "" {
		b.Transport = TransportInProc
	}
	if b.Account == "" {
		b.Account = bus.DefaultAccount
	}
	if b.Region == "" {
		b.Region = bus.DefaultRegion
	}
}

// awsRegion is the shape of an AWS region's name, such as eu-west-1, and
// of "local".
var awsRegion = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}[a-z0-9]$`)

// Validate refuses an unknown transport, nats without a server, and an
// account or region that is not shaped as AWS's are, since rules may
// build ARNs from them.
func (b Bus) Validate() error {
	var errs []error
	if b.Account != "" && (len(b.Account) != 12 || strings.Trim(b.Account, "0123456789") != "") {
		errs = append(errs, fmt.Errorf("bus.account: %q is not twelve digits, as an AWS account id is", b.Account))
	}
	if b.Region != "" && !awsRegion.MatchString(b.Region) {
		errs = append(errs, fmt.Errorf("bus.region: %q is not a region name such as eu-west-1 (lower-case letters, digits and hyphens)", b.Region))
	}
	return errors.Join(append(errs, b.validateTransport())...)
}

func (b Bus) validateTransport() error {
	switch b.Transport {
	case "", TransportInProc:
		return nil
	case TransportNATS:
		if b.NATSURL == "" {
			return errors.New("bus.nats_url is required with bus.transport nats")
		}
		return nil
	}
	return fmt.Errorf("bus.transport %q is neither %s nor %s", b.Transport, TransportInProc, TransportNATS)
}

// Log is the `log:` section: the log's level ("debug", "info", "warn",
// "error") and format ("text" or "json"). Empty means info and text.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Logger builds the process's one logger, writing to w at the section's
// level (info when unset) and format (text unless json).
func (l Log) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(l.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Validate refuses a level or format the logger would not know.
func (l Log) Validate() error {
	var errs []error
	var level slog.Level
	if l.Level != "" && level.UnmarshalText([]byte(l.Level)) != nil {
		errs = append(errs, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", l.Level))
	}
	if l.Format != "" && !strings.EqualFold(l.Format, "text") && !strings.EqualFold(l.Format, "json") {
		errs = append(errs, fmt.Errorf("log.format: %q is not text or json", l.Format))
	}
	return errors.Join(errs...)
}
