// Package attack holds the hostile loads of issue 17 as the hostile-load
// tests (TestHostile* in the root package) and the hostile benchmark
// (bench/hostile, make bench-hostile) run them against a shopbus: orders
// whose bodies trickle in, a flood of idle connections, and the
// well-behaved client whose orders must go through meanwhile, with the
// /healthz probe an orchestrator would run.
//
// Every attacker dials from an address of its own on the loopback network
// (127.0.0.2 and up), as a client elsewhere on the internet would; the
// well-behaved client and the probe dial from 127.0.0.1.
package attack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Record collects the outcomes of requests: statuses, transport errors
// and latencies. It is safe from several goroutines.
type Record struct {
	mu        sync.Mutex
	statuses  map[int]int
	errs      int
	samples   []string
	latencies []time.Duration
}

func (r *Record) add(status int, err error, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.statuses == nil {
		r.statuses = map[int]int{}
	}
	if err != nil {
		r.errs++
		if len(r.samples) < 5 {
			r.samples = append(r.samples, err.Error())
		}
	} else {
		r.statuses[status]++
	}
	r.latencies = append(r.latencies, took)
}

// Summary is what a Record holds, with latency percentiles (transport
// errors count at the time they took).
type Summary struct {
	Sent     int            `json:"sent"`
	Statuses map[int]int    `json:"statuses"`
	Errors   int            `json:"transport_errors"`
	Samples  []string       `json:"error_samples,omitempty"`
	P50      time.Duration  `json:"p50_ns"`
	P99      time.Duration  `json:"p99_ns"`
	Max      time.Duration  `json:"max_ns"`
	Extra    map[string]int `json:"extra,omitempty"`
}

// Summary returns the outcomes so far.
func (r *Record) Summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Summary{Sent: len(r.latencies), Statuses: map[int]int{}, Errors: r.errs, Samples: slices.Clone(r.samples)}
	for k, v := range r.statuses {
		s.Statuses[k] = v
	}
	l := slices.Sorted(slices.Values(r.latencies))
	if len(l) > 0 {
		s.P50, s.P99, s.Max = l[len(l)*50/100], l[min(len(l)-1, len(l)*99/100)], l[len(l)-1]
	}
	return s
}

// Only reports whether every request got want and none failed.
func (s Summary) Only(want int) bool {
	return s.Errors == 0 && s.Sent > 0 && s.Statuses[want] == s.Sent
}

func (s Summary) String() string {
	var codes []string
	for _, k := range slices.Sorted(func(yield func(int) bool) {
		for k := range s.Statuses {
			if !yield(k) {
				return
			}
		}
	}) {
		codes = append(codes, fmt.Sprintf("%d×%d", s.Statuses[k], k))
	}
	out := fmt.Sprintf("%d sent: %s, %d transport errors; p50 %s, p99 %s, max %s", s.Sent, strings.Join(codes, " "), s.Errors,
		s.P50.Round(time.Millisecond), s.P99.Round(time.Millisecond), s.Max.Round(time.Millisecond))
	if len(s.Samples) > 0 {
		out += fmt.Sprintf(" (%q)", s.Samples)
	}
	return out
}

// From is the address of the nth attacker on the loopback network:
// 127.0.0.(n+2).
func From(n int) net.IP { return net.IPv4(127, 0, 0, byte(n+2)) }

// client is a client that opens a new connection for every request, from
// the loopback address 127.0.0.1: what a well-behaved client does when it
// comes back after a while, and the hardest case for a server whose
// connections are flooded.
func client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:       (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Timeout: 10 * time.Second}).DialContext,
		DisableKeepAlives: true,
	}}
}

// every calls fn every interval, each in its own goroutine so a slow
// answer does not delay the next send, until ctx ends; it returns once
// every call has.
func every(ctx context.Context, interval time.Duration, fn func(i int)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		wg.Go(func() { fn(i) })
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Orders is the well-behaved client: it places an order every interval
// with key until ctx ends, each on a new connection, and records what
// each got. The order ids start with prefix.
func Orders(ctx context.Context, base, key, prefix string, interval time.Duration) *Record {
	rec := &Record{}
	c := client()
	every(ctx, interval, func(i int) {
		body := orderBody(fmt.Sprintf("%s-%05d", prefix, i))
		req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, base+"/v1/orders", bytes.NewReader(body))
		if err != nil {
			rec.add(0, err, 0)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		start := time.Now()
		resp, err := c.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		rec.add(status, err, time.Since(start))
	})
	return rec
}

// Probe asks GET /healthz every interval until ctx ends, each on a new
// connection as an orchestrator's probe does, and records the answers.
func Probe(ctx context.Context, base string, interval time.Duration) *Record {
	rec := &Record{}
	c := client()
	every(ctx, interval, func(int) {
		start := time.Now()
		resp, err := c.Get(base + "/healthz")
		status := 0
		if err == nil {
			status = resp.StatusCode
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		rec.add(status, err, time.Since(start))
	})
	return rec
}

// orderBody is a valid order of one item (a SKU nobody stocks: it is
// accepted and backordered, which is all the client needs).
func orderBody(id string) []byte {
	return []byte(`{"order_id":"` + id + `","customer":{"email":"` + id + `@example.com","name":"Ada Lovelace"},` +
		`"items":[{"sku":"HOSTILE-MUG","name":"Mug","quantity":1,"unit_price_minor":1250}],"currency":"EUR",` +
		`"shipping_address":{"line1":"12 Rue de Rivoli","city":"Paris","postal_code":"75001","country":"FR"},` +
		`"payment":{"method":"card","reference":"ch_1","amount_minor":1250}}`)
}

// RSS is the resident memory of process pid, in bytes (VmRSS).
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

// CPU is the processor time process pid has used so far (user and
// system, from /proc/<pid>/stat in ticks of 1/100 s).
func CPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // the name may hold spaces
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// Peak samples RSS(pid) every interval until ctx ends and returns the
// highest.
func Peak(ctx context.Context, pid int, interval time.Duration) int64 {
	var peak int64
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if rss, err := RSS(pid); err == nil {
			peak = max(peak, rss)
		}
		select {
		case <-ctx.Done():
			return peak
		case <-tick.C:
		}
	}
}
