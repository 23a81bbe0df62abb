package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shopbus/shopbus/bus/webhook"
	"github.com/shopbus/shopbus/database"
)

// defaultLease is how long a claimed delivery is this instance's alone: it
// covers the moment from the claim to the handler's transaction, which then
// holds the row itself (webhooks renew it to cover their send). Once it
// ends, another instance may take the delivery: that is how the claims of
// an instance that died are taken over.
const defaultLease = 10 * time.Second

// headOfOrder keeps, of the unrouted events, each order's oldest: an
// order's deliveries are then written in the order of its events, even
// while another instance routes another batch beside this one. An order's
// later events wait for the next round.
const headOfOrder = `(order_id = '' OR NOT EXISTS (
	SELECT 1 FROM bus_events p WHERE p.order_id = bus_events.order_id AND p.seq < bus_events.seq AND p.routed_at IS NULL))`

// Run routes and dispatches until ctx is done, then waits for the
// deliveries in flight to finish. Work left pending (by a crash, say) is
// picked up on the next Run, or by another instance: nothing depends on
// memory. What a crashed process had claimed waits for its lease to end.
func (b *Bus) Run(ctx context.Context) error {
	if b.matcher == nil {
		return errors.New("bus: Run before Start")
	}
	// Handlers finish the delivery they hold even while the bus stops, so a
	// shutdown never leaves half of a transaction to retry.
	b.ctx = context.WithoutCancel(ctx)
	for _, target := range b.targets {
		if err := b.transport.Consume(target, b.handle); err != nil {
			return errors.Join(fmt.Errorf("bus: consume deliveries to %s: %w", target, err), b.transport.Close())
		}
	}
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() { b.watchLag(lagCtx); close(lagDone) }()
	defer func() { stopLag(); <-lagDone }()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var purged time.Time
	for {
		if time.Since(purged) > time.Hour {
			purged = time.Now()
			if err := b.purge(ctx, purged.Add(-b.opts.Retention)); err != nil && ctx.Err() == nil {
				b.log.Error("bus: purge old events", "err", err)
			}
		}
		// One batch of routing, then one of dispatching, in turn: routing
		// until no event is left would starve the deliveries whenever orders
		// arrive as fast as a batch is routed.
		// The deliveries to this process's modules are worked in the
		// routing transaction (routeAndWork); the rest wait for dispatch.
		routed, err := b.routeAndWork()
		if err != nil && ctx.Err() == nil {
			b.log.Error("bus: route events", "err", err)
		}
		if err := b.dispatch(ctx); err != nil && ctx.Err() == nil {
			b.log.Error("bus: dispatch deliveries", "err", err)
		}
		if err == nil && routed == workBatch {
			b.Wake() // more events wait: go round again at once
		}
		timer.Reset(b.opts.PollInterval)
		select {
		case <-ctx.Done():
			// No more hand-overs are taken; those in flight finish.
			err := b.transport.Close()
			for _, hook := range b.webhooks {
				hook.Close()
			}
			if err != nil {
				return fmt.Errorf("bus: close transport: %w", err)
			}
			return nil
		case <-b.wake:
		case <-timer.C:
		}
	}
}

// dueQuery selects deliveries whose time has come and that no live lease
// holds, skipping any that has an earlier unfinished delivery for the same
// order and target: an order's cancellation never overtakes its creation,
// while other orders go on. It ends with database.SkipLocked.
const dueQuery = `SELECT d.id FROM bus_deliveries d ` + dueWhere + ` ORDER BY d.next_attempt_at, d.id LIMIT @n %s`

// dueWhere is what makes a delivery d due at @now for a claim (dueQuery)
// and for the lag (lagQuery).
const dueWhere = `WHERE d.status IN ('pending', 'failed') AND d.next_attempt_at <= @now
AND (d.lease_until IS NULL OR d.lease_until <= @now)
AND (d.order_id = '' OR NOT EXISTS (
	SELECT 1 FROM bus_deliveries p
	WHERE p.order_id = d.order_id AND p.target = d.target AND p.id < d.id AND p.status IN ('pending', 'failed')))`

// claimQuery leases due deliveries to this instance in one statement, so
// no two instances ever hold a delivery at once.
const claimQuery = `UPDATE bus_deliveries SET lease_owner = @owner, lease_until = @until
WHERE id IN (` + dueQuery + `) RETURNING id, rule, target, attempts, started_at`

// dispatch claims due deliveries, as many as the transport has room for,
// and hands them over.
func (b *Bus) dispatch(ctx context.Context) error {
	free, err := b.transport.Room(ctx)
	if err != nil || free <= 0 {
		return err
	}
	var due []struct {
		ID           int64
		Rule, Target string
		Attempts     int
		StartedAt    time.Time
	}
	now := time.Now().UTC()
	claim := fmt.Sprintf(claimQuery, database.SkipLocked(b.db))
	err = b.db.WithContext(ctx).Raw(claim, map[string]any{"owner": b.owner, "until": now.Add(b.lease), "now": now, "n": free}).
		Scan(&due).Error
	if err != nil {
		return err
	}
	for _, d := range due {
		if _, ok := b.runners[d.Target]; !ok && b.webhooks[[2]string{d.Rule, d.Target}] == nil {
			// Left by an earlier configuration: no one can take it.
			b.bury(ctx, d.ID, fmt.Sprintf("no module or webhook named %q in this configuration", d.Target))
			b.observer.Attempted(d.Rule, d.Target, OutcomeDead, 0)
			continue
		}
		if err := b.transport.Deliver(ctx, handover(d.ID, d.Rule, d.Target, d.Attempts, d.StartedAt)); err != nil {
			// The claim stands: once its lease ends, the delivery is
			// claimed and handed over again.
			return fmt.Errorf("hand over delivery %d: %w", d.ID, err)
		}
	}
	return nil
}

// release ends this instance's lease on a delivery.
func (b *Bus) release(ctx context.Context, id int64) {
	err := b.db.WithContext(ctx).Model(&deliveryRow{}).Where("id = ? AND lease_owner = ?", id, b.owner).Update("lease_until", nil).Error
	if err != nil && ctx.Err() == nil {
		b.log.Error("bus: release delivery", "delivery_id", id, "err", err)
	}
}

// guard is what a handler must still find in a delivery's row to work it
// and record its outcome: the delivery due at the attempt its hand-over
// names, and, where hand-overs stay in this process, this instance's
// claim. Over a shared transport another instance may have claimed it;
// the attempt alone then tells a stale hand-over (one whose attempt
// already has an outcome) from a live one.
type guard struct {
	attempts int    // the attempts recorded before this one
	owner    string // the lease owner, or "" for any
}

func (b *Bus) guard(h Handover) guard {
	g := guard{attempts: h.Attempt - 1}
	if !b.transport.Shared() {
		g.owner = b.owner
	}
	return g
}

// where narrows db to delivery id while g holds.
func (g guard) where(db *gorm.DB, id int64) *gorm.DB {
	db = db.Where("id = ? AND status IN ? AND attempts = ?", id, []string{StatusPending, StatusFailed}, g.attempts)
	if g.owner != "" {
		db = db.Where("lease_owner = ?", g.owner)
	}
	return db
}

// handle runs one hand-over: the subscriber's work and the row's "done"
// commit together or not at all. It returns nil once an outcome is
// recorded or the hand-over proved stale, an error otherwise (see
// Transport.Consume).
func (b *Bus) handle(h Handover) error {
	b.mu.Lock()
	busy := b.inflight[h.ID]
	if !busy {
		b.inflight[h.ID] = true
	}
	b.mu.Unlock()
	ctx := b.ctx
	if busy {
		if !b.transport.Shared() {
			// Its worker here has just recorded the outcome and is on its
			// way out (or outlived the lease): give the claim back, or the
			// delivery would wait out a lease nobody works under.
			b.release(ctx, h.ID)
		}
		return errBusy
	}
	defer func() {
		b.mu.Lock()
		delete(b.inflight, h.ID)
		b.mu.Unlock()
		b.Wake()
	}()
	rule, target, g := h.Rule, h.Target, b.guard(h)
	start := time.Now()
	var row deliveryRow
	var err error
	if hook := b.webhooks[[2]string{rule, target}]; hook != nil {
		err = b.send(ctx, h.ID, g, hook, &row)
	} else {
		err = b.runTx(ctx, h.ID, g, &row)
	}
	switch {
	case err == nil:
		b.observer.Attempted(rule, target, OutcomeDone, time.Since(start))
		b.log.Debug("bus: delivered", "delivery_id", h.ID, "event_id", row.EventID, "order_id", row.OrderID,
			"rule", rule, "target", target, "attempt", row.Attempts+1)
		for _, fn := range b.afterCommit {
			fn()
		}
		return nil
	case errors.Is(err, errNotDue):
		// Done, dead or rescheduled meanwhile: a stale hand-over, nothing to do.
		return nil
	case row.ID == 0:
		b.log.Error("bus: load delivery", "delivery_id", h.ID, "err", err)
		return err
	default:
		outcome, err := b.fail(ctx, &row, g, err)
		if errors.Is(err, errNotDue) {
			return nil // another hand-over of this attempt recorded its outcome
		}
		b.observer.Attempted(rule, target, outcome, time.Since(start))
		return err
	}
}

// errBusy means a handler of this instance is working the delivery.
var errBusy = errors.New("bus: delivery in flight here")

func (b *Bus) runTx(ctx context.Context, id int64, g guard, row *deliveryRow) error {
	return b.committer.Do(ctx, func(tx *gorm.DB) (err error) {
		// The unit may run on the committer's goroutine: a handler's panic
		// must fail this delivery, not the process (its savepoint rolls back).
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("handler panic: %v", p)
			}
		}()
		// Re-read under a lock (SQLite's write lock, PostgreSQL's on the
		// row), where nobody can change it meanwhile and no other instance
		// can claim or work it until this commits, even if the lease ends.
		if err := takeDue(tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}), id, g, row); err != nil {
			return err
		}
		run, ok := b.runners[row.Target]
		if !ok {
			return Permanent(fmt.Errorf("no subscriber for target %q", row.Target))
		}
		if err := run(ctx, tx, row); err != nil {
			return err
		}
		return markDone(tx, row, g, b.owner)
	})
}

// send delivers to a webhook. The HTTP call runs outside any transaction,
// so a slow receiver never holds the database; the receiver deduplicates by
// the webhook-id header, which stays the same across retries.
func (b *Bus) send(ctx context.Context, id int64, g guard, hook *webhook.Target, row *deliveryRow) error {
	// No lock is held during the send: the lease, this instance's now,
	// must outlast it. (Over a shared transport, two hand-overs of one
	// attempt in flight at once, which only a crash makes, could both
	// send: the receiver drops the second by its webhook-id.)
	res := g.where(b.db.WithContext(ctx).Model(&deliveryRow{}), id).Where("next_attempt_at <= ?", time.Now().UTC()).
		Updates(map[string]any{"lease_owner": b.owner, "lease_until": time.Now().UTC().Add(hook.Timeout() + b.lease)})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errNotDue
	}
	g.owner = b.owner
	if err := takeDue(b.db.WithContext(ctx), id, g, row); err != nil {
		return err
	}
	if err := hook.Send(ctx, fmt.Sprintf("%s.%d", row.EventID, row.ID), []byte(row.Payload)); err != nil {
		if errors.Is(err, webhook.ErrPermanent) {
			return Permanent(err)
		}
		return err
	}
	return markDone(b.db.WithContext(ctx), row, g, b.owner)
}

// takeDue loads delivery id if g still holds and it is due: the hand-over
// may be stale (the delivery finished, or, its lease over, another
// instance took it), and a delivery that failed since must wait for its
// backoff.
func takeDue(db *gorm.DB, id int64, g guard, row *deliveryRow) error {
	err := g.where(db, id).Where("next_attempt_at <= ?", time.Now().UTC()).Take(row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return errNotDue
	}
	return err
}

// markDone records the delivery's successful attempt, by owner, and ends
// the lease. A delivery finished meanwhile, or taken over by another
// instance, is errNotDue: inside the handler's transaction that rolls its
// work back.
func markDone(db *gorm.DB, row *deliveryRow, g guard, owner string) error {
	res := g.where(db.Model(&deliveryRow{}), row.ID).Updates(map[string]any{"status": StatusDone, "attempts": row.Attempts + 1,
		"last_error": "", "lease_owner": owner, "lease_until": nil, "updated_at": time.Now().UTC()})
	if res.Error == nil && res.RowsAffected == 0 {
		return errNotDue
	}
	return res.Error
}

// errNotDue means a handed-over delivery is no longer due, or no longer
// this instance's.
var errNotDue = errors.New("bus: delivery not due")

// bury sends a delivery this instance claimed straight to the dead letters.
func (b *Bus) bury(ctx context.Context, id int64, reason string) {
	err := b.db.WithContext(ctx).Model(&deliveryRow{}).Where("id = ? AND status IN ? AND lease_owner = ?", id, []string{StatusPending, StatusFailed}, b.owner).
		Updates(map[string]any{"status": StatusDead, "last_error": reason, "lease_until": nil, "updated_at": time.Now().UTC()}).Error
	b.log.Error("bus: delivery dead", "delivery_id", id, "reason", reason, "err", err)
}

// fail records a failed attempt: a retry after a backoff with full jitter,
// or the dead letters once the rule's limits are spent, while g holds. It
// returns which (OutcomeRetry or OutcomeDead), and why it could not record
// it, if it could not.
func (b *Bus) fail(ctx context.Context, row *deliveryRow, g guard, cause error) (string, error) {
	f := b.failure(row, cause, time.Now().UTC())
	// The lease ends: the retry is anyone's once it is due.
	res := g.where(b.db.WithContext(ctx).Model(&deliveryRow{}), row.ID).Updates(f.columns(b.owner))
	b.logFailure(ctx, row, f, cause)
	switch {
	case res.Error != nil:
		b.log.Error("bus: record failure", "delivery_id", row.ID, "err", res.Error)
		return f.outcome(), res.Error
	case res.RowsAffected == 0:
		// Worked meanwhile through another hand-over: that one's outcome stands.
		return f.outcome(), errNotDue
	}
	return f.outcome(), nil
}

// failure is what a failed attempt leaves in its delivery's row.
type failure struct {
	status   string // StatusFailed (to be retried) or StatusDead
	attempts int
	next     time.Time
	errors   string // the attempts' history, JSON []AttemptError
	cause    string
	at       time.Time
}

// failure works out what the attempt after row's recorded ones, failed
// with cause at now, leaves: a retry after a backoff with full jitter, or
// the dead letters once the rule's limits are spent.
func (b *Bus) failure(row *deliveryRow, cause error, now time.Time) failure {
	retry := b.opts.Retry
	if r, ok := b.ruleNamed(row.Rule); ok {
		retry = r.retry
	}
	attempts := row.Attempts + 1
	f := failure{status: StatusFailed, attempts: attempts, cause: cause.Error(), at: now,
		next: now.Add(Backoff(attempts, retry.InitialBackoff, retry.MaxBackoff))}
	var hint interface{ RetryAfter() time.Duration }
	if errors.As(cause, &hint) && now.Add(hint.RetryAfter()).After(f.next) {
		f.next = now.Add(hint.RetryAfter()) // the receiver asked for a pause (429, 503)
	}
	if errors.Is(cause, ErrPermanent) || attempts >= retry.MaxAttempts || f.next.Sub(row.StartedAt) > retry.MaxAge {
		f.status = StatusDead
	}
	var history []AttemptError
	_ = json.Unmarshal([]byte(row.Errors), &history) // a damaged history starts again
	history = append(history, AttemptError{Attempt: attempts, At: now, Error: f.cause})
	errs, _ := json.Marshal(history)
	f.errors = string(errs)
	return f
}

// columns are the row's columns after the failure, recorded by owner.
func (f failure) columns(owner string) map[string]any {
	return map[string]any{"status": f.status, "attempts": f.attempts, "last_error": f.cause, "errors": f.errors,
		"next_attempt_at": f.next, "lease_owner": owner, "lease_until": nil, "updated_at": f.at}
}

func (f failure) outcome() string {
	if f.status == StatusDead {
		return OutcomeDead
	}
	return OutcomeRetry
}

func (b *Bus) logFailure(ctx context.Context, row *deliveryRow, f failure, cause error) {
	level := slog.LevelWarn
	if f.status == StatusDead {
		level = slog.LevelError
	}
	b.log.Log(ctx, level, "bus: delivery failed", "delivery_id", row.ID, "event_id", row.EventID, "order_id", row.OrderID,
		"rule", row.Rule, "target", row.Target, "attempt", f.attempts, "status", f.status, "err", cause)
}

// Backoff is the wait after the attempt-th failure (counting from 1), for
// every retry in shopbus (deliveries and emails): "full jitter", a random
// duration in (0, min(maxWait, initial*2^(attempt-1))], so retries of many
// failures spread out instead of arriving together. initial and maxWait
// must be positive.
func Backoff(attempt int, initial, maxWait time.Duration) time.Duration {
	ceiling := maxWait
	if shift := max(attempt-1, 0); shift < 63 && initial <= ceiling>>shift {
		ceiling = initial << shift // cannot overflow: it is at most maxWait
	}
	return rand.N(ceiling) + 1
}

func (b *Bus) ruleNamed(name string) (*rule, bool) {
	for _, r := range b.rules {
		if r.name == name {
			return r, true
		}
	}
	return nil, false
}

// purge deletes events written before cutoff, with their deliveries, once
// every delivery is finished: what is still being retried is kept.
func (b *Bus) purge(ctx context.Context, cutoff time.Time) error {
	return b.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		old := tx.Model(&eventRow{}).Select("seq").Where("created_at < ? AND routed_at IS NOT NULL", cutoff.UTC())
		unfinished := tx.Model(&deliveryRow{}).Select("event_seq").Where("status IN ?", []string{StatusPending, StatusFailed})
		if err := tx.Where("event_seq IN (?) AND event_seq NOT IN (?)", old, unfinished).Delete(&deliveryRow{}).Error; err != nil {
			return err
		}
		return tx.Where("seq IN (?) AND NOT EXISTS (SELECT 1 FROM bus_deliveries d WHERE d.event_seq = bus_events.seq)", old).
			Delete(&eventRow{}).Error
	})
}
