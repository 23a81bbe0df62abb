package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shopbus/shopbus/bus/transform"
)

// routedEvent is an event routed, and the rules it matched, for the
// observer once the routing commits.
type routedEvent struct {
	ev    *eventRow
	rules []string
}

// takeEvents locks and returns up to n committed events not yet routed,
// oldest first, each order's oldest only (headOfOrder). The events stay
// locked until tx marks them routed: another instance skips them rather
// than routing them too.
func takeEvents(tx *gorm.DB, n int) ([]eventRow, error) {
	var events []eventRow
	err := tx.Where("routed_at IS NULL").Where(headOfOrder).Order("seq").Limit(n).
		Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked}).
		Find(&events).Error
	return events, err
}

// plan matches each event against the rules and returns a pending
// delivery row per matching (rule, target), with the payload the rule's
// transform gives the target, in the order of the events and of each
// rule's targets, and the rules each event matched.
func (b *Bus) plan(events []eventRow, now time.Time) ([]deliveryRow, []routedEvent) {
	var rows []deliveryRow
	routed := make([]routedEvent, 0, len(events))
	var matched []int
	for i := range events {
		ev := &events[i]
		ev.Body = b.origin.stamp(ev.Body) // account and region, as AWS adds them
		body := []byte(ev.Body)
		var err error
		matched, err = b.matcher.Match(body, matched[:0])
		if err != nil {
			b.log.Error("bus: event cannot be matched", "event_id", ev.ID, "err", err)
			continue
		}
		names := make([]string, len(matched))
		for j, i := range matched {
			names[j] = b.rules[i].name
		}
		routed = append(routed, routedEvent{ev, names})
		parsed := transform.NewEvent(body) // once for all its targets
		for _, i := range matched {
			r := b.rules[i]
			for _, t := range r.targets {
				row := deliveryRow{EventSeq: ev.Seq, EventID: ev.ID, OrderID: ev.OrderID, Rule: r.name,
					Target: t.module, Status: StatusPending, Errors: "[]", NextAttemptAt: now, StartedAt: now,
					CreatedAt: now, UpdatedAt: now}
				payload, err := t.transform.ApplyEvent(parsed, transform.Meta{RuleName: r.name})
				if errors.Is(err, transform.ErrNothingSelected) {
					continue // as EventBridge: an input_path that selects nothing sends nothing
				}
				if err != nil {
					row.Status, row.LastError = StatusDead, fmt.Sprintf("transform: %v", err)
				}
				row.Payload = string(payload)
				rows = append(rows, row)
			}
		}
	}
	return rows, routed
}

// markRouted publishes the events to the transport's log and marks them
// routed in tx. Published before they are marked: a crash in between
// publishes them again, which the log drops by event id.
func (b *Bus) markRouted(ctx context.Context, tx *gorm.DB, events []eventRow, now time.Time) error {
	out := make([]OutboxEvent, len(events))
	seqs := make([]int64, len(events))
	for i, ev := range events {
		out[i] = OutboxEvent{ID: ev.ID, Source: ev.Source, DetailType: ev.DetailType, Body: []byte(ev.Body)}
		seqs[i] = ev.Seq
	}
	if err := b.transport.Publish(ctx, out); err != nil {
		return fmt.Errorf("publish events: %w", err)
	}
	return tx.Model(&eventRow{}).Where("seq IN ?", seqs).Update("routed_at", now).Error
}
