// Package metrics exposes what shopbus does in the Prometheus format: it
// implements the observers of the web server, the bus and the email worker,
// and reads the backlogs from the database at each scrape, so every figure
// is the same whichever instance is scraped.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shopbus/shopbus/bus"
)

// Backlogs are where the backlog gauges are read from.
type Backlogs struct {
	Bus interface {
		Backlog(context.Context) (bus.Backlog, error)
	}
	Email interface {
		Backlog(context.Context) (int64, error)
	}
}

// Metrics holds shopbus's collectors in a registry of its own.
type Metrics struct {
	reg              *prometheus.Registry
	handler          http.Handler
	httpRequests     *prometheus.CounterVec
	httpDuration     *prometheus.HistogramVec
	events           *prometheus.CounterVec
	matches          *prometheus.CounterVec
	deliveries       *prometheus.CounterVec
	deliveryDuration *prometheus.HistogramVec
	emails           *prometheus.CounterVec
	inflightOrders   prometheus.Gauge
	backups          *prometheus.CounterVec
	backupDuration   prometheus.Gauge
	newestBackup     prometheus.Gauge
	newestBackupSize prometheus.Gauge
	lag              prometheus.Gauge
}

// New registers every collector, with the Go runtime's and the process's.
func New(backlogs Backlogs) *Metrics {
	// Request and delivery latencies run from well under a millisecond
	// (a module's transaction) to seconds (a slow webhook).
	buckets := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopbus_http_requests_total", Help: "HTTP requests answered, by method, route and status.",
		}, []string{"method", "route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shopbus_http_request_duration_seconds", Help: "Time to answer an HTTP request, by method and route.",
			Buckets: buckets,
		}, []string{"method", "route"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopbus_events_total", Help: "Events routed, by source and detail-type.",
		}, []string{"source", "detail_type"}),
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopbus_rule_matches_total", Help: "Events a rule's pattern matched, by rule.",
		}, []string{"rule"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopbus_deliveries_total",
			Help: "Delivery attempts by rule, target and outcome: done, retry (failed, will be retried) or dead (a dead letter).",
		}, []string{"rule", "target", "outcome"}),
		deliveryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "shopbus_delivery_duration_seconds", Help: "Time of one delivery attempt, by target and outcome.",
			Buckets: buckets,
		}, []string{"target", "outcome"}),
		emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopbus_emails_total", Help: "Email sends by template and outcome: sent, retry or failed (for good).",
		}, []string{"template", "outcome"}),
		inflightOrders: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shopbus_orders_inflight",
			Help: "Order writes waiting for their commit; at http.max_inflight_orders more are refused with 503.",
		}),
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shopbus_backups_total", Help: "Scheduled backups taken, by outcome: ok or failed.",
		}, []string{"outcome"}),
		backupDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shopbus_backup_last_duration_seconds", Help: "Time the last scheduled backup took.",
		}),
		newestBackup: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shopbus_backup_newest_timestamp_seconds",
			Help: "When the newest backup in backup.dir was taken (Unix time); 0: there is none. Alert on time() minus this.",
		}),
		newestBackupSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shopbus_backup_newest_bytes", Help: "Size of the newest backup in backup.dir.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shopbus_lag_seconds",
			Help: "How long the oldest unrouted event, due delivery or unsent email has waited; past delivery.max_lag new orders are refused with 503.",
		}),
	}
	m.reg.MustRegister(m.backups, m.backupDuration, m.newestBackup, m.newestBackupSize)
	m.reg.MustRegister(m.inflightOrders, m.lag, m.httpRequests, m.httpDuration, m.events, m.matches, m.deliveries, m.deliveryDuration, m.emails,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		backlogCollector{backlogs})
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
	return m
}

// ServeHTTP answers a scrape.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// ObserveHTTP counts one answered request. route is the route's pattern
// (/v1/orders/:id), never the raw path, so the series stay few.
func (m *Metrics) ObserveHTTP(method, route string, status int, took time.Duration) {
	m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(method, route).Observe(took.Seconds())
}

// Lagged sets the shop's lag, as the bus measured it.
func (m *Metrics) Lagged(lag time.Duration) { m.lag.Set(lag.Seconds()) }

// InflightOrders sets the order writes waiting for their commit.
func (m *Metrics) InflightOrders(n int) { m.inflightOrders.Set(float64(n)) }

// BackedUp counts a scheduled backup's outcome and its time.
func (m *Metrics) BackedUp(outcome string, took time.Duration) {
	m.backups.WithLabelValues(outcome).Inc()
	m.backupDuration.Set(took.Seconds())
}

// NewestBackup sets the newest backup's time and size.
func (m *Metrics) NewestBackup(at time.Time, size int64) {
	if at.IsZero() {
		m.newestBackup.Set(0)
	} else {
		m.newestBackup.Set(float64(at.UnixNano()) / 1e9)
	}
	m.newestBackupSize.Set(float64(size))
}

// Routed counts an event and the rules it matched.
func (m *Metrics) Routed(source, detailType string, rules []string) {
	m.events.WithLabelValues(source, detailType).Inc()
	for _, r := range rules {
		m.matches.WithLabelValues(r).Inc()
	}
}

// Attempted counts a delivery attempt and its time.
func (m *Metrics) Attempted(rule, target, outcome string, took time.Duration) {
	m.deliveries.WithLabelValues(rule, target, outcome).Inc()
	m.deliveryDuration.WithLabelValues(target, outcome).Observe(took.Seconds())
}

// Emailed counts a send's outcome.
func (m *Metrics) Emailed(template, outcome string) {
	m.emails.WithLabelValues(template, outcome).Inc()
}

var (
	backlogDesc = prometheus.NewDesc("shopbus_backlog",
		"Work not yet finished, by queue: events (not yet routed), deliveries (pending or waiting for a retry), emails (queued).",
		[]string{"queue"}, nil)
	deadDesc = prometheus.NewDesc("shopbus_dead_letters", "Deliveries in the dead-letter list.", nil, nil)
)

// backlogCollector reads the backlogs at scrape time. A query that fails
// leaves its series out of that scrape rather than reporting a false zero.
type backlogCollector struct{ Backlogs }

func (c backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- backlogDesc; ch <- deadDesc }

func (c backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c.Bus != nil {
		if bl, err := c.Bus.Backlog(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(bl.Unrouted), "events")
			ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(bl.Pending), "deliveries")
			ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, float64(bl.Dead))
		} else {
			ch <- prometheus.NewInvalidMetric(backlogDesc, err)
		}
	}
	if c.Email != nil {
		if n, err := c.Email.Backlog(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(n), "emails")
		} else {
			ch <- prometheus.NewInvalidMetric(backlogDesc, err)
		}
	}
}
