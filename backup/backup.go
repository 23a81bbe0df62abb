// Package backup copies shopbus's SQLite database while it serves, checks
// every copy before it counts as one, keeps a rotation of them, and
// restores one in place of the database.
//
// A copy is SQLite's VACUUM INTO run on a connection of its own: one read
// transaction, so the copy is the database as of one commit however many
// orders are written meanwhile (WAL lets the writer go on), compacted, and
// never a copy of the file, which would tear across the WAL. Each copy is
// written beside its final name, checked with PRAGMA integrity_check,
// flushed to disk and only then renamed into place, so a backup file that
// exists is whole.
package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gorm.io/driver/sqlite"
)

// Config is the `backup:` section of config.yaml: scheduled backups of the
// SQLite database, which serve takes.
type Config struct {
	// Dir holds the backups (scheduled ones, `shopbus backup` without
	// --to, and the one taken before a migration). Empty: backups/ beside
	// the database.
	Dir string `yaml:"dir"`
	// Every is the time between scheduled backups; 0 takes none.
	Every time.Duration `yaml:"every"`
	// Keep is how many scheduled backups are kept; older ones are deleted.
	// 0: 28 (a week at every 6h).
	Keep int `yaml:"keep"`
}

// SetDefaults keeps 28 backups and puts them in backups/ beside the
// database at dbPath (the SQLite file).
func (c *Config) SetDefaults(dbPath string) {
	if c.Keep == 0 {
		c.Keep = 28
	}
	if c.Dir == "" && dbPath != "" {
		c.Dir = filepath.Join(filepath.Dir(dbPath), "backups")
	}
}

// Validate refuses negative periods and counts, and a period so short the
// backups would follow each other without pause.
func (c Config) Validate() error {
	var errs []error
	if c.Every < 0 || (c.Every > 0 && c.Every < time.Minute) {
		errs = append(errs, fmt.Errorf("backup.every %v: want 0 (no scheduled backups) or at least 1m", c.Every))
	}
	if c.Keep < 0 {
		errs = append(errs, fmt.Errorf("backup.keep %d: want a positive count (0: 28)", c.Keep))
	}
	return errors.Join(errs...)
}

// Result describes one backup taken.
type Result struct {
	Path string
	Size int64
	Took time.Duration
	// Steps are the schema migrations the copy holds, in the order applied.
	Steps []string
}

// Take copies the SQLite database at src to dst, consistently while other
// connections write to it, checks the copy and renames it into place: dst
// is either the whole, checked copy or untouched. An existing dst is
// replaced, unless it is src itself.
func Take(ctx context.Context, src, dst string) (Result, error) {
	start := time.Now()
	if _, err := os.Stat(src); err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	if same(src, dst) {
		return Result{}, fmt.Errorf("backup: %s is the database itself; choose another file", dst)
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	tmp, err := copyDB(ctx, src, dir)
	if err != nil {
		return Result{}, err
	}
	defer os.Remove(tmp) // a no-op once renamed
	steps, err := Check(ctx, tmp)
	if err != nil {
		return Result{}, err
	}
	if err := syncFile(tmp); err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return Result{}, fmt.Errorf("backup: %w", err)
	}
	return Result{Path: dst, Size: fi.Size(), Took: time.Since(start), Steps: steps}, nil
}

// copyDB writes a consistent copy of src into a new temporary file in dir
// and returns its name.
func copyDB(ctx context.Context, src, dir string) (string, error) {
	f, err := os.CreateTemp(dir, ".tmp-backup-")
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	tmp := f.Name()
	f.Close() // VACUUM INTO writes into an empty file
	db, err := open(src, "")
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("backup: copy %s: %w", src, err)
	}
	return tmp, nil
}

// Check opens the SQLite file at path read-only and runs PRAGMA
// integrity_check; it returns the schema migrations the file holds.
func Check(ctx context.Context, path string) ([]string, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	db, err := open(path, "mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return nil, fmt.Errorf("backup: check %s: %w", path, err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return nil, fmt.Errorf("backup: check %s: %w", path, err)
		}
		problems = append(problems, line)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("backup: check %s: %w", path, err)
	}
	if len(problems) != 1 || problems[0] != "ok" {
		return nil, fmt.Errorf("backup: %s fails its integrity check: %s", path, strings.Join(problems, "; "))
	}
	var steps []string
	rows, err = db.QueryContext(ctx, `SELECT id FROM schema_migrations ORDER BY applied_at, rowid`)
	if err != nil {
		return nil, fmt.Errorf("backup: %s holds no shopbus schema: %w", path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("backup: check %s: %w", path, err)
		}
		steps = append(steps, id)
	}
	return steps, rows.Err()
}

// open opens one connection to the SQLite file at path, with extra URI
// parameters such as mode=ro.
func open(path, params string) (*sql.DB, error) {
	uri := "file:" + strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path) + "?_busy_timeout=10000"
	if params != "" {
		uri += "&" + params
	}
	db, err := sql.Open(sqlite.DriverName, uri)
	if err != nil {
		return nil, fmt.Errorf("backup: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("backup: open %s: %w", path, err)
	}
	return db, nil
}

// same reports whether a and b are one file.
func same(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// Name is a scheduled backup's file name for a backup taken at t, which
// sorts in time order: shopbus-20261125T180000Z.db.
func Name(t time.Time) string { return "shopbus-" + t.UTC().Format(stamp) + ".db" }

// NameBefore is the file name of the backup taken at t before the
// migration step named step runs. Rotation leaves it alone.
func NameBefore(t time.Time, step string) string {
	return "shopbus-" + t.UTC().Format(stamp) + "-before-" + step + ".db"
}

const stamp = "20060102T150405Z"
