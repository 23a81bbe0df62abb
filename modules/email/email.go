// Package email is shopbus's durable outbox of emails and the worker that
// sends them.
//
// A job is written by Enqueue inside the caller's transaction, so an email
// exists exactly when the change that asked for it committed. The worker
// (Run) sends due jobs over SMTP, or writes them as .eml files when no SMTP
// server is configured, and retries failures with backoff. Each email
// carries a Message-ID derived from its (order, template) pair, so the rare
// re-send after a crash between "server accepted" and "recorded as sent" is
// recognisable as the same message.
package email

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
	"golang.org/x/text/language"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/fault"
)

// Errors returned by this package.
var (
	ErrInvalidConfig   = fault.New(fault.Invalid, "email: invalid config")
	ErrUnknownTemplate = fault.New(fault.Invalid, "email: unknown template")
	ErrInvalidMessage  = fault.New(fault.Invalid, "email: invalid message")
)

// Job statuses. A job is queued until sent, or failed once its attempts are
// spent or it can never be rendered.
const (
	StatusQueued = "queued"
	StatusSent   = "sent"
	StatusFailed = "failed"
)

// Config is the `mail:` section of config.yaml.
type Config struct {
	From         string `yaml:"from"`          // e.g. "My Shop <shop@example.com>"
	SMTPAddr     string `yaml:"smtp_addr"`     // host:port; empty: write .eml files to Dir
	SMTPUsername string `yaml:"smtp_username"` // empty: no SMTP AUTH
	SMTPPassword string `yaml:"smtp_password"`
	SMTPTLS      string `yaml:"smtp_tls"`      // "none" (default, for local relays), "starttls", "tls"
	SMTPCAFile   string `yaml:"smtp_ca_file"`  // a CA (PEM) trusted for the server's certificate, besides the system's
	Dir          string `yaml:"mail_dir"`      // where .eml files go when no SMTP is configured
	TemplatesDir string `yaml:"templates_dir"` // optional folder overriding the embedded templates by file name
	OwnerEmail   string `yaml:"owner_email"`   // the shop owner, who receives alerts
	ShopName     string `yaml:"shop_name"`     // default: From's display name
	// Locale is the shop's language (BCP 47): the owner's emails are
	// written in it, and a customer's whose order names none. Default en.
	Locale string `yaml:"locale"`
	// DashboardURL is where the owner opens the dashboard, for the links
	// in their emails, e.g. https://shop.example/dashboard. config.Load
	// defaults it from http.addr.
	DashboardURL string `yaml:"dashboard_url"`

	Workers int `yaml:"workers"` // emails in flight at once (being sent or being recorded as sent); default 128
	// SMTPConnections are the connections kept open to the server, shared
	// by the workers, each held only for a send; default 8.
	SMTPConnections int           `yaml:"smtp_connections"`
	PollInterval    time.Duration `yaml:"poll_interval"`   // default 1s; the worker is also woken by Wake
	MaxAttempts     int           `yaml:"max_attempts"`    // default 50
	InitialBackoff  time.Duration `yaml:"initial_backoff"` // default 2s
	MaxBackoff      time.Duration `yaml:"max_backoff"`     // default 10m
}

// SetDefaults fills what the file leaves out: TLS "none", 128 workers on
// 8 connections, a 1s poll, 50 attempts backing off from 2s to 10m, and
// the shop's name from From's display name. Negative values are left for
// Validate to refuse.
func (c *Config) SetDefaults() {
	if c.SMTPTLS == "" {
		c.SMTPTLS = "none"
	}
	if c.Locale == "" {
		c.Locale = fallback
	}
	if c.DashboardURL == "" {
		// config.Load sets it from http.addr; a Config built by hand
		// gets the default address.
		c.DashboardURL = "http://localhost:8080/dashboard"
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.Workers == 0 {
		c.Workers = 128
	}
	if c.SMTPConnections == 0 {
		c.SMTPConnections = 8
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 50
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = 2 * time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 10 * time.Minute
	}
	if c.MaxBackoff < c.InitialBackoff {
		c.MaxBackoff = c.InitialBackoff
	}
	if c.ShopName == "" {
		if a, err := mail.ParseAddress(c.From); err == nil && a.Name != "" {
			c.ShopName = a.Name
		}
	}
}

// Validate reports every problem with the config at once, each error
// beginning with the config.yaml key it is about.
func (c *Config) Validate() error {
	var errs []error
	if _, err := mail.ParseAddress(c.From); err != nil {
		errs = append(errs, fmt.Errorf("mail.from %q: %w", c.From, err))
	}
	if c.OwnerEmail != "" {
		if _, err := mail.ParseAddress(c.OwnerEmail); err != nil {
			errs = append(errs, fmt.Errorf("mail.owner_email %q: %w", c.OwnerEmail, err))
		}
	}
	switch c.SMTPTLS {
	case "", "none", "starttls", "tls":
	default:
		errs = append(errs, fmt.Errorf("mail.smtp_tls %q: want none, starttls or tls", c.SMTPTLS))
	}
	if c.SMTPAddr != "" {
		_, port, err := net.SplitHostPort(c.SMTPAddr)
		if _, perr := strconv.Atoi(port); err != nil || perr != nil {
			errs = append(errs, fmt.Errorf("mail.smtp_addr %q: want host:port", c.SMTPAddr))
		}
	}
	if c.Locale != "" {
		if tag, err := language.Parse(c.Locale); err != nil || tag.String() != c.Locale {
			errs = append(errs, fmt.Errorf("mail.locale %q: want a BCP 47 language tag such as en or de-DE, written as such", c.Locale))
		}
	}
	if c.DashboardURL != "" {
		if u, err := url.Parse(c.DashboardURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("mail.dashboard_url %q: want an http or https address, such as https://shop.example/dashboard", c.DashboardURL))
		}
	}
	if c.SMTPAddr == "" && c.Dir == "" {
		errs = append(errs, errors.New("mail.smtp_addr is empty: set it, or mail_dir for .eml files"))
	}
	for _, n := range []struct {
		key      string
		negative bool
	}{
		{"mail.workers", c.Workers < 0}, {"mail.smtp_connections", c.SMTPConnections < 0},
		{"mail.max_attempts", c.MaxAttempts < 0}, {"mail.poll_interval", c.PollInterval < 0},
		{"mail.initial_backoff", c.InitialBackoff < 0}, {"mail.max_backoff", c.MaxBackoff < 0},
	} {
		if n.negative {
			errs = append(errs, fmt.Errorf("%s must not be negative (0: the default)", n.key))
		}
	}
	return errors.Join(errs...)
}

// Message is one email to queue. Data is stored as JSON and decoded, when
// the email is sent, into the template's data type (OrderSuccess for
// "order_success", Shortage for "inventory_shortage", Order for the
// emails about an order's state).
type Message struct {
	// EventID is the event the email tells of: one email is sent per
	// (event, template, recipient). Without one, the email is one per
	// (order, template, recipient).
	EventID  string
	OrderID  string
	Template string
	To       string
	// Locale is the reader's language (BCP 47); empty, the shop's.
	Locale string
	Data   any
}

// Job is a queued or finished email, as GET /v1/orders/{id} shows it.
type Job struct {
	// EventID is the event the email tells of; empty for an email queued
	// once per order.
	EventID   string     `json:"event_id,omitempty"`
	Template  string     `json:"template"`
	To        string     `json:"to"`
	Status    string     `json:"status"` // queued | sent | failed
	Locale    string     `json:"locale,omitempty"`
	Attempts  int        `json:"attempts"`
	LastError string     `json:"last_error,omitempty"`
	MessageID string     `json:"message_id"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
}

// Records reads the emails queued and sent. It needs only the database.
type Records struct{ db *gorm.DB }

// NewRecords returns the email records in db.
func NewRecords(db *gorm.DB) *Records { return &Records{db: db} }

// Service queues emails and sends them.
type Service struct {
	*Records
	db        *gorm.DB
	cfg       Config
	log       *slog.Logger
	templates catalog
	lang      language.Tag   // the shop's, cfg.Locale
	client    *gomail.Client // nil: write .eml files to cfg.Dir
	wake      chan struct{}
	observer  Observer
	committer Committer
	sent      sentMarks // the sends recorded together
}

// Committer runs a unit of write work in a transaction and returns once it
// is committed: database.Direct or a database.Batcher, which shares one
// commit among the sends recorded at the same moment.
type Committer interface {
	Do(ctx context.Context, fn func(tx *gorm.DB) error) error
}

// Deps are what the email service works through. Only DB is required.
type Deps struct {
	DB  *gorm.DB
	Log *slog.Logger
	// Committer records claims and sends (default: one transaction each).
	Committer Committer
	// Observer is told the outcome of every send (default: nobody).
	Observer Observer
}

// New parses the templates and prepares the SMTP client for cfg, which is
// expected to have passed Validate (config.Load makes sure); the defaults
// are filled here too, for callers that build a Config by hand. It does
// not connect: the worker dials for each send.
func New(deps Deps, cfg Config) (*Service, error) {
	cfg.SetDefaults()
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.Committer == nil {
		deps.Committer = database.Direct{DB: deps.DB}
	}
	if deps.Observer == nil {
		deps.Observer = noObserver{}
	}
	s := &Service{Records: NewRecords(deps.DB), db: deps.DB, cfg: cfg, log: deps.Log, wake: make(chan struct{}, 1),
		observer: deps.Observer, committer: deps.Committer}
	var err error
	if s.lang, err = language.Parse(cfg.Locale); err != nil {
		return nil, fmt.Errorf("%w: locale %q: %w", ErrInvalidConfig, cfg.Locale, err)
	}
	if s.templates, err = loadTemplates(cfg.TemplatesDir, s.funcs); err != nil {
		return nil, err
	}
	if cfg.SMTPAddr != "" {
		if s.client, err = newClient(cfg); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Wake makes the worker look for due jobs now, e.g. after a commit that
// enqueued one. It never blocks.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
