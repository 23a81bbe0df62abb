package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// buildBinary builds shopbus once per test run, as `make build` does.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "shopbus")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is the built binary running `shopbus serve` on the embedded
// config, configured by environment as a deployment would be.
type process struct {
	cmd *exec.Cmd
	url string
}

func startProcess(t *testing.T, bin string, env []string, logFile *os.File) *process {
	t.Helper()
	addr := smtptest.FreeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(append(os.Environ(), env...), "SHOPBUS_HTTP_ADDR="+addr, "SHOPBUS_RATE_LIMIT_RPS=0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, url: "http://" + addr}
	t.Cleanup(func() { p.kill() })
	waitFor(t, "the process to answer /readyz", 30*time.Second, func() (bool, string) {
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return p
}

// binaryShop is the built binary with what a deployment gives it: a
// database, a log file every run appends to, a real SMTP server and the
// environment that points the process at them.
type binaryShop struct {
	bin     string
	env     []string
	store   database.Config
	logFile *os.File
	mail    *smtptest.Server
}

// newBinaryShop builds the binary and prepares its surroundings; the SMTP
// server takes smtpDelay to accept each message, like a slow relay. extraEnv
// is added to the environment. It skips the test in -short mode.
func newBinaryShop(t *testing.T, smtpDelay time.Duration, extraEnv ...string) *binaryShop {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	logFile, err := os.Create(filepath.Join(dir, "shopbus.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	mail := smtptest.Start(t, "127.0.0.1:0")
	mail.SetDelay(smtpDelay)
	store := dbtest.Config(t)
	env := append([]string{"SHOPBUS_DATABASE_DRIVER=" + store.Driver, "SHOPBUS_DATABASE_DSN=" + store.DSN,
		"SHOPBUS_SMTP_ADDR=" + mail.Addr(), "SHOPBUS_BOOTSTRAP_API_KEY=" + testKey}, extraEnv...)
	return &binaryShop{bin: bin, env: env, store: store, logFile: logFile, mail: mail}
}

// start runs the binary and waits until it answers.
func (s *binaryShop) start(t *testing.T) *process {
	t.Helper()
	return startProcess(t, s.bin, s.env, s.logFile)
}

// kill stops the process with SIGKILL: no shutdown code runs.
func (p *process) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// TestKillBetweenAcceptAndDelivery kills the real binary with SIGKILL right
// after it accepted a burst of orders, three times, and checks after the
// last restart that every accepted order reached every target once and was
// mailed once.
func TestKillBetweenAcceptAndDelivery(t *testing.T) {
	// A slow relay keeps mail queued when the kill comes.
	shop := newBinaryShop(t, 10*time.Millisecond, "SHOPBUS_MAIL_DIR="+filepath.Join(t.TempDir(), "mail"))
	store, mail := shop.store, shop.mail

	p := shop.start(t)
	must[stock](t, http.StatusOK)(doJSON(t, "PUT", p.url+"/v1/inventory/MUG", map[string]int{"on_hand": 10000}, testKey))

	const rounds, perRound = 3, 40
	var accepted []string
	for round := range rounds {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range perRound {
			wg.Go(func() {
				id := fmt.Sprintf("ord-r%d-%02d", round, i)
				status, body := doJSON(t, "POST", p.url+"/v1/orders", newOrder(id, id+"@example.com", "MUG", 1), testKey)
				if status != http.StatusCreated {
					t.Errorf("%s: %d %s", id, status, body)
					return
				}
				mu.Lock()
				accepted = append(accepted, id)
				mu.Unlock()
			})
		}
		wg.Wait()
		p.kill()

		// The kill must have come between accept and delivery for some work,
		// or this test proves nothing.
		var unrouted, undelivered, unsent int
		queryRow(t, store, "SELECT COUNT(*) FROM bus_events WHERE routed_at IS NULL", &unrouted)
		queryRow(t, store, "SELECT COUNT(*) FROM bus_deliveries WHERE status != 'done'", &undelivered)
		queryRow(t, store, "SELECT COUNT(*) FROM email_jobs WHERE status != 'sent'", &unsent)
		t.Logf("round %d: killed with %d events unrouted, %d deliveries and %d emails outstanding", round, unrouted, undelivered, unsent)
		if unrouted+undelivered+unsent == 0 {
			t.Fatalf("round %d: nothing was outstanding at the kill", round)
		}
		p = shop.start(t)
	}

	for _, id := range accepted {
		var v orderView
		waitFor(t, id+" to settle after restarts", 60*time.Second, func() (bool, string) {
			v = must[orderView](t, http.StatusOK)(doJSON(t, "GET", p.url+"/v1/orders/"+id, nil, testKey))
			return v.settled(5, 2)
		})
		// inventory, shipping, payment, crm and the owner's email; the
		// customer's confirmation and the owner's new-order email.
		if len(v.Deliveries) != 5 || len(v.Emails) != 2 {
			t.Errorf("%s: %d deliveries, %d emails; want 5 and 2", id, len(v.Deliveries), len(v.Emails))
		}
	}
	st := must[stock](t, http.StatusOK)(doJSON(t, "GET", p.url+"/v1/inventory/MUG", nil, testKey))
	if st.Reserved != int64(len(accepted)) {
		t.Errorf("MUG reserved %d, want %d (one per accepted order)", st.Reserved, len(accepted))
	}
	var records int
	queryRow(t, store, "SELECT COUNT(*) FROM crm_orders", &records)
	if records != len(accepted) {
		t.Errorf("%d CRM records, want %d", records, len(accepted))
	}

	// Each order was mailed once. The one send no sender can make exactly
	// once: a message the server accepted in the instant before a kill, not
	// yet recorded as sent, goes again after the restart with the same
	// Message-ID, so the recipient's client shows it once.
	byOrder := map[string][]string{}
	for _, m := range mail.Messages() {
		parsed, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		id := m.To[0][:len(m.To[0])-len("@example.com")]
		byOrder[id] = append(byOrder[id], parsed.Header.Get("Message-ID"))
	}
	resent := 0
	for _, id := range accepted {
		ids := byOrder[id]
		switch {
		case len(ids) == 0:
			t.Errorf("%s: never mailed", id)
		case len(ids) == 2 && ids[0] == ids[1]:
			resent++
		case len(ids) > 1:
			t.Errorf("%s: mailed %d times with Message-IDs %v", id, len(ids), ids)
		}
	}
	if resent > rounds*builtinMailWorkers(t) {
		t.Errorf("%d messages re-sent; at most one per sender per kill can be in the window", resent)
	}
	// The owner's emails too, with the customers': each once.
	checkMailedOnce(t, mail, func(q string, dest any) { queryRow(t, store, q, dest) }, rounds*builtinMailWorkers(t))
}

// TestCrashUnderLoad kills the binary with SIGKILL at random moments while
// orders pour in, restarts it each time, lets the backlog drain, and then
// checks every order against every module's tables and the SMTP server:
// each accepted order delivered to every target once and mailed once, and
// no side effect without its order.
func TestCrashUnderLoad(t *testing.T) {
	shop := newBinaryShop(t, 2*time.Millisecond)
	store, mail := shop.store, shop.mail
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)

	p := shop.start(t)
	for _, sku := range []string{"MUG", "TEE"} {
		must[stock](t, http.StatusOK)(doJSON(t, "PUT", p.url+"/v1/inventory/"+sku, map[string]int{"on_hand": stockOnHand}, testKey))
	}
	var accepted sync.Map
	const kills = 4
	for round := range kills {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Go(func() {
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("ord-k%d-%d-%d", round, g, n)
					// Each client starts at a move of its own: a round
					// may be over after a couple of orders.
					if placeAndMove(p.url, id, g+n) {
						accepted.Store(id, true)
					}
				}
			})
		}
		time.Sleep(time.Duration(100+rng.IntN(700)) * time.Millisecond) // the random moment of the kill
		p.kill()
		close(stop)
		wg.Wait()
		p = shop.start(t)
	}

	// Drain: nothing unrouted, undelivered or unsent.
	waitFor(t, "the backlog to drain", 120*time.Second, func() (bool, string) {
		var unrouted, undelivered, unsent int
		queryRow(t, store, "SELECT COUNT(*) FROM bus_events WHERE routed_at IS NULL", &unrouted)
		queryRow(t, store, "SELECT COUNT(*) FROM bus_deliveries WHERE status != 'done'", &undelivered)
		queryRow(t, store, "SELECT COUNT(*) FROM email_jobs WHERE status != 'sent'", &unsent)
		return unrouted+undelivered+unsent == 0, fmt.Sprintf("%d unrouted, %d undelivered, %d unsent", unrouted, undelivered, unsent)
	})

	var orders, acceptedCount int
	queryRow(t, store, "SELECT COUNT(*) FROM checkout_orders", &orders)
	missing := 0
	accepted.Range(func(id, _ any) bool {
		acceptedCount++
		var n int
		queryRow(t, store, fmt.Sprintf("SELECT COUNT(*) FROM checkout_orders WHERE order_id = '%s'", id), &n)
		if n != 1 {
			missing++
		}
		return true
	})
	t.Logf("%d orders answered 201, %d stored, %d kills", acceptedCount, orders, kills)
	if missing > 0 {
		t.Errorf("%d orders answered 201 are not stored", missing)
	}
	if acceptedCount == 0 {
		t.Fatal("no order was accepted")
	}

	// Every stored order (accepted, or committed just before a kill cut its
	// answer) reached each module exactly once.
	checkEachOrderOnce(t, func(q string, dest any) { queryRow(t, store, q, dest) }, orders)

	// Mail: each email once, the confirmations, the owner's and every
	// state change's; a re-send (the instant between the server's accept
	// and our record, at a kill) carries the same Message-ID. Each sender
	// has at most one message in that instant when the kill comes.
	checkMailedOnce(t, mail, func(q string, dest any) { queryRow(t, store, q, dest) }, kills*builtinMailWorkers(t))
}

// moves are the state changes the crash tests make after placing their
// n-th order, so that every state's email goes out under load: a
// quarter stay new, a quarter ship (with a parcel to track) and arrive,
// a quarter are cancelled, a quarter are paid, shipped and refunded in
// part.
func moves(n int) []map[string]any {
	shipped := map[string]any{"order_state": "order_shipped",
		"shipment": map[string]any{"carrier": "DHL", "tracking_number": "JD" + fmt.Sprint(n), "tracking_url": "https://carrier.example/track"}}
	switch n % 4 {
	case 1:
		return []map[string]any{shipped, {"order_state": "order_delivered"}}
	case 2:
		return []map[string]any{{"order_state": "order_cancelled"}}
	case 3:
		// Refunded in two parts: the first keeps the order shipped (an
		// Order Partially Refunded event), the rest refunds it.
		return []map[string]any{{"order_state": "order_paid"}, shipped, {"order_state": "order_refunded", "refund_minor": 100},
			{"order_state": "order_refunded", "refund_minor": 3650}}
	}
	return nil
}

// placeAndMove places order id (one MUG and two TEE, for its customer
// <id>@example.com) at the shop at url, then makes its moves(n), as far
// as the shop answers. It reports whether the order was accepted: a
// process killed meanwhile leaves an order or a move that may or may not
// exist, which the checks read from the database.
func placeAndMove(url, id string, n int) bool {
	post := func(path string, body any) bool {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", url+path, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode < 300
	}
	if !post("/v1/orders", newOrder(id, id+"@example.com", "MUG", 1, "TEE", 2)) {
		return false
	}
	for _, m := range moves(n) {
		if !post("/v1/orders/"+id+"/state", m) {
			break
		}
	}
	return true
}

// routedTo are the targets config.yaml routes each order state to.
var routedTo = map[string][]string{
	"new_order_created": {"crm", "email", "inventory", "payment", "shipping"},
	"order_paid":        {"payment"},
	"order_shipped":     {"email", "inventory", "payment", "shipping"},
	"order_delivered":   {"email", "shipping"},
	"order_cancelled":   {"email", "inventory", "payment", "shipping"},
	"order_refunded":    {"email", "payment"},
	partialRefund:       {"email", "payment"},
}

// partialRefund stands for an Order Partially Refunded event among the
// states: a refund that leaves part of the order paid.
const partialRefund = "partial refund"

// stateEvent is an order's state change as the outbox holds it.
type stateEvent struct {
	ID, OrderID, Body string
	state             string
}

// stateEvents reads every Order State Change in the outbox, and every
// Order Partially Refunded (its state partialRefund).
func stateEvents(t *testing.T, query func(q string, dest any)) []stateEvent {
	t.Helper()
	var events []stateEvent
	query("SELECT id, order_id, body FROM bus_events WHERE detail_type IN ('Order State Change', 'Order Partially Refunded')", &events)
	for i := range events {
		var ev struct {
			DetailType string `json:"detail-type"`
			Detail     struct {
				State string `json:"order_state"`
			} `json:"detail"`
		}
		if err := json.Unmarshal([]byte(events[i].Body), &ev); err != nil {
			t.Fatal(err)
		}
		events[i].state = ev.Detail.State
		if ev.DetailType == "Order Partially Refunded" {
			events[i].state = partialRefund
		}
	}
	return events
}

// checkEachOrderOnce checks, with query reading the shop's database, that
// every stored order of the crash tests (each one MUG and two TEE, moved
// as moves says) reached each module exactly once, that each of its state
// changes was delivered to exactly the targets config.yaml routes it to
// and queued its email once, that no module holds work for an order that
// does not exist, and that the stock is exact for orders orders.
func checkEachOrderOnce(t *testing.T, query func(q string, dest any), orders int) {
	t.Helper()
	checks := map[string]string{
		"orders without 2 reservations":         "SELECT COUNT(*) FROM checkout_orders o WHERE (SELECT COUNT(*) FROM inventory_reservations r WHERE r.order_id = o.order_id) != 2",
		"orders without one shipment":           "SELECT COUNT(*) FROM checkout_orders o WHERE (SELECT COUNT(*) FROM shipping_shipments s WHERE s.order_id = o.order_id) != 1",
		"orders without one payment":            "SELECT COUNT(*) FROM checkout_orders o WHERE (SELECT COUNT(*) FROM payment_payments p WHERE p.order_id = o.order_id) != 1",
		"orders without one CRM record":         "SELECT COUNT(*) FROM checkout_orders o WHERE (SELECT COUNT(*) FROM crm_orders c WHERE c.order_id = o.order_id) != 1",
		"orders without one sent confirmation":  "SELECT COUNT(*) FROM checkout_orders o WHERE (SELECT COUNT(*) FROM email_jobs e WHERE e.order_id = o.order_id AND e.template = 'order_success' AND e.recipient = o.customer_email AND e.status = 'sent') != 1",
		"orders without one sent owner's email": "SELECT COUNT(*) FROM checkout_orders o WHERE (SELECT COUNT(*) FROM email_jobs e WHERE e.order_id = o.order_id AND e.template = 'owner_new_order' AND e.recipient = 'owner@example.com' AND e.status = 'sent') != 1",
		"emails not sent":                       "SELECT COUNT(*) FROM email_jobs WHERE status != 'sent'",
		"reservations that do not follow their order's state": `SELECT COUNT(*) FROM inventory_reservations r JOIN checkout_orders o ON o.order_id = r.order_id
			WHERE r.status != CASE WHEN o.state IN ('new_order_created', 'order_paid') THEN 'reserved'
				WHEN o.state = 'order_cancelled' THEN 'released' ELSE 'committed' END`,
		"side effects without an order": `SELECT (SELECT COUNT(*) FROM inventory_reservations WHERE order_id NOT IN (SELECT order_id FROM checkout_orders))
			+ (SELECT COUNT(*) FROM shipping_shipments WHERE order_id NOT IN (SELECT order_id FROM checkout_orders))
			+ (SELECT COUNT(*) FROM payment_payments WHERE order_id NOT IN (SELECT order_id FROM checkout_orders))
			+ (SELECT COUNT(*) FROM crm_orders WHERE order_id NOT IN (SELECT order_id FROM checkout_orders))
			+ (SELECT COUNT(*) FROM email_jobs WHERE order_id NOT IN (SELECT order_id FROM checkout_orders))`,
	}
	for what, q := range checks {
		var n int
		query(q, &n)
		if n != 0 {
			t.Errorf("%s: %d", what, n)
		}
	}

	// Each state change reached exactly its targets, once each, and each
	// that mails the customer queued exactly its email.
	events := stateEvents(t, query)
	var deliveries []struct{ EventID, Target, Status string }
	query("SELECT event_id, target, status FROM bus_deliveries", &deliveries)
	targets := map[string][]string{}
	for _, d := range deliveries {
		if d.Status != "done" {
			t.Errorf("delivery of event %s to %s is %s", d.EventID, d.Target, d.Status)
		}
		targets[d.EventID] = append(targets[d.EventID], d.Target)
	}
	var jobs []struct{ EventID, Template, Recipient string }
	query("SELECT event_id, template, recipient FROM email_jobs", &jobs)
	mailed := map[string][]string{}
	for _, j := range jobs {
		mailed[j.EventID] = append(mailed[j.EventID], j.Template+" to "+j.Recipient)
	}
	byState := map[string]int{}
	for _, ev := range events {
		byState[ev.state]++
		if got := slices.Sorted(slices.Values(targets[ev.ID])); !slices.Equal(got, routedTo[ev.state]) {
			t.Errorf("%s's %s event %s went to %v, want %v", ev.OrderID, ev.state, ev.ID, got, routedTo[ev.state])
		}
		want := []string{ev.state + " to " + ev.OrderID + "@example.com"}
		switch ev.state {
		case partialRefund:
			want = []string{"order_refunded to " + ev.OrderID + "@example.com"}
		case "new_order_created":
			want = []string{"order_success to " + ev.OrderID + "@example.com", "owner_new_order to owner@example.com"}
		case "order_paid":
			want = nil
		}
		if got := slices.Sorted(slices.Values(mailed[ev.ID])); !slices.Equal(got, want) {
			t.Errorf("%s's %s event %s mailed %v, want %v", ev.OrderID, ev.state, ev.ID, got, want)
		}
		delete(mailed, ev.ID)
	}
	if len(mailed) > 0 {
		t.Errorf("emails of no order's event: %v", mailed)
	}
	if byState["new_order_created"] != orders {
		t.Errorf("%d new-order events for %d orders", byState["new_order_created"], orders)
	}
	t.Logf("state changes: %v", byState)
	for _, st := range []string{"order_shipped", "order_delivered", "order_cancelled", partialRefund, "order_refunded"} {
		if byState[st] == 0 {
			t.Errorf("no order reached %s: the run did not cover its email", st)
		}
	}

	// Stock: what new and paid orders hold is reserved; what shipped left
	// the shelf; what was cancelled came back.
	var held, gone int64
	query("SELECT COUNT(*) FROM checkout_orders WHERE state IN ('new_order_created', 'order_paid')", &held)
	query("SELECT COUNT(*) FROM checkout_orders WHERE state IN ('order_shipped', 'order_delivered', 'order_refunded')", &gone)
	var mug, tee struct{ Reserved, OnHand int64 }
	query("SELECT reserved, on_hand FROM inventory_stock WHERE sku = 'MUG'", &mug)
	query("SELECT reserved, on_hand FROM inventory_stock WHERE sku = 'TEE'", &tee)
	if mug.Reserved != held || tee.Reserved != 2*held || mug.OnHand != stockOnHand-gone || tee.OnHand != stockOnHand-2*gone {
		t.Errorf("MUG reserved %d of %d, TEE %d of %d; want %d of %d and %d of %d", mug.Reserved, mug.OnHand, tee.Reserved, tee.OnHand,
			held, stockOnHand-gone, 2*held, stockOnHand-2*gone)
	}
}

// stockOnHand is what the crash tests put on the shelf of each SKU.
const stockOnHand = 1_000_000

// checkMailedOnce checks that the SMTP server received each email that
// query finds in the shop's database (the jobs, all sent by now) once, at
// its recipient, and nothing else; except at most maxResent sent twice
// with the same Message-ID: those a kill caught between the server's
// accept and the record of it.
func checkMailedOnce(t *testing.T, mail *smtptest.Server, query func(q string, dest any), maxResent int) {
	t.Helper()
	var jobs []struct{ MessageID, Recipient string }
	query("SELECT message_id, recipient FROM email_jobs", &jobs)
	to := map[string]string{}
	for _, j := range jobs {
		to[j.MessageID] = j.Recipient
	}
	received := map[string]int{}
	for _, m := range mail.Messages() {
		parsed, err := smtptest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		id := parsed.Header.Get("Message-ID")
		received[id]++
		if want, ok := to[id]; !ok {
			t.Errorf("an email no job asked for: %s to %v, %q", id, m.To, parsed.Subject)
		} else if len(m.To) != 1 || m.To[0] != want {
			t.Errorf("email %s went to %v, want %s", id, m.To, want)
		}
	}
	resent := 0
	for id := range to {
		switch n := received[id]; {
		case n == 0:
			t.Errorf("email %s to %s never arrived", id, to[id])
		case n == 2:
			resent++
		case n > 2:
			t.Errorf("email %s to %s arrived %d times", id, to[id], n)
		}
	}
	t.Logf("%d emails, %d received twice", len(to), resent)
	if resent > maxResent {
		t.Errorf("%d re-sent messages; at most %d can fall in the window between accept and record", resent, maxResent)
	}
}

// builtinMailWorkers is how many emails the built-in config sends at once.
func builtinMailWorkers(t *testing.T) int {
	t.Helper()
	cfg, err := config.Load("", defaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Mail.Workers
}

// TestGracefulShutdown: SIGTERM under load stops the process cleanly
// within its timeout, and what it had accepted is delivered after the
// restart.
func TestGracefulShutdown(t *testing.T) {
	shop := newBinaryShop(t, 5*time.Millisecond)
	p := shop.start(t)

	var accepted []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			id := fmt.Sprintf("ord-g%02d", i)
			if status, _ := doJSON(t, "POST", p.url+"/v1/orders", newOrder(id, id+"@example.com", "MUG", 1), testKey); status == http.StatusCreated {
				mu.Lock()
				accepted = append(accepted, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM the process exited with %v, want status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the process did not stop within 30s of SIGTERM")
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	logText, _ := os.ReadFile(shop.logFile.Name())
	if !bytes.Contains(logText, []byte("shopbus stopped")) {
		t.Errorf("the log does not say it stopped cleanly:\n%s", logText)
	}

	p = shop.start(t)
	for _, id := range accepted {
		waitFor(t, id+" to settle after the restart", 60*time.Second, func() (bool, string) {
			v := must[orderView](t, http.StatusOK)(doJSON(t, "GET", p.url+"/v1/orders/"+id, nil, testKey))
			return v.settled(4, 1)
		})
	}
	if len(accepted) != 60 {
		t.Errorf("%d of 60 orders accepted before the SIGTERM", len(accepted))
	}
}
