package email

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/fault"
)

// The email module's dead letters are its failed jobs: emails that ran
// out of attempts, or that the server refused for good (a 5xx reply),
// kept with the reply. They sit beside the bus's dead deliveries in
// `shopbus dlq`, /v1/dlq and the dashboard (a bus.DeadLetterSource), and a
// redrive queues them again with a fresh budget of attempts.

// DeadLetterKind is the kind of the email module's dead letters; their
// target is the module's name, which no webhook may take.
const DeadLetterKind = "email"

// ErrNoFailedEmail is a dead letter asked for that is not a failed email.
var ErrNoFailedEmail = fault.New(fault.NotFound, "email: no failed email")

// Kind says these dead letters are emails.
func (s *Records) Kind() string { return DeadLetterKind }

// deadLetter is a failed job as a dead letter: its payload is what the
// template renders.
func (r jobRow) deadLetter() bus.DeadLetter {
	d := bus.DeadLetter{ID: r.ID, Kind: DeadLetterKind, OrderID: r.OrderID, Target: DeadLetterKind, Template: r.Template,
		To: r.Recipient, Attempts: r.Attempts, LastError: r.LastError, Errors: r.history(), CreatedAt: r.CreatedAt, DiedAt: r.UpdatedAt}
	if json.Valid([]byte(r.Data)) {
		d.Payload = json.RawMessage(r.Data)
	}
	return d
}

// history is the job's failed attempts. A job that failed before they were
// kept has its last error alone.
func (r jobRow) history() []bus.AttemptError {
	h := []bus.AttemptError{}
	_ = json.Unmarshal([]byte(r.Errors), &h) // a damaged history shows as none
	if len(h) == 0 && r.LastError != "" {
		h = append(h, bus.AttemptError{Attempt: r.Attempts, At: r.UpdatedAt, Error: r.LastError})
	}
	return h
}

// DeadLetters lists the failed emails, oldest first, at most limit; none
// for a target other than DeadLetterKind.
func (s *Records) DeadLetters(ctx context.Context, target string, limit int) ([]bus.DeadLetter, error) {
	if target != "" && target != DeadLetterKind {
		return []bus.DeadLetter{}, nil
	}
	var rows []jobRow
	if err := s.db.WithContext(ctx).Where("status = ?", StatusFailed).Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("email: failed jobs: %w", err)
	}
	out := make([]bus.DeadLetter, len(rows))
	for i, r := range rows {
		out[i] = r.deadLetter()
	}
	return out, nil
}

// DeadLetter returns one failed email.
func (s *Records) DeadLetter(ctx context.Context, id int64) (bus.DeadLetter, error) {
	var row jobRow
	err := s.db.WithContext(ctx).Where("id = ? AND status = ?", id, StatusFailed).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return bus.DeadLetter{}, fmt.Errorf("%w %d", ErrNoFailedEmail, id)
	}
	if err != nil {
		return bus.DeadLetter{}, fmt.Errorf("email: failed job %d: %w", id, err)
	}
	return row.deadLetter(), nil
}

// DeadByTarget counts the failed emails, under DeadLetterKind.
func (s *Records) DeadByTarget(ctx context.Context) (map[string]int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&jobRow{}).Where("status = ?", StatusFailed).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("email: count failed jobs: %w", err)
	}
	if n == 0 {
		return map[string]int64{}, nil
	}
	return map[string]int64{DeadLetterKind: n}, nil
}

// Redrive queues failed emails again, due now, with a fresh budget of
// attempts and their errors kept: those IDs, or every one (r.All, or
// r.Target DeadLetterKind). It returns how many; IDs none of which is a
// failed email are ErrNoFailedEmail. The worker of a running instance
// takes them at its next poll; Service.Redrive wakes it at once.
func (s *Records) Redrive(ctx context.Context, r bus.Redrive) (int64, error) {
	if err := r.Check(); err != nil {
		return 0, err
	}
	q := s.db.WithContext(ctx).Model(&jobRow{}).Where("status = ?", StatusFailed)
	switch {
	case len(r.IDs) > 0:
		q = q.Where("id IN ?", r.IDs)
	case r.Target != "" && r.Target != DeadLetterKind:
		return 0, nil
	}
	now := time.Now().UTC()
	res := q.Updates(map[string]any{"status": StatusQueued, "attempts": 0, "next_attempt_at": now, "updated_at": now})
	if res.Error != nil {
		return 0, fmt.Errorf("email: redrive: %w", res.Error)
	}
	if len(r.IDs) > 0 && res.RowsAffected == 0 {
		return 0, fmt.Errorf("%w: none of %v", ErrNoFailedEmail, r.IDs)
	}
	return res.RowsAffected, nil
}

// Redrive is Records.Redrive, and the worker looks for the jobs at once.
func (s *Service) Redrive(ctx context.Context, r bus.Redrive) (int64, error) {
	n, err := s.Records.Redrive(ctx, r)
	if n > 0 {
		s.log.Info("email: redrive", "emails", n, "ids", r.IDs)
		s.Wake()
	}
	return n, err
}
