package bus

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asaskevich/EventBus"
)

// Transport carries hand-overs, each one attempt of one delivery, from
// the dispatcher that claimed the delivery to a handler of its target,
// and publishes committed events for whoever else listens. The built-in
// one stays in this process (asaskevich/EventBus); bus/natsbus carries
// both over NATS JetStream, so that every instance shares the work of
// every target.
//
// The database stays the source of truth either way: a delivery is done
// when its row says so, retries are scheduled in it, and a hand-over the
// transport lost is claimed and handed over again once its lease ends.
type Transport interface {
	// Publish hands a batch of committed events to the transport's log and
	// returns once the log holds them all. The routing transaction commits
	// after it, so after a crash an event may be published again, never
	// lost: a log drops a repeat by the event's id.
	Publish(ctx context.Context, events []OutboxEvent) error
	// Room reports how many more hand-overs the transport takes now.
	Room(ctx context.Context) (int, error)
	// Deliver hands h over and returns once the transport holds it. A
	// transport may drop a second hand-over with the same Key.
	Deliver(ctx context.Context, h Handover) error
	// Consume calls fn for each hand-over to target until Close, several
	// at once. fn returns nil once the delivery's outcome is recorded, or
	// the hand-over proved stale: the transport then forgets it. An error
	// means neither happened, and the transport may offer it again.
	Consume(target string, fn func(Handover) error) error
	// Close stops consuming, waits for the calls of fn in flight, and
	// lets go of what the transport holds.
	Close() error
	// Shared reports whether a hand-over may reach another instance than
	// the one that claimed its delivery. Then the attempt it names, not
	// the claimer's lease, tells a handler whether it is still due.
	Shared() bool
}

// Handover is what a transport carries: one attempt of one delivery.
type Handover struct {
	ID     int64  `json:"id"`
	Rule   string `json:"rule"`
	Target string `json:"target"`
	// Attempt counts from 1: the delivery's recorded attempts, plus one.
	Attempt int `json:"attempt"`
	// Key names this attempt of this series of attempts (a redrive starts
	// a new series), so a transport can drop a repeat of the hand-over
	// while it still holds the first.
	Key string `json:"key"`
}

func handover(id int64, rule, target string, attempts int, started time.Time) Handover {
	key := strconv.FormatInt(id, 10) + "." + strconv.Itoa(attempts+1) + "." + strconv.FormatInt(started.UnixMilli(), 10)
	return Handover{ID: id, Rule: rule, Target: target, Attempt: attempts + 1, Key: key}
}

// OutboxEvent is a committed event as the outbox holds it.
type OutboxEvent struct {
	ID         string
	Source     string
	DetailType string
	// Body is the whole EventBridge envelope, as JSON.
	Body []byte
}

// inproc is the built-in transport: hand-overs go, through
// asaskevich/EventBus, to this process's handlers, and events are logged
// only in the outbox table. Instances that share a database each handle
// what they claimed.
type inproc struct {
	events  EventBus.Bus
	workers int
	// pending counts hand-overs published and not yet handled.
	pending atomic.Int64
}

func newInproc(workers int) *inproc { return &inproc{events: EventBus.New(), workers: workers} }

func topic(target string) string { return "deliver:" + target }

func (*inproc) Shared() bool { return false }

func (*inproc) Publish(context.Context, []OutboxEvent) error { return nil }

func (p *inproc) Room(context.Context) (int, error) { return p.workers - int(p.pending.Load()), nil }

func (p *inproc) Deliver(_ context.Context, h Handover) error {
	if !p.events.HasCallback(topic(h.Target)) {
		return fmt.Errorf("bus: nothing consumes %q", h.Target)
	}
	p.pending.Add(1)
	p.events.Publish(topic(h.Target), h)
	return nil
}

func (p *inproc) Consume(target string, fn func(Handover) error) error {
	if p.events.HasCallback(topic(target)) {
		return nil // a bus that runs again consumes what it did
	}
	// SubscribeAsync only: EventBus holds its lock while a synchronous
	// handler runs, so a handler that published would deadlock.
	return p.events.SubscribeAsync(topic(target), func(h Handover) {
		defer p.pending.Add(-1)
		// An error leaves the delivery to its lease: once that ends, the
		// delivery is claimed and handed over again.
		_ = fn(h)
	}, false)
}

func (p *inproc) Close() error {
	p.events.WaitAsync()
	return nil
}
