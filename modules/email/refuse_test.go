package email

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

func TestWorkerFailsAtOnceWhenTheServerRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     int
		enhanced smtp.EnhancedCode
		reply    string
	}{
		{"553 address not ASCII", 553, smtp.EnhancedCode{5, 6, 7}, "SMTPUTF8 is required for this address"},
		{"550 no such mailbox", 550, smtp.EnhancedCode{5, 1, 1}, "no such mailbox here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, "127.0.0.1:0")
			srv.RefuseRecipients(tc.code, tc.enhanced, tc.reply)
			cfg := testConfig()
			cfg.SMTPAddr = srv.Addr()
			s := newTestService(t, dbtest.Open(t, Migrations), cfg)
			enqueue(t, s, orderMsg)
			runWorker(t, s)
			s.Wake()

			bustest.WaitFor(t, "the job to fail", jobIs(t, s, "ord_123", StatusFailed))
			job := jobsFor(t, s, "ord_123")[0]
			if job.Attempts != 1 {
				t.Errorf("%d attempts, want 1: a %d is final", job.Attempts, tc.code)
			}
			if !strings.Contains(job.LastError, fmt.Sprint(tc.code)) || !strings.Contains(job.LastError, tc.reply) {
				t.Errorf("last error %q lacks the server's reply", job.LastError)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("%d messages accepted", n)
			}
		})
	}
}

func TestWorkerRetriesATemporaryRefusal(t *testing.T) {
	srv := smtptest.Start(t, "127.0.0.1:0")
	srv.RefuseRecipients(450, smtp.EnhancedCode{4, 2, 1}, "mailbox busy, try later")
	cfg := testConfig()
	cfg.SMTPAddr = srv.Addr()
	s := newTestService(t, dbtest.Open(t, Migrations), cfg)
	enqueue(t, s, orderMsg)
	runWorker(t, s)
	s.Wake()

	bustest.WaitFor(t, "a second attempt", func() bool {
		jobs := jobsFor(t, s, "ord_123")
		return len(jobs) == 1 && jobs[0].Attempts >= 2
	})
	if job := jobsFor(t, s, "ord_123")[0]; job.Status != StatusQueued || !strings.Contains(job.LastError, "450") {
		t.Fatalf("after a 450 the job is %+v, want queued with the reply", job)
	}
	srv.RefuseRecipients(0, smtp.EnhancedCode{}, "")
	bustest.WaitFor(t, "the job to be sent", jobIs(t, s, "ord_123", StatusSent))
}

func TestWorkerMailsAnInternationalisedDomainInPunycode(t *testing.T) {
	srv := smtptest.Start(t, "127.0.0.1:0")
	cfg := testConfig()
	cfg.SMTPAddr = srv.Addr()
	s := newTestService(t, dbtest.Open(t, Migrations), cfg)
	msg := orderMsg
	msg.To = "john@exämple.com"
	enqueue(t, s, msg)
	runWorker(t, s)
	s.Wake()

	bustest.WaitFor(t, "the job to be sent", jobIs(t, s, "ord_123", StatusSent))
	msgs := srv.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "john@xn--exmple-cua.com" {
		t.Fatalf("envelope recipients %+v, want john@xn--exmple-cua.com", msgs)
	}
}
