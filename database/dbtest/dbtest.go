// Package dbtest opens the real database tests run against, empty for each
// test and gone when it ends: a fresh SQLite file in the test's temporary
// folder, or, when SHOPBUS_TEST_POSTGRES_DSN names a PostgreSQL server, a
// fresh database created on it for the test and dropped afterwards. The
// same tests so run against both engines.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database"
)

// EnvPostgres names the environment variable that points the tests at a
// PostgreSQL server: a DSN whose user may CREATE DATABASE. `make
// test-postgres` starts a throwaway server and sets it.
const EnvPostgres = "SHOPBUS_TEST_POSTGRES_DSN"

// Postgres reports whether the tests run against PostgreSQL.
func Postgres() bool { return os.Getenv(EnvPostgres) != "" }

// SQLiteOnly skips t when the tests run against PostgreSQL: for what only
// SQLite has (a file, WAL, pragmas). why says so in the test's output.
func SQLiteOnly(t testing.TB, why string) {
	t.Helper()
	if Postgres() {
		t.Skip("SQLite only: " + why)
	}
}

// Open opens an empty database and applies steps in the order given, so a
// module's tables can follow the bus's outbox they refer to. The database
// is closed, and removed, in t.Cleanup.
func Open(t testing.TB, steps ...[]database.Migration) *gorm.DB {
	t.Helper()
	db := Connect(t, Config(t))
	var all []database.Migration
	for _, s := range steps {
		all = append(all, s...)
	}
	if _, err := database.Migrate(context.Background(), db, all); err != nil {
		t.Fatal(err)
	}
	return db
}

// Connect opens cfg and closes it in t.Cleanup. Connecting twice to one
// Config is how a test plays two instances sharing a database.
func Connect(t testing.TB, cfg database.Config) *gorm.DB {
	t.Helper()
	db, err := database.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.DB
}

// Config returns a new, empty database of the engine the tests run
// against, removed when the test ends (after whatever the test closes in
// its own cleanups).
func Config(t testing.TB) database.Config {
	t.Helper()
	server := os.Getenv(EnvPostgres)
	if server == "" {
		return database.Config{Driver: database.SQLite, DSN: filepath.Join(t.TempDir(), "shop.db")}
	}
	admin, err := adminPool(server)
	if err != nil {
		t.Fatalf("dbtest: %s: %v", EnvPostgres, err)
	}
	name := "shopbus_test_" + randomHex(8)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("dbtest: create database: %v", err)
	}
	t.Cleanup(func() {
		// FORCE ends connections a killed process or a forgotten pool left.
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(server, name)
	if err != nil {
		t.Fatalf("dbtest: %s: %v", EnvPostgres, err)
	}
	return database.Config{Driver: database.Postgres, DSN: dsn}
}

// admin is the one connection pool per test binary that creates and drops
// the tests' databases.
var admin struct {
	once sync.Once
	db   *sql.DB
	err  error
}

func adminPool(dsn string) (*sql.DB, error) {
	admin.once.Do(func() {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			admin.err = err
			return
		}
		cfg.ConnectTimeout = 10 * time.Second
		admin.db = stdlib.OpenDB(*cfg)
		admin.db.SetMaxOpenConns(4)
		admin.err = admin.db.Ping()
	})
	return admin.db, admin.err
}

// withDatabase returns the server's DSN naming database name instead.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	// key=value pairs: a later key wins.
	return dsn + " dbname=" + name, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails: it crashes the program first
	return hex.EncodeToString(b)
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
