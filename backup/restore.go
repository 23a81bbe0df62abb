package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shopbus/shopbus/database"
)

// Restored says what Restore did.
type Restored struct {
	// Kept is where the database that was replaced now is ("" when there
	// was none), with its -wal and -shm files, if any, beside it under the
	// same name.
	Kept  string
	Steps []string
}

// Restore puts the backup at file in place of the SQLite database at
// dbPath. It refuses while a shopbus serves that database (database.Lock),
// checks the backup, copies it beside the database and checks the copy,
// and only then moves the current database aside (kept, never deleted)
// and renames the copy into its place. accept, if set, vets the backup's
// schema steps before anything is touched (a backup newer than the
// binary, for one).
func Restore(ctx context.Context, file, dbPath string, accept func(steps []string) error) (Restored, error) {
	steps, err := Check(ctx, file)
	if err != nil {
		return Restored{}, err
	}
	if accept != nil {
		if err := accept(steps); err != nil {
			return Restored{}, err
		}
	}
	lock, err := database.LockExclusive(dbPath) // creates the folder, for a fresh one
	if err != nil {
		return Restored{}, err
	}
	defer lock.Release()
	dir := filepath.Dir(dbPath)
	tmp, err := copyDB(ctx, file, dir)
	if err != nil {
		return Restored{}, err
	}
	defer os.Remove(tmp) // a no-op once renamed
	if _, err := Check(ctx, tmp); err != nil {
		return Restored{}, err
	}
	if err := syncFile(tmp); err != nil {
		return Restored{}, fmt.Errorf("restore: %w", err)
	}
	kept, err := setAside(ctx, dbPath, time.Now())
	if err != nil {
		return Restored{}, err
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		return Restored{}, fmt.Errorf("restore: %w (the database that was there is at %s)", err, kept)
	}
	if err := syncDir(dir); err != nil {
		return Restored{}, fmt.Errorf("restore: %w", err)
	}
	return Restored{Kept: kept, Steps: steps}, nil
}

// setAside renames the database at dbPath, and its WAL and shared-memory
// files, to dbPath.replaced-TIME, after folding the WAL into the file so
// the kept copy is whole on its own. No database: nothing to do.
func setAside(ctx context.Context, dbPath string, now time.Time) (string, error) {
	if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if db, err := open(dbPath, ""); err == nil {
		// Best effort: a WAL that cannot be folded in travels with the file.
		_, _ = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
		db.Close()
	}
	kept := dbPath + ".replaced-" + now.UTC().Format(stamp)
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Rename(dbPath+suffix, kept+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("restore: set the database aside: %w", err)
		}
	}
	if err := os.Rename(dbPath, kept); err != nil {
		return "", fmt.Errorf("restore: set the database aside: %w", err)
	}
	return kept, nil
}
