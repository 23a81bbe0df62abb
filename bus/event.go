package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Event is the EventBridge envelope. Patterns written for EventBridge match
// it unchanged.
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       time.Time       `json:"time"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// Detail is the body of an event a module publishes; it names its own
// source and detail-type.
type Detail interface {
	EventSource() string
	EventDetailType() string
}

// orderKey is read from every event's detail: deliveries that share an
// order and a target are handled in the order their events were written.
type orderKey struct {
	OrderID string `json:"order_id"`
}

// Publish writes an event to the outbox inside tx, so it exists exactly when
// the caller's other writes commit. The dispatcher routes it after commit;
// call (*Bus).Wake after committing to route it at once.
func Publish(ctx context.Context, tx *gorm.DB, d Detail) (Event, error) {
	detail, err := json.Marshal(d)
	if err != nil {
		return Event{}, fmt.Errorf("publish %s: %w", d.EventDetailType(), err)
	}
	ev := Event{
		Version:    "0",
		ID:         uuid.NewString(),
		DetailType: d.EventDetailType(),
		Source:     d.EventSource(),
		Time:       time.Now().UTC().Truncate(time.Second),
		Resources:  []string{},
		Detail:     detail,
	}
	return ev, writeEvent(ctx, tx, ev)
}

func writeEvent(ctx context.Context, tx *gorm.DB, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("publish %s: %w", ev.DetailType, err)
	}
	var key orderKey
	_ = json.Unmarshal(ev.Detail, &key) // events without an order id are simply not ordered
	row := eventRow{
		ID:         ev.ID,
		Source:     ev.Source,
		DetailType: ev.DetailType,
		OrderID:    key.OrderID,
		Body:       string(body),
		CreatedAt:  ev.Time,
	}
	if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("publish %s: %w", ev.DetailType, err)
	}
	return nil
}
