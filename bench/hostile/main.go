//go:build linux

// Command hostile measures shopbus under the attacks of issue 17 (make
// bench-hostile): for each attack, a fresh shopbus (the built-in config,
// as a shop deploys it) first serves a well-behaved client alone, then
// the attack runs while that client keeps placing orders from another
// address and a probe asks /healthz, then the attack stops and the server
// idles. It reports the client's p99 during the attack (target < 250 ms),
// the probe's p99 (target < 1 s), and the server's RSS before, at its
// peak during, and some time after the attack (target: back within
// 20 MB), as a table and as bench/results/hostile-latest.json.
//
//	go run ./bench/hostile                 # both attacks, about 4 minutes
//	go run ./bench/hostile -only flood     # one
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/shopbus/shopbus/bench/attack"
)

// adminKey bootstraps every shopbus the bench starts; it never leaves
// loopback.
const adminKey = "sb_bench_0123456789abcdef"

type options struct {
	only                          string
	warmup, after                 time.Duration
	slowFor                       time.Duration
	slowRate                      float64
	floodConns, floodChildren     int
	floodHold                     time.Duration
	clientInterval, probeInterval time.Duration
	out                           string
	keep                          bool
}

// result is one attack's figures, as the JSON file holds them.
type result struct {
	Attack       string         `json:"attack"`
	Detail       string         `json:"detail"`
	Baseline     attack.Summary `json:"baseline_orders"`
	Orders       attack.Summary `json:"orders"`
	Probes       attack.Summary `json:"healthz"`
	RSSBeforeKB  int64          `json:"rss_before_kb"`
	RSSPeakKB    int64          `json:"rss_peak_kb"`
	RSSAfterKB   int64          `json:"rss_after_kb"`
	AfterSeconds float64        `json:"after_seconds"`
	TooManyFiles bool           `json:"too_many_open_files"`
	// ServerCPU is the CPU seconds shopbus used during the attack's
	// AttackSeconds.
	ServerCPU     float64 `json:"server_cpu_seconds"`
	BaselineCPU   float64 `json:"baseline_cpu_seconds"` // during the warm-up`
	AttackSeconds float64 `json:"attack_seconds"`
	WarmupSeconds float64 `json:"warmup_seconds"`
}

func main() {
	if attack.IsChild() { // a flooding process this program started
		if err := attack.RunChild(); err != nil {
			fmt.Fprintln(os.Stderr, "flood child:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.only, "only", "slow,flood", "which attacks, comma-separated")
	flag.DurationVar(&o.warmup, "warmup", 10*time.Second, "the well-behaved client alone before each attack")
	flag.DurationVar(&o.after, "after", 30*time.Second, "idle time after an attack before its RSS is read")
	flag.DurationVar(&o.slowFor, "slow-duration", 40*time.Second, "slow bodies: how long the attack lasts")
	flag.Float64Var(&o.slowRate, "slow-rate", 95, "slow bodies: new connections a second (one key, inside its 100/s limit)")
	flag.IntVar(&o.floodConns, "flood-conns", 20000, "flood: connections opened, each asking /healthz once and then held")
	flag.IntVar(&o.floodChildren, "flood-procs", 4, "flood: processes that open them (each may open only so many files)")
	flag.DurationVar(&o.floodHold, "flood-hold", 20*time.Second, "flood: how long the connections are held once open")
	flag.DurationVar(&o.clientInterval, "client-interval", 50*time.Millisecond, "the well-behaved client: time between orders")
	flag.DurationVar(&o.probeInterval, "probe-interval", 200*time.Millisecond, "time between /healthz probes")
	flag.StringVar(&o.out, "out", "", "the JSON file (default bench/results/hostile-latest.json)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder (databases, logs)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-hostile:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if o.out == "" {
		o.out = filepath.Join(root, "bench", "results", "hostile-latest.json")
	}
	tmp, err := os.MkdirTemp("", "shopbus-hostile-")
	if err != nil {
		return err
	}
	if o.keep {
		defer fmt.Fprintln(os.Stderr, "bench-hostile: kept", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "shopbus")
	logf("building shopbus")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}

	var results []result
	for _, name := range strings.Split(o.only, ",") {
		var r result
		switch strings.TrimSpace(name) {
		case "slow":
			r, err = measure(ctx, o, bin, tmp, "slow bodies", func(ctx context.Context, s *server) (string, error) {
				sctx, stop := context.WithTimeout(ctx, o.slowFor)
				defer stop()
				sum, err := attack.SlowBodies(sctx, s.url, s.attacker, attack.From(0), o.slowRate)
				return fmt.Sprintf("%.0f conn/s for %s: %s; at most %d open at once", o.slowRate, o.slowFor, sum, sum.Extra["max_open"]), err
			})
		case "flood":
			r, err = measure(ctx, o, bin, tmp, "connection flood", func(ctx context.Context, s *server) (string, error) {
				start := time.Now()
				f, err := attack.StartFlood(ctx, []string{os.Args[0]}, s.url, o.floodConns, o.floodChildren, attack.From(1))
				if err != nil {
					return "", err
				}
				opened := time.Since(start)
				select {
				case <-time.After(o.floodHold):
				case <-ctx.Done():
				}
				err = f.Stop()
				return fmt.Sprintf("%d connections from one address in %s: %d served and held %s, %d refused; the %d flooding processes (nice 19) used %.1f s of CPU",
					o.floodConns, opened.Round(time.Millisecond), f.Served, o.floodHold, f.Refused, o.floodChildren, f.CPU.Seconds()), err
			})
		default:
			return fmt.Errorf("-only: no attack %q (slow, flood)", name)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, r)
	}
	report(os.Stdout, results)
	b, err := json.MarshalIndent(map[string]any{"finished": time.Now().UTC(), "results": results}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(o.out, append(b, '\n'), 0o644)
}

// measure starts a fresh shopbus, warms it with the well-behaved client,
// runs attack alongside that client and the probe, lets the server idle
// for o.after and reads its memory.
func measure(ctx context.Context, o options, bin, tmp, name string, run func(context.Context, *server) (string, error)) (result, error) {
	r := result{Attack: name, AfterSeconds: o.after.Seconds(), WarmupSeconds: o.warmup.Seconds()}
	s, err := start(ctx, bin, tmp, strings.ReplaceAll(name, " ", "-"))
	if err != nil {
		return r, err
	}
	defer s.stop()
	logf("%s: warm-up, %s of the well-behaved client alone", name, o.warmup)
	cpu0 := attack.CPU(s.cmd.Process.Pid)
	r.Baseline, _ = wellBehaved(ctx, o, s, "warm", func() error {
		return sleep(ctx, o.warmup)
	})
	r.BaselineCPU = (attack.CPU(s.cmd.Process.Pid) - cpu0).Seconds()
	r.RSSBeforeKB = s.rssKB()

	logf("%s: attacking", name)
	peakCtx, stopPeak := context.WithCancel(ctx)
	peak := make(chan int64, 1)
	go func() { peak <- attack.Peak(peakCtx, s.cmd.Process.Pid, 250*time.Millisecond) }()
	var attackErr error
	cpu, began := attack.CPU(s.cmd.Process.Pid), time.Now()
	r.Orders, r.Probes = wellBehaved(ctx, o, s, "attack", func() error {
		r.Detail, attackErr = run(ctx, s)
		return attackErr
	})
	r.ServerCPU = (attack.CPU(s.cmd.Process.Pid) - cpu).Seconds()
	r.AttackSeconds = time.Since(began).Seconds()
	stopPeak()
	r.RSSPeakKB = <-peak >> 10
	if attackErr != nil {
		return r, attackErr
	}
	logf("%s: idle for %s", name, o.after)
	if err := sleep(ctx, o.after); err != nil {
		return r, err
	}
	r.RSSAfterKB = s.rssKB()
	log, _ := os.ReadFile(s.logPath)
	r.TooManyFiles = strings.Contains(string(log), "too many open files")
	return r, nil
}

// wellBehaved runs the client and the probe while during runs.
func wellBehaved(ctx context.Context, o options, s *server, prefix string, during func() error) (orders, probes attack.Summary) {
	cctx, cancel := context.WithCancel(ctx)
	var o1, p1 *attack.Record
	var wg sync.WaitGroup
	wg.Go(func() { o1 = attack.Orders(cctx, s.url, adminKey, prefix+"-"+s.name, o.clientInterval) })
	wg.Go(func() { p1 = attack.Probe(cctx, s.url, o.probeInterval) })
	_ = during()
	cancel()
	wg.Wait()
	return o1.Summary(), p1.Summary()
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// server is a shopbus the bench started, in its own process group.
type server struct {
	cmd      *exec.Cmd
	name     string
	url      string
	logPath  string
	attacker string
}

func start(ctx context.Context, bin, tmp, name string) (*server, error) {
	dir, err := os.MkdirTemp(tmp, name+"-")
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &server{name: name, url: "http://" + addr, logPath: filepath.Join(dir, "shopbus.log")}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), "SHOPBUS_HTTP_ADDR="+addr, "SHOPBUS_DATABASE_DSN="+filepath.Join(dir, "shop.db"),
		"SHOPBUS_MAIL_DIR="+filepath.Join(dir, "mail"), "SHOPBUS_BOOTSTRAP_API_KEY="+adminKey)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); logFile.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("shopbus not ready; log %s", s.logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.attacker, err = s.newKey(); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// newKey creates the attacker's key: orders:write, like a storefront's.
func (s *server) newKey() (string, error) {
	req, err := http.NewRequest(http.MethodPost, s.url+"/v1/apikeys", strings.NewReader(`{"name":"attacker","scopes":["orders:write"]}`))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var k struct{ Key string }
	if err := json.NewDecoder(resp.Body).Decode(&k); err != nil || k.Key == "" {
		return "", fmt.Errorf("create the attacker's key: %d %v", resp.StatusCode, err)
	}
	return k.Key, nil
}

func (s *server) rssKB() int64 {
	rss, _ := attack.RSS(s.cmd.Process.Pid)
	return rss >> 10
}

func (s *server) stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
}

// report prints one line per attack, and whether each target was met.
func report(w io.Writer, results []result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ATTACK\tORDERS 201\tORDER p99 (alone)\t/healthz OK\t/healthz p99\tRSS BEFORE\tPEAK\tAFTER\tNO EMFILE")
	mb := func(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }
	mark := func(ok bool) string {
		if ok {
			return " ✓"
		}
		return " ✗"
	}
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d/%d%s\t%s%s (%s)\t%d/%d%s\t%s%s\t%s\t%s\t%s%s\t%s\n", r.Attack,
			r.Orders.Statuses[http.StatusCreated], r.Orders.Sent, mark(r.Orders.Only(http.StatusCreated)),
			ms(r.Orders.P99), mark(r.Orders.P99 < 250*time.Millisecond), ms(r.Baseline.P99),
			r.Probes.Statuses[http.StatusOK], r.Probes.Sent, mark(r.Probes.Only(http.StatusOK)),
			ms(r.Probes.P99), mark(r.Probes.P99 < time.Second),
			mb(r.RSSBeforeKB), mb(r.RSSPeakKB), mb(r.RSSAfterKB), mark(r.RSSAfterKB-r.RSSBeforeKB <= 20<<10),
			mark(!r.TooManyFiles))
	}
	tw.Flush()
	for _, r := range results {
		fmt.Fprintf(w, "\n%s: %s\n  shopbus used %.1f s of CPU in the attack's %.0f s (%.1f s in the %.0f s alone)\n  orders: %s\n  /healthz: %s\n",
			r.Attack, r.Detail, r.ServerCPU, r.AttackSeconds, r.BaselineCPU, r.WarmupSeconds, r.Orders, r.Probes)
	}
	if len(results) > 0 {
		fmt.Fprintf(w, "\ntargets: order p99 < 250 ms, /healthz p99 < 1 s, RSS back within 20 MB %.0f s after\n", results[0].AfterSeconds)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench-hostile: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/shopbus/shopbus\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the shopbus module")
		}
		dir = parent
	}
}

// freeAddr is a loopback address nothing listens on right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
