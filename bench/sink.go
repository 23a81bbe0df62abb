package main

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is the SMTP server shopbus mails to during a run. It keeps only the
// time each order's email was accepted (end of DATA), keyed by the order id
// in the recipient address, and throws the message away.
type sink struct {
	srv  *smtp.Server
	addr string

	mu      sync.Mutex
	arrived map[string]time.Time
	dupes   int // a second email for an order already mailed
	other   int // mail not addressed to a bench customer (e.g. a stock alert)
}

func startSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{addr: l.Addr().String(), arrived: map[string]time.Time{}}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.MaxRecipients = 10
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	go s.srv.Serve(l)
	return s, nil
}

func (s *sink) close() { _ = s.srv.Close() }

// count is how many orders have been mailed so far.
func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.arrived)
}

// snapshot copies the arrival times.
func (s *sink) snapshot() (map[string]time.Time, int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]time.Time, len(s.arrived))
	for k, v := range s.arrived {
		m[k] = v
	}
	return m, s.dupes, s.other
}

type sinkSession struct {
	sink *sink
	to   []string
}

func (s *sinkSession) Reset()                                    { s.to = nil }
func (s *sinkSession) Logout() error                             { return nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }

func (s *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	now := time.Now()
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	for _, to := range s.to {
		id, ok := orderIDFromRcpt(to)
		switch {
		case !ok:
			s.sink.other++
		case !s.sink.arrived[id].IsZero():
			s.sink.dupes++
		default:
			s.sink.arrived[id] = now
		}
	}
	return nil
}
