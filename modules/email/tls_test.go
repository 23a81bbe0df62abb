package email

import (
	"strings"
	"testing"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/email/smtptest"
	"github.com/shopbus/shopbus/tlstest"
)

// TestSMTPOverTLS sends through servers as providers run them: STARTTLS
// required on the submission port, TLS from the first byte on 465, AUTH
// only over TLS; and fails as it must against a wrong password (for good,
// at once, the reply in the job) and an untrusted certificate (never sent
// over it).
func TestSMTPOverTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	caFile := ca.WriteCA(t, t.TempDir())
	leaf := ca.Issue(t, "127.0.0.1")
	users := map[string]string{"shop": "correct horse"}

	tests := []struct {
		name     string
		opts     smtptest.Options
		mode     string // mail.smtp_tls
		caFile   string
		password string
		// status is the job's after its first attempt; errHas is in its
		// last_error when it failed.
		status, errHas string
	}{
		{"starttls required", smtptest.Options{TLS: leaf.ServerConfig(), RequireTLS: true, Users: users}, "starttls", caFile, "correct horse", StatusSent, ""},
		{"implicit tls", smtptest.Options{TLS: leaf.ServerConfig(), Implicit: true, Users: users}, "tls", caFile, "correct horse", StatusSent, ""},
		{"wrong password", smtptest.Options{TLS: leaf.ServerConfig(), RequireTLS: true, Users: users}, "starttls", caFile, "wrong", StatusFailed, "535"},
		{"untrusted certificate", smtptest.Options{TLS: leaf.ServerConfig(), RequireTLS: true, Users: users}, "starttls", "", "correct horse", StatusQueued, "certificate"},
		{"untrusted certificate, implicit", smtptest.Options{TLS: leaf.ServerConfig(), Implicit: true, Users: users}, "tls", "", "correct horse", StatusQueued, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.StartWith(t, "127.0.0.1:0", tt.opts)
			cfg := testConfig()
			cfg.SMTPAddr, cfg.SMTPTLS, cfg.SMTPCAFile = srv.Addr(), tt.mode, tt.caFile
			cfg.SMTPUsername, cfg.SMTPPassword = "shop", tt.password
			s := newTestService(t, dbtest.Open(t, Migrations), cfg)
			enqueue(t, s, orderMsg)
			runWorker(t, s)
			s.Wake()
			bustest.WaitFor(t, "a first attempt", func() bool {
				jobs := jobsFor(t, s, "ord_123")
				return len(jobs) == 1 && jobs[0].Attempts >= 1
			})
			job := jobsFor(t, s, "ord_123")[0]
			if tt.status == StatusSent {
				bustest.WaitFor(t, "the job to be sent", jobIs(t, s, "ord_123", StatusSent))
				if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].To[0] != "ada@example.com" {
					t.Fatalf("server received %v", msgs)
				}
				return
			}
			if job.Status != tt.status || !strings.Contains(job.LastError, tt.errHas) {
				t.Errorf("job %+v, want %s with %q in its error", job, tt.status, tt.errHas)
			}
			if strings.Contains(job.LastError, tt.password) {
				t.Errorf("the password shows in the job's error: %q", job.LastError)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("the server received %d messages", n)
			}
			if tt.status == StatusFailed && job.Attempts != 1 {
				t.Errorf("a wrong password was tried %d times; it is a permanent failure", job.Attempts)
			}
		})
	}
}

// TestSMTPCAFileRefusedAtStart: a CA file that cannot be read or holds no
// certificate stops the start rather than every send.
func TestSMTPCAFileRefusedAtStart(t *testing.T) {
	cfg := testConfig()
	cfg.SMTPAddr, cfg.SMTPTLS, cfg.SMTPCAFile = "127.0.0.1:465", "tls", "/nonexistent/ca.pem"
	if _, err := New(Deps{DB: dbtest.Open(t, Migrations)}, cfg); err == nil {
		t.Error("a missing smtp_ca_file was accepted")
	}
}
