package bus

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus/bustest"
)

// fastRetry keeps retries in milliseconds so failure scenarios end quickly.
var fastRetry = Retry{MaxAttempts: 5, MaxAge: time.Hour, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

// newTestBus returns a bus that polls often and retries fast; the caller
// subscribes and then calls runBus.
func newTestBus(t *testing.T, db *gorm.DB, rules []RuleConfig) *Bus {
	t.Helper()
	return New(Deps{DB: db, Log: testLogger(t)}, rules, Options{PollInterval: 10 * time.Millisecond, Retry: fastRetry})
}

// testLogger writes the bus's log to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// runBus starts b and runs it until the test ends, checking that Run
// returns once cancelled.
func runBus(t *testing.T, b *Bus) {
	t.Helper()
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	bustest.Run(t, b.Run)
}

// publish writes each detail to the outbox in its own committed transaction,
// in order, and wakes the bus.
func publish(t *testing.T, db *gorm.DB, b *Bus, details ...Detail) []Event {
	t.Helper()
	var events []Event
	for _, d := range details {
		err := db.Transaction(func(tx *gorm.DB) error {
			ev, err := Publish(context.Background(), tx, d)
			events = append(events, ev)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	b.Wake()
	return events
}

// deliveriesOf lists an order's deliveries, failing the test on error.
func deliveriesOf(t *testing.T, b *Bus, orderID string) []DeliveryStatus {
	t.Helper()
	ds, err := b.Deliveries(context.Background(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// statusIs reports whether the order's deliveries have exactly these
// statuses, oldest first.
func statusIs(t *testing.T, b *Bus, orderID string, want ...string) func() bool {
	return func() bool {
		ds := deliveriesOf(t, b, orderID)
		if len(ds) != len(want) {
			return false
		}
		for i, d := range ds {
			if d.Status != want[i] {
				return false
			}
		}
		return true
	}
}

// orderChange is a checkout event as the checkout module publishes it,
// with the detail fields rules filter on.
type orderChange struct {
	OrderID  string   `json:"order_id"`
	State    string   `json:"order_state"`
	Total    int64    `json:"total_minor"`
	Customer customer `json:"customer"`
	Payment  payment  `json:"payment"`
	Items    []item   `json:"items"`
}

type customer struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

type payment struct {
	Method string `json:"method"`
	Token  string `json:"token"`
}

type item struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

func (orderChange) EventSource() string     { return "shopbus.checkout" }
func (orderChange) EventDetailType() string { return "Order State Change" }

// newOrder is an order_created event for id.
func newOrder(id string) orderChange {
	return orderChange{
		OrderID:  id,
		State:    "new_order_created",
		Total:    4200,
		Customer: customer{Email: "ada@example.com", Name: "Ada"},
		Payment:  payment{Method: "card", Token: "tok_" + id},
		Items:    []item{{SKU: "MUG-1", Quantity: 2}},
	}
}

// shortage is what an inventory module publishes from its handler.
type shortage struct {
	OrderID string `json:"order_id"`
	SKU     string `json:"sku"`
}

func (shortage) EventSource() string     { return "shopbus.inventory" }
func (shortage) EventDetailType() string { return "Inventory Shortage" }

// checkoutRule routes every checkout event to targets.
func checkoutRule(name string, targets ...TargetConfig) RuleConfig {
	return RuleConfig{Name: name, Pattern: map[string]any{"source": []any{"shopbus.checkout"}}, Targets: targets}
}

// nop is a handler that succeeds at once.
func nop[T any](context.Context, Delivery[T]) error { return nil }

// route routes batch after batch until no committed event is left, and
// works none of the deliveries: they wait for the claim path (dispatch),
// which is what these tests exercise.
func (b *Bus) route(ctx context.Context) error {
	const routeBatch = 200
	for {
		n, err := b.routeBatch(ctx, routeBatch)
		if err != nil || n < routeBatch {
			return err
		}
	}
}

// routeBatch turns up to n committed events into pending
// delivery rows, one per matching (rule, target), in the same transaction
// that marks the events routed, and returns how many events it took.
func (b *Bus) routeBatch(ctx context.Context, n int) (int, error) {
	var events []eventRow
	var routed []routedEvent
	err := b.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if events, err = takeEvents(tx, n); err != nil || len(events) == 0 {
			return err
		}
		now := time.Now().UTC()
		var rows []deliveryRow
		rows, routed = b.plan(events, now)
		if _, err := insertDeliveries(tx, rows, nil, b.owner); err != nil {
			return err
		}
		return b.markRouted(ctx, tx, events, now)
	})
	if err == nil {
		for _, r := range routed {
			b.observer.Routed(r.ev.Source, r.ev.DetailType, r.rules)
		}
	}
	return len(events), err
}
