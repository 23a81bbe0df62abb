package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
)

func TestRetryLimits(t *testing.T) {
	fail := func(err error) func(*Bus, *atomic.Int32) {
		return func(b *Bus, calls *atomic.Int32) {
			Subscribe(b, "shipping", func(ctx context.Context, d Delivery[orderChange]) error {
				calls.Add(1)
				return err
			})
		}
	}
	for _, tc := range []struct {
		name         string
		retry        *Retry
		subscribe    func(b *Bus, calls *atomic.Int32)
		wantStatus   string
		wantAttempts int
		wantCalls    int32
		wantErr      string
	}{{
		name:         "the rule's max_attempts overrides the default",
		retry:        &Retry{MaxAttempts: 3},
		subscribe:    fail(errors.New("carrier down")),
		wantStatus:   StatusDead,
		wantAttempts: 3, wantCalls: 3, wantErr: "carrier down",
	}, {
		name:         "the default applies to a rule without retry",
		subscribe:    fail(errors.New("carrier down")),
		wantStatus:   StatusDead,
		wantAttempts: fastRetry.MaxAttempts, wantCalls: int32(fastRetry.MaxAttempts), wantErr: "carrier down",
	}, {
		name:         "max_age spent",
		retry:        &Retry{MaxAttempts: 1000, MaxAge: time.Nanosecond},
		subscribe:    fail(errors.New("carrier down")),
		wantStatus:   StatusDead,
		wantAttempts: 1, wantCalls: 1, wantErr: "carrier down",
	}, {
		name:         "a permanent error is not retried",
		retry:        &Retry{MaxAttempts: 10},
		subscribe:    fail(fmt.Errorf("ship: %w", Permanent(errors.New("no such country")))),
		wantStatus:   StatusDead,
		wantAttempts: 1, wantCalls: 1, wantErr: "no such country",
	}, {
		name:  "a payload that does not decode is not retried",
		retry: &Retry{MaxAttempts: 10},
		subscribe: func(b *Bus, calls *atomic.Int32) {
			Subscribe(b, "shipping", func(ctx context.Context, d Delivery[struct {
				OrderID int `json:"order_id"`
			}]) error {
				calls.Add(1)
				return nil
			})
		},
		wantStatus:   StatusDead,
		wantAttempts: 1, wantCalls: 0, wantErr: "decode payload for shipping",
	}, {
		name:  "a panicking handler fails and is retried",
		retry: &Retry{MaxAttempts: 2},
		subscribe: func(b *Bus, calls *atomic.Int32) {
			Subscribe(b, "shipping", func(ctx context.Context, d Delivery[orderChange]) error {
				calls.Add(1)
				panic("label printer on fire")
			})
		},
		wantStatus:   StatusDead,
		wantAttempts: 2, wantCalls: 2, wantErr: "handler panic: label printer on fire",
	}, {
		name:  "a handler that panicked once succeeds later",
		retry: &Retry{MaxAttempts: 2},
		subscribe: func(b *Bus, calls *atomic.Int32) {
			Subscribe(b, "shipping", func(ctx context.Context, d Delivery[orderChange]) error {
				calls.Add(1)
				if d.Attempt == 1 {
					panic("label printer on fire")
				}
				return nil
			})
		},
		wantStatus:   StatusDone,
		wantAttempts: 2, wantCalls: 2,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			db := dbtest.Open(t, Migrations)
			rule := checkoutRule("shipments", detailTarget("shipping"))
			rule.Retry = tc.retry
			b := newTestBus(t, db, []RuleConfig{rule})
			var calls atomic.Int32
			tc.subscribe(b, &calls)
			runBus(t, b)

			publish(t, db, b, newOrder("ord_1"))
			bustest.WaitFor(t, "a final status", func() bool {
				ds := deliveriesOf(t, b, "ord_1")
				return len(ds) == 1 && (ds[0].Status == StatusDone || ds[0].Status == StatusDead)
			})
			d := deliveriesOf(t, b, "ord_1")[0]
			if d.Status != tc.wantStatus || d.Attempts != tc.wantAttempts || !strings.Contains(d.LastError, tc.wantErr) {
				t.Errorf("delivery is %s after %d attempts with error %q; want %s after %d with %q",
					d.Status, d.Attempts, d.LastError, tc.wantStatus, tc.wantAttempts, tc.wantErr)
			}
			if tc.wantErr == "" && d.LastError != "" {
				t.Errorf("done delivery keeps error %q", d.LastError)
			}
			if n := calls.Load(); n != tc.wantCalls {
				t.Errorf("handler called %d times, want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestHandlerErrorWrappingRecordNotFoundIsRetried(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	rule := checkoutRule("shipments", detailTarget("shipping"))
	rule.Retry = &Retry{MaxAttempts: 3}
	b := newTestBus(t, db, []RuleConfig{rule})
	var calls atomic.Int32
	Subscribe(b, "shipping", func(ctx context.Context, d Delivery[orderChange]) error {
		calls.Add(1)
		var w struct{ ID int64 }
		// A module looking up its own row, which is not there.
		return fmt.Errorf("load rate for %s: %w", d.OrderID, d.Tx.Table("bus_events").Where("seq = -1").Take(&w).Error)
	})
	runBus(t, b)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("handler called %d times; deliveries %+v", calls.Load(), deliveriesOf(t, b, "ord_1"))
		}
	})

	publish(t, db, b, newOrder("ord_1"))
	bustest.WaitFor(t, "the delivery to be dead", statusIs(t, b, "ord_1", StatusDead))
	d := deliveriesOf(t, b, "ord_1")[0]
	if d.Attempts != 3 || !strings.Contains(d.LastError, "load rate for ord_1") || calls.Load() != 3 {
		t.Errorf("delivery %+v after %d calls, want dead after 3 attempts with the handler's error", d, calls.Load())
	}
}

func TestFailedDeliveryWaitsForItsBackoff(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	rule := checkoutRule("shipments", detailTarget("shipping"))
	rule.Retry = &Retry{MaxAttempts: 8, InitialBackoff: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	b := newTestBus(t, db, []RuleConfig{rule})
	var (
		mu    sync.Mutex
		early []string
	)
	Subscribe(b, "shipping", func(ctx context.Context, d Delivery[orderChange]) error {
		var next time.Time
		if err := d.Tx.Raw("SELECT next_attempt_at FROM bus_deliveries WHERE id = ?", d.ID).Row().Scan(&next); err != nil {
			return err
		}
		if now := time.Now(); now.Before(next) {
			mu.Lock()
			early = append(early, fmt.Sprintf("%s attempt %d ran %v early", d.OrderID, d.Attempt, next.Sub(now)))
			mu.Unlock()
		}
		return errors.New("carrier down")
	})
	runBus(t, b)

	const n = 30
	var details []Detail
	for i := range n {
		details = append(details, newOrder(fmt.Sprintf("ord_%02d", i)))
	}
	publish(t, db, b, details...)
	for i := range n {
		bustest.WaitFor(t, "every delivery dead", statusIs(t, b, fmt.Sprintf("ord_%02d", i), StatusDead))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(early) > 0 {
		t.Errorf("%d retries ran before their backoff: %v", len(early), early)
	}
}

func TestBackoff(t *testing.T) {
	const samples = 2000
	for _, r := range []Retry{
		DefaultRetry,
		{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		{InitialBackoff: 3 * time.Second, MaxBackoff: 24 * time.Hour},
		{InitialBackoff: time.Nanosecond, MaxBackoff: time.Nanosecond},
	} {
		t.Run(r.InitialBackoff.String()+"-"+r.MaxBackoff.String(), func(t *testing.T) {
			var attempts []int
			for a := 1; a <= 60; a++ {
				attempts = append(attempts, a)
			}
			attempts = append(attempts, 100, 500, 999, 1000)
			attempts = append(attempts, 0, -1) // a caller's off-by-one waits like a first failure, never panics
			for _, attempt := range attempts {
				// The cap doubles from InitialBackoff per attempt and stops at MaxBackoff.
				ceiling := r.InitialBackoff
				for i := 1; i < attempt && ceiling < r.MaxBackoff; i++ {
					ceiling = min(2*ceiling, r.MaxBackoff)
				}
				var most time.Duration
				for range samples {
					d := Backoff(attempt, r.InitialBackoff, r.MaxBackoff)
					if d <= 0 || d > ceiling {
						t.Fatalf("attempt %d: backoff %v outside (0, %v]", attempt, d, ceiling)
					}
					most = max(most, d)
				}
				// With full jitter the longest of many waits nears the cap:
				// the cap really is this attempt's, not an earlier one's.
				if most < ceiling-ceiling/10 {
					t.Fatalf("attempt %d: longest of %d backoffs is %v, want near the cap %v", attempt, samples, most, ceiling)
				}
			}
		})
	}
}
