//go:build unix

package web

import (
	"log/slog"
	"syscall"
)

// RaiseOpenFileLimit raises the process's soft limit on open files to its
// hard limit and logs both, as servers commonly do at start-up: every
// connection is a file, and the soft limit is often 1,024. (Go's runtime
// already raises it to one below the hard limit; this makes the bound
// explicit and visible in the log, next to the connection bound fitted
// to it.)
func RaiseOpenFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("web: read the open-file limit", "err", err)
		return
	}
	if lim.Cur < lim.Max {
		was := lim.Cur
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("web: raise the open-file limit", "soft", was, "hard", lim.Max, "err", err)
			return
		}
	}
	log.Info("open-file limit", "soft", lim.Cur, "hard", lim.Max)
}

// openFileLimit is the soft limit on open files, when there is one.
func openFileLimit() (uint64, bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= 1<<62 { // RLIM_INFINITY: no limit
		return 0, false
	}
	return lim.Cur, true
}
