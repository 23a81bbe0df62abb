package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/fault"
)

// Errors of the dead-letter operations.
var (
	ErrNotFound   = fault.New(fault.NotFound, "bus: delivery not found")
	ErrBadRedrive = fault.New(fault.Invalid, "redrive: name delivery IDs, a target, or all (exactly one)")
)

// DeadLetter is work that ran out of retries, with everything needed to
// understand it and send it again: a delivery the bus gave up on, or
// another kind of work a DeadLetterSource keeps (an email the email module
// could not send). ID is unique within its Kind.
type DeadLetter struct {
	ID   int64  `json:"id"`
	Kind string `json:"kind"` // KindDelivery, or the kind of its source
	// EventID and Rule are a delivery's event and the rule that routed it.
	EventID string `json:"event_id,omitempty"`
	OrderID string `json:"order_id,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Target  string `json:"target"`
	// Template and To are an email's template and recipient.
	Template  string          `json:"template,omitempty"`
	To        string          `json:"to,omitempty"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error"`
	Errors    []AttemptError  `json:"errors"`
	Payload   json.RawMessage `json:"payload"`
	Replay    int             `json:"replay,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	DiedAt    time.Time       `json:"died_at"`
}

func (r deliveryRow) deadLetter() DeadLetter {
	d := DeadLetter{ID: r.ID, Kind: KindDelivery, EventID: r.EventID, OrderID: r.OrderID, Rule: r.Rule, Target: r.Target,
		Attempts: r.Attempts, LastError: r.LastError, Replay: r.Replay, CreatedAt: r.CreatedAt, DiedAt: r.UpdatedAt,
		Errors: []AttemptError{}}
	_ = json.Unmarshal([]byte(r.Errors), &d.Errors)
	if json.Valid([]byte(r.Payload)) {
		d.Payload = json.RawMessage(r.Payload)
	} else {
		d.Payload, _ = json.Marshal(r.Payload) // a text template's output
	}
	return d
}

// DeadLetters lists dead deliveries, oldest first, for one target or all
// (target empty), at most limit of them.
func (b *Records) DeadLetters(ctx context.Context, target string, limit int) ([]DeadLetter, error) {
	if strings.ContainsRune(target, 0) {
		return []DeadLetter{}, nil // no target has a NUL in its name (nor could PostgreSQL compare one)
	}
	q := b.db.WithContext(ctx).Where("status = ?", StatusDead).Order("id").Limit(limit)
	if target != "" {
		q = q.Where("target = ?", target)
	}
	var rows []deliveryRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]DeadLetter, len(rows))
	for i, r := range rows {
		out[i] = r.deadLetter()
	}
	return out, nil
}

// DeadLetter returns one dead delivery.
func (b *Records) DeadLetter(ctx context.Context, id int64) (DeadLetter, error) {
	var row deliveryRow
	err := b.db.WithContext(ctx).Where("id = ? AND status = ?", id, StatusDead).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return DeadLetter{}, fmt.Errorf("%w: no dead delivery %d", ErrNotFound, id)
	}
	return row.deadLetter(), err
}

// Redrive selects dead letters to send again: by ID, every one of a
// target, or all. Kind narrows the selection to one kind; IDs name
// deliveries unless Kind names another.
type Redrive struct {
	IDs    []int64
	Target string
	All    bool
	Kind   string
}

// KindDelivery is the kind of the bus's own dead letters: deliveries.
const KindDelivery = "delivery"

// Kind says the bus's dead letters are deliveries.
func (b *Records) Kind() string { return KindDelivery }

// Redrive is Records.Redrive, and the dispatcher looks for the work at once.
func (b *Bus) Redrive(ctx context.Context, r Redrive) (int64, error) {
	n, err := b.Records.Redrive(ctx, r)
	if n > 0 {
		b.Wake()
	}
	return n, err
}

// Redrive puts dead deliveries back in line with a fresh retry budget,
// keeping their error history, and returns how many it moved (IDs that are
// not dead are passed over; none at all is ErrNotFound).
func (b *Records) Redrive(ctx context.Context, r Redrive) (int64, error) {
	q := b.db.WithContext(ctx).Model(&deliveryRow{}).Where("status = ?", StatusDead)
	switch {
	case len(r.IDs) > 0 && r.Target == "" && !r.All:
		q = q.Where("id IN ?", r.IDs)
	case len(r.IDs) == 0 && r.Target != "" && !r.All:
		if strings.ContainsRune(r.Target, 0) {
			return 0, nil // as for any target without dead letters; PostgreSQL could not compare it
		}
		q = q.Where("target = ?", r.Target)
	case len(r.IDs) == 0 && r.Target == "" && r.All:
	default:
		return 0, ErrBadRedrive
	}
	now := time.Now().UTC()
	res := q.Updates(map[string]any{"status": StatusPending, "attempts": 0, "next_attempt_at": now, "started_at": now,
		"lease_until": nil, "updated_at": now})
	if res.Error == nil && res.RowsAffected > 0 {
		b.log.Info("bus: redrive", "deliveries", res.RowsAffected, "target", r.Target, "ids", r.IDs)
	}
	if res.Error == nil && len(r.IDs) > 0 && res.RowsAffected == 0 {
		return 0, fmt.Errorf("%w: none of %v is a dead delivery", ErrNotFound, r.IDs)
	}
	return res.RowsAffected, res.Error
}
