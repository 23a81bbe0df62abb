package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// TestDashboardInBrowser drives the dashboard in a real Chromium against a
// real shopbus: log in, watch an order posted through the API appear
// without a reload, open it, redrive its dead webhook delivery and watch it
// turn done, test the rules, log out. It saves a screenshot of every page
// to $SHOPBUS_SCREENSHOTS (a temporary folder when unset).
func TestDashboardInBrowser(t *testing.T) {
	ctx := newBrowser(t)
	shots := screenshotDir(t)
	hook := newReceiver(t, func(int) int { return 400 }) // a 4xx: dead at the first attempt
	mail := smtptest.Start(t, "127.0.0.1:0")
	cfg := testConfig(t, mail.Addr())
	withWebhook(t, cfg, hook)
	s := startShop(t, cfg, mail)
	s.setStock("MUG", 40)
	s.setStock("TEA", 3)
	s.setStock("CUP", 0)
	for _, o := range []map[string]any{newOrder("ord-1001", "jane@example.com", "MUG", 2), newOrder("ord-1002", "sam@example.org", "TEA", 1, "MUG", 1)} {
		must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", o))
	}
	s.waitSettledExcept("ord-1002", "erp")

	// Log in: a page asked for without a session leads to the login form.
	step(t, ctx, "open the orders without a session", chromedp.Navigate(s.url+"/dashboard/orders"), chromedp.WaitVisible(chromedp.ID("key")))
	if loc := value(t, ctx, chromedp.Location()); !strings.Contains(loc, "/dashboard/login?next=") {
		t.Fatalf("without a session the browser is at %s, want the login page", loc)
	}
	shot(t, ctx, shots, "login")
	step(t, ctx, "log in", chromedp.SendKeys(chromedp.ID("key"), testKey), chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.ID("order-ord-1002")))

	// A new order appears live: no reload (the mark set on this page stays).
	step(t, ctx, "mark the page", chromedp.Evaluate[chromedp.Void](`document.body.dataset.mark = "before"`),
		chromedp.Poll[chromedp.Void](`document.getElementById("live-status").className === "live on"`, chromedp.WithPollingTimeout(10*time.Second)))
	must[map[string]string](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-1003", "ada@example.com", "MUG", 3)))
	step(t, ctx, "see the new order without a reload", chromedp.WaitVisible(chromedp.ID("order-ord-1003")),
		chromedp.WaitVisible(chromedp.CSS(`#order-ord-1003 .s-dead`))) // its webhook delivery died
	if mark := value(t, ctx, chromedp.Evaluate[string](`document.body.dataset.mark || ""`)); mark != "before" {
		t.Fatal("the page reloaded to show the new order")
	}
	if count := value(t, ctx, chromedp.Text(chromedp.CSS(`[data-live-count]`))); count != "3" {
		t.Errorf("the order count shows %s, want 3", count)
	}
	shot(t, ctx, shots, "orders")

	// Open it: the dead delivery is there with its error.
	step(t, ctx, "open the order", chromedp.Click(chromedp.CSS(`#order-ord-1003 a`)), chromedp.WaitVisible(chromedp.ID("deliveries-body")),
		chromedp.WaitVisible(chromedp.CSS(`#deliveries-body button.redrive`)))
	if text := value(t, ctx, chromedp.Text(chromedp.ID("deliveries-body"))); !strings.Contains(text, "erp") || !strings.Contains(text, "400") {
		t.Errorf("the deliveries show %q, want erp's dead delivery with the 400", text)
	}
	shot(t, ctx, shots, "order-dead")
	step(t, ctx, "look at the dead letters", chromedp.Click(chromedp.CSS(`nav a[href="/dashboard/dlq"]`)), chromedp.WaitVisible(chromedp.CSS(`.letter`)))
	shot(t, ctx, shots, "dlq")

	// Redrive it, and see it turn done live once the receiver answers: until
	// then each attempt hangs until the sender's timeout, and is retried.
	hook.setAnswer(func(int) int { return -1 })
	step(t, ctx, "redrive from the order", chromedp.Navigate(s.url+"/dashboard/orders/ord-1003"),
		chromedp.WaitVisible(chromedp.CSS(`#deliveries-body button.redrive`)), chromedp.Click(chromedp.CSS(`#deliveries-body button.redrive`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice`)), chromedp.Evaluate[chromedp.Void](`document.body.dataset.mark = "redriven"`))
	const erpStatus = `[...document.querySelectorAll("#deliveries-body tr[id]")].find(tr => tr.cells[1].textContent === "erp").querySelector(".status").textContent`
	if status := value(t, ctx, chromedp.Evaluate[string](erpStatus)); status != "pending" && status != "failed" {
		t.Fatalf("the redriven delivery shows %q, want pending or failed while the receiver hangs", status)
	}
	hook.setAnswer(func(int) int { return 204 })
	step(t, ctx, "see the delivery turn done", chromedp.Poll[chromedp.Void](erpStatus+` === "done"`, chromedp.WithPollingTimeout(20*time.Second)))
	if mark := value(t, ctx, chromedp.Evaluate[string](`document.body.dataset.mark || ""`)); mark != "redriven" {
		t.Fatal("the page reloaded to show the delivery done")
	}
	shot(t, ctx, shots, "order")

	// The rule tester: the example event, tested.
	step(t, ctx, "test the rules", chromedp.Click(chromedp.CSS(`nav a[href="/dashboard/rules"]`)), chromedp.WaitVisible(chromedp.ID("event")),
		chromedp.Click(chromedp.ID("test-rules")), chromedp.WaitVisible(chromedp.ID("results")))
	if text := value(t, ctx, chromedp.Text(chromedp.ID("results"))); !strings.Contains(text, "new-order-fulfilment") || !strings.Contains(text, "inventory would receive") {
		t.Errorf("the rule tester shows %q, want new-order-fulfilment and what inventory would receive", text)
	}
	shot(t, ctx, shots, "rules")
	for _, page := range []string{"flow", "inventory"} {
		step(t, ctx, "open "+page, chromedp.Click(chromedp.CSS(`nav a[href="/dashboard/`+page+`"]`)), chromedp.WaitVisible(chromedp.CSS(`a[aria-current="page"][href="/dashboard/`+page+`"]`)))
		shot(t, ctx, shots, page)
	}
	step(t, ctx, "read the orders on a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(s.url+"/dashboard/orders"), chromedp.WaitVisible(chromedp.ID("order-ord-1003")))
	shot(t, ctx, shots, "orders-phone")
	step(t, ctx, "back to a desktop", chromedp.ResetViewport())

	// Log out: the session is gone, the pages lead to the login form again.
	step(t, ctx, "log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.Navigate(s.url+"/dashboard/orders"), chromedp.WaitVisible(chromedp.ID("key")))
	var sessions int64
	queryRow(t, cfg.Database, `SELECT COUNT(*) FROM dashboard_sessions`, &sessions)
	if sessions != 0 {
		t.Errorf("%d sessions left after logging out", sessions)
	}
}

// waitSettledExcept waits until every delivery of the order but those to
// target is done.
func (s *shop) waitSettledExcept(id, target string) {
	s.t.Helper()
	waitFor(s.t, id+" to settle", 20*time.Second, func() (bool, string) {
		v := s.order(id)
		for _, d := range v.Deliveries {
			if d.Target != target && d.Status != "done" {
				return false, d.Target + " is " + d.Status
			}
		}
		return len(v.Deliveries) > 0, "no deliveries"
	})
}

// newBrowser starts a headless Chromium for the test with a fresh profile,
// and returns a tab. Without Chromium the test is skipped, unless
// SHOPBUS_REQUIRE_BROWSER is set (as CI does): then it fails.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		path, err = exec.LookPath("chromium-browser")
	}
	if err != nil {
		if os.Getenv("SHOPBUS_REQUIRE_BROWSER") != "" {
			t.Fatal("SHOPBUS_REQUIRE_BROWSER is set but Chromium is not installed (apt-get install -y chromium)")
		}
		t.Skip("Chromium is not installed: the browser test needs it (apt-get install -y chromium); set SHOPBUS_REQUIRE_BROWSER=1 to fail instead of skipping")
	}
	var output bytes.Buffer // Chromium's own log, shown only when the test fails
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900), chromedp.CombinedOutput(&output))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for Chromium to exit
		if t.Failed() {
			t.Logf("Chromium's output:\n%s", output.String())
		}
	})
	// The first action starts the browser and opens the tab, which live as
	// long as its context: that must be ctx itself, not one with a deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	return ctx
}

// step runs browser actions, failing the test if they do not finish within
// 30 seconds: every wait in them has that deadline. A failure names the
// action that failed and shows the page as it was then.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for i, a := range actions {
		if err := chromedp.Do(sctx, a); err != nil {
			t.Fatalf("%s: action %d of %d: %v\n%s", what, i+1, len(actions), err, pageNow(ctx))
		}
	}
}

// pageNow describes the tab's page for a failure: its address and the
// text it shows.
func pageNow(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	page, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	if err != nil {
		return "(the page could not be read: " + err.Error() + ")"
	}
	return "the page then: " + page
}

// value runs one action that returns a value, with step's deadline and,
// on failure, its view of the page.
func value[T any](t *testing.T, ctx context.Context, action chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, action)
	if err != nil {
		t.Fatalf("%v\n%s", err, pageNow(ctx))
	}
	return v
}

// screenshotDir is where the test saves its screenshots: $SHOPBUS_SCREENSHOTS
// (for CI to keep as artefacts) or a temporary folder.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SHOPBUS_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shot saves a PNG of the whole page as dashboard-NAME.png.
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := value(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, "dashboard-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
