package dbtest

import (
	"context"
	"database/sql"
	"sync"
	"testing"

	"github.com/shopbus/shopbus/database"
)

// HoldWriteLock takes a SQLite database's write lock from another
// connection, as a long transaction of another process would, creating the
// file if need be, so that the writes of the code under test wait (within
// SQLite's busy timeout). release gives it back; it is called at the end of
// the test if the test does not. Call SQLiteOnly first.
func HoldWriteLock(t testing.TB, store database.Config) (release func()) {
	t.Helper()
	if store.Driver != database.SQLite {
		t.Fatalf("dbtest: HoldWriteLock on %s", store.Driver)
	}
	db, err := sql.Open("sqlite3", store.DSN+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"BEGIN IMMEDIATE", "CREATE TABLE IF NOT EXISTS held (x)"} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Error(err)
			}
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}
