package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shopbus/shopbus/bus/transform"
	"github.com/shopbus/shopbus/fault"
)

// Replay selects archived events to run again through today's rules.
type Replay struct {
	From, To time.Time
	// Rule and Target, when set, limit the replay to one rule or target.
	Rule, Target string
	// Force delivers again what was already delivered; without it a replay
	// only fills in what is missing or dead.
	Force bool
}

// ReplayResult counts what a replay did.
type ReplayResult struct {
	Events     int `json:"events"`
	Deliveries int `json:"deliveries"`
	Skipped    int `json:"skipped"`
}

// replayBatch bounds the events a replay reads at a time.
const replayBatch = 200

// Replay routes the events written in [From, To) through the current rules
// again, as new deliveries marked as replays. Without Force, an (event,
// rule, target) that already has a delivery that is not dead is skipped, so
// replaying handled events sends nothing twice.
func (b *Bus) Replay(ctx context.Context, r Replay) (ReplayResult, error) {
	var res ReplayResult
	if !r.From.Before(r.To) {
		return res, fault.New(fault.Invalid, "replay: --from must be before --to")
	}
	if r.Rule != "" {
		if _, ok := b.ruleNamed(r.Rule); !ok {
			return res, fault.Errorf(fault.Invalid, "replay: no rule named %q", r.Rule)
		}
	}
	if r.Target != "" && !b.targetSet()[r.Target] {
		return res, fault.Errorf(fault.Invalid, "replay: no target %q (known: %s)", r.Target, known(b.targetSet()))
	}
	var last int64
	for {
		var events []eventRow
		err := b.db.WithContext(ctx).Where("created_at >= ? AND created_at < ? AND seq > ?", r.From.UTC(), r.To.UTC(), last).
			Order("seq").Limit(replayBatch).Find(&events).Error
		if err != nil || len(events) == 0 {
			return res, err
		}
		last = events[len(events)-1].Seq
		if err := b.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return b.replayBatch(tx, r, events, &res) }); err != nil {
			return res, err
		}
		b.Wake()
	}
}

func (b *Bus) replayBatch(tx *gorm.DB, r Replay, events []eventRow, res *ReplayResult) error {
	now := time.Now().UTC()
	var matched []int
	for _, ev := range events {
		ev.Body = b.origin.stamp(ev.Body)
		res.Events++
		var err error
		if matched, err = b.matcher.Match([]byte(ev.Body), matched[:0]); err != nil {
			continue
		}
		for _, i := range matched {
			rl := b.rules[i]
			if r.Rule != "" && rl.name != r.Rule {
				continue
			}
			for _, t := range rl.targets {
				if r.Target != "" && t.module != r.Target {
					continue
				}
				var prior struct{ Live, Replays int64 }
				err := tx.Model(&deliveryRow{}).Select("COUNT(CASE WHEN status != 'dead' THEN 1 END) AS live, COUNT(*) AS replays").
					Where("event_id = ? AND rule = ? AND target = ?", ev.ID, rl.name, t.module).Scan(&prior).Error
				if err != nil {
					return err
				}
				if prior.Live > 0 && !r.Force {
					res.Skipped++
					continue
				}
				payload, err := t.transform.Apply([]byte(ev.Body), rl.name)
				if errors.Is(err, transform.ErrNothingSelected) {
					continue
				}
				row := deliveryRow{EventSeq: ev.Seq, EventID: ev.ID, OrderID: ev.OrderID, Rule: rl.name, Target: t.module,
					Status: StatusPending, Payload: string(payload), Errors: "[]", Replay: int(prior.Replays),
					NextAttemptAt: now, StartedAt: now}
				if err != nil {
					row.Status, row.LastError = StatusDead, fmt.Sprintf("transform: %v", err)
				}
				if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
					return err
				}
				res.Deliveries++
			}
		}
	}
	return nil
}

func (b *Bus) runnerSet() map[string]bool {
	set := map[string]bool{}
	for name := range b.runners {
		set[name] = true
	}
	return set
}

// targetSet names every target: the modules and the webhooks.
func (b *Bus) targetSet() map[string]bool {
	set := b.runnerSet()
	for k := range b.webhooks {
		set[k[1]] = true
	}
	return set
}
