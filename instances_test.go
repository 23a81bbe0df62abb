package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus/natsbus"
	"github.com/shopbus/shopbus/bus/natsbus/natstest"
	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

// envRequirePostgres makes the tests that need PostgreSQL fail rather
// than skip when there is none, as CI sets it. Without
// SHOPBUS_TEST_POSTGRES_DSN they then start a throwaway cluster of their
// own, which needs Debian's postgresql package.
const envRequirePostgres = "SHOPBUS_REQUIRE_POSTGRES"

// TestServeOverNATS: one shopbus serving with the nats transport (on
// SQLite, which is allowed if pointless) takes an order through every
// target and the email, and publishes its event to the events stream.
func TestServeOverNATS(t *testing.T) {
	js := natstest.Start(t)
	mail := smtptest.Start(t, "127.0.0.1:0")
	cfg := testConfig(t, mail.Addr())
	cfg.Bus = config.Bus{Transport: config.TransportNATS, NATSURL: js.ClientURL()}
	s := startShop(t, cfg, mail)
	s.setStock("MUG", 10)
	must[map[string]any](t, http.StatusCreated)(s.request("POST", "/v1/orders", newOrder("ord-n1", "n1@example.com", "MUG", 2)))
	s.waitSettled("ord-n1", 4, 1)
	if st := s.stock("MUG"); st.Reserved != 2 {
		t.Errorf("MUG reserved %d, want 2", st.Reserved)
	}

	nc, err := nats.Connect(js.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	stream := jsStream(t, nc, natsbus.EventsStream)
	info, err := stream.Info(context.Background(), jetstream.WithSubjectFilter("shopbus.events.Order_State_Change"))
	if err != nil {
		t.Fatal(err)
	}
	// The stream holds inventory's Stock Reserved too, on its own subject.
	if n := info.State.Subjects["shopbus.events.Order_State_Change"]; n != 1 {
		t.Errorf("%d events on shopbus.events.Order_State_Change, want the order's 1", n)
	}
}

// TestInstancesOnPostgresAndNATS runs three shopbus processes (the built
// binary) on one PostgreSQL database and one JetStream, spreads orders
// across them, and kills one with SIGKILL mid-load. After the survivors
// drain the backlog, every accepted order has been delivered to every
// target exactly once and mailed once, and the stock numbers are exact.
func TestInstancesOnPostgresAndNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dsn := postgresForTest(t)
	js := natstest.Start(t) // file storage in t.TempDir(), on loopback
	mail := smtptest.Start(t, "127.0.0.1:0")
	mail.SetDelay(2 * time.Millisecond)
	bin := buildBinary(t)
	db := dbtest.Connect(t, database.Config{Driver: database.Postgres, DSN: dsn})

	env := []string{"SHOPBUS_DATABASE_DRIVER=postgres", "SHOPBUS_DATABASE_DSN=" + dsn,
		"SHOPBUS_BUS_TRANSPORT=nats", "SHOPBUS_NATS_URL=" + js.ClientURL(),
		"SHOPBUS_SMTP_ADDR=" + mail.Addr(), "SHOPBUS_BOOTSTRAP_API_KEY=" + testKey}
	logDir := t.TempDir()
	start := func(i int) *process {
		logFile, err := os.Create(filepath.Join(logDir, fmt.Sprintf("shopbus-%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			logFile.Close()
			if t.Failed() {
				out, _ := os.ReadFile(logFile.Name())
				t.Logf("instance %d's log:\n%s", i, tail(out, 60))
			}
		})
		return startProcess(t, bin, env, logFile)
	}
	// The first migrates the database and stores the key; the others find both.
	var procs []*process
	for i := range 3 {
		procs = append(procs, start(i))
	}
	for _, sku := range []string{"MUG", "TEE"} {
		must[stock](t, http.StatusOK)(doJSON(t, "PUT", procs[0].url+"/v1/inventory/"+sku, map[string]int{"on_hand": stockOnHand}, testKey))
	}

	// Load: six clients, each sending to the three instances in turn.
	const victim = 1
	var accepted sync.Map
	stop := make(chan struct{})
	var clients sync.WaitGroup
	for g := range 6 {
		clients.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				p := procs[(g+n)%len(procs)]
				id := fmt.Sprintf("ord-m%d-%d", g, n)
				// On the killed instance this order, or a move of it, may
				// or may not exist.
				if placeAndMove(p.url, id, g+n) {
					accepted.Store(id, true)
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	procs[victim].kill()
	var unrouted, undelivered, unsent int
	queryPG(t, db, "SELECT COUNT(*) FROM bus_events WHERE routed_at IS NULL", &unrouted)
	queryPG(t, db, "SELECT COUNT(*) FROM bus_deliveries WHERE status != 'done'", &undelivered)
	queryPG(t, db, "SELECT COUNT(*) FROM email_jobs WHERE status != 'sent'", &unsent)
	var claimed int
	queryPG(t, db, "SELECT COUNT(*) FROM bus_deliveries WHERE status != 'done' AND lease_owner LIKE ?", &claimed,
		fmt.Sprintf("%%/%d/%%", procs[victim].cmd.Process.Pid))
	t.Logf("killed instance %d with %d events unrouted, %d deliveries (%d of them its claims) and %d emails outstanding",
		victim, unrouted, undelivered, claimed, unsent)
	if unrouted+undelivered+unsent == 0 {
		t.Fatal("nothing was outstanding at the kill: this run proves nothing")
	}
	time.Sleep(1500 * time.Millisecond) // the survivors go on taking orders
	close(stop)
	clients.Wait()

	nc, err := nats.Connect(js.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	deliveries := jsStream(t, nc, natsbus.DeliveriesStream)
	waitFor(t, "the survivors to drain the backlog", 120*time.Second, func() (bool, string) {
		queryPG(t, db, "SELECT COUNT(*) FROM bus_events WHERE routed_at IS NULL", &unrouted)
		queryPG(t, db, "SELECT COUNT(*) FROM bus_deliveries WHERE status != 'done'", &undelivered)
		queryPG(t, db, "SELECT COUNT(*) FROM email_jobs WHERE status != 'sent'", &unsent)
		info, err := deliveries.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return unrouted+undelivered+unsent == 0 && info.State.Msgs == 0,
			fmt.Sprintf("%d unrouted, %d undelivered, %d unsent, %d hand-overs in JetStream", unrouted, undelivered, unsent, info.State.Msgs)
	})

	var orders, acceptedCount, missing int
	queryPG(t, db, "SELECT COUNT(*) FROM checkout_orders", &orders)
	accepted.Range(func(id, _ any) bool {
		acceptedCount++
		var n int
		queryPG(t, db, "SELECT COUNT(*) FROM checkout_orders WHERE order_id = ?", &n, id)
		if n != 1 {
			missing++
		}
		return true
	})
	t.Logf("%d orders answered 201, %d stored", acceptedCount, orders)
	if acceptedCount == 0 {
		t.Fatal("no order was accepted")
	}
	if missing > 0 {
		t.Errorf("%d orders answered 201 are not stored", missing)
	}

	// Every stored order (accepted, or committed just before the kill cut
	// its answer) reached each target exactly once.
	checkEachOrderOnce(t, func(q string, dest any) { queryPG(t, db, q, dest) }, orders)

	// The work was spread: each instance handled deliveries, the one
	// killed too before it died. A delivery's lease owner names the
	// instance that recorded its outcome ("host/pid/…").
	var owners []string
	queryPG(t, db, "SELECT lease_owner FROM bus_deliveries", &owners)
	byPid := map[string]int{}
	for _, o := range owners {
		if parts := strings.Split(o, "/"); len(parts) == 3 {
			byPid[parts[1]]++
		}
	}
	for i, p := range procs {
		n := byPid[strconv.Itoa(p.cmd.Process.Pid)]
		t.Logf("instance %d (pid %d) handled %d deliveries", i, p.cmd.Process.Pid, n)
		if n == 0 {
			t.Errorf("instance %d handled no delivery: the orders were not spread", i)
		}
	}

	// Mail: once per order; a re-send (the instant between the SMTP
	// server's accept and the record of it, at the kill) carries the same
	// Message-ID, at most one per sender of the killed instance.
	checkMailedOnce(t, mail, func(q string, dest any) { queryPG(t, db, q, dest) }, builtinMailWorkers(t))
}

// postgresForTest returns the DSN of an empty PostgreSQL database for the
// test: a new database on the server SHOPBUS_TEST_POSTGRES_DSN names, or,
// with SHOPBUS_REQUIRE_POSTGRES set, a throwaway cluster of the test's
// own. With neither, the test is skipped.
func postgresForTest(t *testing.T) string {
	t.Helper()
	if dbtest.Postgres() {
		return dbtest.Config(t).DSN
	}
	if os.Getenv(envRequirePostgres) == "" {
		t.Skipf("needs PostgreSQL: set %s to a server whose user may CREATE DATABASE, or %s=1 to start a throwaway cluster (and fail without one)",
			dbtest.EnvPostgres, envRequirePostgres)
	}
	return startPostgres(t)
}

// startPostgres starts a throwaway PostgreSQL cluster on a loopback port
// with .ci/postgres (Debian's initdb and pg_ctl, as the postgres user when
// run as root), stops and removes it when the test ends, and returns its
// DSN.
func startPostgres(t *testing.T) string {
	t.Helper()
	// Not t.TempDir(): its parents are closed to the postgres user.
	dir, err := os.MkdirTemp("", "shopbus-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(".ci/postgres", "stop", dir).CombinedOutput(); err != nil {
			t.Errorf(".ci/postgres stop: %v\n%s", err, out)
		}
	})
	var stderr strings.Builder
	cmd := exec.Command(".ci/postgres", "start", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s is set and .ci/postgres could not start PostgreSQL: %v\n%s", envRequirePostgres, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// queryPG reads one value, or a column into a slice, from the shared
// database.
func queryPG(t testing.TB, db *gorm.DB, query string, dest any, args ...any) {
	t.Helper()
	if err := db.Raw(query, args...).Scan(dest).Error; err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// jsStream opens a stream through a connection of the test's own.
func jsStream(t *testing.T, nc *nats.Conn, name string) jetstream.Stream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tail returns the last n lines of a log.
func tail(log []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(log), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
