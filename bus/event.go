package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Event is the EventBridge envelope. Patterns written for EventBridge match
// it unchanged.
type Event struct {
	Version    string `json:"version"`
	ID         string `json:"id"`
	DetailType string `json:"detail-type"`
	Source     string `json:"source"`
	// Account and Region are the bus's, as EventBridge's are the AWS
	// account and region of its event bus: the outbox stores events
	// without them, and the bus adds them to every event it routes or
	// shows (see origin).
	Account   string          `json:"account,omitempty"`
	Time      time.Time       `json:"time"`
	Region    string          `json:"region,omitempty"`
	Resources []string        `json:"resources"`
	Detail    json.RawMessage `json:"detail"`
}

// The bus's account and region when the config names none: twelve zeros
// is the shape of an AWS account id that no AWS account has (so an ARN a
// rule builds from it is well formed and plainly not AWS's), and "local"
// says the bus runs on the shop's own machine, not in an AWS region.
const (
	DefaultAccount = "000000000000"
	DefaultRegion  = "local"
)

// origin is the bus's EventBridge identity, as the JSON members every
// event it routes gains: `"account":"…","region":"…"`.
type origin struct{ members string }

func newOrigin(account, region string) origin {
	a, _ := json.Marshal(account)
	r, _ := json.Marshal(region)
	return origin{members: `"account":` + string(a) + `,"region":` + string(r)}
}

// stamp adds the bus's account and region to an event as the outbox holds
// it. They are the bus's, not the publisher's, so the outbox never stores
// them (writeEvent leaves them out) and an event replayed after the shop
// changed them carries the new ones, as the bus it now travels on. The
// zero origin (Records built without a bus) adds nothing.
func (o origin) stamp(body string) string {
	if o.members == "" || len(body) < 2 || body[0] != '{' {
		return body
	}
	if strings.HasPrefix(strings.TrimLeft(body[1:], " \t\r\n"), "}") {
		return "{" + o.members + body[1:]
	}
	return "{" + o.members + "," + body[1:]
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
		ID:         NewID(),
		DetailType: d.EventDetailType(),
		Source:     d.EventSource(),
		Time:       time.Now().UTC().Truncate(time.Second),
		Resources:  []string{},
		Detail:     detail,
	}
	return ev, writeEvent(ctx, tx, ev)
}

// Entry is an event another system puts on the bus (an entry of
// PutEvents): its own source and detail-type, and its detail as JSON.
type Entry struct {
	Source     string
	DetailType string
	// Detail is a JSON object; the caller has checked it is one.
	Detail    json.RawMessage
	Resources []string
	// Time is when the event happened; zero is now.
	Time time.Time
}

// Put writes another system's event to the outbox inside tx, as Publish
// writes a module's: it is routed through the same rules once tx commits.
// A detail with an order_id is routed in order with that order's events.
func Put(ctx context.Context, tx *gorm.DB, e Entry) (Event, error) {
	at := e.Time
	if at.IsZero() {
		at = time.Now()
	}
	resources := e.Resources
	if resources == nil {
		resources = []string{}
	}
	ev := Event{Version: "0", ID: NewID(), DetailType: e.DetailType, Source: e.Source,
		Time: at.UTC().Truncate(time.Second), Resources: resources, Detail: e.Detail}
	return ev, writeEvent(ctx, tx, ev)
}

func writeEvent(ctx context.Context, tx *gorm.DB, ev Event) error {
	ev.Account, ev.Region = "", "" // the bus's, added as it routes (origin)
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("publish %s: %w", ev.DetailType, err)
	}
	var key orderKey
	_ = json.Unmarshal(ev.Detail, &key) // events without an order id are simply not ordered
	// created_at to the instant, not to the envelope's second: the lag of
	// unrouted events counts from it. Fixed SQL: every order writes one.
	err = tx.WithContext(ctx).Exec(`INSERT INTO bus_events (id, source, detail_type, order_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		ev.ID, ev.Source, ev.DetailType, key.OrderID, string(body), time.Now().UTC()).Error
	if err != nil {
		return fmt.Errorf("publish %s: %w", ev.DetailType, err)
	}
	return nil
}

// NewID returns a version 7 UUID, for event ids and the ids a producer
// makes for its own records (checkout's order ids): a UUID as
// EventBridge's ids are, but time-ordered (48 bits of milliseconds, then
// random), so the indexes keyed by such ids (bus_events, bus_deliveries,
// email_jobs, checkout_orders) take each new row at their right edge, on a
// page the commit writes anyway, instead of on a random page of their own.
// Like uuid.NewString, it panics only when the system's random source
// fails.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }
