package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// journeyRun is one fixed-rate run against a fresh shopbus.
type journeyRun struct {
	Rate     float64 `json:"offered_rate"`
	Seconds  float64 `json:"seconds"`
	Sent     int     `json:"sent"`
	Accepted int     `json:"accepted"` // 201s, whenever they came
	// AchievedRate is 201s answered inside the load window, per second.
	AchievedRate float64 `json:"achieved_rate"`
	// EmailRate is orders mailed inside the load window, per second: the
	// end-to-end throughput while the load lasted.
	EmailRate float64 `json:"email_rate"`
	// DeliveredRate is orders whose every delivery was done inside the load
	// window, per second: how far the bus alone keeps up.
	DeliveredRate float64 `json:"delivered_rate"`
	// Errors: non-201 answers, transport errors (timeouts included), and
	// sends skipped because maxInFlight requests were already open.
	StatusErrors    int            `json:"status_errors"`
	Statuses        map[string]int `json:"statuses,omitempty"`
	TransportErrors int            `json:"transport_errors"`
	Skipped         int            `json:"skipped"`
	// Latencies in ms from the order's scheduled send time: to its 201, to
	// its email reaching the SMTP server, to its last delivery marked done.
	HTTPP50    float64 `json:"http_p50_ms"`
	HTTPP99    float64 `json:"http_p99_ms"`
	EmailP50   float64 `json:"email_p50_ms"`
	EmailP99   float64 `json:"email_p99_ms"`
	DeliverP50 float64 `json:"delivery_p50_ms"`
	DeliverP99 float64 `json:"delivery_p99_ms"`
	// Backlog is the orders accepted but not yet mailed when the load
	// stopped; DrainS how long after the stop the last email and the last
	// delivery were done (-1: not within the drain timeout).
	Backlog int     `json:"backlog"`
	DrainS  float64 `json:"drain_s"`
	// Unmailed and Undelivered are what was still missing when the bench
	// gave up waiting (0 when drained).
	Unmailed    int   `json:"unmailed"`
	Undelivered int64 `json:"undelivered"`
	DupeEmails  int   `json:"duplicate_emails"`
	PeakRSSKB   int64 `json:"peak_rss_kb"`
	// CPUPercent is shopbus's CPU use during the load window (100 = one
	// core); CPUPerOrderUS its CPU time from start to drained per accepted
	// order.
	CPUPercent    float64 `json:"cpu_percent"`
	CPUPerOrderUS float64 `json:"cpu_per_order_us"`
	// GeneratorCPUPercent is this process's CPU use (load generator and
	// SMTP sink) during the load window: it shares the machine with shopbus.
	GeneratorCPUPercent float64 `json:"generator_cpu_percent"`
	// DrainEstS, when the drain timed out, extrapolates how long it would
	// have taken from the mail rate seen while waiting (-1: no estimate).
	DrainEstS float64 `json:"drain_estimate_s,omitempty"`
	// SendLagP99 is how late the generator itself sent (ms): if large, the
	// generator, not shopbus, set the pace.
	SendLagP99 float64 `json:"send_lag_p99_ms"`
	DBBytes    int64   `json:"db_bytes"`
	// InstanceAccepted is, with several instances (-instances), the
	// orders each accepted; PeakRSSKB and the CPU figures are then the
	// instances' together.
	InstanceAccepted []int `json:"instance_accepted,omitempty"`
}

// cpuOf is the CPU time of the processes pids, together.
func cpuOf(pids []int) time.Duration {
	var d time.Duration
	for _, pid := range pids {
		d += cpuTime(pid)
	}
	return d
}

// sent is one order as the generator saw it.
type sentOrder struct {
	id        string
	scheduled time.Time
	sent      time.Time
	answered  time.Time
	status    int // 0: transport error or skipped
	shop      int // which of the deployment's instances it went to
	skipped   bool
}

// journey sends orders at a fixed rate (open loop: each send is scheduled
// on the clock, never waits for an earlier answer) to a fresh shopbus that
// mails an SMTP sink inside this process, then waits for the backlog to
// drain and reads the delivery times from the database file.
func journey(ctx context.Context, o *options, bin, tmp string, rate float64, tag string) (journeyRun, error) {
	run := journeyRun{Rate: rate, Seconds: o.journeyDur.Seconds(), DrainS: -1, Statuses: map[string]int{}}
	mail, err := startSink()
	if err != nil {
		return run, err
	}
	defer mail.close()
	dep, err := deploy(ctx, o, bin, tmp, tag, mail.addr)
	if err != nil {
		return run, err
	}
	defer dep.stop()
	if err := dep.shops[0].stockUp(ctx); err != nil {
		return run, err
	}
	db := dep.db
	pids := make([]int, len(dep.shops))
	for i, shop := range dep.shops {
		pids[i] = shop.cmd.Process.Pid
	}
	time.Sleep(500 * time.Millisecond) // let start-up work settle before the clock starts

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: o.maxInFlight, MaxIdleConnsPerHost: o.maxInFlight, IdleConnTimeout: time.Minute, DisableCompression: true,
	}}
	defer client.CloseIdleConnections()

	n := int(rate * o.journeyDur.Seconds())
	orders := make([]sentOrder, n)
	var inFlight atomic.Int64
	var wg sync.WaitGroup
	cpu0, gen0 := cpuOf(pids), cpuTime(os.Getpid())
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; i < n; {
		now := time.Now()
		for ; i < n && start.Add(time.Duration(i)*interval).Compare(now) <= 0; i++ {
			ord := &orders[i]
			ord.id = fmt.Sprintf("j%s-%07d", tag, i)
			ord.shop = i % len(dep.shops) // round robin, as a load balancer would
			ord.scheduled = start.Add(time.Duration(i) * interval)
			if inFlight.Load() >= int64(o.maxInFlight) {
				ord.skipped = true
				continue
			}
			inFlight.Add(1)
			wg.Go(func() {
				defer inFlight.Add(-1)
				post(ctx, client, dep.shops[ord.shop].url, ord)
			})
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Microsecond)
	}
	stop := start.Add(o.journeyDur)
	if d := time.Until(stop); d > 0 {
		time.Sleep(d)
	}
	cpuLoad, genLoad := cpuOf(pids)-cpu0, cpuTime(os.Getpid())-gen0
	mailedAtStop := mail.count()
	wg.Wait()

	accepted := map[string]bool{}
	for _, ord := range orders {
		if ord.status == http.StatusCreated {
			accepted[ord.id] = true
		}
	}
	// Drain: every accepted order mailed, then no delivery or unrouted event left.
	deadline := stop.Add(o.drainTimeout)
	var undelivered int64 = -1
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if mail.count() >= len(accepted) {
			if undelivered, err = pendingWork(ctx, db); err != nil {
				return run, err
			}
			if undelivered == 0 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if undelivered != 0 {
		if undelivered, err = pendingWork(ctx, db); err != nil {
			return run, err
		}
	}
	cpuAll := cpuOf(pids) - cpu0
	waited, mailedAtEnd := time.Since(stop), mail.count()
	for _, pid := range pids {
		rss, _ := statusKB(pid, "VmHWM")
		run.PeakRSSKB += rss
	}
	lastDone, err := lastDeliveries(ctx, db)
	if err != nil {
		return run, err
	}
	arrived, dupes, _ := mail.snapshot()
	run.DBBytes = dep.size(ctx)
	if len(dep.shops) > 1 {
		run.InstanceAccepted = make([]int, len(dep.shops))
	}

	// The figures.
	var httpLat, emailLat, delivLat, lag []float64
	var drainEnd time.Time
	acceptedInWindow, mailedInWindow, deliveredInWindow := 0, 0, 0
	for _, ord := range orders {
		switch {
		case ord.skipped:
			run.Skipped++
			continue
		case ord.status == 0:
			run.TransportErrors++
		case ord.status != http.StatusCreated:
			run.StatusErrors++
			run.Statuses[fmt.Sprint(ord.status)]++
		}
		run.Sent++
		lag = append(lag, ms(ord.sent.Sub(ord.scheduled)))
		if ord.status != http.StatusCreated {
			continue
		}
		run.Accepted++
		if run.InstanceAccepted != nil {
			run.InstanceAccepted[ord.shop]++
		}
		httpLat = append(httpLat, ms(ord.answered.Sub(ord.scheduled)))
		if !ord.answered.After(stop) {
			acceptedInWindow++
		}
		if t, ok := arrived[ord.id]; ok {
			emailLat = append(emailLat, ms(t.Sub(ord.scheduled)))
			if !t.After(stop) {
				mailedInWindow++
			}
			drainEnd = later(drainEnd, t)
		} else {
			run.Unmailed++
		}
		if t, ok := lastDone[ord.id]; ok {
			delivLat = append(delivLat, ms(t.Sub(ord.scheduled)))
			if !t.After(stop) {
				deliveredInWindow++
			}
			drainEnd = later(drainEnd, t)
		}
	}
	run.DupeEmails = dupes
	run.Undelivered = undelivered
	run.AchievedRate = float64(acceptedInWindow) / o.journeyDur.Seconds()
	run.EmailRate = float64(mailedInWindow) / o.journeyDur.Seconds()
	run.DeliveredRate = float64(deliveredInWindow) / o.journeyDur.Seconds()
	run.Backlog = run.Accepted - mailedInWindow
	if run.Unmailed == 0 && undelivered == 0 {
		run.DrainS = max(0, drainEnd.Sub(stop).Seconds())
	} else if drained := mailedAtEnd - mailedAtStop; drained > 0 && run.Unmailed > 0 {
		run.DrainEstS = waited.Seconds() * float64(drained+run.Unmailed) / float64(drained)
	}
	run.GeneratorCPUPercent = 100 * genLoad.Seconds() / o.journeyDur.Seconds()
	run.HTTPP50, run.HTTPP99 = pct(httpLat, 50), pct(httpLat, 99)
	run.EmailP50, run.EmailP99 = pct(emailLat, 50), pct(emailLat, 99)
	run.DeliverP50, run.DeliverP99 = pct(delivLat, 50), pct(delivLat, 99)
	run.SendLagP99 = pct(lag, 99)
	run.CPUPercent = 100 * cpuLoad.Seconds() / o.journeyDur.Seconds()
	if run.Accepted > 0 {
		run.CPUPerOrderUS = float64(cpuAll.Microseconds()) / float64(run.Accepted)
	}
	if len(run.Statuses) == 0 {
		run.Statuses = nil
	}
	return run, nil
}

// post sends one order and records when it went and how it was answered.
func post(ctx context.Context, client *http.Client, url string, ord *sentOrder) {
	req, err := http.NewRequestWithContext(ctx, "POST", url+"/v1/orders", bytes.NewReader(orderBody(ord.id)))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", benchKey)
	ord.sent = time.Now()
	resp, err := client.Do(req)
	ord.answered = time.Now()
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	ord.status = resp.StatusCode
}

// pendingWork counts what the bus still owes: deliveries not done, and
// events not yet routed (whose deliveries do not exist yet).
func pendingWork(ctx context.Context, db *sql.DB) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM bus_deliveries WHERE status != 'done')
		+ (SELECT count(*) FROM bus_events WHERE routed_at IS NULL)`).Scan(&n)
	return n, err
}

// lastDeliveries reads, per order, when its last delivery was marked done
// (bus_deliveries.updated_at, written in the transaction that did the
// target's work), for orders whose deliveries are all done. Reading the
// file once at the end is exact and costs shopbus nothing during the load,
// unlike polling GET /v1/orders/{id}.
func lastDeliveries(ctx context.Context, db *sql.DB) (map[string]time.Time, error) {
	rows, err := db.QueryContext(ctx, `SELECT order_id, status, updated_at FROM bus_deliveries`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	last := map[string]time.Time{}
	open := map[string]bool{}
	for rows.Next() {
		var id, status string
		var at any
		if err := rows.Scan(&id, &status, &at); err != nil {
			return nil, err
		}
		if status != "done" {
			open[id] = true
			continue
		}
		t, err := asTime(at)
		if err != nil {
			return nil, err
		}
		last[id] = later(last[id], t)
	}
	for id := range open {
		delete(last, id)
	}
	return last, rows.Err()
}

// asTime reads a TIMESTAMP column, which the driver gives as time.Time or,
// for text it cannot parse itself, as a string.
func asTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t, nil
	case string:
		return parseSQLiteTime(t)
	case []byte:
		return parseSQLiteTime(string(t))
	}
	return time.Time{}, fmt.Errorf("updated_at: unexpected %T", v)
}

func parseSQLiteTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02T15:04:05.999999999-07:00",
		"2006-01-02 15:04:05.999999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("updated_at: cannot parse %q", s)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
