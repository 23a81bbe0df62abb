package email

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database"
)

// Migrations create the email module's tables.
var Migrations = []database.Migration{{
	ID: "email-0001",
	SQL: []string{
		`CREATE TABLE email_jobs (
			id $AUTOID,
			order_id TEXT NOT NULL,
			template TEXT NOT NULL,
			recipient TEXT NOT NULL,
			data TEXT NOT NULL,
			message_id TEXT NOT NULL,
			status TEXT NOT NULL,
			attempts INTEGER NOT NULL DEFAULT 0,
			last_error TEXT NOT NULL DEFAULT '',
			next_attempt_at TIMESTAMP NOT NULL,
			sent_at TIMESTAMP,
			created_at TIMESTAMP NOT NULL,
			updated_at TIMESTAMP NOT NULL,
			UNIQUE (order_id, template)
		)`,
		`CREATE INDEX email_jobs_due ON email_jobs (next_attempt_at) WHERE status = 'queued'`,
	},
}, {
	// Every failed attempt, as a dead delivery keeps them: a failed email
	// is a dead letter, and a redrive keeps what happened before it.
	ID:  "email-0002",
	SQL: []string{`ALTER TABLE email_jobs ADD COLUMN errors TEXT NOT NULL DEFAULT ''`},
}, {
	// One email per (event, template, recipient): an order may hear of
	// several refunds, each its own event, and one event may mail the
	// customer and the owner. event_id holds the event, or, for an email
	// queued once per order (and every email queued before), "order:" and
	// the order id. locale is the reader's language. Neither engine drops
	// a table's UNIQUE in place, so the table is built anew, its rows
	// copied in their order.
	ID: "email-0003",
	SQL: []string{
		`CREATE TABLE email_jobs_v2 (
			id $AUTOID,
			event_id TEXT NOT NULL,
			order_id TEXT NOT NULL,
			template TEXT NOT NULL,
			recipient TEXT NOT NULL,
			locale TEXT NOT NULL DEFAULT '',
			data TEXT NOT NULL,
			message_id TEXT NOT NULL,
			status TEXT NOT NULL,
			attempts INTEGER NOT NULL DEFAULT 0,
			last_error TEXT NOT NULL DEFAULT '',
			errors TEXT NOT NULL DEFAULT '',
			next_attempt_at TIMESTAMP NOT NULL,
			sent_at TIMESTAMP,
			created_at TIMESTAMP NOT NULL,
			updated_at TIMESTAMP NOT NULL,
			UNIQUE (event_id, template, recipient)
		)`,
		`INSERT INTO email_jobs_v2 (event_id, order_id, template, recipient, data, message_id, status, attempts,
			last_error, errors, next_attempt_at, sent_at, created_at, updated_at)
			SELECT 'order:' || order_id, order_id, template, recipient, data, message_id, status, attempts,
			last_error, errors, next_attempt_at, sent_at, created_at, updated_at FROM email_jobs ORDER BY id`,
		`DROP TABLE email_jobs`,
		`ALTER TABLE email_jobs_v2 RENAME TO email_jobs`,
		`CREATE INDEX email_jobs_due ON email_jobs (next_attempt_at) WHERE status = 'queued'`,
		`CREATE INDEX email_jobs_order ON email_jobs (order_id, id)`,
	},
}}

// jobRow is one email: queued by Enqueue, sent by the worker.
type jobRow struct {
	ID int64
	// EventID is the job's key: the event, or "order:" and the order id.
	EventID   string
	OrderID   string
	Template  string
	Recipient string
	Locale    string
	Data      string
	MessageID string
	Status    string
	Attempts  int
	LastError string
	// Errors holds every failed attempt, as JSON []bus.AttemptError.
	Errors        string
	NextAttemptAt time.Time
	SentAt        *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (jobRow) TableName() string { return "email_jobs" }

// job is the row as callers see it.
func (r jobRow) job() Job {
	event := r.EventID
	if strings.HasPrefix(event, orderKey) {
		event = ""
	}
	return Job{EventID: event, Template: r.Template, To: r.Recipient, Status: r.Status, Locale: r.Locale,
		Attempts: r.Attempts, LastError: r.LastError, MessageID: r.MessageID, SentAt: r.SentAt}
}

// orderKey begins the key of an email queued once per order.
const orderKey = "order:"

// key is what makes m one email with its template and recipient: its
// event, or its order.
func (m Message) key() string {
	if m.EventID != "" {
		return m.EventID
	}
	return orderKey + m.OrderID
}

// lease is how long a claimed job is hidden from other workers; a worker
// that dies mid-send leaves its job to be retried after it. It outlasts a
// wait for a free sender and its own send (each at most sendTimeout), and
// the sender's wait for a free connection (at most sendTimeout: past it the
// sender leaves the job to its lease) and little more, so mail held by a
// crashed process goes out soon after the restart.
const lease = 3*sendTimeout + 5*time.Second

// Enqueue adds a job inside the caller's transaction tx, so the email exists
// exactly when tx commits. At most one job exists per (EventID, Template,
// To), or (OrderID, Template, To) for a message without an event: a second
// Enqueue of the same does nothing, so a retried or replayed caller never
// causes a second email. Enqueue never sends; call Wake after the commit to
// send at once rather than at the next poll.
func (s *Service) Enqueue(tx *gorm.DB, m Message) error {
	if m.OrderID == "" || m.To == "" {
		return fmt.Errorf("%w: order id and recipient are required", ErrInvalidMessage)
	}
	if _, ok := s.templates.lookup(m.Template, s.lang); !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTemplate, m.Template)
	}
	data, err := json.Marshal(m.Data)
	if err != nil {
		return fmt.Errorf("%w: encode data for %s: %w", ErrInvalidMessage, m.Template, err)
	}
	now := time.Now().UTC()
	err = tx.Exec(`INSERT INTO email_jobs
		(event_id, order_id, template, recipient, locale, data, message_id, status, attempts, last_error, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, '', ?, ?, ?)
		ON CONFLICT (event_id, template, recipient) DO NOTHING`,
		m.key(), m.OrderID, m.Template, m.To, m.Locale, string(data), MessageID(m), StatusQueued, now, now, now).Error
	if err != nil {
		return fmt.Errorf("email: enqueue %s for order %s: %w", m.Template, m.OrderID, err)
	}
	return nil
}

// Lag is how long the longest-due email that no sender holds has waited
// at now, zero when none is due: a job being sent is leased, its next
// attempt moved past the send, and one that failed waits for its backoff.
// It is what a shop's lag counts of its mail (bus.LagSource).
func (s *Records) Lag(ctx context.Context, now time.Time) (time.Duration, error) {
	var due []time.Time
	err := s.db.WithContext(ctx).Raw(`SELECT next_attempt_at FROM email_jobs WHERE status = 'queued' AND next_attempt_at <= ?
		ORDER BY next_attempt_at LIMIT 1`, now.UTC()).Scan(&due).Error
	if err != nil || len(due) == 0 {
		return 0, err
	}
	return max(0, now.Sub(due[0])), nil
}

// ForOrder lists the order's emails, oldest first; none is an empty list.
func (s *Records) ForOrder(ctx context.Context, orderID string) ([]Job, error) {
	var rows []jobRow
	if err := s.db.WithContext(ctx).Where("order_id = ?", orderID).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("email: jobs for order %s: %w", orderID, err)
	}
	jobs := make([]Job, 0, len(rows))
	for _, r := range rows {
		jobs = append(jobs, r.job())
	}
	return jobs, nil
}

// claimQuery leases up to @n due jobs, longest due first, to the worker
// that runs it, and returns them: one statement, so two workers (or
// instances) never hold the same job, and the lease (next_attempt_at moved
// past the send's timeout) hides them until it ends. Due time first, as
// the due index is ordered, so a backlog is not sorted at every claim. It
// ends the inner SELECT with database.SkipLocked.
const claimQuery = `UPDATE email_jobs SET next_attempt_at = @until, updated_at = @now
WHERE id IN (SELECT id FROM email_jobs WHERE status = 'queued' AND next_attempt_at <= @now %s ORDER BY next_attempt_at, id LIMIT @n %s)
RETURNING *`

// claimDue leases up to limit jobs due at now, longest due first, and
// returns them by id. A job whose worker died is due again once its lease
// ends. held are jobs this process's senders still hold: one whose failure
// was just recorded is due again before its sender lets go of it, and
// leasing it then would hide it for a whole lease with no sender on it.
func (s *Service) claimDue(ctx context.Context, now time.Time, limit int, held ...int64) ([]jobRow, error) {
	var jobs []jobRow
	err := s.committer.Do(ctx, func(tx *gorm.DB) error {
		jobs = jobs[:0]
		args := map[string]any{"until": now.Add(lease), "now": now, "n": limit}
		skip := ""
		if len(held) > 0 {
			skip, args["held"] = "AND id NOT IN @held", held
		}
		q := fmt.Sprintf(claimQuery, skip, database.SkipLocked(tx))
		return tx.Raw(q, args).Scan(&jobs).Error
	})
	if err != nil {
		return nil, fmt.Errorf("email: claim due jobs: %w", err)
	}
	slices.SortFunc(jobs, func(a, b jobRow) int { return cmp.Compare(a.ID, b.ID) }) // RETURNING keeps no order
	return jobs, nil
}

// markSent records that the server accepted the job's email.
func (s *Service) markSent(ctx context.Context, j jobRow, now time.Time) error {
	if err := s.sent.mark(ctx, s.committer, j.ID, now); err != nil {
		return fmt.Errorf("email: mark job %d sent: %w", j.ID, err)
	}
	return nil
}

// sentMarks records the sends of all the senders that finish at the same
// moment with one UPDATE in one unit of work, rather than a unit (a
// savepoint, an update, a release) each. The first sender to mark opens a
// batch and submits its unit; the others join that batch until the unit
// runs and closes it; each returns once the unit committed, so a send is
// still recorded before its sender takes another job.
type sentMarks struct {
	mu   sync.Mutex
	open *markBatch // the batch new marks join; nil: none
}

type markBatch struct {
	ids  []int64
	at   time.Time // the latest send of the batch
	done chan struct{}
	err  error
}

func (m *sentMarks) mark(ctx context.Context, c Committer, id int64, now time.Time) error {
	m.mu.Lock()
	b := m.open
	lead := b == nil
	if lead {
		b = &markBatch{done: make(chan struct{})}
		m.open = b
	}
	b.ids = append(b.ids, id)
	if now.After(b.at) {
		b.at = now
	}
	m.mu.Unlock()
	if !lead {
		select {
		case <-b.done:
			return b.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b.err = c.Do(ctx, func(tx *gorm.DB) error {
		m.mu.Lock()
		if m.open == b {
			m.open = nil // later marks open the next batch; a retried unit writes these same ids
		}
		ids, at := b.ids, b.at
		m.mu.Unlock()
		return tx.Exec(`UPDATE email_jobs SET status = ?, attempts = attempts + 1, last_error = '', sent_at = ?, updated_at = ? WHERE id IN ?`,
			StatusSent, at, at, ids).Error
	})
	m.mu.Lock()
	if m.open == b {
		m.open = nil // the unit never ran (the caller gave up): its marks failed with it
	}
	m.mu.Unlock()
	close(b.done)
	return b.err
}

// markFailed records a failed attempt: the job is retried at next, or, when
// permanent or out of attempts, fails for good.
func (s *Service) markFailed(ctx context.Context, j jobRow, cause error, permanent bool, now, next time.Time) (string, error) {
	attempts := j.Attempts + 1
	status := StatusQueued
	if permanent || attempts >= s.cfg.MaxAttempts {
		status = StatusFailed
	}
	var history []bus.AttemptError
	_ = json.Unmarshal([]byte(j.Errors), &history) // a damaged history starts again
	errs, _ := json.Marshal(append(history, bus.AttemptError{Attempt: attempts, At: now, Error: cause.Error()}))
	err := s.committer.Do(ctx, func(tx *gorm.DB) error {
		return tx.Model(&jobRow{}).Where("id = ?", j.ID).Updates(map[string]any{
			"status": status, "attempts": attempts, "last_error": cause.Error(), "errors": string(errs),
			"next_attempt_at": next, "updated_at": now,
		}).Error
	})
	if err != nil {
		return status, fmt.Errorf("email: mark job %d failed: %w", j.ID, err)
	}
	return status, nil
}
