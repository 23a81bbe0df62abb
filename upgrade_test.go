package main

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/app"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// TestUpgradeSafety: `migrate --status` lists applied and pending steps
// and changes nothing; a database a newer shopbus migrated is refused by
// every command that opens it (exit 2, both schema versions named); on
// SQLite, steps pending on a database that holds data are preceded by a
// backup into backup.dir.
func TestUpgradeSafety(t *testing.T) {
	dbtest.SQLiteOnly(t, "the backup before migrating is SQLite's")
	store := dbtest.Config(t)
	useDatabase(t, store)
	backups := filepath.Join(t.TempDir(), "backups")
	t.Setenv("SHOPBUS_BACKUP_DIR", backups)
	t.Setenv("SHOPBUS_MAIL_DIR", t.TempDir())
	t.Setenv("SHOPBUS_HTTP_ADDR", "127.0.0.1:0") // serve is among the commands tried
	steps := app.Migrations()

	// A fresh database: everything pending, nothing applied by looking.
	code, out, errOut := runCLI(t, "migrate", "--status")
	if code != 0 || strings.Count(out, "pending  ") != len(steps) || !strings.Contains(out, "schema version 0") {
		t.Fatalf("migrate --status on a fresh database: %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	if files, _ := filepath.Glob(filepath.Join(backups, "*")); len(files) != 0 {
		t.Errorf("a fresh database was backed up before its first migration: %v", files)
	}
	code, out, _ = runCLI(t, "migrate", "--status")
	if code != 0 || strings.Count(out, "applied  ") != len(steps) || !strings.HasSuffix(out, "up to date\n") {
		t.Fatalf("migrate --status after migrating: %d\n%s", code, out)
	}

	// An older database: the last step not applied yet. Upgrading backs
	// it up first, under a name that says before which step.
	last := steps[len(steps)-1]
	db := dbtest.Connect(t, store)
	execSQL(t, db, `DELETE FROM schema_migrations WHERE id = ?`, last.ID)
	// Undo the step: drop what it created (whichever step is last).
	for _, m := range regexp.MustCompile(`CREATE TABLE (\w+)`).FindAllStringSubmatch(strings.Join(last.SQL, "\n"), -1) {
		execSQL(t, db, `DROP TABLE `+m[1])
	}
	code, out, _ = runCLI(t, "migrate", "--status")
	if code != 0 || !strings.Contains(out, "pending  "+last.ID) || !strings.Contains(out, "1 step(s) pending") {
		t.Fatalf("migrate --status with one step pending: %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "migrate"); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	files, _ := filepath.Glob(filepath.Join(backups, "shopbus-*-before-"+last.ID+".db"))
	if len(files) != 1 {
		t.Fatalf("no backup before migrating: %v", files)
	}

	// A newer database: a step this binary never heard of.
	execSQL(t, db, `INSERT INTO schema_migrations (id, applied_at) VALUES ('zz-from-the-future-0001', ?)`, time.Now().UTC())
	want := regexp.MustCompile(`schema version ` + strconv.Itoa(len(steps)+1) + `, this shopbus knows version ` + strconv.Itoa(len(steps)) + `.*zz-from-the-future-0001`)
	for _, args := range [][]string{{"migrate"}, {"serve"}, {"apikey", "list"}, {"migrate", "--status"}} {
		code, _, errOut := runCLI(t, args...)
		if code != 2 || !want.MatchString(errOut) {
			t.Errorf("%v on a newer database: exit %d, %q; want 2 naming both versions", args, code, errOut)
		}
	}
	var n int64
	if err := db.Raw(`SELECT count(*) FROM schema_migrations`).Scan(&n).Error; err != nil || n != int64(len(steps)+1) {
		t.Errorf("the newer database was changed: %d steps, %v", n, err)
	}

	// restore refuses a backup a newer shopbus took, before touching anything.
	newer := filepath.Join(t.TempDir(), "newer.db")
	if code, _, errOut := runCLI(t, "backup", "--to", newer); code != 0 {
		t.Fatalf("backup: %s", errOut)
	}
	target := database.Config{Driver: database.SQLite, DSN: filepath.Join(t.TempDir(), "shopbus.db")}
	useDatabase(t, target)
	if code, _, errOut := runCLI(t, "restore", newer); code != 2 || !want.MatchString(errOut) {
		t.Errorf("restore of a newer backup: exit %d %q", code, errOut)
	}
	if _, err := os.Stat(target.DSN); err == nil {
		t.Error("a refused restore created the database")
	}
}

func execSQL(t *testing.T, db *gorm.DB, q string, args ...any) {
	t.Helper()
	if err := db.Exec(q, args...).Error; err != nil {
		t.Fatal(err)
	}
}

// TestVersion prints what an owner reports with a bug: version, commit,
// Go and the schema the binary expects.
func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	steps := app.Migrations()
	want := "shopbus dev\ncommit  \ngo      " + runtime.Version() + "\nschema  " + strconv.Itoa(len(steps)) + " (" + steps[len(steps)-1].ID + ")\n"
	got := regexp.MustCompile(`(?m)^commit  .*$`).ReplaceAllString(out, "commit  ")
	if code != 0 || got != want {
		t.Errorf("version: %d\n%s\nwant\n%s", code, out, want)
	}
}

// TestBackupOnPostgresExplainsPgDump: backup and restore are SQLite's; on
// PostgreSQL they say which tool to use and exit 2.
func TestBackupOnPostgresExplainsPgDump(t *testing.T) {
	t.Setenv("SHOPBUS_DATABASE_DRIVER", "postgres")
	t.Setenv("SHOPBUS_DATABASE_DSN", "postgres://shop@127.0.0.1:1/shop")
	for args, tool := range map[string]string{"backup": "pg_dump", "restore x.db": "pg_restore"} {
		code, _, errOut := runCLI(t, strings.Fields(args)...)
		if code != 2 || !strings.Contains(errOut, tool) {
			t.Errorf("%s on PostgreSQL: exit %d %q, want 2 naming %s", args, code, errOut, tool)
		}
	}
}
