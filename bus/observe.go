package bus

import (
	"context"
	"time"
)

// Outcomes of a delivery attempt, as an Observer is told them.
const (
	OutcomeDone  = "done"  // the target committed
	OutcomeRetry = "retry" // it failed and waits for another attempt
	OutcomeDead  = "dead"  // it failed for good: a dead letter
)

// Observer is told what the bus does as it happens: metrics implement it.
// Its methods are called from the dispatcher's goroutines and must be quick
// and safe for concurrent use.
type Observer interface {
	// Routed is called once per event routed, with the rules it matched.
	Routed(source, detailType string, rules []string)
	// Attempted is called once per delivery attempt that reached an outcome.
	Attempted(rule, target, outcome string, took time.Duration)
	// Lagged is called with each measure of the shop's lag (Bus.Lag).
	Lagged(lag time.Duration)
}

type noObserver struct{}

func (noObserver) Routed(string, string, []string)                 {}
func (noObserver) Attempted(string, string, string, time.Duration) {}
func (noObserver) Lagged(time.Duration)                            {}

// Backlog is the work the bus has not finished.
type Backlog struct {
	// Unrouted counts committed events not yet turned into deliveries.
	Unrouted int64
	// Pending counts deliveries waiting for their first or next attempt.
	Pending int64
	// Dead counts dead letters.
	Dead int64
}

// Backlog counts the unfinished work, from the database: it is the same
// whichever process asks.
func (b *Records) Backlog(ctx context.Context) (Backlog, error) {
	var bl Backlog
	db := b.db.WithContext(ctx)
	err := db.Model(&eventRow{}).Where("routed_at IS NULL").Count(&bl.Unrouted).Error
	if err == nil {
		err = db.Model(&deliveryRow{}).Where("status IN ?", []string{StatusPending, StatusFailed}).Count(&bl.Pending).Error
	}
	if err == nil {
		err = db.Model(&deliveryRow{}).Where("status = ?", StatusDead).Count(&bl.Dead).Error
	}
	return bl, err
}
