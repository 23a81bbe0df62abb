package email

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/shopbus/shopbus/bus"
)

// idleClose is how long a sender keeps an unused SMTP connection open:
// well under the 5 minutes after which RFC 5321 lets a server drop it.
const idleClose = 30 * time.Second

// Run is the worker: it claims due jobs every PollInterval and whenever
// Wake is called, and hands them to cfg.Workers senders, which share
// cfg.SMTPConnections SMTP connections kept open between sends. A sender
// holds a connection only for its send, not while the send is recorded (a
// group commit away): so the connections stay busy, and each sender has
// at most one message accepted by the server and not yet recorded. It
// does not start a send once ctx is done, but lets those in progress
// finish and be recorded, and then returns nil.
//
// Writing .eml files, it first removes the partial files a killed process
// left in the folder.
func (s *Service) Run(ctx context.Context) error {
	if s.client == nil {
		if err := removePartialEML(s.cfg.Dir); err != nil {
			s.log.Warn("email: remove partial .eml files", "dir", s.cfg.Dir, "err", err)
		}
	}
	jobs := make(chan jobRow)
	var senders sync.WaitGroup
	inflight := newJobSet()
	conns := newSessions(s, min(s.cfg.SMTPConnections, s.cfg.Workers))
	defer conns.close() // after the senders are done
	for range s.cfg.Workers {
		senders.Go(func() { s.sender(ctx, jobs, inflight, conns) })
	}
	defer senders.Wait()
	defer close(jobs)

	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		conns.closeIdle(idleClose)
		for ctx.Err() == nil {
			n, err := s.handOut(ctx, jobs, inflight)
			if err != nil && ctx.Err() == nil {
				s.log.Error("email: send due jobs", "err", err)
			}
			if err != nil || n == 0 {
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

// handOut claims a due job for each sender and passes them on, and returns
// how many it passed. It blocks while every sender is busy, which paces it:
// a claimed job waits at most one send before a sender takes it, well
// within its lease.
func (s *Service) handOut(ctx context.Context, jobs chan<- jobRow, inflight *jobSet) (int, error) {
	due, err := s.claimDue(ctx, time.Now().UTC(), s.cfg.Workers, inflight.list()...)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range due {
		if !inflight.add(j.ID) {
			continue // claimed again while a sender still holds it (a lease outlived)
		}
		select {
		case jobs <- j:
			n++
		case <-ctx.Done():
			// Not sent: its lease ends and it is due again.
			inflight.remove(j.ID)
			return n, nil
		}
	}
	return n, nil
}

// sender sends the jobs it is handed, one at a time, each over a
// connection it takes from conns for the send. A send and its record
// outlive ctx: cancelling mid-send would leave an accepted message
// unrecorded, and sent again.
func (s *Service) sender(ctx context.Context, jobs <-chan jobRow, inflight *jobSet, conns *sessions) {
	for j := range jobs {
		s.process(context.WithoutCancel(ctx), conns, j)
		inflight.remove(j.ID)
	}
}

// process sends one job and records the outcome.
func (s *Service) process(ctx context.Context, conns *sessions, j jobRow) {
	log := s.log.With("job_id", j.ID, "order_id", j.OrderID, "template", j.Template)
	m, err := s.buildMsg(j, time.Now().UTC())
	if err == nil {
		sess, ok := conns.take(sendTimeout)
		if !ok {
			// Every connection is stuck in a send: leave the job to its
			// lease, which outlasts this wait and one send, rather than
			// hold it past the lease.
			log.Warn("email: no SMTP connection free; the job is sent once its lease ends")
			return
		}
		err = sess.send(ctx, m, j.MessageID)
		conns.put(sess)
	}
	now := time.Now().UTC()
	if err == nil {
		if err := s.markSent(ctx, j, now); err != nil {
			// The lease expires and the email goes again, with the same
			// Message-ID.
			log.Error("email: sent but not recorded", "err", err)
			return
		}
		s.observer.Emailed(j.Template, OutcomeSent)
		log.Info("email: sent", "attempt", j.Attempts+1)
		return
	}
	next := now.Add(bus.Backoff(j.Attempts+1, s.cfg.InitialBackoff, s.cfg.MaxBackoff))
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

// sessions are the SMTP connections the senders share, each kept open
// between sends and closed once unused for idleClose.
type sessions struct{ free chan *session }

func newSessions(s *Service, n int) *sessions {
	p := &sessions{free: make(chan *session, n)}
	for range n {
		p.free <- &session{s: s}
	}
	return p
}

// take waits up to wait for a free connection.
func (p *sessions) take(wait time.Duration) (*session, bool) {
	select {
	case ss := <-p.free:
		return ss, true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case ss := <-p.free:
		return ss, true
	case <-t.C:
		return nil, false
	}
}

func (p *sessions) put(ss *session) {
	ss.used = time.Now()
	p.free <- ss
}

// closeIdle closes the free connections unused for longer than idle.
func (p *sessions) closeIdle(idle time.Duration) {
	for range len(p.free) {
		select {
		case ss := <-p.free:
			if time.Since(ss.used) > idle {
				ss.close()
			}
			p.free <- ss
		default:
			return
		}
	}
}

// close closes every connection; the senders must be done.
func (p *sessions) close() {
	for range cap(p.free) {
		(<-p.free).close()
	}
}

// jobSet is the jobs handed to senders and not yet finished.
type jobSet struct {
	mu  sync.Mutex
	ids map[int64]bool
}

func newJobSet() *jobSet { return &jobSet{ids: map[int64]bool{}} }

// add reports false if id is already in the set.
func (js *jobSet) add(id int64) bool {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.ids[id] {
		return false
	}
	js.ids[id] = true
	return true
}

// list returns the ids in the set.
func (js *jobSet) list() []int64 {
	js.mu.Lock()
	defer js.mu.Unlock()
	ids := make([]int64, 0, len(js.ids))
	for id := range js.ids {
		ids = append(ids, id)
	}
	return ids
}

func (js *jobSet) remove(id int64) {
	js.mu.Lock()
	defer js.mu.Unlock()
	delete(js.ids, id)
}
