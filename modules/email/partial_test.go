package email

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
)

// TestWorkerRemovesPartialEMLFiles: a process killed while writing an .eml
// file leaves its temporary file; the next worker removes it, and nothing
// else.
func TestWorkerRemovesPartialEMLFiles(t *testing.T) {
	cfg := testConfig()
	cfg.Dir = t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(cfg.Dir, name), []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write(".tmp-1234567", "Date: half a mess")
	write(".tmp-89", "")
	write("0123abcd.order_success.eml", "a sent message")
	write(".tmp-notes", "not a file the worker writes")

	s := newTestService(t, dbtest.Open(t, Migrations), cfg)
	runWorker(t, s)
	bustest.WaitFor(t, "the partial files to go", func() bool {
		left, err := filepath.Glob(filepath.Join(cfg.Dir, ".tmp-[0-9]*"))
		return err == nil && len(left) == 0
	})
	for _, name := range []string{"0123abcd.order_success.eml", ".tmp-notes"} {
		if _, err := os.Stat(filepath.Join(cfg.Dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
