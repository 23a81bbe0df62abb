package natsbus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/bus/natsbus"
	"github.com/shopbus/shopbus/bus/natsbus/natstest"
	"github.com/shopbus/shopbus/bus/transform"
	"github.com/shopbus/shopbus/bus/transporttest"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// ackWait is short in these tests, so a hand-over an instance took and
// never acknowledged comes back within a second.
const ackWait = time.Second

// TestInstancesShareTheOutbox: three instances on one database, each
// handing over what it claims through one JetStream, from which any of
// them may take it.
func TestInstancesShareTheOutbox(t *testing.T) {
	srv := natstest.Start(t)
	transporttest.InstancesShareTheOutbox(t, func(t *testing.T) bus.Transport {
		tr, err := natsbus.Dial(context.Background(), srv.ClientURL(), natsbus.Options{AckWait: ackWait, Log: transporttest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	})
}

// shop is a database with the bus's tables and a table the handlers
// write their work to, shared by the instances of a test.
type shop struct {
	t   *testing.T
	cfg database.Config
	db  *gorm.DB
	srv *server.Server

	mu    sync.Mutex
	calls map[string]int // instance -> handler calls that did the work
	// failFirst fails each delivery's first attempt, which the routing
	// transaction makes: its retry is claimed and handed over through
	// JetStream, the path the test exercises. By attempt, not by call: a
	// routing unit whose handler failed is rolled back before its failure
	// is recorded, and another instance may route the event meanwhile; its
	// call is a first attempt too, and must not do the work in-line.
	failFirst bool
}

type work struct {
	DeliveryID int64
	Instance   string
}

func newShop(t *testing.T) *shop {
	t.Helper()
	srv := natstest.Start(t)
	cfg := dbtest.Config(t)
	db := dbtest.Connect(t, cfg)
	step := database.Migration{ID: "test-work", SQL: []string{
		`CREATE TABLE work (delivery_id BIGINT NOT NULL UNIQUE, instance TEXT NOT NULL)`}}
	if _, err := database.Migrate(context.Background(), db, append(bus.Migrations, step)); err != nil {
		t.Fatal(err)
	}
	return &shop{t: t, cfg: cfg, db: db, srv: srv, calls: map[string]int{}}
}

// connect opens a connection of the test's own to the server, closed when
// the test ends (after the buses using it stopped).
func (s *shop) connect() *nats.Conn {
	s.t.Helper()
	nc, err := nats.Connect(s.srv.ClientURL())
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(nc.Close)
	return nc
}

// instance starts a bus over nc that sends orders to "shipping", whose
// handler records its work in the delivery's transaction, then calls
// after (if set).
func (s *shop) instance(name string, nc *nats.Conn, after func()) *bus.Bus {
	s.t.Helper()
	tr, err := natsbus.New(context.Background(), nc, natsbus.Options{AckWait: ackWait, Log: transporttest.Logger(s.t)})
	if err != nil {
		s.t.Fatal(err)
	}
	return s.instanceOver(name, tr, after)
}

// instanceOver is instance over a transport of the caller's.
func (s *shop) instanceOver(name string, tr bus.Transport, after func()) *bus.Bus {
	s.t.Helper()
	rule := bus.RuleConfig{Name: "shipments", Pattern: map[string]any{"source": []any{"shopbus.checkout"}},
		Targets: []bus.TargetConfig{{Module: "shipping", Spec: transform.Spec{InputPath: "$.detail"}}}}
	b := bus.New(bus.Deps{DB: dbtest.Connect(s.t, s.cfg), Log: transporttest.Logger(s.t), Transport: tr},
		[]bus.RuleConfig{rule}, transporttest.Options())
	bus.Subscribe(b, "shipping", func(ctx context.Context, d bus.Delivery[transporttest.Order]) error {
		if s.failFirst && d.Attempt == 1 {
			return errors.New("the first attempt fails, so that the retry is handed over")
		}
		s.mu.Lock()
		s.calls[name]++
		s.mu.Unlock()
		if err := d.Tx.Table("work").Create(&work{DeliveryID: d.ID, Instance: name}).Error; err != nil {
			return err
		}
		if after != nil {
			after()
		}
		return nil
	})
	if err := b.Start(); err != nil {
		s.t.Fatal(err)
	}
	bustest.Run(s.t, b.Run)
	return b
}

// publish writes an order's creation to the outbox.
func (s *shop) publish(b *bus.Bus, orderID string) bus.Event {
	s.t.Helper()
	var ev bus.Event
	err := s.db.Transaction(func(tx *gorm.DB) (err error) {
		ev, err = bus.Publish(context.Background(), tx, transporttest.Order{OrderID: orderID, State: "new_order_created"})
		return err
	})
	if err != nil {
		s.t.Fatal(err)
	}
	b.Wake()
	return ev
}

func (s *shop) delivery(orderID string) bus.DeliveryStatus {
	s.t.Helper()
	var d bus.DeliveryStatus
	if err := s.db.Raw("SELECT status, attempts FROM bus_deliveries WHERE order_id = ?", orderID).Scan(&d).Error; err != nil {
		s.t.Fatal(err)
	}
	return d
}

func (s *shop) handlerCalls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

func (s *shop) work() []work {
	s.t.Helper()
	var ws []work
	if err := s.db.Table("work").Find(&ws).Error; err != nil {
		s.t.Fatal(err)
	}
	return ws
}

// handovers counts the hand-overs in the deliveries stream: taken and not
// acknowledged, or waiting.
func (s *shop) handovers() uint64 {
	s.t.Helper()
	js, err := jetstream.New(s.connect())
	if err != nil {
		s.t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), natsbus.DeliveriesStream)
	if err != nil {
		s.t.Fatal(err)
	}
	return st.CachedInfo().State.Msgs
}

// TestHandoverOfADeadInstanceGoesToAnother: an instance takes a hand-over
// (the retry of a delivery whose first attempt, in the routing
// transaction, failed) and dies before it does anything with it; after
// AckWait JetStream gives it to another instance, which does the work,
// once.
func TestHandoverOfADeadInstanceGoesToAnother(t *testing.T) {
	s := newShop(t)
	s.failFirst = true
	ctx := context.Background()
	dead := s.connect()
	if _, err := natsbus.New(ctx, dead, natsbus.Options{AckWait: ackWait}); err != nil { // the streams
		t.Fatal(err)
	}
	js, err := jetstream.New(dead)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, natsbus.DeliveriesStream, natsbus.ConsumerConfig("shipping", ackWait))
	if err != nil {
		t.Fatal(err)
	}
	// The dying instance asks for a hand-over before the others do, so
	// JetStream gives it the first.
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	bustest.WaitFor(t, "the pull request to wait at the server", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumWaiting == 1
	})

	b := s.instance("instance-1", s.connect(), nil)
	s.instance("instance-2", s.connect(), nil)
	s.publish(b, "ord_1")

	var taken jetstream.Msg
	select {
	case taken = <-batch.Messages():
	case <-time.After(10 * time.Second):
		t.Fatal("the dying instance was not handed the delivery")
	}
	var h bus.Handover
	if err := json.Unmarshal(taken.Data(), &h); err != nil || h.Target != "shipping" || h.Attempt != 2 {
		t.Fatalf("hand-over %s (%v), want shipping's second attempt", taken.Data(), err)
	}
	if got := taken.Headers().Get(jetstream.MsgIDHeader); got != h.Key || got == "" {
		t.Errorf("Nats-Msg-Id %q, want the hand-over's key %q", got, h.Key)
	}
	time.Sleep(ackWait / 2)
	if calls := s.handlerCalls(); len(calls) != 0 {
		t.Fatalf("handled %v while the other instance held the hand-over", calls)
	}
	dead.Close() // no ack, ever

	bustest.WaitFor(t, "the delivery to be done", func() bool { return s.delivery("ord_1").Status == bus.StatusDone })
	if d := s.delivery("ord_1"); d.Attempts != 2 {
		t.Errorf("%d attempts, want 2 (the failed one and the hand-over's)", d.Attempts)
	}
	if ws := s.work(); len(ws) != 1 {
		t.Errorf("work %+v, want one unit", ws)
	}
	bustest.WaitFor(t, "the hand-over to be acknowledged", func() bool { return s.handovers() == 0 })
	t.Logf("handler calls: %v", s.handlerCalls())
}

// TestAckLostAfterCommit: an instance commits a handed-over delivery's
// work and loses its connection before its ack reaches JetStream; the
// hand-over comes back to another instance, which finds the delivery done
// and only acknowledges it.
func TestAckLostAfterCommit(t *testing.T) {
	s := newShop(t)
	s.failFirst = true
	first := s.connect()
	var once sync.Once
	b := s.instance("instance-1", first, func() {
		// Still inside the transaction, which commits after this.
		once.Do(first.Close)
	})
	s.publish(b, "ord_1")
	bustest.WaitFor(t, "the delivery to be done", func() bool { return s.delivery("ord_1").Status == bus.StatusDone })
	if n := s.handovers(); n != 1 {
		t.Fatalf("%d hand-overs in the stream after the ack was lost, want 1", n)
	}

	s.instance("instance-2", s.connect(), nil)
	bustest.WaitFor(t, "the hand-over to be acknowledged by the other instance", func() bool { return s.handovers() == 0 })
	if calls := s.handlerCalls(); calls["instance-1"] != 1 || calls["instance-2"] != 0 {
		t.Errorf("handler calls %v, want one, by instance-1", calls)
	}
	if d := s.delivery("ord_1"); d.Status != bus.StatusDone || d.Attempts != 2 {
		t.Errorf("delivery %+v, want done after 2 attempts (the failed one and the hand-over's)", d)
	}
	if ws := s.work(); len(ws) != 1 {
		t.Errorf("work %+v, want one unit", ws)
	}
}

// TestStopDrainsInFlight: a bus that stops lets its handler in flight
// finish, commit and acknowledge before Run returns.
func TestStopDrainsInFlight(t *testing.T) {
	s := newShop(t)
	rule := bus.RuleConfig{Name: "shipments", Pattern: map[string]any{"source": []any{"shopbus.checkout"}},
		Targets: []bus.TargetConfig{{Module: "shipping", Spec: transform.Spec{InputPath: "$.detail"}}}}
	tr, err := natsbus.New(context.Background(), s.connect(), natsbus.Options{AckWait: ackWait})
	if err != nil {
		t.Fatal(err)
	}
	b := bus.New(bus.Deps{DB: s.db, Log: transporttest.Logger(t), Transport: tr}, []bus.RuleConfig{rule}, transporttest.Options())
	started, stopping := make(chan struct{}), make(chan struct{})
	bus.Subscribe(b, "shipping", func(ctx context.Context, d bus.Delivery[transporttest.Order]) error {
		close(started)
		<-stopping
		time.Sleep(50 * time.Millisecond) // slow work, so a Run that did not wait would return first
		return d.Tx.Table("work").Create(&work{DeliveryID: d.ID, Instance: "one"}).Error
	})
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- b.Run(ctx) }()
	s.publish(b, "ord_1")
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("handler not called")
	}
	cancel()
	close(stopping)
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if d := s.delivery("ord_1"); d.Status != bus.StatusDone {
		t.Errorf("after Run returned the delivery is %+v, want done", d)
	}
	if n := s.handovers(); n != 0 {
		t.Errorf("%d hand-overs left in the stream, want it acknowledged before Run returned", n)
	}
}

// TestEventsArePublished: each routed event is in the events stream once,
// on its detail-type's subject with its id as Nats-Msg-Id, even when
// published again.
func TestEventsArePublished(t *testing.T) {
	s := newShop(t)
	b := s.instance("instance-1", s.connect(), nil)
	var events []bus.Event
	for i := range 3 {
		events = append(events, s.publish(b, fmt.Sprintf("ord_%d", i)))
	}
	bustest.WaitFor(t, "every delivery done", func() bool {
		for i := range 3 {
			if s.delivery(fmt.Sprintf("ord_%d", i)).Status != bus.StatusDone {
				return false
			}
		}
		return true
	})

	ctx := context.Background()
	nc := s.connect()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, natsbus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != 3 {
			t.Fatalf("%d events in the stream, want 3", info.State.Msgs)
		}
		for i, ev := range events {
			m, err := stream.GetMsg(ctx, uint64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			var got bus.Event
			if err := json.Unmarshal(m.Data, &got); err != nil {
				t.Fatal(err)
			}
			if m.Subject != "shopbus.events.Order_State_Change" || m.Header.Get(jetstream.MsgIDHeader) != ev.ID || got.ID != ev.ID {
				t.Errorf("message %d: subject %s, Nats-Msg-Id %q, event %s; want event %s on shopbus.events.Order_State_Change",
					i+1, m.Subject, m.Header.Get(jetstream.MsgIDHeader), got.ID, ev.ID)
			}
		}
	}
	check()

	// A crash between publishing and marking the events routed publishes
	// them again: the stream drops the repeats.
	tr, err := natsbus.New(ctx, nc, natsbus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var again []bus.OutboxEvent
	for _, ev := range events {
		body, _ := json.Marshal(ev)
		again = append(again, bus.OutboxEvent{ID: ev.ID, Source: ev.Source, DetailType: ev.DetailType, Body: body})
	}
	if err := tr.Publish(ctx, again); err != nil {
		t.Fatal(err)
	}
	check()
}

// TestDialRefused: no server at the URL is an error at once, naming it.
func TestDialRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := natsbus.Dial(ctx, "nats://user:secret@127.0.0.1:1", natsbus.Options{})
	if err == nil {
		t.Fatal("Dial succeeded with no server")
	}
	if msg := err.Error(); !strings.Contains(msg, "127.0.0.1:1") || strings.Contains(msg, "secret") {
		t.Errorf("error %q should name the server and not its password", msg)
	}
}

// TestNATSRestart: while the NATS server is down, orders wait in the
// database; once it is back (with its storage), routing and hand-overs
// resume by themselves.
func TestNATSRestart(t *testing.T) {
	s := newShop(t)
	store := t.TempDir()
	first := natstest.StartAt(t, store, 0)
	port := first.Addr().(*net.TCPAddr).Port
	tr, err := natsbus.Dial(context.Background(), first.ClientURL(), natsbus.Options{AckWait: ackWait, Log: transporttest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	b := s.instanceOver("instance-1", tr, nil)
	s.publish(b, "ord_1")
	bustest.WaitFor(t, "the first order's delivery", func() bool { return s.delivery("ord_1").Status == bus.StatusDone })

	first.Shutdown()
	first.WaitForShutdown()
	s.publish(b, "ord_2")
	time.Sleep(500 * time.Millisecond) // the bus tries, and fails, meanwhile
	if d := s.delivery("ord_2"); d.Status == bus.StatusDone {
		t.Fatal("delivered with no NATS server")
	}
	// Registered last, this server stops first when the test ends, before
	// the bus: its Close must not wait for a server that is gone.
	natstest.StartAt(t, store, port)
	waitLong(t, "the second order's delivery after the restart", func() bool { return s.delivery("ord_2").Status == bus.StatusDone })
	if ws := s.work(); len(ws) != 2 {
		t.Errorf("work %+v, want one unit per order", ws)
	}
}

// waitLong is bustest.WaitFor with room for a client's reconnect.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
