// Package bus is shopbus's event bus: an outbox of EventBridge-shaped events,
// rules from config.yaml that route them to targets, and typed subscribers
// that do each delivery's work. A delivery to a module is worked in the
// transaction that routes its event; retries, webhooks and an order's
// delivery that must wait for an earlier one are claimed and handed over
// through a Transport: asaskevich/EventBus within the process by default,
// or NATS JetStream (bus/natsbus) between instances.
//
// Every delivery is a row. A subscriber does its work inside the transaction
// that marks its delivery done, so a delivery that is handed over twice (after
// a crash, say) has its effect once.
//
// Instances that share one database claim their work in it: a batch of
// events to route (and work) under row locks that others skip, a delivery
// under a lease in its row. So each event is routed once and each delivery
// is worked by one instance at a time, and the claims of an instance that
// dies pass to the others when their lease ends. Over a shared transport
// the instance that handles a claimed delivery may not be the one that
// claimed it: the row, locked in the handler's transaction, and the
// attempt the hand-over names keep its effect to once.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus/pattern"
	"github.com/shopbus/shopbus/bus/webhook"
	"github.com/shopbus/shopbus/database"
)

// ErrPermanent marks a handler error that no retry can fix (a payload the
// target cannot read): the delivery goes straight to the dead letters.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so the delivery is not retried.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// Options tune the dispatcher: the `delivery:` section of config.yaml.
type Options struct {
	// Workers bounds the deliveries handled at once. With a group
	// committer, the deliveries in flight share commits, so more workers
	// means bigger, cheaper batches.
	Workers int `yaml:"workers"`
	// PollInterval is how often the dispatcher looks for work nobody woke it for.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Retry is the default for rules that set none.
	Retry Retry `yaml:"retry"`
	// Retention is how long events and their finished deliveries are kept
	// for replay and inspection.
	Retention time.Duration `yaml:"retention"`
	// Account and Region are the bus's EventBridge identity (config's
	// bus.account and bus.region), which every event it routes carries
	// for patterns and transforms to read. Empty: DefaultAccount and
	// DefaultRegion.
	Account string `yaml:"-"`
	Region  string `yaml:"-"`
	// MaxLag bounds how far behind the shop may fall (Bus.Lag: the oldest
	// unrouted event, due delivery or, through Deps.LagSources, unsent
	// email): from half of it on, Behind refuses a share of new orders
	// that grows with the lag, and past it every one, until it catches up.
	// 0: no bound.
	MaxLag time.Duration `yaml:"max_lag"`
}

// SetDefaults fills what the file leaves out: 128 workers, a 500ms poll,
// 30 days of retention and DefaultRetry.
func (o *Options) SetDefaults() {
	if o.Workers == 0 {
		o.Workers = 128
	}
	if o.PollInterval == 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.Retention == 0 {
		o.Retention = 30 * 24 * time.Hour
	}
	if o.Account == "" {
		o.Account = DefaultAccount
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	o.Retry.setDefaults(DefaultRetry)
}

// Validate refuses negative counts and durations, and a default retry that
// could never deliver or never stop. Zero values are left to SetDefaults.
func (o Options) Validate() error {
	var errs []error
	if o.Workers < 0 {
		errs = append(errs, errors.New("delivery.workers must not be negative"))
	}
	if o.PollInterval < 0 {
		errs = append(errs, errors.New("delivery.poll_interval must not be negative"))
	}
	if o.Retention < 0 {
		errs = append(errs, errors.New("delivery.retention must not be negative"))
	}
	if o.MaxLag < 0 {
		errs = append(errs, errors.New("delivery.max_lag must be a duration of 0 or more, such as 2s (0: no bound)"))
	}
	retry := o.Retry
	retry.setDefaults(DefaultRetry)
	if err := retry.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("delivery.%w", err))
	}
	return errors.Join(errs...)
}

// Delivery is what a subscriber receives: one event's payload for one
// target, shaped by the rule's transform and decoded into T.
type Delivery[T any] struct {
	ID      int64
	EventID string
	OrderID string
	Rule    string
	Target  string
	// Attempt counts from 1.
	Attempt int
	// Settings are what the rule's target sets beside the module, such as
	// an email's template and recipient; nil when none.
	Settings map[string]string
	Payload  T
	// Tx is the transaction that will mark this delivery done. Do the work in
	// it: if the handler fails, the work rolls back with it.
	Tx *gorm.DB
}

// Handler handles one delivery. Handlers must be idempotent in effect: the
// bus guarantees a delivery is marked done once, but a handler whose
// transaction rolled back is called again.
type Handler[T any] func(ctx context.Context, d Delivery[T]) error

// Records reads and tends what the bus has stored: the events and
// deliveries of orders, the backlog and the dead letters. It needs only the
// database, so a command that inspects or redrives dead letters builds it
// without the rules or the modules.
type Records struct {
	db  *gorm.DB
	log *slog.Logger
	// origin stamps the events it reads; a bus sets it.
	origin origin
}

// NewRecords returns the bus's records in db.
func NewRecords(db *gorm.DB, log *slog.Logger) *Records { return &Records{db: db, log: log} }

// Bus routes events from the outbox to subscribers.
type Bus struct {
	*Records
	log     *slog.Logger
	opts    Options
	configs []RuleConfig
	rules   []*rule
	matcher *pattern.Matcher
	runners map[string]runner
	// checks tell whether a payload suits each target's Go type.
	checks map[string]func([]byte) error
	// settings check the settings of the targets that take them.
	settings map[string]TargetSettings
	// webhooks are the webhook targets, by rule and target name.
	webhooks map[[2]string]*webhook.Target
	// targets are the modules and webhooks that Start found, which Run
	// consumes.
	targets   []string
	examples  []Detail
	transport Transport
	observer  Observer
	committer Committer

	lagSources []LagSource
	lag        lagGauge
	shed       shedder

	ctx         context.Context // the context handlers run in, set by Run
	wake        chan struct{}
	mu          sync.Mutex
	inflight    map[int64]bool // deliveries this instance's handlers are working
	afterCommit []func()

	// owner names this instance in the leases it takes on deliveries, and
	// lease is how long they hold (defaultLease).
	owner string
	lease time.Duration
}

// Committer runs a unit of write work in a transaction and returns once it
// is committed: database.Direct or a database.Batcher, which shares one
// commit among the deliveries handled at the same moment.
type Committer interface {
	Do(ctx context.Context, fn func(tx *gorm.DB) error) error
}

// Deps are what a bus works through. Only DB is required.
type Deps struct {
	DB  *gorm.DB
	Log *slog.Logger
	// Committer runs each delivery's transaction (default: one transaction
	// each, database.Direct).
	Committer Committer
	// Observer is told of routing and delivery outcomes (default: nobody).
	Observer Observer
	// Transport carries hand-overs to handlers (default: within this
	// process, through asaskevich/EventBus). Run closes it.
	Transport Transport
	// LagSources are the work beyond the bus's own that Lag counts, such
	// as the email outbox.
	LagSources []LagSource
}

// runner handles one delivery row inside tx.
type runner func(ctx context.Context, tx *gorm.DB, d *deliveryRow) error

// New returns a bus for these rules. Rules are compiled by Start, once
// every subscriber is known.
func New(deps Deps, rules []RuleConfig, opts Options) *Bus {
	opts.SetDefaults()
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.Committer == nil {
		deps.Committer = database.Direct{DB: deps.DB}
	}
	if deps.Observer == nil {
		deps.Observer = noObserver{}
	}
	if deps.Transport == nil {
		deps.Transport = newInproc(opts.Workers)
	}
	records := NewRecords(deps.DB, deps.Log)
	records.origin = newOrigin(opts.Account, opts.Region)
	return &Bus{
		Records:    records,
		log:        deps.Log,
		opts:       opts,
		configs:    rules,
		runners:    map[string]runner{},
		checks:     map[string]func([]byte) error{},
		wake:       make(chan struct{}, 1),
		owner:      instanceName(),
		lease:      defaultLease,
		inflight:   map[int64]bool{},
		observer:   deps.Observer,
		committer:  deps.Committer,
		transport:  deps.Transport,
		lagSources: deps.LagSources,
	}
}

// instanceName names this process among the instances that share a
// database: its host, its process ID and a random part, so two processes
// never share a name, even on one host, nor a process with its own
// predecessor.
func instanceName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8])
}

// Subscribe registers h as target's handler. The payload of each delivery is
// decoded into T; a payload that does not decode is dead at once.
func Subscribe[T any](b *Bus, target string, h Handler[T]) {
	b.checks[target] = decodeCheck[T]()
	b.runners[target] = func(ctx context.Context, tx *gorm.DB, row *deliveryRow) error {
		d := Delivery[T]{ID: row.ID, EventID: row.EventID, OrderID: row.OrderID, Rule: row.Rule,
			Target: row.Target, Attempt: row.Attempts + 1, Settings: b.targetSettings(row.Rule, row.Target), Tx: tx}
		if err := json.Unmarshal([]byte(row.Payload), &d.Payload); err != nil {
			return Permanent(fmt.Errorf("decode payload for %s: %w", target, err))
		}
		return h(ctx, d)
	}
}

// AfterCommit registers fn to run after each delivery transaction commits,
// so work a handler queued (an email job, say) is picked up at once.
func (b *Bus) AfterCommit(fn func()) { b.afterCommit = append(b.afterCommit, fn) }

// Targets lists the subscribed targets.
func (b *Bus) Targets() []string { return slices.Sorted(maps.Keys(b.runners)) }

// Start compiles the rules against the subscribed targets and routes every
// Example through them. It refuses the whole configuration if any rule is
// invalid or would send a target something it cannot read, naming every
// problem; a bus whose Start failed must not Run.
func (b *Bus) Start() error {
	modules := b.runnerSet()
	var errs []error
	names := map[string]bool{}
	b.rules = b.rules[:0]
	var patterns []*pattern.Pattern
	for _, c := range b.configs {
		if names[c.Name] {
			errs = append(errs, fmt.Errorf("%s: %w: the name is used twice", c.where(), ErrInvalidRule))
			continue
		}
		names[c.Name] = true
		r, err := c.compile(b.opts.Retry, modules, b.settings)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b.rules = append(b.rules, r)
		patterns = append(patterns, r.pattern)
	}
	b.matcher = pattern.NewMatcher(patterns)
	errs = append(errs, b.checkExamples())
	b.webhooks = map[[2]string]*webhook.Target{}
	targets := maps.Clone(modules)
	for _, r := range b.rules {
		for _, t := range r.targets {
			if t.hook == nil {
				continue
			}
			targets[t.module] = true
			b.webhooks[[2]string{r.name, t.module}] = t.hook
		}
	}
	b.targets = slices.Sorted(maps.Keys(targets))
	return errors.Join(errs...)
}

// Wake makes the dispatcher look for work now, e.g. after a commit that
// published events.
func (b *Bus) Wake() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func known(set map[string]bool) string {
	return strings.Join(slices.Sorted(maps.Keys(set)), ", ")
}
