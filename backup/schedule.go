package backup

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"
)

// Outcomes of a scheduled backup, as the Observer is told them.
const (
	OutcomeOK     = "ok"
	OutcomeFailed = "failed"
)

// Observer is told each scheduled backup's outcome, and the newest backup
// the folder holds, at start and after each backup.
type Observer interface {
	BackedUp(outcome string, took time.Duration)
	// NewestBackup is the newest backup's time and size; zero: none.
	NewestBackup(at time.Time, size int64)
}

// Status is what the dashboard shows of the backups.
type Status struct {
	// Every is the schedule; 0: no scheduled backups.
	Every time.Duration
	Dir   string
	// Newest is the newest backup in Dir, if any.
	Newest     time.Time
	NewestFile string
	NewestSize int64
	// LastAttempt and LastError are the last scheduled backup's, since
	// this process started.
	LastAttempt time.Time
	LastError   string
}

// Scheduler takes a backup every cfg.Every and keeps the newest cfg.Keep.
type Scheduler struct {
	src string
	cfg Config
	log *slog.Logger
	obs Observer

	mu     sync.Mutex
	status Status
}

// NewScheduler backs up the SQLite file at src as cfg says (defaults
// filled). It reads the folder for the newest backup; it starts nothing.
func NewScheduler(src string, cfg Config, log *slog.Logger, obs Observer) *Scheduler {
	s := &Scheduler{src: src, cfg: cfg, log: log, obs: obs, status: Status{Every: cfg.Every, Dir: cfg.Dir}}
	s.refresh()
	if obs != nil {
		st := s.Status()
		obs.NewestBackup(st.Newest, st.NewestSize)
	}
	return s
}

// Status returns the backups' state now.
func (s *Scheduler) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Run takes the backups until ctx is done. The first is due Every after
// the newest backup the folder holds or, with none, Every after start, so
// a restart does not take one each time, and a fresh shop does not back up
// an empty database.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.cfg.Every <= 0 {
		return nil
	}
	next := time.Now().Add(s.cfg.Every)
	if n := s.Status().Newest; !n.IsZero() && n.Add(s.cfg.Every).Before(next) {
		next = n.Add(s.cfg.Every)
	}
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		s.Once(ctx)
		next = time.Now().Add(s.cfg.Every)
	}
}

// Once takes a scheduled backup now, deletes those past Keep, and records
// and reports the outcome.
func (s *Scheduler) Once(ctx context.Context) {
	now := time.Now()
	res, err := Take(ctx, s.src, filepath.Join(s.cfg.Dir, Name(now)))
	outcome := OutcomeOK
	if err != nil {
		outcome = OutcomeFailed
		s.log.Error("backup failed", "err", err)
	} else {
		s.log.Info("backup taken", "file", res.Path, "bytes", res.Size, "took", res.Took)
		if err := s.prune(); err != nil {
			s.log.Error("backup: delete old backups", "err", err)
		}
	}
	s.refresh()
	s.mu.Lock()
	s.status.LastAttempt, s.status.LastError = now.UTC(), ""
	if err != nil {
		s.status.LastError = err.Error()
	}
	st := s.status
	s.mu.Unlock()
	if s.obs != nil {
		s.obs.BackedUp(outcome, time.Since(now))
		s.obs.NewestBackup(st.Newest, st.NewestSize)
	}
}

// scheduled matches the names Name makes, and no other: the backups taken
// before migrations are kept until the owner deletes them.
var scheduled = regexp.MustCompile(`^shopbus-\d{8}T\d{6}Z\.db$`)

// list returns the scheduled backups in dir, oldest first.
func list(dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(entries, func(e os.DirEntry) bool { return !e.Type().IsRegular() || !scheduled.MatchString(e.Name()) }), nil
}

// prune deletes the oldest scheduled backups beyond Keep.
func (s *Scheduler) prune() error {
	entries, err := list(s.cfg.Dir)
	if err != nil {
		return err
	}
	var errs []error
	for len(entries) > s.cfg.Keep {
		errs = append(errs, os.Remove(filepath.Join(s.cfg.Dir, entries[0].Name())))
		entries = entries[1:]
	}
	return errors.Join(errs...)
}

// refresh reads the newest scheduled backup from the folder, which a
// `shopbus backup` run beside serve may have added to.
func (s *Scheduler) refresh() {
	if s.cfg.Dir == "" {
		return
	}
	entries, err := list(s.cfg.Dir)
	if err != nil {
		s.log.Warn("backup: read the folder", "dir", s.cfg.Dir, "err", err)
	}
	var st Status
	for i := len(entries) - 1; i >= 0; i-- {
		fi, err := entries[i].Info()
		if err != nil {
			continue
		}
		t, err := time.Parse(stamp, entries[i].Name()[len("shopbus-"):len("shopbus-")+len(stamp)])
		if err != nil {
			continue
		}
		st.Newest, st.NewestFile, st.NewestSize = t, filepath.Join(s.cfg.Dir, fi.Name()), fi.Size()
		break
	}
	s.mu.Lock()
	s.status.Newest, s.status.NewestFile, s.status.NewestSize = st.Newest, st.NewestFile, st.NewestSize
	s.mu.Unlock()
}
