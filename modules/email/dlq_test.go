package email

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestRefusedEmailIsADeadLetter: an email the server refused for good is a
// dead letter of kind email with the server's reply and every attempt;
// a redrive queues it again with a fresh budget, keeping those errors,
// and it is sent once the server takes it.
func TestRefusedEmailIsADeadLetter(t *testing.T) {
	ctx := context.Background()
	srv := smtptest.Start(t, "127.0.0.1:0")
	srv.RefuseRecipients(553, smtp.EnhancedCode{5, 6, 7}, "SMTPUTF8 is required for this address")
	cfg := testConfig()
	cfg.SMTPAddr = srv.Addr()
	s := newTestService(t, dbtest.Open(t, Migrations), cfg)
	enqueue(t, s, orderMsg)
	runWorker(t, s)
	s.Wake()
	bustest.WaitFor(t, "the job to fail", jobIs(t, s, "ord_123", StatusFailed))

	var src bus.DeadLetterSource = s // what `shopbus dlq`, /v1/dlq and the dashboard read
	dead, err := src.DeadLetters(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	d := dead[0]
	if d.Kind != DeadLetterKind || d.Target != "email" || d.OrderID != "ord_123" || d.Template != orderMsg.Template ||
		d.To != orderMsg.To || d.Attempts != 1 || !strings.Contains(d.LastError, "553") ||
		!strings.Contains(d.LastError, "SMTPUTF8 is required") || len(d.Errors) != 1 || d.Errors[0].Error != d.LastError {
		t.Errorf("dead letter %+v", d)
	}
	if one, err := src.DeadLetter(ctx, d.ID); err != nil || one.ID != d.ID {
		t.Errorf("DeadLetter(%d): %+v %v", d.ID, one, err)
	}
	if _, err := src.DeadLetter(ctx, d.ID+1); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("DeadLetter of no failed email: %v, want NotFound", err)
	}
	if other, err := src.DeadLetters(ctx, "shipping", 10); err != nil || len(other) != 0 {
		t.Errorf("dead letters of target shipping: %v %v, want none", other, err)
	}
	if counts, err := src.DeadByTarget(ctx); err != nil || counts["email"] != 1 || len(counts) != 1 {
		t.Errorf("dead by target %v %v, want email: 1", counts, err)
	}

	// Redriven while the server still refuses: it fails again, with both
	// refusals in its history.
	if n, err := src.Redrive(ctx, bus.Redrive{IDs: []int64{d.ID}}); n != 1 || err != nil {
		t.Fatalf("redrive: %d %v", n, err)
	}
	bustest.WaitFor(t, "the job to fail again", func() bool {
		dead, err := src.DeadLetters(ctx, "", 10)
		return err == nil && len(dead) == 1 && len(dead[0].Errors) == 2
	})
	if dead, _ := src.DeadLetters(ctx, "", 10); dead[0].Attempts != 1 {
		t.Errorf("%d attempts after the redrive, want 1: a fresh budget", dead[0].Attempts)
	}
	if _, err := src.Redrive(ctx, bus.Redrive{IDs: []int64{d.ID + 1}}); !errors.Is(err, ErrNoFailedEmail) || fault.CodeOf(err) != fault.NotFound {
		t.Errorf("redrive of no failed email: %v, want NotFound", err)
	}
	if _, err := src.Redrive(ctx, bus.Redrive{}); !errors.Is(err, bus.ErrBadRedrive) {
		t.Errorf("redrive naming nothing: %v", err)
	}

	srv.RefuseRecipients(0, smtp.EnhancedCode{}, "")
	if n, err := src.Redrive(ctx, bus.Redrive{Target: "email"}); n != 1 || err != nil {
		t.Fatalf("redrive of the target: %d %v", n, err)
	}
	bustest.WaitFor(t, "the job to be sent", jobIs(t, s, "ord_123", StatusSent))
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
	if dead, err := src.DeadLetters(ctx, "", 10); err != nil || len(dead) != 0 {
		t.Errorf("dead letters after the send: %v %v", dead, err)
	}
}
