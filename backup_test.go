package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/backup"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestBackupWhileOrdersArePostedThenRestore is the owner's disaster drill:
// `shopbus backup` while orders pour in, `shopbus restore` into a fresh
// folder, serve it. Every order answered 201 before the backup began is
// there, the copy passes its integrity check, and the work the backup
// caught half done (emails queued while the SMTP server was down) resumes
// and finishes. restore refuses while a shopbus serves the database.
func TestBackupWhileOrdersArePostedThenRestore(t *testing.T) {
	dbtest.SQLiteOnly(t, "backup and restore copy the SQLite file")
	cfg := testConfig(t, smtptest.FreeAddr(t)) // mail is down: emails wait in the queue
	cfg.Mail.MaxAttempts = 1000
	cfg.Log.Level = "error" // every failed send would warn
	s := startShop(t, cfg, nil)
	s.setStock("MUG", 1_000_000)

	var (
		mu       sync.Mutex
		accepted []string
		stop     = make(chan struct{})
		posting  sync.WaitGroup
	)
	posting.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("ord-bk-%04d", i)
			if status, body := s.request("POST", "/v1/orders", newOrder(id, fmt.Sprintf("c%d@example.com", i), "MUG", 1)); status != http.StatusCreated {
				t.Errorf("POST %s: %d %s", id, status, body)
				return
			}
			mu.Lock()
			accepted = append(accepted, id)
			mu.Unlock()
		}
	})
	waitFor(t, "40 orders accepted", 30*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) >= 40, fmt.Sprint(len(accepted))
	})
	mu.Lock()
	before := append([]string(nil), accepted...)
	mu.Unlock()

	file := filepath.Join(t.TempDir(), "shop-backup.db")
	useDatabase(t, cfg.Database)
	code, out, errOut := runCLI(t, "backup", "--to", file)
	mu.Lock()
	during := len(accepted) - len(before)
	mu.Unlock()
	close(stop)
	posting.Wait()
	if code != 0 || !strings.Contains(out, "integrity ok") {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("backup: %s(%d orders accepted before it began, %d while it ran)", out, len(before), during)
	s.stop()

	// Restore into a fresh folder, as onto a new server.
	fresh := database.Config{Driver: database.SQLite, DSN: filepath.Join(t.TempDir(), "restored", "shopbus.db")}
	useDatabase(t, fresh)
	if code, out, errOut := runCLI(t, "restore", file); code != 0 || !strings.Contains(out, "integrity ok") {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := backup.Check(context.Background(), fresh.DSN); err != nil {
		t.Fatalf("the restored database: %v", err)
	}

	mail := smtptest.Start(t, "127.0.0.1:0")
	cfg2 := testConfig(t, mail.Addr())
	cfg2.Database = fresh
	restored := startShop(t, cfg2, mail)

	// While it serves, restore is refused and changes nothing.
	code, _, errOut = runCLI(t, "restore", file)
	if code == 0 || !strings.Contains(errOut, "serving") {
		t.Errorf("restore while serving: exit %d %q", code, errOut)
	}
	// The backup caught some emails leased to a sender of the old process,
	// as a crash would: they go again once the lease ends (25 s).
	for _, id := range before {
		waitFor(t, "order "+id+" to settle, its email sent", 90*time.Second, func() (bool, string) {
			return restored.order(id).settled(4, 1)
		})
	}
	if n := len(mail.Messages()); n < len(before) {
		t.Errorf("%d emails sent after the restore, want at least %d", n, len(before))
	}
	if _, err := backup.Check(context.Background(), fresh.DSN); err != nil {
		t.Errorf("integrity after serving the restored database: %v", err)
	}
	if kept, _ := filepath.Glob(fresh.DSN + ".replaced-*"); len(kept) != 0 {
		t.Errorf("a refused restore set the database aside: %v", kept)
	}
}

// TestScheduledBackupsShow: serve takes its scheduled backups into
// backup.dir, keeps backup.keep of them, and says how they stand in
// /metrics and on the dashboard's flow page.
func TestScheduledBackupsShow(t *testing.T) {
	dbtest.SQLiteOnly(t, "scheduled backups copy the SQLite file")
	cfg := testConfig(t, smtptest.FreeAddr(t))
	dir := filepath.Join(t.TempDir(), "backups")
	cfg.Backup = backup.Config{Dir: dir, Every: 150 * time.Millisecond, Keep: 2} // below the 1m Validate asks of a config file
	s := startShop(t, cfg, nil)
	waitFor(t, "three scheduled backups", 30*time.Second, func() (bool, string) {
		v := metricValue(metricFamilies(t, s.url+"/metrics", testKey), "shopbus_backups_total", map[string]string{"outcome": "ok"})
		return v >= 3, fmt.Sprint(v)
	})
	fams := metricFamilies(t, s.url+"/metrics", testKey)
	if newest := metricValue(fams, "shopbus_backup_newest_timestamp_seconds", nil); time.Since(time.Unix(int64(newest), 0)) > time.Minute {
		t.Errorf("newest backup at %v", newest)
	}
	if failed := metricValue(fams, "shopbus_backups_total", map[string]string{"outcome": "failed"}); failed != 0 {
		t.Errorf("%v backups failed", failed)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "shopbus-*.db"))
	if len(files) > 3 { // keep 2, and one may be being renamed in as we look
		t.Errorf("backup.keep 2 left %d files: %v", len(files), files)
	}

	page := dashboardPage(t, s.url, "/dashboard/flow")
	if !regexp.MustCompile(`Backups: the newest from <time datetime="[^"]+">[^<]+</time>, [0-9.]+ kB; one every 150ms`).MatchString(page) {
		t.Errorf("the flow page does not show the backups:\n%s", page)
	}
}

// dashboardPage logs into the dashboard with the test's key, as a browser
// does, and returns the page at path.
func dashboardPage(t *testing.T, base, path string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(p string) string {
		resp, err := c.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		return readAll(t, resp)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(get("/dashboard/login"))
	if m == nil {
		t.Fatal("no login form")
	}
	resp, err := c.PostForm(base+"/dashboard/login", url.Values{"csrf": {m[1]}, "key": {testKey}, "next": {path}})
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, resp)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
