package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestReplay replays an hour of events through the CLI: without --force
// nothing is sent twice; with --force the chosen target gets them again.
func TestReplay(t *testing.T) {
	r := newReceiver(t, func(int) int { return 200 })
	t.Setenv("TEST_HOOK_SECRET", hookSecret)
	src, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src = append(src, fmt.Sprintf(`
  - name: orders-to-erp
    pattern: { source: ["shopbus.checkout"] }
    targets:
      - name: erp
        webhook: { url: %q, secret_env: TEST_HOOK_SECRET }
        fields: [detail.order_id, detail.order_state]
`, r.srv.URL)...)
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, src, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := config.Load(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	mail := smtptest.Start(t, "127.0.0.1:0")
	cfg := testConfig(t, mail.Addr())
	cfg.Rules = loaded.Rules
	s := startShop(t, cfg, mail)
	useDatabase(t, cfg.Database)
	s.setStock("MUG", 10)

	const orders = 3
	for i := range orders {
		must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder(fmt.Sprintf("ord-p%d", i), "a@example.com", "MUG", 1)))
	}
	for i := range orders {
		s.waitSettled(fmt.Sprintf("ord-p%d", i), 6, 2)
	}
	countRows := func(query string) int {
		var n int
		queryRow(t, cfg.Database, query, &n)
		return n
	}
	deliveries, jobs := countRows("SELECT COUNT(*) FROM bus_deliveries"), countRows("SELECT COUNT(*) FROM email_jobs")

	replay := func(args ...string) map[string]int {
		t.Helper()
		code, out, errOut := runCLI(t, append([]string{"--config", file, "events", "replay", "--from", "1h"}, args...)...)
		if code != 0 {
			t.Fatalf("replay %v: exit %d: %s", args, code, errOut)
		}
		var res map[string]int
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("replay output %q: %v", out, err)
		}
		return res
	}

	// Everything was delivered: a replay skips it all. Each order has two
	// events: its creation (to inventory, shipping, payment, crm, the
	// owner's email and erp), and inventory's Stock Reserved (which no
	// rule routes when the order was reserved at once).
	if res := replay(); res["events"] != 2*orders || res["deliveries"] != 0 || res["skipped"] != orders*6 {
		t.Errorf("replay without --force: %v", res)
	}
	if n := countRows("SELECT COUNT(*) FROM bus_deliveries"); n != deliveries {
		t.Errorf("%d deliveries after a replay without --force, want %d", n, deliveries)
	}

	// --force for one target: it receives every event again, under new
	// webhook-ids; nothing else moves.
	if res := replay("--force", "--target", "erp"); res["deliveries"] != orders {
		t.Errorf("forced replay: %v", res)
	}
	waitFor(t, "the receiver to get the replays", 20*time.Second, func() (bool, string) {
		return len(r.requests()) == 2*orders, fmt.Sprint(len(r.requests()), " requests")
	})
	ids := map[string]bool{}
	for _, h := range r.requests() {
		ids[h.ID] = true
	}
	if len(ids) != 2*orders {
		t.Errorf("%d distinct webhook-ids for %d requests: a forced replay is a new message", len(ids), 2*orders)
	}
	if n := countRows("SELECT COUNT(*) FROM bus_deliveries WHERE replay = 1 AND target = 'erp'"); n != orders {
		t.Errorf("%d erp deliveries marked as replays, want %d", n, orders)
	}

	// --force to CRM: it handles the events again, and its own idempotency
	// keeps one record and one email per order.
	replay("--force", "--target", "crm")
	waitFor(t, "the CRM replays to be done", 20*time.Second, func() (bool, string) {
		n := countRows("SELECT COUNT(*) FROM bus_deliveries WHERE replay = 1 AND target = 'crm' AND status = 'done'")
		return n == orders, fmt.Sprint(n)
	})
	if n := countRows("SELECT COUNT(*) FROM email_jobs"); n != jobs || len(mail.Messages()) != 2*orders {
		t.Errorf("%d email jobs and %d messages after a forced CRM replay, want %d and %d", n, len(mail.Messages()), jobs, 2*orders)
	}

	// --force to email: the owner's new-order emails are asked for again,
	// under the same events, and none goes twice.
	replay("--force", "--target", "email")
	waitFor(t, "the email replays to be done", 20*time.Second, func() (bool, string) {
		n := countRows("SELECT COUNT(*) FROM bus_deliveries WHERE replay = 1 AND target = 'email' AND status = 'done'")
		return n == orders, fmt.Sprint(n)
	})
	if n := countRows("SELECT COUNT(*) FROM email_jobs WHERE status != 'sent'"); n != 0 {
		t.Errorf("%d emails not sent", n)
	}
	if n := countRows("SELECT COUNT(*) FROM email_jobs"); n != jobs || len(mail.Messages()) != 2*orders {
		t.Errorf("%d email jobs and %d messages after a forced email replay, want %d and %d", n, len(mail.Messages()), jobs, 2*orders)
	}
	if n := countRows("SELECT COUNT(*) FROM crm_orders"); n != orders {
		t.Errorf("%d CRM records, want %d", n, orders)
	}

	if code, _, errOut := runCLI(t, "--config", file, "events", "replay", "--from", "yesterday"); code != 2 {
		t.Errorf("a bad --from: exit %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "--config", file, "events", "replay", "--from", "1h", "--target", "nobody"); code != 2 {
		t.Errorf("an unknown target: exit %d %q", code, errOut)
	}
}
