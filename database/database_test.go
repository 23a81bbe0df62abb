package database_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// openTestDB opens an empty database of the engine the tests run against.
func openTestDB(t *testing.T) *gorm.DB {
	t.Helper()
	return dbtest.Connect(t, dbtest.Config(t))
}

func tableExists(t *testing.T, db *gorm.DB, name string) bool {
	t.Helper()
	return db.Migrator().HasTable(name)
}

func recorded(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	var ids []string
	if err := db.Raw(`SELECT id FROM schema_migrations ORDER BY id`).Scan(&ids).Error; err != nil {
		t.Fatal(err)
	}
	return ids
}

var testSteps = []database.Migration{
	{ID: "test-0001", SQL: []string{`CREATE TABLE widgets (id $AUTOID, name TEXT NOT NULL)`}},
	{ID: "test-0002", SQL: []string{
		`ALTER TABLE widgets ADD COLUMN colour TEXT NOT NULL DEFAULT ''`,
		`CREATE INDEX widgets_name ON widgets (name)`,
	}},
}

func TestMigrateAppliesEachStepOnce(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()

	applied, err := database.Migrate(ctx, db, testSteps)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"test-0001", "test-0002"}; !slices.Equal(applied, want) {
		t.Fatalf("first run applied %v, want %v", applied, want)
	}
	// $AUTOID became a working auto-increment key.
	if err := db.Exec(`INSERT INTO widgets (name, colour) VALUES ('a', 'red'), ('b', 'blue')`).Error; err != nil {
		t.Fatal(err)
	}
	var ids []int64
	db.Raw(`SELECT id FROM widgets ORDER BY id`).Scan(&ids)
	if !slices.Equal(ids, []int64{1, 2}) {
		t.Errorf("widget ids = %v, want [1 2]", ids)
	}

	applied, err = database.Migrate(ctx, db, testSteps)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if len(applied) != 0 {
		t.Errorf("second run applied %v, want nothing", applied)
	}

	// A new step is applied alone.
	more := append(slices.Clone(testSteps), database.Migration{ID: "test-0003", SQL: []string{`CREATE TABLE gadgets (id $AUTOID)`}})
	applied, err = database.Migrate(ctx, db, more)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(applied, []string{"test-0003"}) {
		t.Errorf("third run applied %v, want [test-0003]", applied)
	}
	if got, want := recorded(t, db), []string{"test-0001", "test-0002", "test-0003"}; !slices.Equal(got, want) {
		t.Errorf("schema_migrations = %v, want %v", got, want)
	}
}

func TestMigrateFailingStepRollsBack(t *testing.T) {
	db := openTestDB(t)
	ctx := context.Background()
	steps := []database.Migration{
		{ID: "ok-0001", SQL: []string{`CREATE TABLE first (id $AUTOID)`}},
		{ID: "bad-0002", SQL: []string{
			`CREATE TABLE half (id $AUTOID)`,
			`CREATE TABLE broken (`, // syntax error after a statement that worked
		}},
		{ID: "never-0003", SQL: []string{`CREATE TABLE never (id $AUTOID)`}},
	}

	applied, err := database.Migrate(ctx, db, steps)
	if err == nil {
		t.Fatal("database.Migrate with a broken step succeeded")
	}
	if !strings.Contains(err.Error(), "bad-0002") {
		t.Errorf("error %q does not name the failing step", err)
	}
	if !slices.Equal(applied, []string{"ok-0001"}) {
		t.Errorf("applied = %v, want [ok-0001]", applied)
	}
	if !tableExists(t, db, "first") {
		t.Error("the step before the failure was lost")
	}
	if tableExists(t, db, "half") {
		t.Error("the failing step's first statement was not rolled back")
	}
	if tableExists(t, db, "never") {
		t.Error("a step after the failure ran")
	}
	if got := recorded(t, db); !slices.Equal(got, []string{"ok-0001"}) {
		t.Errorf("schema_migrations = %v, want [ok-0001]", got)
	}

	// Once fixed, the step applies on the next run.
	steps[1].SQL[1] = `CREATE TABLE broken (id $AUTOID)`
	applied, err = database.Migrate(ctx, db, steps)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(applied, []string{"bad-0002", "never-0003"}) {
		t.Errorf("after the fix applied %v, want [bad-0002 never-0003]", applied)
	}
}

func TestMigrateRefusesDuplicateIDs(t *testing.T) {
	db := openTestDB(t)
	steps := []database.Migration{
		{ID: "dup-0001", SQL: []string{`CREATE TABLE one (id $AUTOID)`}},
		{ID: "dup-0001", SQL: []string{`CREATE TABLE two (id $AUTOID)`}},
	}
	_, err := database.Migrate(context.Background(), db, steps)
	if err == nil {
		t.Fatal("database.Migrate accepted a duplicate step ID")
	}
	if !strings.Contains(err.Error(), "dup-0001") {
		t.Errorf("error %q does not name the duplicate", err)
	}
	if tableExists(t, db, "two") {
		t.Error("the duplicate step ran")
	}
}

func TestMigrateChecksDuplicatesBeforeApplying(t *testing.T) {
	db := openTestDB(t)
	steps := []database.Migration{
		{ID: "a-0001", SQL: []string{`CREATE TABLE one (id $AUTOID)`}},
		{ID: "b-0001", SQL: []string{`CREATE TABLE two (id $AUTOID)`}},
		{ID: "a-0001", SQL: []string{`CREATE TABLE three (id $AUTOID)`}},
	}
	applied, err := database.Migrate(context.Background(), db, steps)
	if err == nil {
		t.Fatal("database.Migrate accepted a duplicate step ID")
	}
	if len(applied) != 0 || tableExists(t, db, "one") || len(recorded(t, db)) != 0 {
		t.Errorf("a list with a duplicate ID was partly applied: %v", applied)
	}
}

func TestOpen(t *testing.T) {
	dbtest.SQLiteOnly(t, "the file, its folder and its pragmas")
	dir := filepath.Join(t.TempDir(), "nested", "data")
	dsn := filepath.Join(dir, "shop.db")
	db, err := database.Open(database.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("database.Open did not create the folder: %v", err)
	}
	// Force a write so the file surely exists.
	if err := db.Exec(`CREATE TABLE t (id INTEGER)`).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dsn); err != nil {
		t.Errorf("database file: %v", err)
	}

	pragmas := []struct {
		name, pragma, want string
	}{
		{"WAL", "PRAGMA journal_mode", "wal"},
		{"foreign keys", "PRAGMA foreign_keys", "1"},
		{"busy timeout", "PRAGMA busy_timeout", "10000"},
		{"temporary files in memory", "PRAGMA temp_store", "2"},
	}
	for _, p := range pragmas {
		t.Run(p.name, func(t *testing.T) {
			// Ask on several connections: every pooled connection must carry the settings.
			for range 3 {
				var got string
				if err := db.Raw(p.pragma).Scan(&got).Error; err != nil {
					t.Fatal(err)
				}
				if !strings.EqualFold(got, p.want) {
					t.Errorf("%s = %q, want %q", p.pragma, got, p.want)
				}
			}
		})
	}
}

func TestOpenEnforcesForeignKeys(t *testing.T) {
	db := openTestDB(t)
	steps := []database.Migration{{ID: "fk-0001", SQL: []string{
		`CREATE TABLE parents (id $AUTOID)`,
		`CREATE TABLE children (id $AUTOID, parent_id BIGINT NOT NULL REFERENCES parents (id))`,
	}}}
	if _, err := database.Migrate(context.Background(), db, steps); err != nil {
		t.Fatal(err)
	}
	err := db.Exec(`INSERT INTO children (parent_id) VALUES (42)`).Error
	if err == nil {
		t.Fatal("a child without its parent was inserted: foreign keys are off")
	}
	if !errors.Is(err, gorm.ErrForeignKeyViolated) {
		t.Logf("error is %v (not translated to gorm.ErrForeignKeyViolated)", err)
	}
}

// TestConfigValidate: the settings are refused by Validate, which
// config.Load runs before anything opens.
func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  database.Config
		want []string // substrings of the error; none: valid
	}{
		{"sqlite", database.Config{DSN: "x.db"}, nil},
		{"postgres", database.Config{Driver: database.Postgres, DSN: "postgres://u@host/db"}, nil},
		{"empty dsn", database.Config{}, []string{"database.dsn", "dsn is empty"}},
		{"unknown driver", database.Config{Driver: "oracle", DSN: "x.db"}, []string{`database.driver "oracle"`}},
		{"both", database.Config{Driver: "oracle"}, []string{`database.driver "oracle"`, "database.dsn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.SetDefaults()
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	var c database.Config
	if c.SetDefaults(); c.Driver != database.SQLite {
		t.Errorf("default driver %q, want %s", c.Driver, database.SQLite)
	}
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  database.Config
		want string
	}{
		{"unknown driver", database.Config{Driver: "oracle", DSN: "x.db"}, `unknown driver "oracle"`},
		{"postgres dsn that does not parse", database.Config{Driver: database.Postgres, DSN: "postgres://u:secret@host:notaport/db"}, "postgres dsn"},
		{"postgres server that does not answer", database.Config{Driver: database.Postgres, DSN: "postgres://u:secret@127.0.0.1:1/db?connect_timeout=2"}, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := database.Open(tt.cfg)
			if err == nil {
				db.Close()
				t.Fatal("database.Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// TestPing: the database answers a ping, on SQLite even while a long
// write holds the one writer connection (the ping goes to a reader).
func TestPing(t *testing.T) {
	db := openTestDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := database.Ping(ctx, db); err != nil {
		t.Fatal(err)
	}
	dbtest.SQLiteOnly(t, "the writer is one connection")
	tx := db.Begin()
	if err := tx.Exec(`CREATE TABLE held (id INTEGER)`).Error; err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := database.Ping(ctx, db); err != nil {
		t.Errorf("ping while the writer is held: %v", err)
	}
}

func TestOpenPathWithURICharacters(t *testing.T) {
	dbtest.SQLiteOnly(t, "file paths")
	for _, name := range []string{"a#b", "q?x", "50%25"} {
		t.Run(name, func(t *testing.T) {
			dsn := filepath.Join(t.TempDir(), name, "shop.db")
			db, err := database.Open(database.Config{DSN: dsn})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Exec(`CREATE TABLE t (id INTEGER)`).Error; err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dsn); err != nil {
				t.Errorf("the database is not at %s: %v", dsn, err)
			}
			var mode string
			db.Raw(`PRAGMA journal_mode`).Scan(&mode)
			if mode != "wal" {
				t.Errorf("journal_mode = %q, want wal", mode)
			}
		})
	}
}

// TestMigrateConcurrently runs database.Migrate from several connections pools at
// once, as two processes starting together would: each step runs once.
func TestMigrateConcurrently(t *testing.T) {
	cfg := dbtest.Config(t)
	const runners = 4
	dbs := make([]*gorm.DB, runners)
	for i := range dbs {
		dbs[i] = dbtest.Connect(t, cfg)
	}
	applied := make([][]string, runners)
	errs := make([]error, runners)
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() { applied[i], errs[i] = database.Migrate(context.Background(), db, testSteps) })
	}
	wg.Wait()
	var all []string
	for i := range runners {
		if errs[i] != nil {
			t.Errorf("runner %d: %v", i, errs[i])
		}
		all = append(all, applied[i]...)
	}
	slices.Sort(all)
	if want := []string{"test-0001", "test-0002"}; !slices.Equal(all, want) {
		t.Errorf("applied across runners = %v, want each step once: %v", all, want)
	}
	if got := recorded(t, dbs[0]); !slices.Equal(got, []string{"test-0001", "test-0002"}) {
		t.Errorf("schema_migrations = %v", got)
	}
}

// TestOpenPostgres: a PostgreSQL session speaks UTC, so times go in and
// come out as the UTC instants they are (to PostgreSQL's microsecond).
func TestOpenPostgres(t *testing.T) {
	if !dbtest.Postgres() {
		t.Skip("PostgreSQL only: " + dbtest.EnvPostgres + " is not set")
	}
	db := openTestDB(t)
	var zone string
	if err := db.Raw(`SHOW timezone`).Scan(&zone).Error; err != nil {
		t.Fatal(err)
	}
	if zone != "UTC" {
		t.Errorf("session time zone %q, want UTC", zone)
	}
	if err := db.Exec(`CREATE TABLE times (at TIMESTAMP NOT NULL)`).Error; err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 18, 0, 0, 123456789, time.UTC)
	if err := db.Exec(`INSERT INTO times (at) VALUES (?)`, at).Error; err != nil {
		t.Fatal(err)
	}
	var got time.Time
	if err := db.Raw(`SELECT at FROM times`).Row().Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := at.Truncate(time.Microsecond); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("read back %v, want %v in UTC", got, want)
	}
	var n int64
	if err := db.Raw(`SELECT COUNT(*) FROM times WHERE at <= now()`).Scan(&n).Error; err != nil || n != 1 {
		t.Errorf("a past time compared with now(): %d rows, %v", n, err)
	}
}

func TestConfigWhere(t *testing.T) {
	tests := []struct {
		cfg  database.Config
		want string
	}{
		{database.Config{Driver: database.SQLite, DSN: "data/shopbus.db"}, "data/shopbus.db"},
		{database.Config{DSN: "data/shopbus.db"}, "data/shopbus.db"},
		{database.Config{Driver: database.Postgres, DSN: "postgres://shop:secret@db.internal:5433/shop?sslmode=require"}, "postgres://shop@db.internal:5433/shop"},
		{database.Config{Driver: database.Postgres, DSN: "host=db.internal user=shop password=secret dbname=shop"}, "postgres://shop@db.internal:5432/shop"},
		{database.Config{Driver: database.Postgres, DSN: "postgres://shop:secret@db:port/shop"}, "postgres (a DSN that does not parse)"},
	}
	for _, tt := range tests {
		if got := tt.cfg.Where(); got != tt.want {
			t.Errorf("Where(%q) = %q, want %q", tt.cfg.DSN, got, tt.want)
		}
	}
}
