package email

import (
	"context"
	"testing"
	"time"

	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// TestMigrateKeysJobsByEvent upgrades a database of the first schema, its
// jobs one per (order, template), to jobs one per (event, template,
// recipient): every job is kept, in its order, with its state and its
// Message-ID; it stays one per order for what is queued without an event,
// while one event may now mail two recipients and an order two refunds.
// It runs on PostgreSQL too when SHOPBUS_TEST_POSTGRES_DSN is set.
func TestMigrateKeysJobsByEvent(t *testing.T) {
	db := dbtest.Open(t, Migrations[:1])
	now := time.Now().UTC().Truncate(time.Second)
	for _, j := range []struct{ order, template, to, status string }{
		{"ord-1", "order_success", "ada@example.com", StatusSent},
		{"ord-1", "inventory_shortage", "owner@example.com", StatusQueued},
		{"ord-2", "order_success", "bob@example.com", StatusFailed},
	} {
		err := db.Exec(`INSERT INTO email_jobs (order_id, template, recipient, data, message_id, status, attempts, last_error,
			next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, '{}', ?, ?, 1, '', ?, ?, ?)`,
			j.order, j.template, j.to, "<old-"+j.order+"-"+j.template+"@shopbus>", j.status, now, now, now).Error
		if err != nil {
			t.Fatal(err)
		}
	}
	applied, err := database.Migrate(context.Background(), db, Migrations)
	if err != nil || len(applied) != 2 || applied[1] != "email-0003" {
		t.Fatalf("migrate: applied %v, %v", applied, err)
	}

	s := newTestService(t, db, Config{From: "shop@example.com", Dir: t.TempDir()})
	jobs := jobsFor(t, s, "ord-1")
	if len(jobs) != 2 || jobs[0].Template != "order_success" || jobs[0].Status != StatusSent || jobs[0].EventID != "" ||
		jobs[0].MessageID != "<old-ord-1-order_success@shopbus>" || jobs[1].Status != StatusQueued || jobs[1].Attempts != 1 {
		t.Errorf("ord-1's jobs after the upgrade: %+v", jobs)
	}
	if jobs := jobsFor(t, s, "ord-2"); len(jobs) != 1 || jobs[0].Status != StatusFailed {
		t.Errorf("ord-2's jobs after the upgrade: %+v", jobs)
	}

	// Queued again without an event, the old email is the same one.
	enqueue(t, s, Message{OrderID: "ord-1", Template: "order_success", To: "ada@example.com", Data: sampleOrder()})
	// Two refunds are two events; one event may mail two people.
	for _, m := range []Message{
		{EventID: "ev-r1", OrderID: "ord-1", Template: "order_refunded", To: "ada@example.com", Data: Order{}},
		{EventID: "ev-r2", OrderID: "ord-1", Template: "order_refunded", To: "ada@example.com", Data: Order{}},
		{EventID: "ev-r2", OrderID: "ord-1", Template: "order_refunded", To: "owner@example.com", Data: Order{}},
		{EventID: "ev-r2", OrderID: "ord-1", Template: "order_refunded", To: "owner@example.com", Data: Order{}}, // redelivered
	} {
		enqueue(t, s, m)
	}
	jobs = jobsFor(t, s, "ord-1")
	if len(jobs) != 5 {
		t.Fatalf("%d jobs, want the 2 kept and 3 refunds: %+v", len(jobs), jobs)
	}
	ids := map[string]bool{}
	for _, j := range jobs {
		ids[j.MessageID] = true
	}
	if len(ids) != 5 {
		t.Errorf("%d distinct Message-IDs among 5 emails", len(ids))
	}
	// The copied jobs keep their order, and new ones come after them.
	if jobs[0].MessageID != "<old-ord-1-order_success@shopbus>" || jobs[1].Template != "inventory_shortage" ||
		jobs[2].EventID != "ev-r1" || jobs[4].To != "owner@example.com" {
		t.Errorf("jobs out of order: %+v", jobs)
	}
}
