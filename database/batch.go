package database

import (
	"context"
	"errors"

	"gorm.io/gorm"
)

// ErrClosed means the batcher has stopped and takes no more work.
var ErrClosed = errors.New("database: batcher stopped")

// Batcher is group commit: it runs many small units of write work, each
// from its own request, in ONE transaction, so the cost of a durable commit
// (an fsync) is shared by all of them. Each unit runs in its own savepoint,
// so one that fails rolls back alone; Do returns only once the unit is
// committed (or has failed).
type Batcher struct {
	db      *gorm.DB
	max     int
	jobs    chan *batchJob
	stopped chan struct{}
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

// NewBatcher returns a batcher that commits at most max units at a time.
// It does nothing until Run.
func NewBatcher(db *gorm.DB, max int) *Batcher {
	return &Batcher{db: db, max: max, jobs: make(chan *batchJob), stopped: make(chan struct{})}
}

// Do runs fn inside a group transaction and returns when it is committed.
func (b *Batcher) Do(ctx context.Context, fn func(tx *gorm.DB) error) error {
	j := &batchJob{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case b.jobs <- j:
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
// then every unit already waiting, up to max, and commits them together.
// While one batch commits, the next gathers.
func (b *Batcher) Run(ctx context.Context) error {
	defer close(b.stopped)
	batch := make([]*batchJob, 0, b.max)
	for {
		select {
		case j := <-b.jobs:
			batch = append(batch[:0], j)
		case <-ctx.Done():
			return nil
		}
	gather:
		for len(batch) < b.max {
			select {
			case j := <-b.jobs:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		b.commit(batch)
	}
}

func (b *Batcher) commit(batch []*batchJob) {
	errs := make([]error, len(batch))
	err := b.db.Transaction(func(tx *gorm.DB) error {
		for i, j := range batch {
			if errs[i] = j.ctx.Err(); errs[i] != nil {
				continue // the caller gave up before its turn: skip it
			}
			// A nested transaction is a savepoint: a failing unit rolls
			// back alone.
			errs[i] = tx.WithContext(context.WithoutCancel(j.ctx)).Transaction(j.fn)
		}
		return nil
	})
	for i, j := range batch {
		if err != nil {
			j.done <- err
			continue
		}
		j.done <- errs[i]
	}
}
