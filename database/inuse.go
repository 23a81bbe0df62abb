package database

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/shopbus/shopbus/fault"
)

// ErrInUse means a shopbus serves the database, so it must not be replaced.
var ErrInUse = fault.New(fault.Conflict, "a shopbus is serving this database")

// Lock is an advisory lock on a SQLite database, held through a file
// beside it (the database's name and ".lock"). Serve holds it shared, for
// as long as it runs; restore takes it exclusively, so neither can start
// while the other holds it. It is flock(2): the kernel releases it when the
// process ends, however it ends, so a killed shopbus leaves no stale lock.
// A lock file rather than the database file itself, because closing any
// descriptor of the database file would drop SQLite's own POSIX locks.
type Lock struct{ f *os.File }

// LockPath is the file Lock locks for the SQLite database at dbPath.
func LockPath(dbPath string) string { return dbPath + ".lock" }

// LockShared takes the database's lock shared, as serve does: any number
// of holders, but no restore meanwhile. On PostgreSQL it locks nothing.
func LockShared(cfg Config) (*Lock, error) {
	if cfg.Driver == Postgres {
		return &Lock{}, nil
	}
	l, err := lock(cfg.DSN, syscall.LOCK_SH)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, fault.Errorf(fault.Conflict, "database %s is being restored (%s holds its lock); try again once the restore is done", cfg.DSN, LockPath(cfg.DSN))
	}
	if err != nil {
		return nil, err
	}
	// Who serves, for restore's message; a shared holder's write is a hint
	// only (the last one to start wins).
	_ = l.f.Truncate(0)
	_, _ = l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return l, nil
}

// LockExclusive takes the lock of the SQLite database at dbPath alone, or
// fails at once with ErrInUse when a shopbus serves it.
func LockExclusive(dbPath string) (*Lock, error) {
	l, err := lock(dbPath, syscall.LOCK_EX)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		pid, _ := os.ReadFile(LockPath(dbPath))
		who := ""
		if p := strings.TrimSpace(string(pid)); p != "" {
			who = " (process " + p + ")"
		}
		return nil, fmt.Errorf("%w%s: %s; stop it first (systemctl stop shopbus)", ErrInUse, who, dbPath)
	}
	return l, err
}

func lock(dbPath string, how int) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o750); err != nil {
		return nil, fmt.Errorf("database: lock: %w", err)
	}
	f, err := os.OpenFile(LockPath(dbPath), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("database: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("database: lock %s: %w", f.Name(), err)
	}
	return &Lock{f: f}, nil
}

// Release lets the lock go.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	return l.f.Close() // closing the descriptor releases the flock
}
