// Package natsbus is the bus's transport over NATS JetStream, for several
// shopbus instances that share one PostgreSQL database: each committed
// event is published to the stream SHOPBUS_EVENTS, and each claimed
// delivery is handed over through the work-queue stream
// SHOPBUS_DELIVERIES, where every instance consumes every target through
// one durable consumer per target. So a delivery claimed by one instance
// may be handled by another, and a hand-over held by an instance that
// dies goes, after AckWait, to the next.
//
// A hand-over is acknowledged only once the delivery's outcome is
// committed in the database (done, or a failure recorded for a retry or
// the dead letters): the database schedules retries, not JetStream.
package natsbus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shopbus/shopbus/bus"
)

// The streams, and the subjects they hold.
const (
	EventsStream       = "SHOPBUS_EVENTS"
	EventsSubject      = "shopbus.events." // + the detail-type, subject-safe
	DeliveriesStream   = "SHOPBUS_DELIVERIES"
	DeliveriesSubject  = "shopbus.deliveries." // + the target, subject-safe
	ConsumerNamePrefix = "shopbus-"            // + the target, subject-safe
)

// Options tune the transport.
type Options struct {
	// Workers bounds the hand-overs waiting in the deliveries stream or
	// being handled, and those this instance handles at once (default 128,
	// as the bus's delivery.workers).
	Workers int
	// AckWait is how long a hand-over taken by an instance that went
	// silent waits before another instance is given it (default 10s, the
	// bus's lease). Handlers that run longer tell JetStream they are
	// still at work.
	AckWait time.Duration
	// EventRetention is how long the events stream keeps an event
	// (default 30 days, as the outbox table).
	EventRetention time.Duration
	// Log is where failures of the transport itself are logged.
	Log *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Workers <= 0 {
		o.Workers = 128
	}
	if o.AckWait <= 0 {
		o.AckWait = 10 * time.Second
	}
	if o.EventRetention <= 0 {
		o.EventRetention = 30 * 24 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

const (
	// dedupeWindow is how long JetStream remembers a message id: an event
	// published again, or a hand-over again for the same attempt, within
	// it is dropped.
	dedupeWindow = 2 * time.Minute
	// handoverAge bounds how long a hand-over waits in the stream. The
	// database still knows the delivery is due and hands it over again.
	handoverAge = 24 * time.Hour
	// retryDelay is how long a hand-over that could not be worked (the
	// database did not answer, or this instance is working it already)
	// waits before JetStream offers it again.
	retryDelay = time.Second
	// opTimeout bounds a request to JetStream made without a caller's context.
	opTimeout = 10 * time.Second
	// roomTimeout bounds the question of how full the deliveries stream is.
	roomTimeout = time.Second
	// flushTimeout bounds the wait for the last acks to leave at Close.
	flushTimeout = 2 * time.Second
)

// errDisconnected fails a call at once while the client reconnects, rather
// than after a request's timeout: the bus tries again at its next round.
var errDisconnected = errors.New("natsbus: not connected to NATS (reconnecting)")

// Transport is a bus.Transport over JetStream.
type Transport struct {
	nc         *nats.Conn
	ownConn    bool
	js         jetstream.JetStream
	deliveries jetstream.Stream
	opts       Options

	// slots holds a token per hand-over being handled here: Workers at most.
	slots   chan struct{}
	closing chan struct{}
	mu      sync.Mutex
	iters   []jetstream.MessagesContext
	loops   sync.WaitGroup
	work    sync.WaitGroup
	closed  bool
}

var _ bus.Transport = (*Transport)(nil)

// Dial connects to the NATS server at url (a comma-separated list for a
// cluster) and returns a transport that owns the connection. It creates
// the streams that do not exist yet; streams an operator created (with
// replicas, say) are used as they are.
func Dial(ctx context.Context, url string, opts Options) (*Transport, error) {
	nc, err := nats.Connect(url, nats.Name("shopbus"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect to %s: %w", redact(url), err)
	}
	t, err := New(ctx, nc, opts)
	if err != nil {
		nc.Close()
		return nil, err
	}
	t.ownConn = true
	t.opts.Log.Info("natsbus: connected", "server", nc.ConnectedUrlRedacted(), "events", EventsStream, "deliveries", DeliveriesStream)
	return t, nil
}

// New returns a transport over nc, which the caller keeps and closes after
// the transport's Close.
func New(ctx context.Context, nc *nats.Conn, opts Options) (*Transport, error) {
	opts.setDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	_, err = ensureStream(ctx, js, jetstream.StreamConfig{
		Name:        EventsStream,
		Description: "shopbus: every committed event, by detail-type",
		Subjects:    []string{EventsSubject + ">"},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      opts.EventRetention,
		Storage:     jetstream.FileStorage,
		Duplicates:  dedupeWindow,
	})
	if err != nil {
		return nil, err
	}
	deliveries, err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name:        DeliveriesStream,
		Description: "shopbus: deliveries handed over to their target's handlers, by target",
		Subjects:    []string{DeliveriesSubject + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		MaxAge:      handoverAge,
		Storage:     jetstream.FileStorage,
		Duplicates:  dedupeWindow,
	})
	if err != nil {
		return nil, err
	}
	return &Transport{nc: nc, js: js, deliveries: deliveries, opts: opts,
		slots: make(chan struct{}, opts.Workers), closing: make(chan struct{})}, nil
}

// ensureStream creates the stream unless it exists, and checks that an
// existing one keeps messages as shopbus needs.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another instance was quicker
			s, err = js.Stream(ctx, cfg.Name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("natsbus: stream %s: %w", cfg.Name, err)
	}
	if got := s.CachedInfo().Config.Retention; got != cfg.Retention {
		return nil, fmt.Errorf("natsbus: stream %s exists with %s retention; shopbus needs %s", cfg.Name, got, cfg.Retention)
	}
	return s, nil
}

// Shared is true: a hand-over may reach any instance.
func (*Transport) Shared() bool { return true }

// Publish publishes the events to the events stream, each on the subject
// of its detail-type with its id as Nats-Msg-Id, and waits until the
// stream has stored them all.
func (t *Transport) Publish(ctx context.Context, events []bus.OutboxEvent) error {
	if !t.nc.IsConnected() {
		return errDisconnected
	}
	acks := make([]jetstream.PubAckFuture, 0, len(events))
	for _, ev := range events {
		msg := &nats.Msg{Subject: EventsSubject + subjectToken(ev.DetailType), Data: ev.Body, Header: nats.Header{}}
		msg.Header.Set("Shopbus-Source", ev.Source)
		ack, err := t.js.PublishMsgAsync(msg, jetstream.WithMsgID(ev.ID), jetstream.WithExpectStream(EventsStream))
		if err != nil {
			return fmt.Errorf("natsbus: publish event %s: %w", ev.ID, err)
		}
		acks = append(acks, ack)
	}
	for _, ack := range acks {
		select {
		case <-ack.Ok():
		case err := <-ack.Err():
			return fmt.Errorf("natsbus: publish event %s: %w", ack.Msg().Header.Get(jetstream.MsgIDHeader), err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Room is Workers less the hand-overs in the deliveries stream, which
// every instance's dispatcher fills: so a hand-over rarely waits longer
// than a lease to be started.
func (t *Transport) Room(ctx context.Context) (int, error) {
	if !t.nc.IsConnected() {
		return 0, errDisconnected
	}
	// Short: a request lost as the connection drops must not hold up the
	// dispatcher's round for JetStream's default of 5 s.
	ctx, cancel := context.WithTimeout(ctx, roomTimeout)
	defer cancel()
	info, err := t.deliveries.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("natsbus: stream %s: %w", DeliveriesStream, err)
	}
	return t.opts.Workers - int(min(info.State.Msgs, uint64(t.opts.Workers))), nil
}

// Deliver publishes h to its target's subject, with h.Key as Nats-Msg-Id.
func (t *Transport) Deliver(ctx context.Context, h bus.Handover) error {
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: DeliveriesSubject + targetToken(h.Target), Data: data}
	if _, err := t.js.PublishMsg(ctx, msg, jetstream.WithMsgID(h.Key), jetstream.WithExpectStream(DeliveriesStream)); err != nil {
		return fmt.Errorf("natsbus: hand over delivery %d: %w", h.ID, err)
	}
	return nil
}

// Consume takes target's hand-overs through its durable consumer, which
// every instance shares, and runs fn on each, as many at once as there
// are free workers.
func (t *Transport) Consume(target string, fn func(bus.Handover) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cons, err := t.js.CreateOrUpdateConsumer(ctx, DeliveriesStream, ConsumerConfig(target, t.opts.AckWait))
	if err != nil {
		return fmt.Errorf("natsbus: consumer for %s: %w", target, err)
	}
	// One hand-over at a time from the server: one waiting here has its
	// AckWait running while it waits for a worker.
	it, err := cons.Messages(jetstream.PullMaxMessages(1))
	if err != nil {
		return fmt.Errorf("natsbus: consume %s: %w", target, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		it.Stop()
		return errors.New("natsbus: transport closed")
	}
	t.iters = append(t.iters, it)
	t.loops.Go(func() { t.take(target, it, fn) })
	return nil
}

// ConsumerConfig is the durable consumer of target's hand-overs that
// every instance shares: each hand-over goes to one of them, and comes
// back after ackWait unless acknowledged (or said to be still at work).
func ConsumerConfig(target string, ackWait time.Duration) jetstream.ConsumerConfig {
	token := targetToken(target)
	return jetstream.ConsumerConfig{
		Durable:       ConsumerNamePrefix + token,
		Description:   "shopbus: deliveries to " + target,
		FilterSubject: DeliveriesSubject + token,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1, // the database gives up on a delivery, not JetStream
	}
}

// take hands target's hand-overs to workers until the iterator is closed:
// after Close drains it, what it still holds is handled too.
func (t *Transport) take(target string, it jetstream.MessagesContext, fn func(bus.Handover) error) {
	for {
		t.slots <- struct{}{} // a worker is free: the handlers in flight end, even at Close
		msg, err := it.Next()
		if err != nil {
			<-t.slots
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || t.nc.IsClosed() {
				return
			}
			t.opts.Log.Warn("natsbus: receive hand-over", "target", target, "err", err)
			select {
			case <-time.After(retryDelay):
			case <-t.closing:
			}
			continue
		}
		t.work.Go(func() {
			defer func() { <-t.slots }()
			t.run(msg, fn)
		})
	}
}

// run works one hand-over and acknowledges it once fn says its outcome is
// recorded; otherwise JetStream offers it again after retryDelay.
func (t *Transport) run(msg jetstream.Msg, fn func(bus.Handover) error) {
	var h bus.Handover
	if err := json.Unmarshal(msg.Data(), &h); err != nil {
		t.opts.Log.Error("natsbus: a hand-over that is not one", "subject", msg.Subject(), "err", err)
		_ = msg.TermWithReason("not a shopbus hand-over")
		return
	}
	// While the handler runs (a webhook may take its whole timeout),
	// JetStream is told the hand-over is still at work, so it does not give
	// it to another instance.
	done := make(chan struct{})
	var beat sync.WaitGroup
	beat.Go(func() {
		tick := time.NewTicker(t.opts.AckWait / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = msg.InProgress()
			}
		}
	})
	err := fn(h)
	close(done)
	beat.Wait()
	if err != nil {
		_ = msg.NakWithDelay(retryDelay)
		return
	}
	// A lost ack only brings the hand-over back, stale: the handler then
	// finds its attempt recorded and does nothing.
	if err := msg.Ack(); err != nil {
		t.opts.Log.Warn("natsbus: acknowledge hand-over", "delivery_id", h.ID, "err", err)
	}
}

// Close stops taking hand-overs, waits for those in flight to finish and
// be acknowledged, and closes the connection if Dial opened it.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.closing)
	// Drained, an iterator hands out what it holds, then ends; without a
	// connection nothing can be acknowledged, so it stops at once (what it
	// held comes back to another instance after AckWait).
	connected := t.nc.IsConnected()
	for _, it := range t.iters {
		if connected {
			it.Drain()
		} else {
			it.Stop()
		}
	}
	t.mu.Unlock()
	t.loops.Wait()
	t.work.Wait()
	if t.nc.IsConnected() {
		// The last acks. One that does not reach the server only brings its
		// hand-over back, stale, to another instance.
		if err := t.nc.FlushTimeout(flushTimeout); err != nil {
			t.opts.Log.Warn("natsbus: flush the last acknowledgements", "err", err)
		}
	}
	if t.ownConn {
		t.nc.Close()
	}
	return nil
}

// subjectToken makes s one subject token: spaces, dots and wildcards
// become underscores ("Order State Change" is Order_State_Change).
func subjectToken(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}

// targetToken names a target in a subject and a consumer name: the name
// itself when it is safe there (as every module's is), else its safe
// form and a hash of it, so two targets never share a consumer.
func targetToken(target string) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, target)
	if safe == target && target != "" {
		return target
	}
	sum := sha256.Sum256([]byte(target))
	return safe + "-" + hex.EncodeToString(sum[:4])
}

// redact leaves any password out of a server URL, for messages.
func redact(url string) string {
	if at := strings.LastIndex(url, "@"); at >= 0 {
		if scheme := strings.Index(url, "://"); scheme >= 0 && scheme < at {
			return url[:scheme+3] + "…" + url[at:]
		}
	}
	return url
}
