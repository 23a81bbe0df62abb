package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/backup"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestMeasureBackup measures a backup of a shop holding
// SHOPBUS_MEASURE_BACKUP_ORDERS orders (the README's figure is for
// 100000), each through its whole journey (deliveries done, its email
// queued), and logs the time and size. Skipped unless the variable is set:
// filling the database takes minutes.
func TestMeasureBackup(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SHOPBUS_MEASURE_BACKUP_ORDERS"))
	if n <= 0 {
		t.Skip("set SHOPBUS_MEASURE_BACKUP_ORDERS=100000 to measure a backup")
	}
	dbtest.SQLiteOnly(t, "backups are SQLite's")
	cfg := testConfig(t, smtptest.FreeAddr(t))                          // emails wait in the queue, as rows
	cfg.Mail.InitialBackoff, cfg.Mail.MaxBackoff = time.Hour, time.Hour // and are not retried meanwhile
	cfg.Log.Level = "error"
	s := startShop(t, cfg, nil)
	s.setStock("MUG", int64(n)*2)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				id := fmt.Sprintf("ord-m-%07d", i)
				if status, body := s.request("POST", "/v1/orders", newOrder(id, fmt.Sprintf("c%d@example.com", i), "MUG", 1, "TEE", 2)); status != http.StatusCreated {
					t.Errorf("POST %s: %d %s", id, status, body)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d orders accepted in %v", n, time.Since(start).Round(time.Second))
	waitFor(t, "every order's deliveries to be done", 30*time.Minute, func() (bool, string) {
		fams := metricFamilies(t, s.url+"/metrics", testKey)
		b := metricValue(fams, "shopbus_backlog", map[string]string{"queue": "deliveries"}) + metricValue(fams, "shopbus_backlog", map[string]string{"queue": "events"})
		return b == 0, fmt.Sprint(b)
	})
	t.Logf("settled after %v", time.Since(start).Round(time.Second))
	fi, _ := os.Stat(cfg.Database.DSN)
	res, err := backup.Take(context.Background(), cfg.Database.DSN, filepath.Join(t.TempDir(), "shopbus.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backup of %d orders: database %d bytes (+WAL), backup %d bytes (%.1f MB), took %v (copy and integrity check)",
		n, fi.Size(), res.Size, float64(res.Size)/1e6, res.Took.Round(time.Millisecond))
}
