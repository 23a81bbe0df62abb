package email

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestClaimIsExclusive: instances that claim due jobs at the same moment
// get each job once between them. The claim is one UPDATE of the rows a
// SELECT ... FOR UPDATE SKIP LOCKED picked on PostgreSQL; SQLite's one
// writer serialises it.
func TestClaimIsExclusive(t *testing.T) {
	cfg := testConfig()
	cfg.Dir = t.TempDir()
	dbCfg := dbtest.Config(t)
	var instances []*Service
	for range 4 {
		instances = append(instances, newTestService(t, dbtest.Connect(t, dbCfg), cfg))
	}
	if _, err := database.Migrate(context.Background(), instances[0].db, Migrations); err != nil {
		t.Fatal(err)
	}
	for round := range 10 {
		m := orderMsg
		m.OrderID = fmt.Sprintf("ord_%d", round)
		enqueue(t, instances[0], m)
		var won atomic.Int32
		var claimed jobRow
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, s := range instances {
			wg.Go(func() {
				<-start
				jobs, err := s.claimDue(context.Background(), time.Now().UTC(), 10)
				if err != nil {
					t.Error(err)
				}
				if len(jobs) > 0 {
					won.Add(int32(len(jobs)))
					claimed = jobs[0]
				}
			})
		}
		close(start)
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("round %d: the job was claimed %d times, want 1", round, won.Load())
		}
		if err := instances[0].markSent(context.Background(), claimed, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWorkersShareTheQueue: three instances' workers drain one queue, and
// the SMTP server receives each email once.
func TestWorkersShareTheQueue(t *testing.T) {
	srv := smtptest.Start(t, "127.0.0.1:0")
	cfg := testConfig()
	cfg.SMTPAddr = srv.Addr()
	dbCfg := dbtest.Config(t)
	var instances []*Service
	for range 3 {
		instances = append(instances, newTestService(t, dbtest.Connect(t, dbCfg), cfg))
	}
	if _, err := database.Migrate(context.Background(), instances[0].db, Migrations); err != nil {
		t.Fatal(err)
	}
	const jobs = 30
	for i := range jobs {
		m := orderMsg
		m.OrderID = fmt.Sprintf("ord_%02d", i)
		enqueue(t, instances[0], m)
	}
	for _, s := range instances {
		runWorker(t, s)
		s.Wake()
	}
	bustest.WaitFor(t, "every job sent", func() bool {
		for i := range jobs {
			if !jobIs(t, instances[0], fmt.Sprintf("ord_%02d", i), StatusSent)() {
				return false
			}
		}
		return true
	})
	seen := map[string]int{}
	for _, m := range srv.Messages() {
		seen[parseMail(t, m.Data).Header.Get("Message-Id")]++
	}
	if len(seen) != jobs {
		t.Errorf("%d distinct messages received, want %d", len(seen), jobs)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s received %d times", id, n)
		}
	}
}
