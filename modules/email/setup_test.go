package email

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database"
)

// openTestDB opens a migrated SQLite database in a temporary folder.
func openTestDB(t *testing.T) *gorm.DB {
	t.Helper()
	db, err := database.Open(database.Config{DSN: filepath.Join(t.TempDir(), "shop.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	if _, err := database.Migrate(context.Background(), db, Migrations); err != nil {
		t.Fatal(err)
	}
	return db
}

// testConfig retries fast; the caller sets SMTPAddr or Dir.
func testConfig() Config {
	return Config{
		From:           "Test Shop <shop@example.com>",
		OwnerEmail:     "owner@example.com",
		PollInterval:   20 * time.Millisecond,
		InitialBackoff: 10 * time.Millisecond,
		MaxBackoff:     50 * time.Millisecond,
	}
}

func newTestService(t *testing.T, db *gorm.DB, cfg Config) *Service {
	t.Helper()
	s, err := New(db, cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runWorker runs s.Run until the test ends, and checks it returns.
func runWorker(t *testing.T, s *Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func enqueue(t *testing.T, s *Service, m Message) {
	t.Helper()
	if err := s.db.Transaction(func(tx *gorm.DB) error { return s.Enqueue(tx, m) }); err != nil {
		t.Fatal(err)
	}
}

func jobsFor(t *testing.T, s *Service, orderID string) []Job {
	t.Helper()
	jobs, err := s.ForOrder(context.Background(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// jobIs reports whether the order has exactly one job, in status.
func jobIs(t *testing.T, s *Service, orderID, status string) func() bool {
	return func() bool {
		jobs := jobsFor(t, s, orderID)
		return len(jobs) == 1 && jobs[0].Status == status
	}
}

func sampleOrder() OrderSuccess {
	return OrderSuccess{
		OrderID:       "ord_123",
		CustomerName:  "Ada <script>alert(1)</script>",
		CustomerEmail: "ada@example.com",
		Currency:      "EUR",
		Items: []Line{
			{SKU: "MUG-1", Name: "Blue mug", Quantity: 2, UnitPriceMinor: 1250},
			{SKU: "TEA-7", Name: "Green tea", Quantity: 1, UnitPriceMinor: 899},
		},
		TotalMinor:      3399,
		ShippingAddress: Address{Line1: "1 Analytical Row", City: "London", PostalCode: "N1 9GU", Country: "GB"},
	}
}

// smtpServer is a real SMTP server that keeps what it receives.
type smtpServer struct {
	addr string
	mu   sync.Mutex
	msgs []received
}

type received struct {
	from string
	to   []string
	data string
}

// startSMTP serves SMTP on addr ("127.0.0.1:0" for any port) until the test ends.
func startSMTP(t *testing.T, addr string) *smtpServer {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: l.Addr().String()}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{srv: s}, nil }))
	srv.Domain = "localhost"
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *smtpServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

type session struct {
	srv *smtpServer
	msg received
}

func (s *session) Reset()        { s.msg = received{} }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.msg.from = from
	return nil
}
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.to = append(s.msg.to, to)
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.data = string(b)
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.msg)
	s.srv.mu.Unlock()
	return nil
}

// freeAddr returns a local address nothing listens on (for now).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// parsed is a received email, its parts decoded.
type parsed struct {
	header     mail.Header
	subject    string
	text, html string
}

func parseMail(t *testing.T, raw string) parsed {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	p := parsed{header: m.Header}
	if p.subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q, want multipart/alternative (%v)", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(part) // quoted-printable is decoded by the reader
		if err != nil {
			t.Fatal(err)
		}
		switch ct := part.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/plain"):
			p.text = string(b)
		case strings.HasPrefix(ct, "text/html"):
			p.html = string(b)
		}
	}
	if p.text == "" || p.html == "" {
		t.Fatalf("want a text and an HTML part, got text %d bytes, html %d bytes", len(p.text), len(p.html))
	}
	return p
}
