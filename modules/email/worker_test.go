package email

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// checkOrderSuccess checks an order_success email for sampleOrder.
func checkOrderSuccess(t *testing.T, p smtptest.Parsed) {
	t.Helper()
	// One message per (order, template, recipient) for a message queued
	// without an event, as orderMsg is.
	sum := sha256.Sum256([]byte("order:ord_123\x00order_success\x00ada@example.com"))
	wantID := "<" + hex.EncodeToString(sum[:])[:32] + ".order_success@shopbus>"
	if got := p.Header.Get("Message-Id"); got != wantID {
		t.Errorf("Message-ID %q, want %q", got, wantID)
	}
	if got := p.Header.Get("To"); !strings.Contains(got, "ada@example.com") {
		t.Errorf("To %q", got)
	}
	if got := p.Header.Get("From"); !strings.Contains(got, "shop@example.com") {
		t.Errorf("From %q", got)
	}
	if d, err := p.Header.Date(); err != nil || d.IsZero() {
		t.Errorf("Date %q: %v", p.Header.Get("Date"), err)
	}
	if !strings.Contains(p.Subject, "ord_123") {
		t.Errorf("subject %q lacks the order id", p.Subject)
	}
	for _, want := range []string{"ord_123", "2 x Blue mug (MUG-1) at 12.50 EUR: 25.00 EUR", "1 x Green tea (TEA-7) at 8.99 EUR: 8.99 EUR",
		"Total: 33.99 EUR", "1 Analytical Row", "N1 9GU London", "GB", "Ada <script>"} {
		if !strings.Contains(p.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, p.Text)
		}
	}
	for _, want := range []string{"ord_123", "Blue mug", "MUG-1", "12.50 EUR", "25.00 EUR", "33.99 EUR", "1 Analytical Row", "N1 9GU London",
		"Ada &lt;script&gt;alert(1)&lt;/script&gt;"} {
		if !strings.Contains(p.HTML, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, p.HTML)
		}
	}
	if strings.Contains(p.HTML, "<script>") {
		t.Errorf("HTML part has the customer's name unescaped:\n%s", p.HTML)
	}
}

var orderMsg = Message{OrderID: "ord_123", Template: "order_success", To: "ada@example.com", Data: sampleOrder()}

func TestWorkerSendsOverSMTP(t *testing.T) {
	srv := smtptest.Start(t, "127.0.0.1:0")
	cfg := testConfig()
	cfg.SMTPAddr = srv.Addr()
	s := newTestService(t, dbtest.Open(t, Migrations), cfg)
	enqueue(t, s, orderMsg)
	runWorker(t, s)
	s.Wake()

	bustest.WaitFor(t, "the job to be sent", jobIs(t, s, "ord_123", StatusSent))
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	if msgs[0].From != "shop@example.com" || len(msgs[0].To) != 1 || msgs[0].To[0] != "ada@example.com" {
		t.Errorf("envelope from %q to %q", msgs[0].From, msgs[0].To)
	}
	checkOrderSuccess(t, parseMail(t, msgs[0].Data))
	job := jobsFor(t, s, "ord_123")[0]
	if job.Attempts != 1 || job.SentAt == nil || job.LastError != "" {
		t.Errorf("job %+v, want 1 attempt, sent_at, no error", job)
	}
}

func TestWorkerRetriesUntilSMTPIsUp(t *testing.T) {
	addr := smtptest.FreeAddr(t)
	cfg := testConfig()
	cfg.SMTPAddr = addr
	s := newTestService(t, dbtest.Open(t, Migrations), cfg)
	enqueue(t, s, orderMsg)
	runWorker(t, s)

	bustest.WaitFor(t, "a failed attempt", func() bool {
		jobs := jobsFor(t, s, "ord_123")
		return len(jobs) == 1 && jobs[0].Attempts >= 1 && jobs[0].LastError != ""
	})
	if job := jobsFor(t, s, "ord_123")[0]; job.Status != StatusQueued {
		t.Fatalf("after a refused connection the job is %q, want queued", job.Status)
	}
	srv := smtptest.Start(t, addr)

	bustest.WaitFor(t, "the job to be sent", jobIs(t, s, "ord_123", StatusSent))
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("server received %d messages, want 1", n)
	}
	if job := jobsFor(t, s, "ord_123")[0]; job.Attempts < 2 || job.LastError != "" {
		t.Errorf("job %+v, want more than one attempt and no error left", job)
	}
}

func TestWorkerGivesUp(t *testing.T) {
	t.Run("after max attempts", func(t *testing.T) {
		cfg := testConfig()
		cfg.SMTPAddr = smtptest.FreeAddr(t)
		cfg.MaxAttempts = 3
		s := newTestService(t, dbtest.Open(t, Migrations), cfg)
		enqueue(t, s, orderMsg)
		runWorker(t, s)
		bustest.WaitFor(t, "the job to fail", jobIs(t, s, "ord_123", StatusFailed))
		if job := jobsFor(t, s, "ord_123")[0]; job.Attempts != 3 || job.LastError == "" {
			t.Errorf("job %+v, want 3 attempts and the last error", job)
		}
	})
	t.Run("at once when the template cannot render", func(t *testing.T) {
		cfg := testConfig()
		cfg.Dir = t.TempDir()
		s := newTestService(t, dbtest.Open(t, Migrations), cfg)
		enqueue(t, s, Message{OrderID: "ord_9", Template: "order_success", To: "ada@example.com", Data: "not an order"})
		runWorker(t, s)
		bustest.WaitFor(t, "the job to fail", jobIs(t, s, "ord_9", StatusFailed))
		if job := jobsFor(t, s, "ord_9")[0]; job.Attempts != 1 || !strings.Contains(job.LastError, "render") {
			t.Errorf("job %+v, want 1 attempt and a render error", job)
		}
		if files, _ := filepath.Glob(filepath.Join(cfg.Dir, "*")); len(files) != 0 {
			t.Errorf("files written: %v", files)
		}
	})
}

func TestWorkerWritesEMLFiles(t *testing.T) {
	cfg := testConfig()
	cfg.Dir = filepath.Join(t.TempDir(), "outbox") // created by the worker
	s := newTestService(t, dbtest.Open(t, Migrations), cfg)
	enqueue(t, s, orderMsg)
	enqueue(t, s, Message{OrderID: "ord_124", Template: "order_success", To: "bob@example.com", Data: sampleOrder()})
	enqueue(t, s, Message{OrderID: "ord_124", Template: "inventory_shortage", To: cfg.OwnerEmail,
		Data: Shortage{OrderID: "ord_124", Items: []ShortItem{{SKU: "MUG-1", Requested: 2, Available: 1}}}})
	runWorker(t, s)

	bustest.WaitFor(t, "the jobs to be sent", func() bool {
		jobs := append(jobsFor(t, s, "ord_123"), jobsFor(t, s, "ord_124")...)
		for _, j := range jobs {
			if j.Status != StatusSent {
				return false
			}
		}
		return len(jobs) == 3
	})
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("got %d files, want 3 (no temporary files left)", len(entries))
	}
	name := emlName(MessageID(orderMsg))
	raw, err := os.ReadFile(filepath.Join(cfg.Dir, name))
	if err != nil {
		t.Fatal(err)
	}
	checkOrderSuccess(t, parseMail(t, string(raw)))

	raw, err = os.ReadFile(filepath.Join(cfg.Dir, emlName(MessageID(Message{OrderID: "ord_124", Template: "inventory_shortage", To: cfg.OwnerEmail}))))
	if err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, string(raw))
	if !strings.Contains(p.Subject, "ord_124") || !strings.Contains(p.Text, "MUG-1: requested 2, available 1") ||
		!strings.Contains(p.Header.Get("To"), "owner@example.com") {
		t.Errorf("shortage email: subject %q, To %q, text:\n%s", p.Subject, p.Header.Get("To"), p.Text)
	}
}

// TestSendersKeepTheirConnections: each sender sends many emails over one
// SMTP connection, and one the server dropped meanwhile is replaced without
// counting as a failed attempt.
func TestSendersKeepTheirConnections(t *testing.T) {
	srv := smtptest.Start(t, "127.0.0.1:0")
	cfg := testConfig()
	cfg.SMTPAddr = srv.Addr()
	cfg.Workers = 2
	s := newTestService(t, dbtest.Open(t, Migrations), cfg)
	enqueueOrders := func(from, to int) {
		for i := from; i < to; i++ {
			m := orderMsg
			m.OrderID = fmt.Sprintf("ord_%02d", i)
			enqueue(t, s, m)
		}
		s.Wake()
	}
	waitSent := func(from, to int) {
		for i := from; i < to; i++ {
			bustest.WaitFor(t, "the job to be sent", jobIs(t, s, fmt.Sprintf("ord_%02d", i), StatusSent))
		}
	}
	enqueueOrders(0, 20)
	runWorker(t, s)
	waitSent(0, 20)
	if n := len(srv.Messages()); n != 20 {
		t.Fatalf("server received %d messages, want 20", n)
	}
	if n := srv.Connections(); n < 1 || n > cfg.Workers {
		t.Errorf("20 emails took %d SMTP connections, want at most one per sender (%d)", n, cfg.Workers)
	}

	// The server restarts: the senders' connections are gone.
	srv.Close()
	srv = smtptest.Start(t, srv.Addr())
	enqueueOrders(20, 25)
	waitSent(20, 25)
	if n := len(srv.Messages()); n != 5 {
		t.Errorf("the restarted server received %d messages, want 5", n)
	}
	for i := 20; i < 25; i++ {
		if job := jobsFor(t, s, fmt.Sprintf("ord_%02d", i))[0]; job.Attempts != 1 || job.LastError != "" {
			t.Errorf("job %+v after the server dropped a kept connection: want sent at the first attempt", job)
		}
	}
}

// TestWorkersShareConnections: more workers than SMTP connections send
// everything over the connections alone, while each worker waits for its
// own send to be recorded without holding one.
func TestWorkersShareConnections(t *testing.T) {
	srv := smtptest.Start(t, "127.0.0.1:0")
	cfg := testConfig()
	cfg.SMTPAddr = srv.Addr()
	cfg.Workers, cfg.SMTPConnections = 8, 2
	s := newTestService(t, dbtest.Open(t, Migrations), cfg)
	for i := range 40 {
		m := orderMsg
		m.OrderID = fmt.Sprintf("ord_%02d", i)
		enqueue(t, s, m)
	}
	runWorker(t, s)
	for i := range 40 {
		bustest.WaitFor(t, "the job to be sent", jobIs(t, s, fmt.Sprintf("ord_%02d", i), StatusSent))
	}
	if n := len(srv.Messages()); n != 40 {
		t.Errorf("server received %d messages, want 40", n)
	}
	if n := srv.Connections(); n < 1 || n > cfg.SMTPConnections {
		t.Errorf("8 workers took %d SMTP connections, want at most %d", n, cfg.SMTPConnections)
	}
	// A kept connection goes straight from one message to the next: once a
	// message is accepted the session is reset already (RFC 5321 4.1.1.4),
	// so an RSET would only be one more round trip per email.
	if mail, rset := srv.Commands("MAIL"), srv.Commands("RSET"); mail != 40 || rset != 0 {
		t.Errorf("the server saw %d MAIL and %d RSET commands, want 40 and none", mail, rset)
	}
}
