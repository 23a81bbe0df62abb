// Package dbtest opens the real SQLite database tests run against: a fresh
// file in the test's temporary folder, migrated with the steps the test
// names and closed when the test ends.
package dbtest

import (
	"context"
	"path/filepath"
	"testing"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database"
)

// Open opens an empty database in t.TempDir() and applies steps in the
// order given, so a module's tables can follow the bus's outbox they refer
// to. The database is closed in t.Cleanup.
func Open(t testing.TB, steps ...[]database.Migration) *gorm.DB {
	t.Helper()
	db, err := database.Open(database.Config{DSN: filepath.Join(t.TempDir(), "shop.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	var all []database.Migration
	for _, s := range steps {
		all = append(all, s...)
	}
	if _, err := database.Migrate(context.Background(), db, all); err != nil {
		t.Fatal(err)
	}
	return db
}

// Count returns how many rows table holds, failing the test on error.
func Count(t testing.TB, db *gorm.DB, table string) int64 {
	t.Helper()
	var n int64
	if err := db.Table(table).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}
