package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/bus/bustest"
	"github.com/shopbus/shopbus/database/dbtest"
	"github.com/shopbus/shopbus/modules/email"
)

func TestNewOrderRecordsCustomerOrderAndEmail(t *testing.T) {
	s, db := newTestService(t)
	ctx := context.Background()
	if _, err := s.Customer(ctx, "ada@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Customer before any order = %v, want ErrNotFound", err)
	}

	mustDeliver(t, s, order("ord-1", "ada@example.com", "Ada Lovelace"))

	c, err := s.Customer(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == 0 || c.Name != "Ada Lovelace" || c.Orders != 1 || c.CreatedAt.IsZero() {
		t.Errorf("customer = %+v", c)
	}

	var o Order
	if err := db.Where("order_id = ?", "ord-1").Take(&o).Error; err != nil {
		t.Fatal(err)
	}
	if o.CustomerID != c.ID || o.Currency != "EUR" || o.TotalMinor != 3000 || o.CreatedAt.IsZero() {
		t.Errorf("crm order = %+v", o)
	}
	var items []item
	if err := json.Unmarshal([]byte(o.Items), &items); err != nil || len(items) != 2 || items[0].SKU != "TEA-1" || items[0].Quantity != 2 {
		t.Errorf("items = %s (%v)", o.Items, err)
	}
	var addr address
	if err := json.Unmarshal([]byte(o.ShippingAddress), &addr); err != nil || addr.City != "Paris" || addr.Country != "FR" {
		t.Errorf("shipping address = %s (%v)", o.ShippingAddress, err)
	}

	js := jobs(t, db)
	if len(js) != 1 {
		t.Fatalf("%d email jobs, want 1", len(js))
	}
	j := js[0]
	if j.OrderID != "ord-1" || j.Template != "order_success" || j.Recipient != "ada@example.com" || j.Status != email.StatusQueued {
		t.Errorf("email job = %+v", j)
	}
	var data email.OrderSuccess
	if err := json.Unmarshal([]byte(j.Data), &data); err != nil {
		t.Fatal(err)
	}
	if data.OrderID != "ord-1" || data.CustomerName != "Ada Lovelace" || data.CustomerEmail != "ada@example.com" ||
		data.TotalMinor != 3000 || data.Currency != "EUR" || len(data.Items) != 2 || data.ShippingAddress.PostalCode != "75001" {
		t.Errorf("email data = %+v", data)
	}
}

func TestSecondOrderSameCustomer(t *testing.T) {
	s, db := newTestService(t)
	ctx := context.Background()
	mustDeliver(t, s, order("ord-1", "ada@example.com", "Ada Lovelace"))
	first, err := s.Customer(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	mustDeliver(t, s, order("ord-2", "bob@example.com", "Bob"))
	mustDeliver(t, s, order("ord-3", "ada@example.com", "Ada King"))

	c, err := s.Customer(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != first.ID || c.Orders != 2 || c.Name != "Ada King" || !c.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("customer after the second order = %+v (first was %+v)", c, first)
	}
	if n := dbtest.Count(t, db, "crm_customers"); n != 2 {
		t.Errorf("%d customers, want 2", n)
	}
	var ids []int64
	db.Model(&Order{}).Where("order_id IN ?", []string{"ord-1", "ord-3"}).Pluck("customer_id", &ids)
	if len(ids) != 2 || ids[0] != c.ID || ids[1] != c.ID {
		t.Errorf("Ada's orders point at customers %v, want %d twice", ids, c.ID)
	}
	js := jobs(t, db)
	if len(js) != 3 {
		t.Fatalf("%d email jobs, want one per order", len(js))
	}
	if js[2].OrderID != "ord-3" || js[2].Recipient != "ada@example.com" {
		t.Errorf("third job = %+v", js[2])
	}
}

func TestSameDeliveryTwice(t *testing.T) {
	s, db := newTestService(t)
	ctx := context.Background()
	for range 2 {
		mustDeliver(t, s, order("ord-1", "ada@example.com", "Ada Lovelace"))
	}
	c, err := s.Customer(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if c.Orders != 1 {
		t.Errorf("customer counted %d orders for one order delivered twice", c.Orders)
	}
	if n := dbtest.Count(t, db, "crm_orders"); n != 1 {
		t.Errorf("%d crm orders, want 1", n)
	}
	if n := len(jobs(t, db)); n != 1 {
		t.Errorf("%d email jobs, want 1", n)
	}
}

func TestRollbackAfterHookLeavesNothing(t *testing.T) {
	s, db := newTestService(t)
	ctx := context.Background()
	ev := payload(t, order("ord-1", "ada@example.com", "Ada Lovelace"))
	boom := errors.New("the delivery failed after CRM's work")
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.handle(ctx, deliveryOf(ev, tx)); err != nil {
			return err
		}
		// The hook ran: the job is visible inside the transaction...
		var n int64
		if err := tx.Table("email_jobs").Count(&n).Error; err != nil || n != 1 {
			t.Errorf("inside the transaction: %d jobs (%v), want 1", n, err)
		}
		return boom // ...and goes with it.
	})
	if !errors.Is(err, boom) {
		t.Fatalf("transaction = %v", err)
	}
	for _, table := range []string{"crm_customers", "crm_orders", "email_jobs"} {
		if n := dbtest.Count(t, db, table); n != 0 {
			t.Errorf("%s has %d rows after the rollback", table, n)
		}
	}

	// The retried delivery records everything once.
	mustDeliver(t, s, order("ord-1", "ada@example.com", "Ada Lovelace"))
	if c, err := s.Customer(ctx, "ada@example.com"); err != nil || c.Orders != 1 {
		t.Errorf("after the retry: %+v, %v", c, err)
	}
	if n := len(jobs(t, db)); n != 1 {
		t.Errorf("%d email jobs after the retry, want 1", n)
	}
}

func TestEmailFailureRollsBackRecord(t *testing.T) {
	s, db := newTestService(t)
	// An order with no customer email cannot be mailed: Enqueue refuses it,
	// and the customer and order written before the hook go too.
	err := deliver(t, s, order("ord-1", "", "Nobody"))
	if !errors.Is(err, email.ErrInvalidMessage) {
		t.Fatalf("handle = %v, want email.ErrInvalidMessage", err)
	}
	for _, table := range []string{"crm_customers", "crm_orders", "email_jobs"} {
		if n := dbtest.Count(t, db, table); n != 0 {
			t.Errorf("%s has %d rows after a failed hook", table, n)
		}
	}
}

func TestOrderWithoutEmailIsRefused(t *testing.T) {
	_, db := newTestService(t)
	// An Order created outside record() has no email to queue: the hook
	// refuses it rather than record an order nobody is told about.
	err := db.Transaction(func(tx *gorm.DB) error {
		id, err := upsertCustomer(tx, "ada@example.com", "Ada", "ord-1")
		if err != nil {
			return err
		}
		return tx.Create(&Order{OrderID: "ord-1", CustomerID: id, Currency: "EUR", Items: "[]", ShippingAddress: "{}"}).Error
	})
	if err == nil {
		t.Fatal("an order without its email was created")
	}
	if n := dbtest.Count(t, db, "crm_orders"); n != 0 {
		t.Errorf("%d crm orders", n)
	}
}

func TestOtherStatesIgnored(t *testing.T) {
	s, db := newTestService(t)
	for _, st := range []string{"order_paid", "order_shipped", "order_cancelled", "order_delivered", "order_refunded"} {
		d := order("ord-1", "ada@example.com", "Ada")
		d["order_state"] = st
		mustDeliver(t, s, d)
	}
	for _, table := range []string{"crm_customers", "crm_orders", "email_jobs"} {
		if n := dbtest.Count(t, db, table); n != 0 {
			t.Errorf("%s has %d rows after non-new states", table, n)
		}
	}
}

func TestConcurrentOrdersOfOneNewCustomer(t *testing.T) {
	s, db := newTestService(t)
	const orders = 8
	evs := make([]orderEvent, orders)
	for i := range evs {
		evs[i] = payload(t, order(fmt.Sprintf("ord-%d", i), "ada@example.com", "Ada"))
	}
	ctx := context.Background()
	errs := make([]error, orders)
	var wg sync.WaitGroup
	for i := range orders {
		wg.Go(func() {
			errs[i] = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				return s.handle(ctx, deliveryOf(evs[i], tx))
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("order %d: %v", i, err)
		}
	}
	c, err := s.Customer(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if c.Orders != orders || dbtest.Count(t, db, "crm_customers") != 1 {
		t.Errorf("customer = %+v, want one customer with %d orders", c, orders)
	}
	if n := len(jobs(t, db)); n != orders {
		t.Errorf("%d email jobs, want %d", n, orders)
	}
}

// placed is a checkout-shaped event for the bus test.
type placed struct {
	OrderID    string `json:"order_id"`
	OrderState string `json:"order_state"`
	Customer   any    `json:"customer"`
	Items      any    `json:"items"`
	Currency   string `json:"currency"`
	TotalMinor int64  `json:"total_minor"`
	Address    any    `json:"shipping_address"`
	Payment    any    `json:"payment"`
}

func (placed) EventSource() string     { return "shopbus.checkout" }
func (placed) EventDetailType() string { return "Order State Change" }

// TestThroughTheBus routes a real event with the shipped new-order-crm
// rule to CRM and checks the delivery, the records and the email job.
func TestThroughTheBus(t *testing.T) {
	s, db := newTestService(t)
	rules := []bus.RuleConfig{{
		Name: "new-order-crm",
		Pattern: map[string]any{
			"source":      []any{map[string]any{"prefix": "shopbus."}},
			"detail-type": []any{"Order State Change"},
			"detail": map[string]any{
				"order_state": []any{"new_order_created"},
				"customer":    map[string]any{"email": []any{map[string]any{"exists": true}}},
			},
		},
		Targets: []bus.TargetConfig{{Module: "crm"}},
	}}
	rules[0].Targets[0].Fields = []string{"detail.order_id", "detail.order_state", "detail.customer", "detail.items",
		"detail.currency", "detail.total_minor", "detail.shipping_address"}
	b := runBus(t, s, rules)
	ctx := context.Background()

	d := order("ord-1", "ada@example.com", "Ada Lovelace")
	ev := placed{OrderID: "ord-1", OrderState: "new_order_created", Customer: d["customer"], Items: d["items"],
		Currency: "EUR", TotalMinor: 3000, Address: d["shipping_address"], Payment: map[string]any{"method": "card"}}
	if err := db.Transaction(func(tx *gorm.DB) error { _, err := bus.Publish(ctx, tx, ev); return err }); err != nil {
		t.Fatal(err)
	}
	b.Wake()

	bustest.WaitFor(t, "the crm delivery to finish", func() bool {
		ds, err := b.Deliveries(ctx, "ord-1")
		return err == nil && len(ds) == 1 && (ds[0].Status == bus.StatusDone || ds[0].Status == bus.StatusDead)
	})
	ds, _ := b.Deliveries(ctx, "ord-1")
	if ds[0].Status != bus.StatusDone || ds[0].Target != "crm" {
		t.Fatalf("delivery = %+v", ds[0])
	}
	if c, err := s.Customer(ctx, "ada@example.com"); err != nil || c.Orders != 1 {
		t.Errorf("customer = %+v, %v", c, err)
	}
	js := jobs(t, db)
	if len(js) != 1 || js[0].Template != "order_success" || js[0].Recipient != "ada@example.com" {
		t.Errorf("email jobs = %+v", js)
	}
}
