package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/modules/email"
	"github.com/shopbus/shopbus/money"
)

// funcs are the templates' functions.
var funcs = template.FuncMap{
	"money":      money.Format,
	"when":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"pretty":     pretty,
	"symbol":     symbol,
	"human":      func(state string) string { return strings.ReplaceAll(state, "_", " ") },
	"mailSymbol": mailSymbol,
	"neg":        func(n int64) int64 { return -n },
	"size":       size,
	"period":     period,
}

// size is a byte count as a person reads it: 512 B, 3.1 MB.
func size(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, prefixes := float64(n)/unit, "kMGT"
	i := 0
	for f >= unit && i < len(prefixes)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %cB", f, prefixes[i])
}

// period is a duration without its zero tails: 6h, 90m, 1h30m.
func period(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// pretty indents JSON for reading; what is not JSON is shown as it is.
func pretty(raw json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// symbol marks a status with a sign, so it does not rest on colour alone.
func symbol(status string) string {
	switch status {
	case bus.StatusDone:
		return "✓"
	case bus.StatusFailed:
		return "↻"
	case bus.StatusDead:
		return "✗"
	}
	return "…" // pending, queued
}

// mailSymbol is symbol for an email's status: a failed email is final.
func mailSymbol(status string) string {
	switch status {
	case email.StatusSent:
		return "✓"
	case email.StatusFailed:
		return "✗"
	}
	return "…"
}

// step is one target of an order's journey at a glance: the least finished
// status among its deliveries.
type step struct {
	Target string
	Status string
}

// rank orders statuses from finished to stuck.
var rank = map[string]int{bus.StatusDone: 0, bus.StatusPending: 1, bus.StatusFailed: 2, bus.StatusDead: 3}

// journey sums an order's deliveries up by target, in the order the
// targets were first reached.
func journey(ds []bus.DeliveryStatus) []step {
	var out []step
	at := map[string]int{}
	for _, d := range ds {
		i, ok := at[d.Target]
		if !ok {
			at[d.Target] = len(out)
			out = append(out, step{Target: d.Target, Status: d.Status})
			continue
		}
		if rank[d.Status] > rank[out[i].Status] {
			out[i].Status = d.Status
		}
	}
	return out
}
