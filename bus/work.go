package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"gorm.io/gorm"
)

// workBatch bounds the events one routing transaction takes when it also
// works their deliveries: small enough that the group commit it shares
// with new orders stays short.
const workBatch = 64

// worked is a delivery attempted inside the routing transaction, for the
// observer once that commits.
type worked struct {
	rule, target, outcome string
	took                  time.Duration
}

// routeAndWork routes up to workBatch events and, in the same transaction,
// works each delivery to one of this process's modules: its delivery row
// is written once, as done (the handler's effect and the row commit
// together) or, if the handler failed, as a failed attempt whose effect
// rolled back alone, retried later through the claim path like any other.
// Deliveries to webhooks, and those of an order whose earlier delivery to
// the same target is unfinished, are written pending for the claim path:
// an order's deliveries to a target stay in the order of its events.
//
// The handlers first run one after another with no savepoint of their
// own: a savepoint costs a statement to open and one to release (round
// trips, on PostgreSQL, and subtransactions, of which more than 64 slow
// every session down), and handlers nearly always succeed. When one
// fails, the whole unit rolls back and runs again at once with a
// savepoint per handler; the failed handler is not called again, its
// failure is recorded as it was, and the others, whose work rolled back,
// are called again (as the Handler contract allows).
//
// The transaction runs through the committer, so on a database.Batcher
// one durable commit covers the routing, the modules' work and the orders
// that arrived meanwhile. Like a claimed delivery's, the work finishes
// even while the bus stops.
func (b *Bus) routeAndWork() (int, error) {
	n, failed, err := b.routeAndWorkOnce(nil)
	if errors.Is(err, errRedo) {
		n, _, err = b.routeAndWorkOnce(failed)
	}
	return n, err
}

// errRedo rolls back a routing unit whose handler failed with no
// savepoint of its own, so it runs again with one for each.
var errRedo = errors.New("bus: a handler failed; routing again with a savepoint per handler")

// failedFirst is a handler's failure in a unit that was rolled back, to be
// recorded as it is when the unit runs again.
type failedFirst struct {
	cause error
	took  time.Duration
}

// routeAndWorkOnce is one run of routeAndWork's unit. With failed nil the
// handlers run without savepoints and the first failure ends the unit
// with errRedo, returning it in the map; otherwise each runs in its own
// savepoint, and those in failed are recorded as failed without a call.
func (b *Bus) routeAndWorkOnce(failed map[deliveryKey]failedFirst) (int, map[deliveryKey]failedFirst, error) {
	var (
		events []eventRow
		routed []routedEvent
		done   []worked
		first  map[deliveryKey]failedFirst
	)
	err := b.committer.Do(b.ctx, func(tx *gorm.DB) error {
		// A batch that lost a lock conflict runs this again from the start.
		done, first = done[:0], nil
		var err error
		if events, err = takeEvents(tx, workBatch); err != nil || len(events) == 0 {
			return err
		}
		now := time.Now().UTC()
		var rows []deliveryRow
		rows, routed = b.plan(events, now)
		inline, err := b.workable(tx, rows)
		if err != nil {
			return err
		}
		ids, err := insertDeliveries(tx, rows, inline, b.owner)
		if err != nil {
			return err
		}
		for i := range rows {
			row := &rows[i]
			if !inline[i] {
				continue
			}
			key := deliveryKey{row.EventID, row.Rule, row.Target}
			if row.ID = ids[key]; row.ID == 0 {
				continue // routed before (see insertDeliveries): that row is worked as it stands
			}
			if failed == nil {
				start := time.Now()
				if cause := b.runHandler(tx, row); cause != nil {
					first = map[deliveryKey]failedFirst{key: {cause, time.Since(start)}}
					return errRedo
				}
				done = append(done, worked{rule: row.Rule, target: row.Target, outcome: OutcomeDone, took: time.Since(start)})
				b.logDelivered(row)
				continue
			}
			w, err := b.work(tx, row, now, failed)
			if err != nil {
				return err
			}
			done = append(done, w)
		}
		// The bus's context: a stop lets the unit finish, publishing its
		// events over a shared transport included.
		return b.markRouted(b.ctx, tx, events, now)
	})
	if err != nil {
		return len(events), first, err
	}
	for _, r := range routed {
		b.observer.Routed(r.ev.Source, r.ev.DetailType, r.rules)
	}
	delivered := false
	for _, w := range done {
		b.observer.Attempted(w.rule, w.target, w.outcome, w.took)
		delivered = delivered || w.outcome == OutcomeDone
	}
	if delivered {
		for _, fn := range b.afterCommit {
			fn()
		}
		// A handler may have published events (inventory's Stock
		// Reserved): route them now rather than at the next poll.
		b.Wake()
	}
	return len(events), nil, nil
}

// workable tells, row by row, which deliveries the routing transaction
// works itself: those to a module of this process whose order has no
// unfinished delivery to that target (it would have to go first).
func (b *Bus) workable(tx *gorm.DB, rows []deliveryRow) ([]bool, error) {
	inline := make([]bool, len(rows))
	var orders []string
	seen := map[string]bool{}
	for i, r := range rows {
		_, module := b.runners[r.Target]
		if !module || r.Status != StatusPending || b.webhooks[[2]string{r.Rule, r.Target}] != nil {
			continue
		}
		inline[i] = true
		if r.OrderID != "" && !seen[r.OrderID] {
			seen[r.OrderID] = true
			orders = append(orders, r.OrderID)
		}
	}
	if len(orders) == 0 {
		return inline, nil
	}
	// Rows rather than gorm's Scan, as in insertDeliveries.
	open, err := tx.Raw(`SELECT order_id, target FROM bus_deliveries WHERE order_id IN ? AND status IN ('pending', 'failed')`, orders).Rows()
	if err != nil {
		return nil, err
	}
	waiting := map[[2]string]bool{}
	for open.Next() {
		var k [2]string
		if err := open.Scan(&k[0], &k[1]); err != nil {
			open.Close()
			return nil, err
		}
		waiting[k] = true
	}
	if err := errors.Join(open.Err(), open.Close()); err != nil {
		return nil, err
	}
	for i, r := range rows {
		if inline[i] && waiting[[2]string{r.OrderID, r.Target}] {
			inline[i] = false
		}
	}
	return inline, nil
}

// deliveryKey is a delivery's unique key, replays aside.
type deliveryKey struct{ eventID, rule, target string }

// insertChunk bounds the rows of one INSERT (16 values each, well inside
// SQLite's and PostgreSQL's limits on parameters).
const insertChunk = 64

// insertDeliveries writes rows, those marked inline as done at their
// first attempt (by owner), the others as they are (all of them when
// inline is nil), and returns the ids of the rows written. The unique
// (event, rule, target) key makes routing an event twice harmless: a row
// that exists already is left as it is, and gets no id here.
func insertDeliveries(tx *gorm.DB, rows []deliveryRow, inline []bool, owner string) (map[deliveryKey]int64, error) {
	ids := make(map[deliveryKey]int64, len(rows))
	for first := 0; first < len(rows); first += insertChunk {
		chunk := rows[first:min(first+insertChunk, len(rows))]
		var sql strings.Builder
		sql.WriteString(`INSERT INTO bus_deliveries (event_seq, event_id, order_id, rule, target, payload, status, attempts,
			last_error, errors, next_attempt_at, started_at, created_at, updated_at, lease_owner) VALUES `)
		args := make([]any, 0, 15*len(chunk))
		for i, r := range chunk {
			if i > 0 {
				sql.WriteString(", ")
			}
			sql.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			status, attempts, leaseOwner := r.Status, r.Attempts, r.LeaseOwner
			if inline != nil && inline[first+i] {
				status, attempts, leaseOwner = StatusDone, r.Attempts+1, owner
			}
			args = append(args, r.EventSeq, r.EventID, r.OrderID, r.Rule, r.Target, r.Payload, status, attempts,
				r.LastError, r.Errors, r.NextAttemptAt, r.StartedAt, r.CreatedAt, r.UpdatedAt, leaseOwner)
		}
		sql.WriteString(" ON CONFLICT DO NOTHING RETURNING id, event_id, rule, target")
		// Rows, not gorm's Scan, which renders every statement it scans
		// into a loggable string (Explain) whatever the logger: for 64
		// events' deliveries, about as costly as writing them.
		rows, err := tx.Raw(sql.String(), args...).Rows()
		if err != nil {
			return nil, fmt.Errorf("write deliveries: %w", err)
		}
		for rows.Next() {
			var id int64
			var k deliveryKey
			if err := rows.Scan(&id, &k.eventID, &k.rule, &k.target); err != nil {
				rows.Close()
				return nil, fmt.Errorf("write deliveries: %w", err)
			}
			ids[k] = id
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("write deliveries: %w", err)
		}
	}
	return ids, nil
}

// work runs row's handler inside tx, in a savepoint: a failure (or a
// panic) rolls back the handler's work alone and records the failed
// attempt in the row, which insertDeliveries wrote as done. A handler that
// already failed in failed is not called again: its failure is recorded.
// It returns an error only when tx itself failed.
func (b *Bus) work(tx *gorm.DB, row *deliveryRow, now time.Time, failed map[deliveryKey]failedFirst) (worked, error) {
	w := worked{rule: row.Rule, target: row.Target, outcome: OutcomeDone}
	cause, known := failed[deliveryKey{row.EventID, row.Rule, row.Target}]
	if !known {
		if err := tx.Exec("SAVEPOINT bus_work").Error; err != nil {
			return w, err
		}
		start := time.Now()
		cause.cause = b.runHandler(tx, row)
		cause.took = time.Since(start)
		if cause.cause == nil {
			w.took = cause.took
			b.logDelivered(row)
			return w, tx.Exec("RELEASE SAVEPOINT bus_work").Error
		}
		if err := tx.Exec("ROLLBACK TO SAVEPOINT bus_work").Error; err != nil {
			return w, err
		}
		if err := tx.Exec("RELEASE SAVEPOINT bus_work").Error; err != nil {
			return w, err
		}
	}
	w.took = cause.took
	f := b.failure(row, cause.cause, now)
	w.outcome = f.outcome()
	b.logFailure(b.ctx, row, f, cause.cause)
	return w, tx.Model(&deliveryRow{}).Where("id = ?", row.ID).Updates(f.columns(b.owner)).Error
}

func (b *Bus) logDelivered(row *deliveryRow) {
	if b.log.Enabled(b.ctx, slog.LevelDebug) {
		b.log.Debug("bus: delivered", "delivery_id", row.ID, "event_id", row.EventID, "order_id", row.OrderID,
			"rule", row.Rule, "target", row.Target, "attempt", 1)
	}
}

// runHandler calls row's handler, turning a panic into its error: the
// handler runs on the committer's goroutine, and its bug must fail this
// delivery, not the process.
func (b *Bus) runHandler(tx *gorm.DB, row *deliveryRow) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return b.runners[row.Target](b.ctx, tx, row)
}
