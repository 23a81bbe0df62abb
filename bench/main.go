// Command bench measures shopbus end to end against the machine's own
// ceiling: start-up time and idle memory, HTTP ingest with wrk against a
// bare Echo baseline in the same run, and the whole journey of an order
// (POST -> bus -> modules -> email over SMTP) at fixed arrival rates. It
// prints one table and writes it as JSON under bench/results/.
//
//	go run ./bench            # the full run (make bench)
//	go run ./bench -quick     # a short one (make bench-quick)
//
// Everything runs on loopback; every process it starts and every temporary
// folder it makes is gone when it exits, whether it succeeded or not.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the bench's flags.
type options struct {
	only          string
	floorOrders   int
	floorRepeat   int
	floorPGOrders int // per repeat of the PostgreSQL floor (each variant)
	quick         bool
	startupRepeat int
	ingestRepeat  int
	ingestDur     time.Duration
	warmup        time.Duration
	conns         int
	journeyRates  []float64
	journeyDur    time.Duration
	journeyRepeat int
	overload      bool
	drainTimeout  time.Duration
	maxInFlight   int
	timeout       time.Duration
	outDir        string
	installWrk    bool
	keep          bool
	luaScript     string
	postgres      bool   // the journey and the floor also on a durable throwaway PostgreSQL cluster
	postgresDSN   string // the same on this server (its user may CREATE DATABASE)
	instances     int    // shopbus processes per journey run, sharing the database
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.only, "only", "floor,startup,ingest,journey", "which parts to run, comma-separated")
	fs.IntVar(&o.floorOrders, "floor-orders", 30000, "orders the storage floor writes per repeat")
	fs.IntVar(&o.floorRepeat, "floor-repeat", 3, "storage floor runs (of each PostgreSQL variant too); the table shows the median")
	fs.IntVar(&o.floorPGOrders, "floor-postgres-orders", 10000, "orders the PostgreSQL storage floor writes per repeat and variant (with -postgres or -postgres-dsn)")
	fs.BoolVar(&o.quick, "quick", false, "a short run: ingest 2x10 s, journey once at 250 and 1000/s for 10 s")
	fs.IntVar(&o.startupRepeat, "startup-repeat", 3, "start-ups to time (cold and warm each)")
	fs.IntVar(&o.ingestRepeat, "ingest-repeat", 3, "baseline+shopbus ingest pairs; the table shows the median")
	fs.DurationVar(&o.ingestDur, "ingest-duration", 20*time.Second, "measured wrk run")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "wrk warm-up before each measured run")
	fs.IntVar(&o.conns, "conns", 50, "wrk connections (one wrk thread)")
	rates := fs.String("journey-rates", "250,500,1000,2000,3000,4000",
		"journey arrival rates, orders/s, comma-separated, in rising order; the ladder stops after two rates in a row not sustained")
	fs.DurationVar(&o.journeyDur, "journey-duration", 30*time.Second, "load time per journey rate")
	fs.IntVar(&o.journeyRepeat, "journey-repeat", 3, "runs per journey rate; the table shows the median")
	fs.BoolVar(&o.overload, "overload", true, "after the ladder, offer twice the highest sustained rate once (delivery.max_lag refusing what cannot be finished)")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 2*time.Minute, "how long after the load stops to wait for the backlog to drain")
	fs.IntVar(&o.maxInFlight, "max-inflight", 2000, "journey: open requests at most; a send beyond it is skipped and counted")
	fs.DurationVar(&o.timeout, "timeout", 50*time.Minute, "the whole run at most")
	fs.StringVar(&o.outDir, "out", "", "results folder (default bench/results in the module)")
	fs.BoolVar(&o.installWrk, "install-wrk", true, "apt-get install wrk when it is missing (as root or with sudo -n)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (databases, logs) for a look afterwards")
	fs.BoolVar(&o.postgres, "postgres", false, "journey: on a throwaway PostgreSQL cluster with fsync and synchronous_commit on (.ci/postgres; needs Debian's postgresql), a fresh database per run; floor: also measured there")
	fs.StringVar(&o.postgresDSN, "postgres-dsn", "", "journey and PostgreSQL floor: on this PostgreSQL server instead (its user may CREATE DATABASE)")
	fs.IntVar(&o.instances, "instances", 1, "journey: shopbus processes per run, sharing the PostgreSQL database and a NATS server, orders spread round robin (needs -postgres or -postgres-dsn past 1)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		// Only what the user did not set explicitly.
		quick := map[string]func(){
			"ingest-repeat":         func() { o.ingestRepeat = 2 },
			"ingest-duration":       func() { o.ingestDur = 10 * time.Second },
			"journey-rates":         func() { *rates = "250,1000" },
			"floor-orders":          func() { o.floorOrders = 10000 },
			"floor-postgres-orders": func() { o.floorPGOrders = 5000 },
			"floor-repeat":          func() { o.floorRepeat = 1 },
			"journey-duration":      func() { o.journeyDur = 10 * time.Second },
			"journey-repeat":        func() { o.journeyRepeat = 1 },
			"drain-timeout":         func() { o.drainTimeout = time.Minute },
		}
		for name, f := range quick {
			if !set[name] {
				f()
			}
		}
	}
	for _, r := range strings.Split(*rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("-journey-rates: %q is not a positive number", r)
		}
		o.journeyRates = append(o.journeyRates, v)
	}
	if o.instances < 1 || (o.instances > 1 && !o.postgres && o.postgresDSN == "") {
		return nil, errors.New("-instances must be at least 1, and more than one share a PostgreSQL database: add -postgres or -postgres-dsn")
	}
	if o.startupRepeat < 1 || o.ingestRepeat < 1 || o.journeyRepeat < 1 || o.conns < 1 || o.maxInFlight < 1 || o.floorOrders < 1 || o.floorRepeat < 1 || o.floorPGOrders < 1 {
		return nil, errors.New("repeat counts, -floor-orders, -floor-postgres-orders, -conns and -max-inflight must be at least 1")
	}
	return o, nil
}

func (o *options) runs(part string) bool {
	for _, p := range strings.Split(o.only, ",") {
		if strings.TrimSpace(p) == part {
			return true
		}
	}
	return false
}

// onPostgres says the journey and the floor also run on PostgreSQL.
func (o *options) onPostgres() bool { return o.postgres || o.postgresDSN != "" }

// estimate is how long the run should take, drains excluded (they are
// bounded by -drain-timeout each).
func (o *options) estimate() time.Duration {
	var d time.Duration
	if o.runs("floor") {
		d += time.Duration(o.floorRepeat) * 5 * time.Second
		if o.onPostgres() {
			// Two variants, about 450 and 1,200 orders/s on 2 cores, and a
			// fresh database each.
			n := time.Duration(o.floorPGOrders) * time.Second
			d += time.Duration(o.floorRepeat) * (n/450 + n/1200 + 4*time.Second)
		}
	}
	if o.runs("startup") {
		d += time.Duration(o.startupRepeat) * 3 * time.Second
	}
	if o.runs("ingest") {
		d += time.Duration(o.ingestRepeat) * 2 * (o.warmup + o.ingestDur + 3*time.Second)
	}
	if o.runs("journey") {
		d += time.Duration(o.journeyRepeat*len(o.journeyRates)) * (o.journeyDur + 3*time.Second)
	}
	return d
}

type binaries struct{ shopbus, baseline string }

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o *options) (err error) {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, o.timeout)
	defer cancelTimeout()
	defer stopAll() // on every way out, errors and panics included

	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if o.outDir == "" {
		o.outDir = filepath.Join(root, "bench", "results")
	}
	o.luaScript = filepath.Join(root, "bench", "post.lua")
	tmp, err := os.MkdirTemp("", "shopbus-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		defer fmt.Fprintln(os.Stderr, "bench: kept", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	var wrk string
	if o.runs("ingest") {
		if wrk, err = ensureWrk(ctx, o.installWrk); err != nil {
			return err
		}
	}
	var bins binaries
	if o.runs("startup") || o.runs("ingest") || o.runs("journey") {
		logf("building shopbus and the baseline")
		if bins, err = build(ctx, root); err != nil {
			return err
		}
	}
	res := &results{Started: time.Now().UTC(), Machine: machine(ctx, root, bins.shopbus), Settings: settingsOf(o)}
	logf("estimated run time: %s plus drains (each at most %s)", o.estimate().Round(time.Second), o.drainTimeout)
	if fi, err := os.Stat(bins.shopbus); err == nil {
		res.BinaryBytes = fi.Size()
	}

	if o.runs("floor") {
		// First, while nothing else of the bench runs: its CPU time is the floor's.
		for i := range o.floorRepeat {
			logf("storage floor %d/%d: %d orders, %d per commit", i+1, o.floorRepeat, o.floorOrders, floorPerCommit)
			dir, err := os.MkdirTemp(tmp, "floor-")
			if err != nil {
				return err
			}
			f, err := measureFloor(ctx, root, dir, o.floorOrders)
			_ = os.RemoveAll(dir)
			if err != nil {
				return err
			}
			logf("  %.0f orders/s, %.0f us CPU per order", f.OrdersPerS, f.CPUPerOrderUS)
			res.FloorRuns = append(res.FloorRuns, *f)
		}
		res.Floor = medianFloor(res.FloorRuns)
	}
	if o.runs("startup") {
		logf("start-up: %d cold and %d warm starts", o.startupRepeat, o.startupRepeat)
		if res.Startup, err = measureStartup(ctx, o, bins.shopbus, tmp); err != nil {
			return fmt.Errorf("start-up: %w", err)
		}
	}
	if o.runs("ingest") {
		res.Ingest = &ingestResults{}
		for i := range o.ingestRepeat {
			logf("ingest %d/%d: baseline then shopbus, %s warm-up + %s each", i+1, o.ingestRepeat, o.warmup, o.ingestDur)
			rep, err := ingestOnce(ctx, o, wrk, bins, tmp)
			if err != nil {
				return fmt.Errorf("ingest: %w", err)
			}
			logf("  baseline %.0f req/s, shopbus %.0f req/s (x%.3f)", rep.Baseline.RPS, rep.Shopbus.RPS, rep.RatioRPS)
			res.Ingest.Repeats = append(res.Ingest.Repeats, rep)
		}
		res.Ingest.summarise()
	}
	// The PostgreSQL floor runs here, after start-up and ingest, so they
	// never share the machine with the cluster (nor its checkpoints), and
	// before the journey, while nothing else of the bench runs.
	pgFloor := o.runs("floor") && o.onPostgres()
	local := false
	if (pgFloor || o.runs("journey")) && o.postgres && o.postgresDSN == "" {
		logf("starting a PostgreSQL cluster")
		dsn, stop, err := startPostgres(ctx, root)
		if err != nil {
			return err
		}
		defer stop()
		o.postgresDSN, local = dsn, true
	}
	if pgFloor {
		if res.FloorPostgres, err = measurePostgresFloors(ctx, o, root, local); err != nil {
			return err
		}
	}
	if o.runs("journey") {
		missed := 0
		for _, rate := range o.journeyRates {
			if missed >= 2 {
				logf("journey %.0f orders/s skipped: the two rates below were not sustained", rate)
				continue
			}
			jr := journeyRate{Rate: rate}
			for i := range o.journeyRepeat {
				logf("journey %.0f orders/s for %s (%d/%d)", rate, o.journeyDur, i+1, o.journeyRepeat)
				r, err := journey(ctx, o, bins.shopbus, tmp, rate, fmt.Sprintf("%.0f-%d", rate, i))
				if err != nil {
					return fmt.Errorf("journey at %.0f/s: %w", rate, err)
				}
				logf("  achieved %.0f/s, emailed %.0f/s, backlog %d, drain %.1f s", r.AchievedRate, r.EmailRate, r.Backlog, r.DrainS)
				jr.Runs = append(jr.Runs, r)
			}
			jr.summarise()
			res.Journey = append(res.Journey, jr)
			if missed++; jr.Sustained {
				missed = 0
			}
		}
	}
	res.headline()
	if o.runs("journey") && o.overload && res.SustainedRate > 0 {
		rate := 2 * res.SustainedRate
		logf("overload: %.0f orders/s (twice the highest sustained) for %s", rate, o.journeyDur)
		r, err := journey(ctx, o, bins.shopbus, tmp, rate, fmt.Sprintf("overload-%.0f", rate))
		if err != nil {
			return fmt.Errorf("overload at %.0f/s: %w", rate, err)
		}
		logf("  accepted %d of %d (%d refused), emailed %.0f/s, drain %.1f s", r.Accepted, r.Sent, r.Statuses["503"], r.EmailRate, r.DrainS)
		res.Overload = &r
	}
	res.Finished = time.Now().UTC()
	res.Seconds = res.Finished.Sub(res.Started).Seconds()
	printTable(os.Stdout, res)
	path, err := res.write(o.outDir)
	if err != nil {
		return err
	}
	logf("wrote %s and %s", path, filepath.Join(o.outDir, "latest.json"))
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// moduleRoot is the folder of shopbus's go.mod, found from the working
// directory upwards.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/shopbus/shopbus\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the shopbus module (no go.mod of github.com/shopbus/shopbus above here)")
		}
		dir = parent
	}
}

// build compiles shopbus and the baseline into bench/.bin.
func build(ctx context.Context, root string) (binaries, error) {
	b := binaries{shopbus: filepath.Join(root, "bench", ".bin", "shopbus"), baseline: filepath.Join(root, "bench", ".bin", "baseline")}
	for _, c := range [][]string{{"build", "-o", b.shopbus, "."}, {"build", "-o", b.baseline, "./bench/baseline"}} {
		cmd := exec.CommandContext(ctx, "go", c...)
		cmd.Dir = root
		cmd.Env = os.Environ()
		if os.Getenv("GOTOOLCHAIN") == "" {
			cmd.Env = append(cmd.Env, "GOTOOLCHAIN=go1.27.3")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go %s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	return b, nil
}

// startupResults are the start-up figures: process start to /readyz 200.
type startupResults struct {
	// Cold starts create and migrate a new database; warm starts reopen it.
	ColdMS       []float64 `json:"cold_ms"`
	WarmMS       []float64 `json:"warm_ms"`
	ColdMedianMS float64   `json:"cold_median_ms"`
	WarmMedianMS float64   `json:"warm_median_ms"`
	// IdleRSSKB is VmRSS one second after a cold start, before any load.
	IdleRSSKB       []int64 `json:"idle_rss_kb"`
	IdleRSSMedianKB float64 `json:"idle_rss_median_kb"`
}

func measureStartup(ctx context.Context, o *options, bin, tmp string) (*startupResults, error) {
	mail, err := startSink()
	if err != nil {
		return nil, err
	}
	defer mail.close()
	res := &startupResults{}
	for i := range o.startupRepeat {
		cold, err := startShopbus(ctx, bin, tmp, fmt.Sprintf("startup-%d", i), mail.addr, "")
		if err != nil {
			return nil, err
		}
		time.Sleep(time.Second)
		rss, _ := statusKB(cold.cmd.Process.Pid, "VmRSS")
		cold.stop(15 * time.Second)
		warm, err := startShopbus(ctx, bin, tmp, "", mail.addr, cold.dir)
		if err != nil {
			return nil, err
		}
		warm.stop(15 * time.Second)
		_ = os.RemoveAll(cold.dir)
		res.ColdMS = append(res.ColdMS, ms(cold.ready))
		res.WarmMS = append(res.WarmMS, ms(warm.ready))
		res.IdleRSSKB = append(res.IdleRSSKB, rss)
	}
	res.ColdMedianMS, res.WarmMedianMS = median(res.ColdMS), median(res.WarmMS)
	res.IdleRSSMedianKB = medianOf(res.IdleRSSKB, func(v int64) float64 { return float64(v) })
	return res, nil
}
