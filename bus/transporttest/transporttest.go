// Package transporttest holds the scenario every bus.Transport passes:
// the bus's own tests run it with the built-in transport, and each
// transport's tests with theirs, so the code above the transport is proved
// the same over all of them.
package transporttest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/bus/transform"
	"github.com/shopbus/shopbus/bus/webhook"
	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// NewTransport makes the transport under test for one instance; it is
// called once per instance. Nil keeps the built-in one.
type NewTransport func(t *testing.T) bus.Transport

// Options are what a bus in these scenarios runs with: quick polls and
// retries, and enough attempts that flaky handlers always get through.
func Options() bus.Options {
	return bus.Options{PollInterval: 10 * time.Millisecond,
		Retry: bus.Retry{MaxAttempts: 1000, MaxAge: time.Hour, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}}
}

// Logger writes a bus's log to the test's output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Order is a checkout event, as the checkout module publishes it.
type Order struct {
	OrderID string `json:"order_id"`
	State   string `json:"order_state"`
}

func (Order) EventSource() string     { return "shopbus.checkout" }
func (Order) EventDetailType() string { return "Order State Change" }

type work struct {
	DeliveryID int64
	OrderID    string
	Target     string
	State      string
	Instance   string
}

// InstancesShareTheOutbox runs three buses on one database, as three
// instances of shopbus would, each over its own transport from newTransport:
// every delivery is done, its work committed once, never by two instances
// at once, and each order's deliveries to a target still run in the order
// of its events. Handlers fail now and then, and so does a webhook
// receiver, so retries move between instances too.
func InstancesShareTheOutbox(t *testing.T, newTransport NewTransport) {
	cfg := dbtest.Config(t)
	db := dbtest.Connect(t, cfg)
	step := database.Migration{ID: "test-work", SQL: []string{`CREATE TABLE work (
		seq $AUTOID, delivery_id BIGINT NOT NULL UNIQUE, order_id TEXT NOT NULL, target TEXT NOT NULL, state TEXT NOT NULL, instance TEXT NOT NULL)`}}
	if _, err := database.Migrate(context.Background(), db, append(bus.Migrations, step)); err != nil {
		t.Fatal(err)
	}

	// The webhook receiver answers 503 now and then; it counts, per
	// webhook-id, the posts it accepted.
	var hookMu sync.Mutex
	accepted := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rand.N(5) == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		hookMu.Lock()
		accepted[r.Header.Get("webhook-id")]++
		hookMu.Unlock()
	}))
	t.Cleanup(hook.Close)

	detail := func(module string) bus.TargetConfig {
		return bus.TargetConfig{Module: module, Spec: transform.Spec{InputPath: "$.detail"}}
	}
	rule := bus.RuleConfig{Name: "fulfilment", Pattern: map[string]any{"source": []any{"shopbus.checkout"}},
		Targets: []bus.TargetConfig{detail("inventory"), detail("shipping"),
			{Name: "erp", Webhook: &webhook.Config{URL: hook.URL, Timeout: 5 * time.Second}}}}

	var mu sync.Mutex
	running := map[int64]string{} // delivery -> instance
	calls := map[string]int{}     // instance -> handler calls
	var buses []*bus.Bus
	for i := range 3 {
		deps := bus.Deps{DB: dbtest.Connect(t, cfg), Log: Logger(t)}
		if newTransport != nil {
			deps.Transport = newTransport(t)
		}
		b := bus.New(deps, []bus.RuleConfig{rule}, Options())
		name := fmt.Sprintf("instance-%d", i)
		for _, target := range []string{"inventory", "shipping"} {
			bus.Subscribe(b, target, func(ctx context.Context, d bus.Delivery[Order]) error {
				mu.Lock()
				if other, ok := running[d.ID]; ok {
					t.Errorf("delivery %d is worked by %s and %s at once", d.ID, other, name)
				}
				running[d.ID] = name
				calls[name]++
				mu.Unlock()
				defer func() {
					mu.Lock()
					delete(running, d.ID)
					mu.Unlock()
				}()
				err := d.Tx.Table("work").Create(&work{DeliveryID: d.ID, OrderID: d.OrderID, Target: d.Target,
					State: d.Payload.State, Instance: name}).Error
				if err != nil {
					return err
				}
				time.Sleep(time.Millisecond) // a window for anyone else to step in
				if rand.N(5) == 0 {
					return errors.New("flaky warehouse") // the work above rolls back
				}
				return nil
			})
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		bustest.Run(t, b.Run)
		buses = append(buses, b)
	}

	const orders = 40
	for i := range orders {
		id := fmt.Sprintf("ord_%02d", i)
		for _, state := range []string{"new_order_created", "order_cancelled"} {
			err := db.Transaction(func(tx *gorm.DB) error {
				_, err := bus.Publish(context.Background(), tx, Order{OrderID: id, State: state})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, b := range buses {
		b.Wake()
	}
	const perOrder = 2 * 3 // two events, three targets
	bustest.WaitFor(t, "every delivery done", func() bool {
		// One statement, so both counts see the same moment: counted
		// apart, the last event's deliveries could be written between
		// "none open" and "all there", still pending.
		var counts struct{ Open, Total int64 }
		err := db.Raw("SELECT (SELECT COUNT(*) FROM bus_deliveries WHERE status != ?) AS open, (SELECT COUNT(*) FROM bus_deliveries) AS total",
			bus.StatusDone).Scan(&counts).Error
		if err != nil {
			t.Fatal(err)
		}
		return counts.Open == 0 && counts.Total == perOrder*orders
	})

	var rows []work
	if err := db.Table("work").Order("seq").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4*orders {
		t.Errorf("%d units of work committed, want one per module delivery: %d", len(rows), 4*orders)
	}
	// Per order and target: the creation, then the cancellation.
	last := map[string]string{}
	for _, r := range rows {
		key := r.OrderID + "/" + r.Target
		want := "new_order_created"
		if last[key] == "new_order_created" {
			want = "order_cancelled"
		}
		if r.State != want {
			t.Errorf("%s: %s committed after %q", key, r.State, last[key])
		}
		last[key] = r.State
	}
	hookMu.Lock()
	if len(accepted) != 2*orders {
		t.Errorf("the webhook accepted %d deliveries, want %d", len(accepted), 2*orders)
	}
	for id, n := range accepted {
		if n != 1 {
			t.Errorf("the webhook accepted delivery %s %d times", id, n)
		}
	}
	hookMu.Unlock()
	var unreleased int64
	if err := db.Raw("SELECT COUNT(*) FROM bus_deliveries WHERE lease_until IS NOT NULL").Scan(&unreleased).Error; err != nil {
		t.Fatal(err)
	}
	if unreleased != 0 {
		t.Errorf("%d done deliveries still hold a lease", unreleased)
	}
	mu.Lock()
	t.Logf("handler calls per instance: %v", calls)
	mu.Unlock()
}
