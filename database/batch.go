package database

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/fault"
)

// ErrClosed means the batcher has stopped and takes no more work.
var ErrClosed = fault.New(fault.Unavailable, "database: batcher stopped")

// Batcher is group commit: it runs many small units of write work, each
// from its own request, in ONE transaction, so the cost of a durable commit
// (an fsync) is shared by all of them. A unit that fails rolls back alone
// (see commit); Do returns only once the unit is committed (or has failed).
type Batcher struct {
	db      *gorm.DB
	max     int
	jobs    chan *batchJob
	first   chan *batchJob // Priority's units
	stopped chan struct{}
	// guarded counts the batches still to run with a savepoint per unit
	// from the start, after one whose unit failed (Run's goroutine only).
	guarded int
}

type batchJob struct {
	ctx  context.Context
	fn   func(tx *gorm.DB) error
	done chan error
}

// Direct runs each unit in a transaction of its own: the default where a
// Batcher is not wired in.
type Direct struct{ DB *gorm.DB }

// Do runs fn in a transaction and returns once it is committed.
func (d Direct) Do(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return d.DB.WithContext(ctx).Transaction(fn)
}

// postgresMaxBatch caps a batch on PostgreSQL: each unit's savepoint is a
// subtransaction, and past 64 open in one transaction every session's
// snapshots slow down (the subxid cache overflows).
const postgresMaxBatch = 64

// batchAttempts bounds how often a batch that lost a deadlock or a
// serialization conflict is run again.
const batchAttempts = 3

// errRetryBatch rolls a batch back so that it runs again.
var errRetryBatch = errors.New("database: batch lost a lock conflict; retrying")

// errGuardBatch rolls back a batch run without savepoints in which a unit
// failed, so that it runs again with one per unit.
var errGuardBatch = errors.New("database: a unit failed; running the batch again with a savepoint per unit")

// guardAfterFailure is how many batches after one whose unit failed open a
// savepoint per unit from the start: failures come in runs (a module
// down, a client repeating a conflicting request), and each would
// otherwise cost its batch a second run.
const guardAfterFailure = 64

// NewBatcher returns a batcher that commits at most max units at a time
// (at most 64 on PostgreSQL). It does nothing until Run.
func NewBatcher(db *gorm.DB, max int) *Batcher {
	if db.Dialector.Name() == Postgres {
		max = min(max, postgresMaxBatch)
	}
	return &Batcher{db: db, max: max, jobs: make(chan *batchJob), first: make(chan *batchJob), stopped: make(chan struct{})}
}

// Do runs fn inside a group transaction and returns when it is committed.
func (b *Batcher) Do(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return b.do(ctx, b.jobs, fn)
}

// Priority returns a committer into the same batches whose units go in
// before any of Do's. Downstream work (deliveries, sends) goes there: when
// the writer is saturated, what was accepted gets finished before more is
// accepted, instead of new orders crowding their own deliveries out.
// Its callers must be few (a bounded pool of workers) or Do's would starve.
func (b *Batcher) Priority() Priority { return Priority{b} }

// Priority is a Batcher's first lane.
type Priority struct{ b *Batcher }

// Do runs fn in the next group transaction, ahead of the batcher's other
// units, and returns when it is committed.
func (p Priority) Do(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return p.b.do(ctx, p.b.first, fn)
}

func (b *Batcher) do(ctx context.Context, lane chan *batchJob, fn func(tx *gorm.DB) error) error {
	j := &batchJob{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case lane <- j:
	case <-b.stopped:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, the unit's fate is the batch's: wait for it even if
	// the caller's context ends, or the caller could not know whether it
	// committed.
	return <-j.done
}

// Run commits batches until ctx is done: it takes the first waiting unit,
// then every unit already waiting, up to max, Priority's first, and commits
// them together. While one batch commits, the next gathers.
func (b *Batcher) Run(ctx context.Context) error {
	defer close(b.stopped)
	batch := make([]*batchJob, 0, b.max)
	for {
		select {
		case j := <-b.first:
			batch = append(batch[:0], j)
		case j := <-b.jobs:
			batch = append(batch[:0], j)
		case <-ctx.Done():
			return nil
		}
		for _, lane := range []chan *batchJob{b.first, b.jobs} {
		gather:
			for len(batch) < b.max {
				select {
				case j := <-lane:
					batch = append(batch, j)
				default:
					break gather
				}
			}
		}
		b.commit(batch)
	}
}

// commit runs the batch in one transaction. The units run one after
// another with no savepoint of their own: a savepoint costs a statement
// (a round trip on PostgreSQL, where it is also a subtransaction) and
// units nearly always succeed. When one fails, the batch rolls back and
// runs again at once with a savepoint per unit, so the failed one rolls
// back alone and the others commit; the next guardAfterFailure batches
// start that way. A unit may therefore run more than once before it
// commits, and must do nothing but its statements in tx (or be
// idempotent otherwise). A unit that loses a deadlock or a serialization
// conflict to another instance's transaction (PostgreSQL) would fail a
// request that did nothing wrong: the whole batch is rolled back and run
// again instead, a few times.
func (b *Batcher) commit(batch []*batchJob) {
	var errs []error
	var err error
	// One unit alone needs no savepoint: its failure is the batch's.
	guard := len(batch) > 1 && b.guarded > 0
	if b.guarded > 0 {
		b.guarded--
	}
	for attempt := 1; ; attempt++ {
		errs = make([]error, len(batch))
		err = b.db.Transaction(func(tx *gorm.DB) error {
			for i, j := range batch {
				if errs[i] = j.ctx.Err(); errs[i] != nil {
					continue // the caller gave up before its turn: skip it
				}
				utx := tx.WithContext(context.WithoutCancel(j.ctx))
				if guard {
					// A nested transaction is a savepoint: a failing unit
					// rolls back alone.
					errs[i] = utx.Transaction(j.fn)
				} else {
					errs[i] = j.fn(utx)
				}
				if attempt < batchAttempts && lockConflict(errs[i]) {
					return errRetryBatch
				}
				if errs[i] != nil && !guard && len(batch) > 1 {
					return errGuardBatch
				}
			}
			if len(batch) == 1 {
				return errs[0]
			}
			return nil
		})
		if errors.Is(err, errGuardBatch) {
			guard, b.guarded = true, guardAfterFailure
			continue
		}
		if attempt < batchAttempts && (errors.Is(err, errRetryBatch) || lockConflict(err)) {
			continue
		}
		break
	}
	for i, j := range batch {
		if err != nil {
			j.done <- err
			continue
		}
		j.done <- errs[i]
	}
}

// lockConflict reports a PostgreSQL deadlock (40P01) or serialization
// failure (40001): errors that running the same work again resolves.
func lockConflict(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "40P01" || pg.Code == "40001")
}
