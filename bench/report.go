package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// results is everything one run measured; it is the JSON file as written.
type results struct {
	Started     time.Time       `json:"started"`
	Finished    time.Time       `json:"finished"`
	Seconds     float64         `json:"seconds"`
	Machine     machineInfo     `json:"machine"`
	Settings    settings        `json:"settings"`
	BinaryBytes int64           `json:"binary_bytes"`
	Startup     *startupResults `json:"startup,omitempty"`
	Ingest      *ingestResults  `json:"ingest,omitempty"`
	Journey     []journeyRate   `json:"journey,omitempty"`
	// Floor is the storage floor measured in this run (median of
	// FloorRuns): the journey's rows written with prepared statements in
	// group commits, nothing else.
	Floor     *floorResults  `json:"floor,omitempty"`
	FloorRuns []floorResults `json:"floor_runs,omitempty"`
	// FloorPostgres is the same floor on PostgreSQL (floor with -postgres
	// or -postgres-dsn): one connection, 64 orders per commit, the
	// statements sent one round trip each or pipelined.
	FloorPostgres *pgFloorResults `json:"floor_postgres,omitempty"`
	// SustainedRate is the highest journey rate sustained (see
	// journeyRun.sustained), and SustainedOverFloor its ratio to the
	// floor's orders/s: the headline figure.
	SustainedRate      float64 `json:"sustained_rate"`
	SustainedOverFloor float64 `json:"sustained_over_floor,omitempty"`
	// SustainedOverPostgresFloor is, when the journey ran on PostgreSQL,
	// SustainedRate over the PostgreSQL floor sent one round trip per
	// statement, as shopbus sends it.
	SustainedOverPostgresFloor float64 `json:"sustained_over_postgres_floor,omitempty"`
	// Overload is one run at twice SustainedRate: what shopbus refused
	// (503) and how soon it finished what it accepted.
	Overload *journeyRun `json:"overload,omitempty"`
}

// drainBound is how soon after the load's end a sustained rate's backlog
// must be empty.
const drainBound = 2.0

// sustained reports whether the run kept up with its rate: every order
// sent and accepted (no refusal, no error, none skipped by the generator),
// each delivered to every target and mailed, the backlog empty within
// drainBound seconds of the load's end.
func (x journeyRun) sustained() bool {
	return x.Sent > 0 && x.StatusErrors == 0 && x.TransportErrors == 0 && x.Skipped == 0 &&
		x.Unmailed == 0 && x.Undelivered == 0 && x.DrainS >= 0 && x.DrainS <= drainBound
}

// headline finds the highest sustained rate and its ratio to the floor.
func (r *results) headline() {
	for _, j := range r.Journey {
		if j.Sustained && j.Rate > r.SustainedRate {
			r.SustainedRate = j.Rate
		}
	}
	if r.Floor != nil && r.Floor.OrdersPerS > 0 {
		r.SustainedOverFloor = r.SustainedRate / r.Floor.OrdersPerS
	}
	if r.journeyOnPostgres() && r.FloorPostgres.RoundTrip.Median.OrdersPerS > 0 {
		r.SustainedOverPostgresFloor = r.SustainedRate / r.FloorPostgres.RoundTrip.Median.OrdersPerS
	}
}

// journeyOnPostgres says the journey ran on PostgreSQL and there is a
// PostgreSQL floor to compare it with.
func (r *results) journeyOnPostgres() bool {
	return len(r.Journey) > 0 && r.Settings.Database == "postgres" && r.FloorPostgres != nil
}

func medianFloor(runs []floorResults) *floorResults {
	if len(runs) == 0 {
		return nil
	}
	m := runs[0]
	m.Seconds = medianOf(runs, func(f floorResults) float64 { return f.Seconds })
	m.OrdersPerS = medianOf(runs, func(f floorResults) float64 { return f.OrdersPerS })
	m.CPUPerOrderUS = medianOf(runs, func(f floorResults) float64 { return f.CPUPerOrderUS })
	m.CommitsPerS = medianOf(runs, func(f floorResults) float64 { return f.CommitsPerS })
	return &m
}

type machineInfo struct {
	NProc     int    `json:"nproc"`
	CPU       string `json:"cpu"`
	MemoryKB  int64  `json:"memory_kb"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"` // the toolchain that built shopbus
	Wrk       string `json:"wrk,omitempty"`
	Commit    string `json:"commit,omitempty"`
}

type settings struct {
	IngestRepeat   int       `json:"ingest_repeat"`
	IngestSeconds  float64   `json:"ingest_seconds"`
	WarmupSeconds  float64   `json:"warmup_seconds"`
	Conns          int       `json:"wrk_connections"`
	WrkThreads     int       `json:"wrk_threads"`
	JourneyRates   []float64 `json:"journey_rates"`
	JourneySeconds float64   `json:"journey_seconds"`
	JourneyRepeat  int       `json:"journey_repeat"`
	DrainTimeoutS  float64   `json:"drain_timeout_seconds"`
	MaxInFlight    int       `json:"max_inflight"`
	StartupRepeat  int       `json:"startup_repeat"`
	OrderBodyBytes int       `json:"order_body_bytes"`
	// Database is where the journey's shops kept their data: "sqlite", or
	// "postgres" shared by Instances processes.
	Database  string `json:"journey_database"`
	Instances int    `json:"journey_instances"`
}

func settingsOf(o *options) settings {
	return settings{
		IngestRepeat: o.ingestRepeat, IngestSeconds: o.ingestDur.Seconds(), WarmupSeconds: o.warmup.Seconds(),
		Conns: o.conns, WrkThreads: 1, JourneyRates: o.journeyRates, JourneySeconds: o.journeyDur.Seconds(),
		JourneyRepeat: o.journeyRepeat, DrainTimeoutS: o.drainTimeout.Seconds(), MaxInFlight: o.maxInFlight,
		StartupRepeat: o.startupRepeat, OrderBodyBytes: len(orderBody("jX-0-0000000")),
		Database: map[bool]string{true: "postgres", false: "sqlite"}[o.postgres || o.postgresDSN != ""], Instances: o.instances,
	}
}

// machine describes where the run happened: the figures mean little without it.
func machine(ctx context.Context, root, bin string) machineInfo {
	m := machineInfo{NProc: runtime.NumCPU(), GoVersion: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	m.MemoryKB, _ = statusKBFile("/proc/meminfo", "MemTotal")
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.CommandContext(ctx, "go", "version", bin).Output(); err == nil {
		if _, v, ok := strings.Cut(strings.TrimSpace(string(out)), ": "); ok {
			m.GoVersion = v
		}
	}
	// wrk -v prints its version and exits 1: take the output either way.
	if out, _ := exec.CommandContext(ctx, "wrk", "-v").CombinedOutput(); strings.HasPrefix(string(out), "wrk ") {
		m.Wrk, _, _ = strings.Cut(string(out), " Copyright")
		m.Wrk = strings.TrimSpace(m.Wrk)
	}
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// statusKBFile reads a "Name:  123 kB" line of a /proc file.
func statusKBFile(path, field string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var v int64
			_, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &v)
			return v, err
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, field)
}

// ingestResults are the ingest repeats and their medians.
type ingestResults struct {
	Repeats []ingestRepeat `json:"repeats"`
	Median  ingestMedian   `json:"median"`
}

type ingestMedian struct {
	BaselineRPS   float64 `json:"baseline_rps"`
	BaselineP50MS float64 `json:"baseline_p50_ms"`
	BaselineP99MS float64 `json:"baseline_p99_ms"`
	BaselineNon2x float64 `json:"baseline_non_2xx"`
	BaselineErrs  float64 `json:"baseline_socket_errors"`
	ShopbusRPS    float64 `json:"shopbus_rps"`
	ShopbusP50MS  float64 `json:"shopbus_p50_ms"`
	ShopbusP99MS  float64 `json:"shopbus_p99_ms"`
	ShopbusNon2x  float64 `json:"shopbus_non_2xx"`
	ShopbusErrs   float64 `json:"shopbus_socket_errors"`
	ShopbusRSSKB  float64 `json:"shopbus_peak_rss_kb"`
	// Ratios are the median of each repeat's shopbus/baseline, both
	// measured back to back, so a noisy neighbour hits both.
	RatioRPS float64 `json:"ratio_rps"`
	RatioP50 float64 `json:"ratio_p50"`
	RatioP99 float64 `json:"ratio_p99"`
}

func socketErrors(r wrkResult) float64 {
	return float64(r.ConnectErrors + r.ReadErrors + r.WriteErrors + r.Timeouts)
}

func (in *ingestResults) summarise() {
	r := in.Repeats
	in.Median = ingestMedian{
		BaselineRPS:   medianOf(r, func(x ingestRepeat) float64 { return x.Baseline.RPS }),
		BaselineP50MS: medianOf(r, func(x ingestRepeat) float64 { return x.Baseline.P50US / 1000 }),
		BaselineP99MS: medianOf(r, func(x ingestRepeat) float64 { return x.Baseline.P99US / 1000 }),
		BaselineNon2x: medianOf(r, func(x ingestRepeat) float64 { return float64(x.Baseline.StatusErrors) }),
		BaselineErrs:  medianOf(r, func(x ingestRepeat) float64 { return socketErrors(x.Baseline) }),
		ShopbusRPS:    medianOf(r, func(x ingestRepeat) float64 { return x.Shopbus.RPS }),
		ShopbusP50MS:  medianOf(r, func(x ingestRepeat) float64 { return x.Shopbus.P50US / 1000 }),
		ShopbusP99MS:  medianOf(r, func(x ingestRepeat) float64 { return x.Shopbus.P99US / 1000 }),
		ShopbusNon2x:  medianOf(r, func(x ingestRepeat) float64 { return float64(x.Shopbus.StatusErrors) }),
		ShopbusErrs:   medianOf(r, func(x ingestRepeat) float64 { return socketErrors(x.Shopbus) }),
		ShopbusRSSKB:  medianOf(r, func(x ingestRepeat) float64 { return float64(x.ShopbusPeakRSSKB) }),
		RatioRPS:      medianOf(r, func(x ingestRepeat) float64 { return x.RatioRPS }),
		RatioP50:      medianOf(r, func(x ingestRepeat) float64 { return x.RatioP50 }),
		RatioP99:      medianOf(r, func(x ingestRepeat) float64 { return x.RatioP99 }),
	}
}

// journeyRate is every run at one rate and their medians, field by field.
type journeyRate struct {
	Rate   float64      `json:"offered_rate"`
	Runs   []journeyRun `json:"runs"`
	Median journeyRun   `json:"median"`
	// Sustained is true when every run at this rate was.
	Sustained bool `json:"sustained"`
}

func (j *journeyRate) summarise() {
	r := j.Runs
	f := func(g func(journeyRun) float64) float64 { return medianOf(r, g) }
	j.Median = journeyRun{
		Rate: j.Rate, Seconds: r[0].Seconds,
		Sent:                int(f(func(x journeyRun) float64 { return float64(x.Sent) })),
		Accepted:            int(f(func(x journeyRun) float64 { return float64(x.Accepted) })),
		AchievedRate:        f(func(x journeyRun) float64 { return x.AchievedRate }),
		EmailRate:           f(func(x journeyRun) float64 { return x.EmailRate }),
		DeliveredRate:       f(func(x journeyRun) float64 { return x.DeliveredRate }),
		StatusErrors:        int(f(func(x journeyRun) float64 { return float64(x.StatusErrors) })),
		TransportErrors:     int(f(func(x journeyRun) float64 { return float64(x.TransportErrors) })),
		Skipped:             int(f(func(x journeyRun) float64 { return float64(x.Skipped) })),
		HTTPP50:             f(func(x journeyRun) float64 { return x.HTTPP50 }),
		HTTPP99:             f(func(x journeyRun) float64 { return x.HTTPP99 }),
		EmailP50:            f(func(x journeyRun) float64 { return x.EmailP50 }),
		EmailP99:            f(func(x journeyRun) float64 { return x.EmailP99 }),
		DeliverP50:          f(func(x journeyRun) float64 { return x.DeliverP50 }),
		DeliverP99:          f(func(x journeyRun) float64 { return x.DeliverP99 }),
		Backlog:             int(f(func(x journeyRun) float64 { return float64(x.Backlog) })),
		Unmailed:            int(f(func(x journeyRun) float64 { return float64(x.Unmailed) })),
		Undelivered:         int64(f(func(x journeyRun) float64 { return float64(x.Undelivered) })),
		DupeEmails:          int(f(func(x journeyRun) float64 { return float64(x.DupeEmails) })),
		PeakRSSKB:           int64(f(func(x journeyRun) float64 { return float64(x.PeakRSSKB) })),
		CPUPercent:          f(func(x journeyRun) float64 { return x.CPUPercent }),
		CPUPerOrderUS:       f(func(x journeyRun) float64 { return x.CPUPerOrderUS }),
		SendLagP99:          f(func(x journeyRun) float64 { return x.SendLagP99 }),
		DrainEstS:           f(func(x journeyRun) float64 { return x.DrainEstS }),
		GeneratorCPUPercent: f(func(x journeyRun) float64 { return x.GeneratorCPUPercent }),
		DBBytes:             int64(f(func(x journeyRun) float64 { return float64(x.DBBytes) })),
	}
	j.Sustained = true
	for _, x := range r {
		j.Sustained = j.Sustained && x.sustained()
	}
	// A drain that timed out in any run is not hidden by a median.
	j.Median.DrainS = f(func(x journeyRun) float64 { return x.DrainS })
	for _, x := range r {
		if x.DrainS < 0 {
			j.Median.DrainS = -1
		}
	}
}

func mb(kb float64) float64 { return kb / 1024 }

// printTable writes the human-readable summary.
func printTable(w io.Writer, r *results) {
	m := r.Machine
	fmt.Fprintf(w, "\nshopbus bench %s (commit %s)\n", r.Started.Format(time.RFC3339), m.Commit)
	fmt.Fprintf(w, "machine: %d x %s, %.1f GB RAM, Linux %s, %s, %s\n", m.NProc, m.CPU, float64(m.MemoryKB)/1024/1024, m.Kernel, m.GoVersion, m.Wrk)
	fmt.Fprintf(w, "binary: %.1f MB\n", float64(r.BinaryBytes)/1024/1024)
	if f := r.Floor; f != nil {
		fmt.Fprintf(w, "storage floor (median of %d): %.0f orders/s, %.0f us CPU per order: %d statements per order, prepared, "+
			"%d orders per commit, one SQLite connection, WAL, synchronous=FULL, %d B event\n",
			len(r.FloorRuns), f.OrdersPerS, f.CPUPerOrderUS, f.Statements, f.PerCommit, f.EventBytes)
	}
	if f := r.FloorPostgres; f != nil {
		printPGFloor(w, f)
	}
	if s := r.Startup; s != nil {
		fmt.Fprintf(w, "start-up to /readyz 200 (median of %d): cold %.0f ms (new database, migrations), warm %.0f ms; idle RSS %.1f MB\n",
			len(s.ColdMS), s.ColdMedianMS, s.WarmMedianMS, mb(s.IdleRSSMedianKB))
	}
	if in := r.Ingest; in != nil {
		md := in.Median
		fmt.Fprintf(w, "\nINGEST  POST /v1/orders (%d B), wrk 1 thread x %d connections, %.0f s warm-up + %.0f s, median of %d\n",
			r.Settings.OrderBodyBytes, r.Settings.Conns, r.Settings.WarmupSeconds, r.Settings.IngestSeconds, len(in.Repeats))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\treq/s\tp50 ms\tp99 ms\tnon-2xx\tsocket errors\tpeak RSS MB\t")
		fmt.Fprintf(tw, "baseline (Echo + encoding/json, no storage)\t%.0f\t%.2f\t%.2f\t%.0f\t%.0f\t\t\n", md.BaselineRPS, md.BaselineP50MS, md.BaselineP99MS, md.BaselineNon2x, md.BaselineErrs)
		fmt.Fprintf(tw, "shopbus (bus, modules, SMTP running)\t%.0f\t%.2f\t%.2f\t%.0f\t%.0f\t%.1f\t\n", md.ShopbusRPS, md.ShopbusP50MS, md.ShopbusP99MS, md.ShopbusNon2x, md.ShopbusErrs, mb(md.ShopbusRSSKB))
		fmt.Fprintf(tw, "shopbus / baseline (median of per-run ratios)\t%.3f\t%.1f\t%.1f\t\t\t\t\n", md.RatioRPS, md.RatioP50, md.RatioP99)
		tw.Flush()
		fmt.Fprint(w, "  per run req/s baseline/shopbus:")
		for _, x := range in.Repeats {
			fmt.Fprintf(w, " %.0f/%.0f", x.Baseline.RPS, x.Shopbus.RPS)
		}
		fmt.Fprintln(w)
	}
	if len(r.Journey) > 0 {
		fmt.Fprintf(w, "\nJOURNEY  open loop, %.0f s per rate, fresh shopbus each, latencies from the scheduled send, median of %d\n",
			r.Settings.JourneySeconds, r.Settings.JourneyRepeat)
		if r.Settings.Database == "postgres" {
			fmt.Fprintf(w, "on PostgreSQL, %d instance(s) sharing it (RSS and CPU: all instances together)\n", r.Settings.Instances)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "offered/s\taccepted/s\tdelivered/s\temailed/s\tHTTP p50/p99 ms\temail p50/p99 ms\tlast delivery p50/p99 ms\tbacklog at stop\tdrain s\tpeak RSS MB\tCPU % shopbus/gen\tCPU us/order\terrors\t")
		for _, j := range r.Journey {
			x := j.Median
			drain := fmt.Sprintf("%.2f", x.DrainS)
			if x.DrainS < 0 {
				drain = fmt.Sprintf(">%.0f (%d unmailed)", r.Settings.DrainTimeoutS, x.Unmailed)
				if x.DrainEstS > 0 {
					drain += fmt.Sprintf(", est. %.0f", x.DrainEstS)
				}
			}
			fmt.Fprintf(tw, "%.0f\t%.0f\t%.0f\t%.0f\t%s\t%s\t%s\t%d\t%s\t%.1f\t%.0f / %.0f\t%.0f\t%s\t\n",
				x.Rate, x.AchievedRate, x.DeliveredRate, x.EmailRate, pair(x.HTTPP50, x.HTTPP99), pair(x.EmailP50, x.EmailP99),
				pair(x.DeliverP50, x.DeliverP99), x.Backlog, drain, mb(float64(x.PeakRSSKB)), x.CPUPercent, x.GeneratorCPUPercent, x.CPUPerOrderUS,
				errorsText(x))
		}
		tw.Flush()
		for _, j := range r.Journey {
			for i, x := range j.Runs {
				if x.InstanceAccepted != nil {
					fmt.Fprintf(w, "  %.0f/s run %d: accepted per instance %v\n", j.Rate, i+1, x.InstanceAccepted)
				}
			}
		}
		fmt.Fprint(w, "sustained (every order accepted, delivered and mailed, backlog empty within 2 s of the end):")
		for _, j := range r.Journey {
			fmt.Fprintf(w, " %.0f/s %s", j.Rate, map[bool]string{true: "yes", false: "no"}[j.Sustained])
		}
		fmt.Fprintln(w)
	}
	if x := r.Overload; x != nil {
		drain := fmt.Sprintf("%.2f s", x.DrainS)
		if x.DrainS < 0 {
			drain = fmt.Sprintf("over %.0f s (%d unmailed)", r.Settings.DrainTimeoutS, x.Unmailed)
		}
		fmt.Fprintf(w, "\nOVERLOAD  %.0f orders/s offered for %.0f s: %d accepted, %d refused with 503, %d other errors; "+
			"accepted ones mailed p50/p99 %s ms, last delivery p99 %.0f ms; drain %s; peak RSS %.1f MB\n",
			x.Rate, x.Seconds, x.Accepted, x.Statuses["503"], x.StatusErrors-x.Statuses["503"]+x.TransportErrors,
			pair(x.EmailP50, x.EmailP99), x.DeliverP99, drain, mb(float64(x.PeakRSSKB)))
	}
	if r.Floor != nil || len(r.Journey) > 0 {
		fmt.Fprintf(w, "\nHEADLINE  highest sustained rate %.0f orders/s", r.SustainedRate)
		if r.Floor != nil {
			fmt.Fprintf(w, " / storage floor %.0f orders/s = %.3f", r.Floor.OrdersPerS, r.SustainedOverFloor)
		}
		fmt.Fprintln(w)
	}
	if r.journeyOnPostgres() {
		fmt.Fprintf(w, "HEADLINE on PostgreSQL  highest sustained rate %.0f orders/s / PostgreSQL floor (round trip per statement) %.0f orders/s = %.3f\n",
			r.SustainedRate, r.FloorPostgres.RoundTrip.Median.OrdersPerS, r.SustainedOverPostgresFloor)
	}
	fmt.Fprintf(w, "\ntotal run time %s\n", time.Duration(r.Seconds*float64(time.Second)).Round(time.Second))
}

// printPGFloor writes the PostgreSQL floor's two lines, under the SQLite
// floor's.
func printPGFloor(w io.Writer, f *pgFloorResults) {
	m := f.RoundTrip.Median
	where := "the -postgres-dsn server"
	if f.Throwaway {
		where = "the throwaway cluster"
	}
	fmt.Fprintf(w, "storage floor on PostgreSQL %s (median of %d, %d orders each): the same %d statements per order, prepared, "+
		"%d orders per commit, one connection, fsync %s, synchronous_commit %s, on %s\n",
		f.Version, len(f.RoundTrip.Runs), m.Orders, m.Statements, m.PerCommit, f.Fsync, f.SynchronousCommit, where)
	for _, v := range []struct {
		name string
		m    pgFloorRun
	}{{"round trip per statement", f.RoundTrip.Median}, {"pipelined, 3 batches per commit", f.Pipelined.Median}} {
		fmt.Fprintf(w, "  %s: %.0f orders/s, CPU per order %s, %.0f B WAL per order, %d round trips per commit\n",
			v.name, v.m.OrdersPerS, pgFloorCPU(v.m), v.m.WALBytesPerOrder, v.m.RoundTripsPerCommit)
	}
}

// pgFloorCPU is a PostgreSQL floor run's CPU per order: the bench's (the
// client's) and, when its processes were visible, the server's.
func pgFloorCPU(r pgFloorRun) string {
	if r.ServerCPUPerOrderUS > 0 {
		return fmt.Sprintf("%.0f us bench + %.0f us PostgreSQL", r.CPUPerOrderUS, r.ServerCPUPerOrderUS)
	}
	return fmt.Sprintf("%.0f us bench (PostgreSQL's not counted: not the bench's cluster)", r.CPUPerOrderUS)
}

func pair(a, b float64) string {
	if a >= 1000 || b >= 1000 {
		return fmt.Sprintf("%.0f / %.0f", a, b)
	}
	return fmt.Sprintf("%.1f / %.1f", a, b)
}

func errorsText(x journeyRun) string {
	var parts []string
	if x.StatusErrors > 0 {
		parts = append(parts, fmt.Sprintf("%d non-201", x.StatusErrors))
	}
	if x.TransportErrors > 0 {
		parts = append(parts, fmt.Sprintf("%d transport", x.TransportErrors))
	}
	if x.Skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped (in-flight cap)", x.Skipped))
	}
	if x.DupeEmails > 0 {
		parts = append(parts, fmt.Sprintf("%d duplicate emails", x.DupeEmails))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

// write saves the results as a timestamped file and as latest.json.
func (r *results) write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	b = append(b, '\n')
	path := filepath.Join(dir, r.Started.Format("20060102T150405Z")+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", err
	}
	return path, os.WriteFile(filepath.Join(dir, "latest.json"), b, 0o644)
}
