package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/shopbus/shopbus/database"
)

// QueryMigrations index what the dashboard asks of the bus's tables: an
// order's events, and deliveries by when they last changed, which is both
// the live view's cursor and the window of the flow's counts.
var QueryMigrations = []database.Migration{{
	ID: "bus-query-0001",
	SQL: []string{
		`CREATE INDEX bus_events_order ON bus_events (order_id, seq)`,
		`CREATE INDEX bus_deliveries_updated ON bus_deliveries (updated_at, id)`,
	},
}}

// DeliveryRecord is one delivery with everything an operator looks at:
// its status, what the target receives, and every failed attempt.
type DeliveryRecord struct {
	DeliveryStatus
	OrderID       string          `json:"order_id,omitempty"`
	Payload       json.RawMessage `json:"payload"`
	Errors        []AttemptError  `json:"errors"`
	NextAttemptAt time.Time       `json:"next_attempt_at"`
	CreatedAt     time.Time       `json:"created_at"`
}

func (r deliveryRow) record() DeliveryRecord {
	d := r.deadLetter() // decodes the payload and the error history
	return DeliveryRecord{
		DeliveryStatus: DeliveryStatus{ID: r.ID, EventID: r.EventID, Rule: r.Rule, Target: r.Target, Status: r.Status,
			Attempts: r.Attempts, LastError: r.LastError, Replay: r.Replay, UpdatedAt: r.UpdatedAt},
		OrderID: r.OrderID, Payload: d.Payload, Errors: d.Errors, NextAttemptAt: r.NextAttemptAt, CreatedAt: r.CreatedAt,
	}
}

func records(rows []deliveryRow) []DeliveryRecord {
	out := make([]DeliveryRecord, len(rows))
	for i, r := range rows {
		out[i] = r.record()
	}
	return out
}

// OrderEvents lists the events written about an order, oldest first,
// whether or not any rule matched them.
func (b *Records) OrderEvents(ctx context.Context, orderID string) ([]Event, error) {
	var rows []eventRow
	if err := b.db.WithContext(ctx).Where("order_id = ?", orderID).Order("seq").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("bus: events of order %s: %w", orderID, err)
	}
	out := make([]Event, 0, len(rows))
	for _, r := range rows {
		var ev Event
		if err := json.Unmarshal([]byte(b.origin.stamp(r.Body)), &ev); err != nil {
			return nil, fmt.Errorf("bus: event %s: %w", r.ID, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// OrderDeliveries lists every delivery of an order's events, oldest first,
// with payloads and error histories.
func (b *Records) OrderDeliveries(ctx context.Context, orderID string) ([]DeliveryRecord, error) {
	var rows []deliveryRow
	if err := b.db.WithContext(ctx).Where("order_id = ?", orderID).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("bus: deliveries of order %s: %w", orderID, err)
	}
	return records(rows), nil
}

// DeliveriesOf lists the deliveries of several orders, oldest first, by
// order: the journeys of a page of orders in one query.
func (b *Records) DeliveriesOf(ctx context.Context, orderIDs []string) (map[string][]DeliveryStatus, error) {
	out := make(map[string][]DeliveryStatus, len(orderIDs))
	if len(orderIDs) == 0 {
		return out, nil
	}
	var rows []deliveryRow
	err := b.db.WithContext(ctx).Select("id", "event_id", "order_id", "rule", "target", "status", "attempts", "last_error", "replay", "updated_at").
		Where("order_id IN ?", orderIDs).Order("id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("bus: deliveries of %d orders: %w", len(orderIDs), err)
	}
	for _, r := range rows {
		out[r.OrderID] = append(out[r.OrderID], DeliveryStatus{ID: r.ID, EventID: r.EventID, Rule: r.Rule, Target: r.Target,
			Status: r.Status, Attempts: r.Attempts, LastError: r.LastError, Replay: r.Replay, UpdatedAt: r.UpdatedAt})
	}
	return out, nil
}

// ChangedDeliveries lists up to limit deliveries whose (updated_at, id)
// comes after (since, afterID), oldest change first; orderID, when set,
// keeps only that order's. Paging on the pair never skips or repeats a row
// that shares its updated_at with others. A writer that took its timestamp
// before a later one committed can still land behind the cursor: callers
// that must see every change look back a little (the dashboard does).
func (b *Records) ChangedDeliveries(ctx context.Context, since time.Time, afterID int64, orderID string, limit int) ([]DeliveryRecord, error) {
	since = since.UTC()
	q := b.db.WithContext(ctx).Where("updated_at >= ? AND (updated_at > ? OR id > ?)", since, since, afterID)
	if orderID != "" {
		q = q.Where("order_id = ?", orderID)
	}
	var rows []deliveryRow
	if err := q.Order("updated_at, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("bus: changed deliveries: %w", err)
	}
	return records(rows), nil
}

// RuleInfo describes a configured rule: what it matches and where it sends.
type RuleInfo struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Pattern is the event pattern as configured, in JSON.
	Pattern json.RawMessage `json:"pattern"`
	Targets []TargetInfo    `json:"targets"`
}

// TargetInfo describes one target of a rule.
type TargetInfo struct {
	// Name is the target as its deliveries and dead letters name it.
	Name string `json:"name"`
	// Webhook is the host a webhook target posts to; empty for a module.
	Webhook string `json:"webhook,omitempty"`
	// Shape says what of the event the target gets: "the whole event",
	// "input_path $.detail.payment", "fields: …" or "input_transformer".
	Shape string `json:"shape"`
}

// Rules describes the rules that Start compiled, in configuration order.
func (b *Bus) Rules() []RuleInfo {
	out := make([]RuleInfo, 0, len(b.rules))
	for _, r := range b.rules {
		pattern, _ := json.Marshal(r.config.Pattern) // compile marshalled it already
		info := RuleInfo{Name: r.name, Description: r.config.Description, Pattern: pattern, Targets: []TargetInfo{}}
		for _, t := range r.config.Targets {
			ti := TargetInfo{Name: t.target(), Shape: shape(t)}
			if t.Webhook != nil {
				// The host only: a URL's path or query may carry a token.
				if u, err := url.Parse(t.Webhook.URL); err == nil {
					ti.Webhook = u.Host
				}
			}
			info.Targets = append(info.Targets, ti)
		}
		out = append(out, info)
	}
	return out
}

func shape(t TargetConfig) string {
	switch {
	case t.InputPath != "":
		return "input_path " + t.InputPath
	case t.InputTemplate != "" || len(t.InputPathsMap) > 0:
		return "input_transformer"
	case len(t.Fields) > 0:
		return "fields: " + strings.Join(t.Fields, ", ")
	}
	return "the whole event"
}

// Counts are deliveries by status. Retrying are those that failed and wait
// for another attempt.
type Counts struct {
	Pending  int64 `json:"pending"`
	Done     int64 `json:"done"`
	Retrying int64 `json:"retrying"`
	Dead     int64 `json:"dead"`
}

// Traffic is what the rules did in a window of time.
type Traffic struct {
	// Matches counts, per rule, the events it matched that were routed in
	// the window (replays aside).
	Matches map[string]int64
	// Targets counts, per rule and target, the deliveries whose status
	// last changed in the window: delivered, retrying or dead by then.
	Targets map[[2]string]Counts
}

// Traffic counts what the rules did since a moment. Both counts read only
// the deliveries changed since then, through their updated_at index.
func (b *Records) Traffic(ctx context.Context, since time.Time) (Traffic, error) {
	since = since.UTC()
	db := b.db.WithContext(ctx)
	t := Traffic{Matches: map[string]int64{}, Targets: map[[2]string]Counts{}}
	var matches []struct {
		Rule string
		N    int64
	}
	// A delivery created in the window was updated in it too, so the
	// second condition only narrows what the index found.
	err := db.Model(&deliveryRow{}).Select("rule, COUNT(DISTINCT event_id) AS n").
		Where("updated_at >= ? AND created_at >= ? AND replay = 0", since, since).Group("rule").Scan(&matches).Error
	if err != nil {
		return t, fmt.Errorf("bus: traffic: %w", err)
	}
	for _, m := range matches {
		t.Matches[m.Rule] = m.N
	}
	var counts []struct {
		Rule, Target, Status string
		N                    int64
	}
	err = db.Model(&deliveryRow{}).Select("rule, target, status, COUNT(*) AS n").
		Where("updated_at >= ?", since).Group("rule, target, status").Scan(&counts).Error
	if err != nil {
		return t, fmt.Errorf("bus: traffic: %w", err)
	}
	for _, c := range counts {
		k := [2]string{c.Rule, c.Target}
		n := t.Targets[k]
		switch c.Status {
		case StatusPending:
			n.Pending += c.N
		case StatusDone:
			n.Done += c.N
		case StatusFailed:
			n.Retrying += c.N
		case StatusDead:
			n.Dead += c.N
		}
		t.Targets[k] = n
	}
	return t, nil
}

// DeadByTarget counts the dead deliveries of each target.
func (b *Records) DeadByTarget(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Target string
		N      int64
	}
	err := b.db.WithContext(ctx).Model(&deliveryRow{}).Select("target, COUNT(*) AS n").
		Where("status = ?", StatusDead).Group("target").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("bus: dead letters by target: %w", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Target] = r.N
	}
	return out, nil
}
