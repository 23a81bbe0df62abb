package email

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// batchSize bounds the due jobs read at once.
const batchSize = 10

// Run is the worker: it sends due jobs until ctx is done, looking for them
// every PollInterval and whenever Wake is called. It does not start a send
// once ctx is done, but lets the one in progress finish and be recorded, and
// then returns nil.
func (s *Service) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		for ctx.Err() == nil {
			n, err := s.sendDue(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Error("email: send due jobs", "err", err)
			}
			if err != nil || n < batchSize {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-s.wake:
		}
	}
}

// sendDue sends a batch of due jobs, claiming each just before its send,
// and returns how many were due.
func (s *Service) sendDue(ctx context.Context) (int, error) {
	jobs, err := s.dueJobs(ctx, time.Now().UTC(), batchSize)
	if err != nil {
		return 0, err
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			return len(jobs), nil
		}
		ok, err := s.claim(ctx, j, time.Now().UTC())
		if err != nil {
			return len(jobs), err
		}
		if ok {
			// The send and its record outlive ctx: cancelling mid-send
			// would leave an accepted message unrecorded, and sent again.
			s.process(context.WithoutCancel(ctx), j)
		}
	}
	return len(jobs), nil
}

// process sends one job and records the outcome.
func (s *Service) process(ctx context.Context, j jobRow) {
	log := s.log.With("job_id", j.ID, "order_id", j.OrderID, "template", j.Template)
	m, err := s.buildMsg(j, time.Now().UTC())
	var closeConn func()
	if err == nil {
		closeConn, err = s.send(ctx, m, j.MessageID)
	}
	now := time.Now().UTC()
	if err == nil {
		err := s.markSent(ctx, j, now)
		closeConn()
		if err != nil {
			// The lease expires and the email goes again, with the same
			// Message-ID.
			log.Error("email: sent but not recorded", "err", err)
			return
		}
		s.observer.Emailed(j.Template, OutcomeSent)
		log.Info("email: sent", "attempt", j.Attempts+1)
		return
	}
	next := now.Add(backoff(j.Attempts+1, s.cfg.InitialBackoff, s.cfg.MaxBackoff))
	status, merr := s.markFailed(ctx, j, err, errors.Is(err, errPermanent), now, next)
	if merr != nil {
		log.Error("email: record failure", "err", merr, "cause", err)
		return
	}
	if status == StatusFailed {
		s.observer.Emailed(j.Template, OutcomeFailed)
		log.Error("email: failed for good", "attempt", j.Attempts+1, "err", err)
		return
	}
	s.observer.Emailed(j.Template, OutcomeRetry)
	log.Warn("email: send failed, will retry", "attempt", j.Attempts+1, "next_attempt_at", next, "err", err)
}

// backoff is the wait after the attempt-th failure (counting from 1): full
// jitter, a random duration in (0, min(maxWait, initial*2^(attempt-1))].
func backoff(attempt int, initial, maxWait time.Duration) time.Duration {
	ceiling := maxWait
	if shift := attempt - 1; shift < 62 && initial <= maxWait>>shift {
		ceiling = initial << shift
	}
	return rand.N(ceiling) + 1
}
