//go:build linux

package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bench/attack"
)

// The hostile-load suite: each attack of issue 17 runs against the built
// binary (its default config, as a shop deploys it) while a well-behaved
// client places orders from another address and a probe asks /healthz.
// Every order must get 201 and every probe 200; the server must never run
// out of files, and its memory must come back once the attack ends. The
// deadlines are generous: these tests assert outcomes, not speed (make
// bench-hostile measures that).

// hostileShop is the built binary serving, with an orders:write key for
// the attacker.
type hostileShop struct {
	*binaryShop
	p        *process
	attacker string
}

func startHostileShop(t *testing.T) *hostileShop {
	t.Helper()
	shop := newBinaryShop(t, 0, "SHOPBUS_MAIL_DIR="+t.TempDir())
	p := shop.start(t)
	k := must[createdKey](t, http.StatusCreated)(doJSON(t, "POST", p.url+"/v1/apikeys",
		map[string]any{"name": "attacker", "scopes": []string{"orders:write"}}, testKey))
	return &hostileShop{binaryShop: shop, p: p, attacker: k.Key}
}

func (s *hostileShop) rss(t *testing.T) int64 {
	t.Helper()
	rss, err := attack.RSS(s.p.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return rss
}

// wellBehaved runs the client placing an order every 50 ms and the probe
// every 200 ms until stop is called, which returns what they got.
func (s *hostileShop) wellBehaved(prefix string) (stop func() (orders, probes attack.Summary)) {
	ctx, cancel := context.WithCancel(context.Background())
	var orders, probes *attack.Record
	var wg sync.WaitGroup
	wg.Go(func() { orders = attack.Orders(ctx, s.p.url, testKey, prefix, 50*time.Millisecond) })
	wg.Go(func() { probes = attack.Probe(ctx, s.p.url, 200*time.Millisecond) })
	return func() (attack.Summary, attack.Summary) {
		cancel()
		wg.Wait()
		return orders.Summary(), probes.Summary()
	}
}

// check asserts the well-behaved client's outcomes and the log.
func (s *hostileShop) check(t *testing.T, orders, probes attack.Summary) {
	t.Helper()
	t.Logf("well-behaved orders: %s", orders)
	t.Logf("/healthz probes: %s", probes)
	if !orders.Only(http.StatusCreated) {
		t.Errorf("not every order of the well-behaved client got 201: %s", orders)
	}
	if !probes.Only(http.StatusOK) {
		t.Errorf("not every /healthz probe got 200: %s", probes)
	}
	log, err := os.ReadFile(s.logFile.Name())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), "too many open files") {
		t.Errorf("the log says \"too many open files\"")
	}
}

// TestHostileSlowBodies: one orders:write key opens 95 connections a
// second (inside its 100/s rate limit), each sending the headers of an
// order of 100,000 bytes and then a byte a second. The well-behaved
// client's orders all get 201: the uploads hold no order slot, are cut
// off below the minimum rate, and are bounded per key and per address.
func TestHostileSlowBodies(t *testing.T) {
	s := startHostileShop(t)
	before := s.rss(t)
	stop := s.wellBehaved("slow")
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	var peak int64
	var wg sync.WaitGroup
	wg.Go(func() { peak = attack.Peak(ctx, s.p.cmd.Process.Pid, 250*time.Millisecond) })
	slow, err := attack.SlowBodies(ctx, s.p.url, s.attacker, attack.From(0), 95)
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	orders, probes := stop()
	t.Logf("slow uploads: %s; at most %d open at once", slow, slow.Extra["max_open"])
	t.Logf("RSS before %d MB, peak %d MB, after %d MB", before>>20, peak>>20, s.rss(t)>>20)
	s.check(t, orders, probes)
}

// TestHostileConnectionFlood: 20,000 connections from one address, each
// asking /healthz once and then held idle, opened by four processes (one
// may open only 20,000 files here, and so may the server). The server
// holds the connections one address may have and closes the rest at once,
// so it never runs out of files; the well-behaved client's orders all get
// 201 on new connections meanwhile; and once the flood ends the server's
// memory is back near where it was.
func TestHostileConnectionFlood(t *testing.T) {
	s := startHostileShop(t)
	before := s.rss(t)
	stop := s.wellBehaved("flood")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var peak int64
	var wg sync.WaitGroup
	wg.Go(func() { peak = attack.Peak(ctx, s.p.cmd.Process.Pid, 250*time.Millisecond) })

	started := time.Now()
	flood, err := attack.StartFlood(ctx, []string{os.Args[0], "-test.run=^TestHostileFloodChild$"}, s.p.url, 20000, 4, attack.From(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("flood: %d connections served and held, %d refused, in %s", flood.Served, flood.Refused, time.Since(started).Round(time.Millisecond))
	// The flood holds its connections while the client keeps ordering.
	hold := time.NewTimer(3 * time.Second)
	<-hold.C
	if err := flood.Stop(); err != nil {
		t.Errorf("flood processes: %v", err)
	}
	cancel()
	wg.Wait()
	orders, probes := stop()
	s.check(t, orders, probes)

	// The benchmark's target is within 20 MB; the test allows 40, far
	// below the hundreds of MB an unbounded flood leaves.
	var after int64
	waitFor(t, "the server's memory to come back after the flood", 30*time.Second, func() (bool, string) {
		after = s.rss(t)
		return after <= before+40<<20, ""
	})
	t.Logf("RSS before %d MB, peak %d MB, after %d MB", before>>20, peak>>20, after>>20)
}

// TestHostileFloodChild is not a test of its own: it is the body of the
// flooding processes TestHostileConnectionFlood starts (this test binary,
// run again with attack.ChildEnv set).
func TestHostileFloodChild(t *testing.T) {
	if !attack.IsChild() {
		t.Skip("a flooding process of TestHostileConnectionFlood")
	}
	if err := attack.RunChild(); err != nil {
		t.Fatal(err)
	}
}

// createdKey is the answer of POST /v1/apikeys.
type createdKey struct {
	Key  string `json:"key"`
	Name string `json:"name"`
}
