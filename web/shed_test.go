package web_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/web/webtest"
)

// inflight is the gauge of order writes waiting for their commit.
func inflight(t *testing.T, s *webtest.Shop) float64 {
	t.Helper()
	return s.Metric(t, "shopbus_orders_inflight", nil)
}

// waitInflight waits until n order writes wait for their commit.
func waitInflight(t *testing.T, s *webtest.Shop, n float64) {
	t.Helper()
	webtest.WaitFor(t, fmt.Sprintf("%v order writes waiting for their commit", n), 10*time.Second, func() (bool, string) {
		v := inflight(t, s)
		return v == n, fmt.Sprint(v)
	})
}

// postInBackground posts an order and sends its status on the channel.
func postInBackground(t *testing.T, s *webtest.Shop, id string) <-chan int {
	status := make(chan int, 1)
	go func() {
		status <- s.Request(t, "POST", "/v1/orders", newOrder(id, id+"@example.com", "MUG", 1), admin).Status
	}()
	return status
}

// TestOrdersShedWhenTheWriterIsFull: with http.max_inflight_orders order
// writes waiting for their commit, the next is refused at once with 503
// and Retry-After, stores nothing, and goes through once there is room.
func TestOrdersShedWhenTheWriterIsFull(t *testing.T) {
	t.Parallel()
	dbtest.SQLiteOnly(t, "holds SQLite's write lock to keep a commit waiting")
	s := webtest.New(t, webtest.Options{Run: true, Config: func(c *config.Config) { c.HTTP.MaxInflightOrders = 1 }})
	setStock(t, s, "MUG", 10)

	// Another connection holds the write lock: the first order waits in its commit.
	release := dbtest.HoldWriteLock(t, s.Config.Database)
	first := postInBackground(t, s, "shed-1")
	// Once the first holds the one slot, the next is refused at once.
	waitInflight(t, s, 1)
	s.Run(t, webtest.Scenario{Name: "while the one slot is taken", Key: admin, URL: "/v1/orders",
		Body: newOrder("shed-2", "b@example.com", "MUG", 1), Headers: []string{"Idempotency-Key: shed-2"},
		Status: http.StatusServiceUnavailable, Header: map[string]string{"Retry-After": "1"}})
	release()
	if status := <-first; status != http.StatusCreated {
		t.Errorf("the waiting order: %d, want 201", status)
	}
	// Nothing of the refused request was kept: not the order, not its key.
	s.Run(t,
		webtest.Scenario{Name: "the refused order", Key: admin, URL: "/v1/orders/shed-2", Status: http.StatusNotFound},
		webtest.Scenario{Name: "the retry", Key: admin, URL: "/v1/orders", Body: newOrder("shed-2", "b@example.com", "MUG", 1),
			Headers: []string{"Idempotency-Key: shed-2"}, Status: http.StatusCreated, Header: map[string]string{"Idempotent-Replayed": ""}},
	)
}

// TestShedBoundsOrderWritesOnly: the bound counts every order write
// waiting, new orders and state changes alike, refuses even a body it has
// not read, and leaves reads alone; the gauge follows the writes down.
func TestShedBoundsOrderWritesOnly(t *testing.T) {
	t.Parallel()
	dbtest.SQLiteOnly(t, "holds SQLite's write lock to keep commits waiting")
	s := webtest.New(t, webtest.Options{Config: func(c *config.Config) { c.HTTP.MaxInflightOrders = 2 }})
	s.Run(t, webtest.Scenario{Name: "an order to change", Key: admin, URL: "/v1/orders",
		Body: newOrder("shed-0", "a@example.com", "MUG", 1), Status: http.StatusCreated})
	if v := inflight(t, s); v != 0 {
		t.Errorf("gauge %v with nothing waiting", v)
	}

	release := dbtest.HoldWriteLock(t, s.Config.Database)
	waiting := []<-chan int{postInBackground(t, s, "shed-1")}
	waitInflight(t, s, 1)
	waiting = append(waiting, postInBackground(t, s, "shed-2"))
	waitInflight(t, s, 2)

	shed := map[string]string{"Retry-After": "1"}
	s.Run(t,
		webtest.Scenario{Name: "a third order", Key: admin, URL: "/v1/orders", Body: newOrder("shed-3", "c@example.com", "MUG", 1),
			Status: http.StatusServiceUnavailable, Header: shed, Unchanged: true},
		webtest.Scenario{Name: "a state change", Key: admin, URL: "/v1/orders/shed-0/state", Body: map[string]string{"order_state": "order_paid"},
			Status: http.StatusServiceUnavailable, Header: shed, Unchanged: true},
		// The body is read and checked before a slot is taken (a slow body
		// must not hold one), so bad input hears what is wrong even now.
		webtest.Scenario{Name: "a malformed order, refused for its body before any slot", Key: admin, URL: "/v1/orders", Body: `{"order_id":`,
			Status: http.StatusBadRequest, Unchanged: true},
		webtest.Scenario{Name: "an order read", Key: admin, URL: "/v1/orders/shed-0", Status: http.StatusOK,
			JSON: map[string]any{"/order_state": "new_order_created"}},
		webtest.Scenario{Name: "the order list", Key: admin, URL: "/v1/orders", Status: http.StatusOK, Header: map[string]string{"Retry-After": ""}},
		webtest.Scenario{Name: "health", URL: "/healthz", Status: http.StatusOK},
	)
	if v := inflight(t, s); v != 2 {
		t.Errorf("gauge %v after the refusals, want 2: a refused write takes no slot", v)
	}

	release()
	for i, w := range waiting {
		if status := <-w; status != http.StatusCreated {
			t.Errorf("waiting order %d: %d, want 201", i+1, status)
		}
	}
	if v := inflight(t, s); v != 0 {
		t.Errorf("gauge %v once the writes committed, want 0", v)
	}
	s.Run(t,
		webtest.Scenario{Name: "room again", Key: admin, URL: "/v1/orders", Body: newOrder("shed-3", "c@example.com", "MUG", 1), Status: http.StatusCreated},
		webtest.Scenario{Name: "the state change again", Key: admin, URL: "/v1/orders/shed-0/state", Body: map[string]string{"order_state": "order_paid"},
			Status: http.StatusOK, Rows: map[string]int64{"checkout_orders": 4}},
	)
}
