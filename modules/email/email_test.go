package email

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/database/dbtest"
)

func TestEnqueue(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	s := newTestService(t, db, Config{From: "shop@example.com", Dir: t.TempDir()})
	msg := Message{OrderID: "ord_1", Template: "order_success", To: "ada@example.com", Data: sampleOrder()}

	t.Run("twice is once", func(t *testing.T) {
		enqueue(t, s, msg)
		enqueue(t, s, msg)
		jobs := jobsFor(t, s, "ord_1")
		if len(jobs) != 1 {
			t.Fatalf("got %d jobs, want 1", len(jobs))
		}
		want := Job{Template: "order_success", To: "ada@example.com", Status: StatusQueued, MessageID: MessageID(msg)}
		if jobs[0] != want {
			t.Errorf("got %+v, want %+v", jobs[0], want)
		}
	})
	t.Run("rolled back is none", func(t *testing.T) {
		rollback := errors.New("rollback")
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := s.Enqueue(tx, Message{OrderID: "ord_2", Template: "order_success", To: "x@example.com"}); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		if jobs := jobsFor(t, s, "ord_2"); len(jobs) != 0 {
			t.Fatalf("got %d jobs after rollback, want 0", len(jobs))
		}
	})
	t.Run("unknown template", func(t *testing.T) {
		err := s.Enqueue(db, Message{OrderID: "ord_3", Template: "nope", To: "x@example.com"})
		if !errors.Is(err, ErrUnknownTemplate) {
			t.Fatalf("got %v, want ErrUnknownTemplate", err)
		}
	})
	t.Run("no recipient", func(t *testing.T) {
		err := s.Enqueue(db, Message{OrderID: "ord_3", Template: "order_success"})
		if !errors.Is(err, ErrInvalidMessage) {
			t.Fatalf("got %v, want ErrInvalidMessage", err)
		}
	})
}

// TestValidateRefusesBadConfig: settings config.Load refuses before
// anything starts, each named by its key.
func TestValidateRefusesBadConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		want []string
	}{
		"no from":          {Config{Dir: "x"}, []string{"mail.from"}},
		"bad from":         {Config{From: "not an address", Dir: "x"}, []string{`mail.from "not an address"`}},
		"no destination":   {Config{From: "shop@example.com"}, []string{"mail.smtp_addr", "mail_dir"}},
		"bad tls":          {Config{From: "shop@example.com", SMTPAddr: "localhost:25", SMTPTLS: "maybe"}, []string{`mail.smtp_tls "maybe"`}},
		"bad smtp address": {Config{From: "shop@example.com", SMTPAddr: "localhost"}, []string{`mail.smtp_addr "localhost"`}},
		"bad smtp port":    {Config{From: "shop@example.com", SMTPAddr: "localhost:smtp"}, []string{`mail.smtp_addr "localhost:smtp"`}},
		"bad owner":        {Config{From: "shop@example.com", Dir: "x", OwnerEmail: "nobody"}, []string{`mail.owner_email "nobody"`}},
		"all at once":      {Config{From: "x", OwnerEmail: "y"}, []string{"mail.from", "mail.owner_email", "mail.smtp_addr"}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.SetDefaults()
			err := cfg.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	valid := Config{From: "My Shop <shop@example.com>", SMTPAddr: "localhost:25"}
	if valid.SetDefaults(); valid.Validate() != nil || valid.ShopName != "My Shop" || valid.SMTPTLS != "none" {
		t.Errorf("valid config: %v, shop name %q, tls %q", valid.Validate(), valid.ShopName, valid.SMTPTLS)
	}
}

// TestNewRefusesBadConfig: what only building the service finds (the
// templates on disk, the SMTP client) is refused by New.
func TestNewRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"bad smtp address": {From: "shop@example.com", SMTPAddr: "localhost"},
		"missing part":     {From: "shop@example.com", Dir: "x", TemplatesDir: "testdata/incomplete"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(Deps{DB: nil, Log: slog.Default()}, cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	initial, maxWait := 2*time.Second, 10*time.Minute
	for attempt, ceiling := range map[int]time.Duration{1: 2 * time.Second, 3: 8 * time.Second, 9: 512 * time.Second, 10: maxWait, 200: maxWait} {
		for range 100 {
			if d := bus.Backoff(attempt, initial, maxWait); d <= 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, want in (0, %v]", attempt, d, ceiling)
			}
		}
	}
}

func TestClaimHidesAJob(t *testing.T) {
	s := newTestService(t, dbtest.Open(t, Migrations), Config{From: "shop@example.com", Dir: t.TempDir()})
	enqueue(t, s, orderMsg)
	ctx, now := context.Background(), time.Now().UTC()
	for i, want := range []int{1, 0} { // a second worker finds nothing to claim
		if jobs, err := s.claimDue(ctx, now, 10); err != nil || len(jobs) != want {
			t.Fatalf("claim %d: %d jobs (%v), want %d", i+1, len(jobs), err, want)
		}
	}
	if jobs, _ := s.claimDue(ctx, now.Add(lease-time.Second), 10); len(jobs) != 0 {
		t.Errorf("a claimed job is due again within its lease")
	}
	jobs, _ := s.claimDue(ctx, now.Add(lease+time.Second), 10)
	if len(jobs) != 1 || jobs[0].OrderID != orderMsg.OrderID || jobs[0].Status != StatusQueued {
		t.Errorf("after its lease, claimed %+v, want the job again", jobs)
	}
}

// TestClaimSkipsHeldJobs: a job this process's senders still hold is not
// leased again even when it is due (its failure just recorded): leasing
// it would hide it for a whole lease with no sender working on it.
func TestClaimSkipsHeldJobs(t *testing.T) {
	s := newTestService(t, dbtest.Open(t, Migrations), Config{From: "shop@example.com", Dir: t.TempDir()})
	other := orderMsg
	other.OrderID = "ord_456"
	enqueue(t, s, orderMsg)
	enqueue(t, s, other)
	var held int64
	if err := s.db.Raw(`SELECT id FROM email_jobs WHERE order_id = ?`, orderMsg.OrderID).Row().Scan(&held); err != nil {
		t.Fatal(err)
	}
	ctx, now := context.Background(), time.Now().UTC()
	jobs, err := s.claimDue(ctx, now, 10, held)
	if err != nil || len(jobs) != 1 || jobs[0].OrderID != other.OrderID {
		t.Fatalf("claimed %+v (%v), want only %s's job", jobs, err, other.OrderID)
	}
	// Once let go, it is claimed as before, its due time untouched.
	if jobs, _ := s.claimDue(ctx, now, 10); len(jobs) != 1 || jobs[0].ID != held {
		t.Errorf("claimed %+v, want the job no longer held", jobs)
	}
}

// hookedOrder enqueues its email from a GORM AfterCreate hook, as the CRM
// module does.
type hookedOrder struct {
	ID  string
	svc *Service `gorm:"-"`
}

func (o *hookedOrder) AfterCreate(tx *gorm.DB) error {
	return o.svc.Enqueue(tx, Message{OrderID: o.ID, Template: "order_success", To: "ada@example.com", Data: sampleOrder()})
}

func TestEnqueueFromAfterCreateHook(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	if err := db.Exec(`CREATE TABLE hooked_orders (id TEXT PRIMARY KEY)`).Error; err != nil {
		t.Fatal(err)
	}
	s := newTestService(t, db, Config{From: "shop@example.com", Dir: t.TempDir()})
	for _, tc := range []struct {
		name, id string
		fail     error
		jobs     int
	}{
		{"committed", "ord_h1", nil, 1},
		{"rolled back", "ord_h2", errors.New("later step failed"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&hookedOrder{ID: tc.id, svc: s}).Error; err != nil {
					return err
				}
				return tc.fail
			})
			if !errors.Is(err, tc.fail) {
				t.Fatal(err)
			}
			if jobs := jobsFor(t, s, tc.id); len(jobs) != tc.jobs {
				t.Fatalf("got %d jobs, want %d", len(jobs), tc.jobs)
			}
		})
	}
}
