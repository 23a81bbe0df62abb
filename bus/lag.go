package bus

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// LagSource is work outside the bus that the shop's lag counts, such as
// the emails waiting to be sent: it tells how long its oldest due item
// has waited at now (zero when nothing is due).
type LagSource interface {
	Lag(ctx context.Context, now time.Time) (time.Duration, error)
}

// lagEvery is how often Run measures the lag: often enough that refusals
// start and stop within a fraction of a second of the lag crossing the
// bound, rarely enough to cost nothing (three indexed reads, on SQLite's
// read-only connections).
const lagEvery = 200 * time.Millisecond

// Lag is how far behind the bus is at now: the age of the oldest committed
// event not yet routed, or how long the longest-due delivery that a claim
// would take has waited, whichever is longer. A delivery waiting behind an
// earlier one of its order, or leased to a worker, is not counted: it is
// not the bus's to take yet. It is read from the database, so it is the
// same whichever instance asks.
func (b *Records) Lag(ctx context.Context, now time.Time) (time.Duration, error) {
	db := b.db.WithContext(ctx)
	var oldest []time.Time
	err := db.Raw(`SELECT created_at FROM bus_events WHERE routed_at IS NULL ORDER BY seq LIMIT 1`).Scan(&oldest).Error
	if err != nil {
		return 0, err
	}
	var due []time.Time
	err = db.Raw(lagQuery, map[string]any{"now": now.UTC()}).Scan(&due).Error
	if err != nil {
		return 0, err
	}
	lag := time.Duration(0)
	for _, t := range append(oldest, due...) {
		lag = max(lag, now.Sub(t))
	}
	return lag, nil
}

// lagQuery finds when the longest-due delivery a claim would take (see
// dueQuery) became due.
const lagQuery = `SELECT d.next_attempt_at FROM bus_deliveries d ` + dueWhere + ` ORDER BY d.next_attempt_at LIMIT 1`

// lagGauge is the last lag measured, for Behind and the metrics.
type lagGauge struct{ ns atomic.Int64 }

func (g *lagGauge) set(d time.Duration) { g.ns.Store(int64(d)) }
func (g *lagGauge) get() time.Duration  { return time.Duration(g.ns.Load()) }

// Lag is the shop's lag as last measured by Run: the bus's own (see
// Records.Lag) or that of a source in Deps.LagSources, whichever is
// longer. It is zero until Run has measured it.
func (b *Bus) Lag() time.Duration { return b.lag.get() }

// Behind reports whether new work should be refused for the lag, and if
// so how long a client should wait before it tries again. Past
// Options.MaxLag all of it is, and the wait is how far past (new work
// accepted now would wait at least that long); from half of MaxLag on, a
// share that grows with the lag (none at half, all at MaxLag), spread
// evenly over the calls, with a wait of a second. Refusing only past the
// bound let the lag overshoot it: what was accepted while the lag climbed
// to the bound still had to be worked (measured at 1,000 orders/s
// offered, twice what the machine sustains: emails up to 4.8 s late and
// 2.2 s to drain with a 2 s bound). A bus without MaxLag is never behind.
func (b *Bus) Behind() (retryAfter time.Duration, behind bool) {
	lag, bound := b.Lag(), b.opts.MaxLag
	switch {
	case bound <= 0 || lag <= bound/2:
		return 0, false
	case lag > bound:
		return time.Duration(math.Ceil((lag - bound).Seconds())) * time.Second, true
	}
	if !b.shed.take(int64(lag-bound/2), int64(bound-bound/2)) {
		return 0, false
	}
	return time.Second, true
}

// shedder picks which calls to refuse when a share of them, part/whole,
// is to be: the parts accumulate call by call, and a call that makes a
// whole is refused, so that share of the calls is refused, evenly spread.
// (Integers: exactly that share, where float steps drift.)
type shedder struct {
	mu     sync.Mutex
	credit int64
}

func (s *shedder) take(part, whole int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credit += part
	if s.credit < whole {
		return false
	}
	s.credit = min(s.credit-whole, whole-1)
	return true
}

// watchLag measures the lag every lagEvery until ctx is done. A reading
// that fails keeps the last one: the database that cannot answer a read
// is not a reason to refuse or to accept.
func (b *Bus) watchLag(ctx context.Context) {
	t := time.NewTicker(lagEvery)
	defer t.Stop()
	for {
		now := time.Now().UTC()
		lag, err := b.Records.Lag(ctx, now)
		for _, src := range b.lagSources {
			if err != nil {
				break
			}
			var l time.Duration
			l, err = src.Lag(ctx, now)
			lag = max(lag, l)
		}
		switch {
		case err == nil:
			b.lag.set(lag)
			b.observer.Lagged(lag)
		case ctx.Err() == nil:
			b.log.Warn("bus: measure lag", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
