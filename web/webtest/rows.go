package webtest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shopbus/shopbus/database/dbtest"
)

// Count returns how many rows "table" or "table WHERE ..." holds.
func (s *Shop) Count(t testing.TB, where string) int64 {
	t.Helper()
	var n int64
	if err := s.DB.Raw("SELECT COUNT(*) FROM " + where).Scan(&n).Error; err != nil {
		t.Fatalf("count %s: %v", where, err)
	}
	return n
}

// Tables lists every table of the shop's schema, but the migrations' own.
func (s *Shop) Tables(t testing.TB) []string {
	t.Helper()
	if s.tables != nil {
		return s.tables
	}
	q := "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
	if dbtest.Postgres() {
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
	}
	var names []string
	if err := s.DB.Raw(q).Scan(&names).Error; err != nil {
		t.Fatal(err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return strings.Contains(n, "migration") })
	slices.Sort(names)
	if len(names) < 10 {
		t.Fatalf("webtest: only the tables %q", names)
	}
	s.tables = names
	return names
}

// RowCounts says how many rows each table holds, read in one query so
// that the figures are of one moment.
func (s *Shop) RowCounts(t testing.TB) string {
	t.Helper()
	names := s.Tables(t)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("'%s=' || (SELECT COUNT(*) FROM %s)", name, name)
	}
	var counts string
	if err := s.DB.Raw("SELECT " + strings.Join(parts, " || ' ' || ")).Scan(&counts).Error; err != nil {
		t.Fatal(err)
	}
	return counts
}

// Settled waits until no table's row count has moved for 300ms, so that
// what the bus and the email worker do in the background is done, and
// returns the counts.
func (s *Shop) Settled(t testing.TB) string {
	t.Helper()
	last, since := s.RowCounts(t), time.Now()
	WaitFor(t, "the database to settle", 20*time.Second, func() (bool, string) {
		if now := s.RowCounts(t); now != last {
			last, since = now, time.Now()
		}
		return time.Since(since) > 300*time.Millisecond, last
	})
	return last
}

// WaitFor polls cond until it holds or the deadline passes; cond explains
// what it saw, for the failure message.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last saw: %s", timeout, what, saw)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Metric scrapes the shop's metrics and sums the series of a family
// whose labels include want (a counter's or gauge's value, a histogram's
// count); -1 when the family is missing.
func (s *Shop) Metric(t testing.TB, name string, want map[string]string) float64 {
	t.Helper()
	return SumSeries(s.MetricFamilies(t)[name], want)
}

// MetricFamilies scrapes the shop's metrics, as Prometheus would.
func (s *Shop) MetricFamilies(t testing.TB) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("parse the metrics: %v", err)
	}
	return fams
}

// SumSeries adds up a metric family's series whose labels include want
// (a histogram counts its samples); -1 when the family is missing.
func SumSeries(f *dto.MetricFamily, want map[string]string) float64 {
	if f == nil {
		return -1
	}
	var sum float64
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// NewOrder is a valid order body; items are (sku, quantity) pairs at 12.50 each.
func NewOrder(id, customer string, items ...any) map[string]any {
	var lines []map[string]any
	var total int64
	for i := 0; i+1 < len(items); i += 2 {
		q := int64(items[i+1].(int))
		lines = append(lines, map[string]any{"sku": items[i], "name": "Item " + items[i].(string), "quantity": q, "unit_price_minor": 1250})
		total += q * 1250
	}
	return map[string]any{
		"order_id": id,
		"customer": map[string]string{"email": customer, "name": "Customer " + id},
		"items":    lines,
		"currency": "EUR",
		"shipping_address": map[string]string{
			"line1": "12 Rue de Rivoli", "city": "Paris", "postal_code": "75001", "country": "FR",
		},
		"payment": map[string]any{"method": "card", "reference": "ch_" + id, "amount_minor": total},
	}
}
