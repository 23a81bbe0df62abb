package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// runCLI runs a shopbus command line in-process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEventsTestPattern(t *testing.T) {
	patternFile := writeFile(t, "pattern.json", `{"detail":{"total_minor":[{"numeric":[">=",1000]}]}}`)
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"match", []string{"--pattern", `{"source":["shopbus.checkout"]}`, "--event", "@testdata/order_event.json"}, 0, `{"result":true}` + "\n", ""},
		{"no match", []string{"--pattern", `{"source":["shopbus.inventory"]}`, "--event", "@testdata/order_event.json"}, 0, `{"result":false}` + "\n", ""},
		{"pattern from a file", []string{"--pattern", "@" + patternFile, "--event", "@testdata/order_event.json"}, 0, `{"result":true}` + "\n", ""},
		{"numeric is format independent", []string{"--pattern", `{"x":[{"numeric":["=",300]}]}`, "--event", `{"x":3.0e2}`}, 0, `{"result":true}` + "\n", ""},
		{"bare value", []string{"--pattern", `{"source":"shopbus.checkout"}`, "--event", "{}"}, 2, "", "value must be an array"},
		{"unknown operator", []string{"--pattern", `{"a":[{"numerc":[">",1]}]}`, "--event", "{}"}, 2, "", `unknown operator "numerc"`},
		{"refused as on AWS, with its reason", []string{"--pattern", `{"a":[{"anything-but":{"prefix":""}}]}`, "--event", "{}"}, 2, "", "Null prefix/suffix not allowed"},
		{"too complex for AWS", []string{"--pattern", `{"a":[{"wildcard":"*:*:*:*:*:event-bus/*"}]}`, "--event", "{}"}, 2, "", "Rule is too complex"},
		{"event not JSON", []string{"--pattern", `{"a":["b"]}`, "--event", "{oops"}, 2, "", "--event: not a JSON object"},
		{"missing file", []string{"--pattern", "@/nonexistent.json", "--event", "{}"}, 2, "", "no such file"},
		{"missing pattern", []string{"--event", "{}"}, 2, "", "--pattern is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"events", "test-pattern"}, tc.args...)...)
			if code != tc.code || stdout != tc.stdout || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q",
					code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestEventsTestTransform(t *testing.T) {
	ev := "@testdata/order_event.json"
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
	}{
		{"input path", []string{"--event", ev, "--input-path", "$.detail.payment"}, 0,
			`{"method":"card","reference":"ch_3Nx","amount_minor":1900}` + "\n"},
		{"fields", []string{"--event", ev, "--fields", "detail.order_id,detail.payment.method"}, 0,
			`{"detail":{"order_id":"ord-1001","payment":{"method":"card"}}}` + "\n"},
		{"string template", []string{"--event", ev, "--input-paths-map", `{"id":"$.detail.order_id"}`,
			"--input-template", `"Order <id> matched <aws.events.rule-name>"`, "--rule-name", "big-orders"}, 0,
			`"Order ord-1001 matched big-orders"` + "\n"},
		{"JSON template", []string{"--event", ev, "--input-paths-map", `{"id":"$.detail.order_id","n":"$.detail.item_count"}`,
			"--input-template", `{"order": <id>, "count": <n>}`}, 0, `{"order":"ord-1001","count":2}` + "\n"},
		{"undeclared variable", []string{"--event", ev, "--input-paths-map", `{"id":"$.detail.order_id"}`, "--input-template", `"<nope>"`}, 2, ""},
		{"no transform", []string{"--event", ev}, 2, ""},
		{"bad paths map", []string{"--event", ev, "--input-paths-map", `[1]`, "--input-template", `"x"`}, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"events", "test-transform"}, tc.args...)...)
			if code != tc.code || stdout != tc.stdout {
				t.Errorf("exit %d, stdout %q (stderr %q); want exit %d, stdout %q", code, stdout, stderr, tc.code, tc.stdout)
			}
			if tc.code != 0 && stderr == "" {
				t.Error("an error exit says nothing on stderr")
			}
		})
	}
}

func TestRulesCheck(t *testing.T) {
	code, stdout, stderr := runCLI(t, "rules", "check", "--config", "config.yaml")
	if code != 0 || stdout != "config.yaml: 12 rules, all valid\n" {
		t.Errorf("config.yaml: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "rules", "check", "--config", "testdata/bad_config.yaml")
	if code != 2 || stdout != "" {
		t.Errorf("bad config: exit %d, stdout %q", code, stdout)
	}
	golden(t, "rules_check_bad.golden", stderr)
}

func TestRulesTest(t *testing.T) {
	code, stdout, stderr := runCLI(t, "rules", "test", "--event", "@testdata/order_event.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	golden(t, "rules_test.golden", stdout)

	// POST /v1/rules/test answers the same.
	s := startShop(t, testConfig(t, smtptest.FreeAddr(t)), nil)
	ev, err := os.ReadFile("testdata/order_event.json")
	if err != nil {
		t.Fatal(err)
	}
	got := must[json.RawMessage](t, http.StatusOK)(s.request("POST", "/v1/rules/test", string(ev)))
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(stdout), &b); err != nil {
		t.Fatal(err)
	}
	if ja, jb := mustMarshal(t, a), mustMarshal(t, b); ja != jb {
		t.Errorf("HTTP and CLI differ:\n%s\n%s", ja, jb)
	}
	if status, body := s.request("POST", "/v1/rules/test", "[1,2]"); status != http.StatusBadRequest {
		t.Errorf("a non-object event: %d %s", status, body)
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAdminCommands: migrate, apikey create and stock set work on the
// database a server then uses.
func TestAdminCommands(t *testing.T) {
	dir := t.TempDir()
	store := dbtest.Config(t)
	useDatabase(t, store)
	t.Setenv("SHOPBUS_MAIL_DIR", filepath.Join(dir, "mail"))
	if code, out, errOut := runCLI(t, "migrate"); code != 0 || out != "database is up to date\n" {
		t.Fatalf("migrate: %d %q %q", code, out, errOut)
	}
	code, key, errOut := runCLI(t, "apikey", "create", "--name", "storefront")
	key = strings.TrimSpace(key)
	if code != 0 || !strings.HasPrefix(key, "sb_live_") || strings.Contains(key, "\n") {
		t.Fatalf("apikey create: %d %q %q", code, key, errOut)
	}
	if code, _, errOut := runCLI(t, "apikey", "create", "--name", "storefront"); code == 0 || !strings.Contains(errOut, "exists") {
		t.Errorf("a second key with the same name: %d %q", code, errOut)
	}
	code, storefront, _ := runCLI(t, "apikey", "create", "--name", "web", "--scopes", "orders:write", "--expires", "90d")
	storefront = strings.TrimSpace(storefront)
	if code != 0 || !strings.HasPrefix(storefront, "sb_live_") {
		t.Fatalf("apikey create --scopes: %d %q", code, storefront)
	}
	for _, bad := range [][]string{{"--scopes", "root"}, {"--scopes", ""}, {"--expires", "soon"}, {"--expires", "0d"}} {
		if code, _, errOut := runCLI(t, append([]string{"apikey", "create", "--name", "bad"}, bad...)...); code != 2 {
			t.Errorf("apikey create %v: exit %d, want 2 (%s)", bad, code, errOut)
		}
	}
	code, list, _ := runCLI(t, "apikey", "list")
	if code != 0 || !strings.Contains(list, "storefront") || !strings.Contains(list, "orders:write") ||
		strings.Contains(list, key) || strings.Contains(list, storefront) {
		t.Errorf("apikey list: %d\n%s", code, list)
	}
	if code, out, _ := runCLI(t, "apikey", "revoke", "web"); code != 0 || out != "revoked web\n" {
		t.Errorf("apikey revoke: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, "apikey", "revoke", "web"); code != 1 || !strings.Contains(errOut, `"web" is already revoked`) {
		t.Errorf("apikey revoke twice: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "apikey", "revoke", "nobody"); code != 1 || !strings.Contains(errOut, "no such key") {
		t.Errorf("apikey revoke of an unknown key: %d %q", code, errOut)
	}
	if code, out, errOut := runCLI(t, "stock", "set", "MUG", "12"); code != 0 || out != "MUG: on hand 12, reserved 0, available 12\n" {
		t.Errorf("stock set: %d %q %q", code, out, errOut)
	}
	if code, _, _ := runCLI(t, "stock", "set", "MUG", "-3"); code != 2 {
		t.Errorf("stock set MUG -3: exit %d, want 2", code)
	}
	if code, out, errOut := runCLI(t, "events", "replay", "--from", "1d"); code != 0 || !strings.Contains(out, "{") {
		t.Errorf("events replay --from 1d (days, as apikey --expires takes them): %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCLI(t, "version"); code != 0 || !strings.HasPrefix(out, "shopbus ") {
		t.Errorf("version: %d %q", code, out)
	}

	cfg := testConfig(t, smtptest.FreeAddr(t))
	cfg.Database = store
	cfg.BootstrapAPIKey = ""
	s := startShop(t, cfg, nil)
	st := must[stock](t, http.StatusOK)(s.requestKey("GET", "/v1/inventory/MUG", nil, key))
	if st.OnHand != 12 {
		t.Errorf("stock seen by the server: %+v", st)
	}
	if status, _ := s.requestKey("POST", "/v1/orders", newOrder("ord-web", "a@example.com", "MUG", 1), storefront); status != 401 {
		t.Errorf("a key revoked from the command line: %d, want 401", status)
	}
}

// TestUnknownDriver: a database driver shopbus does not have is invalid
// configuration, refused before anything opens: exit 2, naming it.
func TestUnknownDriver(t *testing.T) {
	t.Setenv("SHOPBUS_DATABASE_DRIVER", "mysql")
	t.Setenv("SHOPBUS_DATABASE_DSN", filepath.Join(t.TempDir(), "shop.db"))
	for _, args := range [][]string{{"migrate"}, {"serve"}, {"rules", "check"}, {"apikey", "list"}} {
		if code, out, errOut := runCLI(t, args...); code != 2 || out != "" || !strings.Contains(errOut, `"mysql"`) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and the driver named", args, code, out, errOut)
		}
	}
}

// TestInvalidInputExits2: whatever the command, what the user gave being
// wrong (a flag, an argument, the config file) exits 2; the config is
// checked whole before anything opens.
func TestInvalidInputExits2(t *testing.T) {
	t.Setenv("SHOPBUS_DATABASE_DSN", filepath.Join(t.TempDir(), "shop.db"))
	unknownKey := writeFile(t, "unknown.yaml", "http:\n  adr: \":0\"\n")
	badPattern := writeFile(t, "pattern.yaml", "rules:\n  - name: r\n    pattern: {source: [{prefix: 1}]}\n    targets: [{module: inventory}]\n")
	unknownModule := writeFile(t, "module.yaml", "rules:\n  - name: r\n    pattern: {source: [\"x\"]}\n    targets: [{module: warehouse}]\n")
	syntax := writeFile(t, "syntax.yaml", "http:\n  addr: \":0\"\n database:\n")
	badMail := writeFile(t, "mail.yaml", "mail:\n  from: \"not an address\"\n")
	configs := map[string]string{"unknown key": unknownKey, "bad pattern": badPattern, "unknown module": unknownModule,
		"YAML syntax": syntax, "bad mail.from": badMail}
	commands := [][]string{{"serve"}, {"migrate"}, {"rules", "check"}, {"apikey", "list"}, {"dlq", "list"},
		{"stock", "set", "MUG", "1"}, {"events", "replay", "--from", "1h"}}
	for name, file := range configs {
		for _, args := range commands {
			t.Run(name+"/"+strings.Join(args, " "), func(t *testing.T) {
				if code, out, errOut := runCLI(t, append([]string{"--config", file}, args...)...); code != 2 || out != "" {
					t.Errorf("exit %d, stdout %q, stderr %q; want 2", code, out, errOut)
				}
			})
		}
	}
	for _, args := range [][]string{{"rules", "test", "--event", `{"order_id":"o1","items":[]}`},
		{"stock", "set", "MUG", "many"}, {"dlq", "show", "abc"}, {"dlq", "redrive"},
		{"events", "replay", "--from", "yesterday"}, {"apikey", "create", "--name", "x", "--expires", "soon"},
		{"serve", "--no-such-flag"}, {"events", "test-pattern", "--pattern", "{", "--event", "{}"}} {
		if code, _, errOut := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}

// TestServeOnATakenAddress: the error names the setting to change.
func TestServeOnATakenAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("SHOPBUS_DATABASE_DSN", filepath.Join(t.TempDir(), "shop.db"))
	t.Setenv("SHOPBUS_HTTP_ADDR", ln.Addr().String())
	if code, _, errOut := runCLI(t, "serve"); code != 1 || !strings.Contains(errOut, "SHOPBUS_HTTP_ADDR") {
		t.Errorf("serve on a taken address: exit %d, %q; want 1 naming SHOPBUS_HTTP_ADDR", code, errOut)
	}
}

func TestDashboardURL(t *testing.T) {
	for addr, want := range map[string]string{
		"[::]:8080":      "http://localhost:8080/dashboard",
		"0.0.0.0:8080":   "http://localhost:8080/dashboard",
		"127.0.0.1:9000": "http://127.0.0.1:9000/dashboard",
		"[::1]:9000":     "http://[::1]:9000/dashboard",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := dashboardURL(tcp); got != want {
			t.Errorf("dashboardURL(%s) = %s, want %s", addr, got, want)
		}
	}
}
