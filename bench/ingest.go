package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// wrkResult is what post.lua's done() prints, plus the derived rate.
type wrkResult struct {
	Requests      int64   `json:"requests"`
	DurationUS    int64   `json:"duration_us"`
	ConnectErrors int64   `json:"connect_errors"`
	ReadErrors    int64   `json:"read_errors"`
	WriteErrors   int64   `json:"write_errors"`
	StatusErrors  int64   `json:"status_errors"` // responses that were not 2xx or 3xx
	Timeouts      int64   `json:"timeouts"`
	P50US         float64 `json:"p50_us"`
	P90US         float64 `json:"p90_us"`
	P99US         float64 `json:"p99_us"`
	MaxUS         float64 `json:"max_us"`
	MeanUS        float64 `json:"mean_us"`
	RPS           float64 `json:"rps"`
}

// ensureWrk finds wrk, installing the Debian package when it is missing
// and we are allowed to (root, or sudo without a password).
func ensureWrk(ctx context.Context, install bool) (string, error) {
	if path, err := exec.LookPath("wrk"); err == nil {
		return path, nil
	}
	if !install {
		return "", errors.New("wrk is not installed: run `sudo apt-get install -y wrk` (or pass -install-wrk)")
	}
	sh := "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk"
	cmd := exec.CommandContext(ctx, "sh", "-c", sh)
	if os.Geteuid() != 0 {
		cmd = exec.CommandContext(ctx, "sudo", "-n", "sh", "-c", sh)
	}
	fmt.Fprintln(os.Stderr, "bench: wrk not found, installing it:", strings.Join(cmd.Args, " "))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("install wrk (%v): %s\ninstall it by hand: sudo apt-get install -y wrk", err, out)
	}
	return exec.LookPath("wrk")
}

// runWrk posts orders to url for d: 1 thread, conns connections.
func runWrk(ctx context.Context, wrk, script, url string, conns int, d time.Duration) (wrkResult, error) {
	secs := int(d.Round(time.Second) / time.Second)
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, wrk, "-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", secs),
		"--timeout", "10s", "-s", script, url+"/v1/orders")
	cmd.Env = append(os.Environ(), "SHOPBUS_BENCH_KEY="+benchKey)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v\n%s", err, out.String())
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if js, ok := strings.CutPrefix(sc.Text(), "BENCHJSON "); ok {
			var r wrkResult
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				return wrkResult{}, fmt.Errorf("wrk summary %q: %w", js, err)
			}
			if r.DurationUS > 0 {
				r.RPS = float64(r.Requests) / (float64(r.DurationUS) / 1e6)
			}
			return r, nil
		}
	}
	return wrkResult{}, fmt.Errorf("wrk printed no summary:\n%s", out.String())
}

// ingestRepeat is one back-to-back pair: the baseline, then shopbus.
type ingestRepeat struct {
	Baseline wrkResult `json:"baseline"`
	Shopbus  wrkResult `json:"shopbus"`
	// ShopbusPeakRSSKB is shopbus's VmHWM after the measured run.
	ShopbusPeakRSSKB int64 `json:"shopbus_peak_rss_kb"`
	// ShopbusEmailed is how many orders had been mailed when wrk stopped:
	// with ingest far above what the bus drains, most are still queued.
	ShopbusEmailed int     `json:"shopbus_emailed"`
	RatioRPS       float64 `json:"ratio_rps"`
	RatioP50       float64 `json:"ratio_p50"`
	RatioP99       float64 `json:"ratio_p99"`
}

// ingestOnce measures the baseline and then a fresh shopbus, each with a
// warm-up run of wrk followed by the measured one.
func ingestOnce(ctx context.Context, o *options, wrk string, bins binaries, tmp string) (ingestRepeat, error) {
	var rep ingestRepeat

	addr, err := freeAddr()
	if err != nil {
		return rep, err
	}
	base, err := startProc("baseline", bins.baseline, tmp, addr, filepath.Join(tmp, "baseline.log"), []string{"-addr", addr}, nil)
	if err != nil {
		return rep, err
	}
	defer base.stop(3 * time.Second)
	if _, err := base.waitReady(ctx, "/readyz", 30*time.Second); err != nil {
		return rep, err
	}
	if _, err := runWrk(ctx, wrk, o.luaScript, base.url, o.conns, o.warmup); err != nil {
		return rep, err
	}
	if rep.Baseline, err = runWrk(ctx, wrk, o.luaScript, base.url, o.conns, o.ingestDur); err != nil {
		return rep, err
	}
	base.stop(3 * time.Second)

	mail, err := startSink()
	if err != nil {
		return rep, err
	}
	defer mail.close()
	// wrk sends as fast as orders are answered, more than the modules and
	// the mail can follow for long: the lag bound would soon refuse most
	// of them. Ingest measures how fast orders are taken, with everything
	// else running; the journey and overload runs measure the bound.
	shop, err := startShopbus(ctx, bins.shopbus, tmp, "ingest", mail.addr, "", "SHOPBUS_DELIVERY_MAX_LAG=0")
	if err != nil {
		return rep, err
	}
	defer shop.stop(15 * time.Second)
	if err := shop.stockUp(ctx); err != nil {
		return rep, err
	}
	if _, err := runWrk(ctx, wrk, o.luaScript, shop.url, o.conns, o.warmup); err != nil {
		return rep, err
	}
	if rep.Shopbus, err = runWrk(ctx, wrk, o.luaScript, shop.url, o.conns, o.ingestDur); err != nil {
		return rep, err
	}
	rep.ShopbusPeakRSSKB, _ = statusKB(shop.cmd.Process.Pid, "VmHWM")
	rep.ShopbusEmailed = mail.count()
	// A hard stop: the run leaves a large backlog, and draining it is the
	// journey's business, not this one's.
	shop.stop(0)
	_ = os.RemoveAll(shop.dir)

	rep.RatioRPS = safeDiv(rep.Shopbus.RPS, rep.Baseline.RPS)
	rep.RatioP50 = safeDiv(rep.Shopbus.P50US, rep.Baseline.P50US)
	rep.RatioP99 = safeDiv(rep.Shopbus.P99US, rep.Baseline.P99US)
	return rep, nil
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
