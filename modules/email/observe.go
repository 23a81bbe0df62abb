package email

import "context"

// Outcomes of a send, as an Observer is told them.
const (
	OutcomeSent   = "sent"
	OutcomeRetry  = "retry"  // it failed and waits for another attempt
	OutcomeFailed = "failed" // it failed for good
)

// Observer is told the outcome of every send: metrics implement it. It is
// called from the worker and must be quick.
type Observer interface {
	Emailed(template, outcome string)
}

type noObserver struct{}

func (noObserver) Emailed(string, string) {}

// Backlog counts the emails queued and not yet sent, due or waiting for a
// retry.
func (s *Records) Backlog(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&jobRow{}).Where("status = ?", StatusQueued).Count(&n).Error
	return n, err
}
