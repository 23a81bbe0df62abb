package bus

import (
	"context"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
)

// lagSource is a LagSource with a fixed answer.
type lagSource time.Duration

func (l lagSource) Lag(context.Context, time.Time) (time.Duration, error) {
	return time.Duration(l), nil
}

// TestLag: the lag is the age of the oldest unrouted event, or how long
// the longest-due delivery a claim would take has waited; one waiting
// behind its order's earlier delivery does not count, nor one a worker
// holds.
func TestLag(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	b := routingBus(t, db, []RuleConfig{checkoutRule("all", detailTarget("shipping"))})
	ctx := context.Background()
	lagAt := func(now time.Time) time.Duration {
		t.Helper()
		lag, err := b.Records.Lag(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		return lag
	}
	start := time.Now().UTC()
	if lag := lagAt(start); lag != 0 {
		t.Fatalf("lag of an empty outbox %v, want 0", lag)
	}
	cancelled := newOrder("ord_1")
	cancelled.State = "order_cancelled"
	publish(t, db, b, newOrder("ord_1"), cancelled)
	if lag := lagAt(start.Add(time.Minute)); lag < 59*time.Second || lag > time.Minute {
		t.Errorf("a minute after publishing, lag %v, want the unrouted event's age", lag)
	}

	// Routed: both deliveries pending, the cancellation behind the creation.
	for range 2 { // an order's events are routed one round at a time
		if err := b.route(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var rows []deliveryRow
	if err := db.Order("id").Find(&rows).Error; err != nil || len(rows) != 2 {
		t.Fatalf("deliveries %+v (%v)", rows, err)
	}
	setDue := func(id int64, due time.Time, leased *time.Time) {
		t.Helper()
		err := db.Model(&deliveryRow{}).Where("id = ?", id).Updates(map[string]any{"next_attempt_at": due, "lease_until": leased}).Error
		if err != nil {
			t.Fatal(err)
		}
	}
	now := start.Add(time.Hour)
	setDue(rows[0].ID, now.Add(-10*time.Second), nil)
	// The cancellation is due longer, but waits behind the creation.
	setDue(rows[1].ID, now.Add(-30*time.Second), nil)
	// Rounded: PostgreSQL keeps microseconds.
	if lag := lagAt(now).Round(time.Millisecond); lag != 10*time.Second {
		t.Errorf("lag %v, want 10s: the creation's wait, not the waiting cancellation's", lag)
	}
	until := now.Add(time.Second)
	setDue(rows[0].ID, now.Add(-10*time.Second), &until)
	if lag := lagAt(now); lag != 0 {
		t.Errorf("lag %v with the due delivery leased to a worker, want 0", lag)
	}
}

// TestBehind: past MaxLag the bus says it is behind, with how long to
// wait; without MaxLag it never is. Run measures the lag, sources
// included, and tells the observer.
func TestBehind(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	obs := &lagObserver{seen: make(chan time.Duration, 100)}
	b := New(Deps{DB: db, Log: testLogger(t), Observer: obs, LagSources: []LagSource{lagSource(3500 * time.Millisecond)}},
		nil, Options{MaxLag: 2 * time.Second, PollInterval: 10 * time.Millisecond})
	if _, behind := b.Behind(); behind {
		t.Fatal("behind before any measure")
	}
	runBus(t, b)
	bustest.WaitFor(t, "the lag measured", func() bool { return b.Lag() == 3500*time.Millisecond })
	if wait, behind := b.Behind(); !behind || wait != 2*time.Second {
		t.Errorf("Behind() = %v, %v; want 2s (1.5s past the bound, rounded up), true", wait, behind)
	}
	select {
	case lag := <-obs.seen:
		if lag != 3500*time.Millisecond {
			t.Errorf("observer told %v", lag)
		}
	case <-time.After(5 * time.Second):
		t.Error("observer not told the lag")
	}

	unbounded := New(Deps{DB: db, Log: testLogger(t), LagSources: []LagSource{lagSource(time.Hour)}}, nil, Options{})
	runBus(t, unbounded)
	bustest.WaitFor(t, "the lag measured", func() bool { return unbounded.Lag() == time.Hour })
	if _, behind := unbounded.Behind(); behind {
		t.Error("a bus without max_lag is behind")
	}
	if err := (Options{MaxLag: -time.Second}).Validate(); err == nil {
		t.Error("a negative max_lag passed Validate")
	}
}

// TestBehindShedsAShareBeforeTheBound: from half of MaxLag on, Behind
// refuses a share of the calls that grows with the lag, evenly spread, so
// the shop sheds load before its lag reaches the bound: none at half the
// bound, half of them at three quarters, all of them past it.
func TestBehindShedsAShareBeforeTheBound(t *testing.T) {
	b := New(Deps{DB: dbtest.Open(t, Migrations), Log: testLogger(t)}, nil, Options{MaxLag: 2 * time.Second})
	for _, tt := range []struct {
		lag     time.Duration
		refused int // of 100 calls
	}{
		{time.Second, 0},
		{1500 * time.Millisecond, 50},
		{1900 * time.Millisecond, 90},
		{2 * time.Second, 100},
		{2500 * time.Millisecond, 100},
	} {
		b.lag.set(tt.lag)
		refused, run := 0, 0
		for range 100 {
			wait, behind := b.Behind()
			if !behind {
				run = 0
				continue
			}
			refused++
			if run++; run > 1 && tt.refused <= 50 {
				t.Errorf("lag %v: two refusals in a row, want them spread", tt.lag)
			}
			if want := time.Second; tt.lag <= 2*time.Second && wait != want {
				t.Errorf("lag %v: wait %v, want %v", tt.lag, wait, want)
			}
		}
		if refused != tt.refused {
			t.Errorf("lag %v: refused %d of 100, want %d", tt.lag, refused, tt.refused)
		}
	}
}

type lagObserver struct {
	noObserver
	seen chan time.Duration
}

func (o *lagObserver) Lagged(lag time.Duration) {
	select {
	case o.seen <- lag:
	default:
	}
}
