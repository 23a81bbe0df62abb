package email

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// gatedCommitter counts units and holds each until the test opens the gate.
type gatedCommitter struct {
	db    *gorm.DB
	gate  chan struct{}
	mu    sync.Mutex
	units int
}

func (c *gatedCommitter) Do(ctx context.Context, fn func(tx *gorm.DB) error) error {
	<-c.gate
	c.mu.Lock()
	c.units++
	c.mu.Unlock()
	return database.Direct{DB: c.db}.Do(ctx, fn)
}

// TestSendsMarkedTogether: the sends that finish while a mark waits for its
// commit are recorded by that same unit, in one statement, and each
// sender returns only once its send is recorded.
func TestSendsMarkedTogether(t *testing.T) {
	db := dbtest.Open(t, Migrations)
	s := newTestService(t, db, Config{From: "shop@example.com", Dir: t.TempDir()})
	const n = 10
	ids := make([]int64, n)
	for i := range n {
		m := orderMsg
		m.OrderID = fmt.Sprintf("ord-mark-%d", i)
		enqueue(t, s, m)
		if err := db.Raw(`SELECT id FROM email_jobs WHERE order_id = ?`, m.OrderID).Row().Scan(&ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	c := &gatedCommitter{db: db, gate: make(chan struct{})}
	var marks sentMarks
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() { errs <- marks.mark(context.Background(), c, id, time.Now().UTC()) })
	}
	// Every mark joins the first one's batch while its unit waits.
	bustest.WaitFor(t, "every mark to join the first batch", func() bool {
		marks.mu.Lock()
		defer marks.mu.Unlock()
		return marks.open != nil && len(marks.open.ids) == n
	})
	var sent int64
	db.Raw(`SELECT COUNT(*) FROM email_jobs WHERE status = ?`, StatusSent).Row().Scan(&sent)
	if sent != 0 {
		t.Fatalf("%d jobs marked sent before the unit ran", sent)
	}
	close(c.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	db.Raw(`SELECT COUNT(*) FROM email_jobs WHERE status = ? AND attempts = 1 AND sent_at IS NOT NULL`, StatusSent).Row().Scan(&sent)
	if sent != n || c.units != 1 {
		t.Errorf("%d of %d jobs marked sent, by %d units; want all, by one", sent, n, c.units)
	}
	// The batch closed with its unit: a later mark opens the next one.
	if err := marks.mark(context.Background(), c, ids[0], time.Now().UTC()); err != nil || c.units != 2 {
		t.Errorf("a later mark: %v, %d units; want a second unit", err, c.units)
	}
}
