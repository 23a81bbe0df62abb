package email

import (
	"context"
	"testing"

	"github.com/shopbus/shopbus/database/dbtest"
)

func TestForOrders(t *testing.T) {
	cfg := testConfig()
	cfg.Dir = t.TempDir()
	s := newTestService(t, dbtest.Open(t, Migrations), cfg)
	enqueue(t, s, Message{OrderID: "ord-1", Template: "order_success", To: "ada@example.com", Data: OrderSuccess{}})
	enqueue(t, s, Message{OrderID: "ord-2", Template: "order_success", To: "bob@example.com", Data: OrderSuccess{}})
	enqueue(t, s, Message{OrderID: "ord-2", Template: "inventory_shortage", To: "owner@example.com", Data: Shortage{}})

	got, err := s.ForOrders(context.Background(), []string{"ord-1", "ord-2", "ord-3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got["ord-1"]) != 1 || got["ord-1"][0].To != "ada@example.com" ||
		len(got["ord-2"]) != 2 || got["ord-2"][1].Template != "inventory_shortage" || got["ord-2"][0].Status != StatusQueued {
		t.Errorf("ForOrders = %+v, want ord-1's one job and ord-2's two, oldest first", got)
	}
	if none, err := s.ForOrders(context.Background(), nil); err != nil || len(none) != 0 {
		t.Errorf("ForOrders(nil) = %v, %v; want nothing", none, err)
	}
}
