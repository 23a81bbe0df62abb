//go:build !unix

package web

import "log/slog"

// RaiseOpenFileLimit does nothing where there is no RLIMIT_NOFILE.
func RaiseOpenFileLimit(*slog.Logger) {}

func openFileLimit() (uint64, bool) { return 0, false }
