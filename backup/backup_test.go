package backup_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/backup"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/fault"
)

// shopDB makes a SQLite database as shopbus opens it (WAL), with the
// migrations table and a table of numbered rows.
func shopDB(t *testing.T) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "shopbus.db")
	gdb, err := database.Open(database.Config{Driver: database.SQLite, DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gdb.Close() })
	steps := []database.Migration{{ID: "test-0001", SQL: []string{`CREATE TABLE rows (n INTEGER PRIMARY KEY, pad TEXT NOT NULL)`}}}
	if _, err := database.Migrate(context.Background(), gdb.DB, steps); err != nil {
		t.Fatal(err)
	}
	db, err := gdb.DB.DB()
	if err != nil {
		t.Fatal(err)
	}
	return path, db
}

func count(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM rows`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTakeWhileWriting copies the database while a writer commits rows as
// fast as it can: the copy holds every row committed before it began, is
// whole (integrity_check), and the writer never waited for it.
func TestTakeWhileWriting(t *testing.T) {
	src, db := shopDB(t)
	var committed atomic.Int64
	insert := func(n int64) {
		if _, err := db.Exec(`INSERT INTO rows (n, pad) VALUES (?, ?)`, n, strings.Repeat("x", 200)); err != nil {
			t.Error(err)
		}
		committed.Store(n)
	}
	for n := int64(1); n <= 2000; n++ {
		insert(n)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := committed.Load() + 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			insert(n)
		}
	})
	before := committed.Load()
	dst := filepath.Join(t.TempDir(), "b", "copy.db")
	res, err := backup.Take(context.Background(), src, dst)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != dst || res.Size == 0 || len(res.Steps) != 1 || res.Steps[0] != "test-0001" {
		t.Errorf("result = %+v", res)
	}
	if got := count(t, dst); int64(got) < before || int64(got) > committed.Load() {
		t.Errorf("the copy holds %d rows; %d were committed before it began, %d by its end", got, before, committed.Load())
	}
	if _, err := backup.Check(context.Background(), dst); err != nil {
		t.Errorf("check: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	if _, err := backup.Take(context.Background(), src, src); err == nil {
		t.Error("a backup onto the database itself was allowed")
	}
}

// TestCheckRefusesDamage: a file whose pages are damaged, or that is no
// shopbus database, fails the check.
func TestCheckRefusesDamage(t *testing.T) {
	src, db := shopDB(t)
	for n := range 3000 {
		if _, err := db.Exec(`INSERT INTO rows (n, pad) VALUES (?, ?)`, n, strings.Repeat("y", 300)); err != nil {
			t.Fatal(err)
		}
	}
	good := filepath.Join(t.TempDir(), "good.db")
	if _, err := backup.Take(context.Background(), src, good); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// Scribble over pages in the middle of the file, past the schema.
	for i := len(raw) / 2; i < len(raw)/2+8192; i++ {
		raw[i] = 0x5a
	}
	bad := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(bad, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Check(context.Background(), bad); err == nil {
		t.Error("a damaged file passed the check")
	}
	plain := filepath.Join(t.TempDir(), "plain.db")
	other, _ := sql.Open("sqlite3", plain)
	if _, err := other.Exec(`CREATE TABLE x (a)`); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, err := backup.Check(context.Background(), plain); err == nil || !strings.Contains(err.Error(), "no shopbus schema") {
		t.Errorf("a database that is not shopbus's: %v", err)
	}
}

// TestRestore swaps a backup in, keeps the replaced database beside it,
// and refuses while the database is locked as serve locks it.
func TestRestore(t *testing.T) {
	src, db := shopDB(t)
	if _, err := db.Exec(`INSERT INTO rows (n, pad) VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(t.TempDir(), "saved.db")
	if _, err := backup.Take(context.Background(), src, saved); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO rows (n, pad) VALUES (2, 'b')`); err != nil {
		t.Fatal(err)
	}

	// serve holds the lock shared: restore is refused, and says why.
	held, err := database.LockShared(database.Config{Driver: database.SQLite, DSN: src})
	if err != nil {
		t.Fatal(err)
	}
	_, err = backup.Restore(context.Background(), saved, src, nil)
	if !errors.Is(err, database.ErrInUse) || fault.CodeOf(err) != fault.Conflict || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("restore while served: %v", err)
	}
	if err := held.Release(); err != nil {
		t.Fatal(err)
	}

	refused := errors.New("refused")
	if _, err := backup.Restore(context.Background(), saved, src, func([]string) error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("a backup the caller refuses was restored: %v", err)
	}
	if got := count(t, src); got != 2 {
		t.Fatalf("a refused restore changed the database: %d rows", got)
	}

	res, err := backup.Restore(context.Background(), saved, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := count(t, src); got != 1 {
		t.Errorf("restored database holds %d rows, want the backup's 1", got)
	}
	if res.Kept == "" || count(t, res.Kept) != 2 {
		t.Errorf("the replaced database was not kept whole at %q", res.Kept)
	}
	if _, err := os.Stat(src + "-wal"); err == nil {
		t.Error("the old WAL was left beside the restored database")
	}

	// Into a folder with no database yet.
	fresh := filepath.Join(t.TempDir(), "new", "shopbus.db")
	res, err = backup.Restore(context.Background(), saved, fresh, nil)
	if err != nil || res.Kept != "" || count(t, fresh) != 1 {
		t.Errorf("restore into a fresh folder: %+v, %v", res, err)
	}
}

type observed struct {
	mu       sync.Mutex
	outcomes []string
	newest   time.Time
}

func (o *observed) BackedUp(outcome string, _ time.Duration) {
	o.mu.Lock()
	o.outcomes = append(o.outcomes, outcome)
	o.mu.Unlock()
}

func (o *observed) NewestBackup(at time.Time, _ int64) {
	o.mu.Lock()
	o.newest = at
	o.mu.Unlock()
}

// TestSchedulerKeeps takes scheduled backups, keeps the newest Keep of
// them (and every backup taken before a migration), and reports each
// outcome, a failure included.
func TestSchedulerKeeps(t *testing.T) {
	src, _ := shopDB(t)
	dir := filepath.Join(t.TempDir(), "backups")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	// Older backups already there, and one taken before a migration.
	for i, name := range []string{backup.Name(time.Now().Add(-72 * time.Hour)), backup.Name(time.Now().Add(-48 * time.Hour)),
		backup.NameBefore(time.Now().Add(-96*time.Hour), "crm-0002")} {
		if _, err := backup.Take(context.Background(), src, filepath.Join(dir, name)); err != nil {
			t.Fatal(i, err)
		}
	}
	obs := &observed{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := backup.NewScheduler(src, backup.Config{Dir: dir, Every: time.Hour, Keep: 2}, log, obs)
	if st := s.Status(); time.Since(st.Newest) < 47*time.Hour || time.Since(st.Newest) > 49*time.Hour {
		t.Errorf("newest at start = %v, want the one of two days ago", st.Newest)
	}
	s.Once(context.Background())
	names, _ := filepath.Glob(filepath.Join(dir, "shopbus-*.db"))
	if len(names) != 3 || !strings.Contains(strings.Join(names, " "), "-before-crm-0002") {
		t.Errorf("after one backup with keep 2: %v", names)
	}
	st := s.Status()
	if time.Since(st.Newest) > time.Minute || st.LastError != "" || st.NewestSize == 0 {
		t.Errorf("status = %+v", st)
	}

	// A database that has gone fails, visibly.
	failing := backup.NewScheduler(filepath.Join(t.TempDir(), "gone.db"), backup.Config{Dir: dir, Every: time.Hour, Keep: 2}, log, obs)
	failing.Once(context.Background())
	if st := failing.Status(); st.LastError == "" {
		t.Error("a failed backup left no error in the status")
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if strings.Join(obs.outcomes, ",") != "ok,failed" || obs.newest.IsZero() {
		t.Errorf("observer told %v, newest %v", obs.outcomes, obs.newest)
	}
}
