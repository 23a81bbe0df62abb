// Package inventory keeps stock per SKU. A new order reserves its items
// all-or-nothing, never below zero; a cancellation releases them and a
// shipment takes them off the shelf. An order that cannot be reserved is
// backordered, announced as an "Inventory Shortage" event, and reserved
// ("Stock Reserved") as soon as stock arrives for all of it.
//
// Inventory knows orders only from its deliveries: what it reserved, and
// what a backordered order waits for, are its own records.
package inventory

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/fault"
)

// Errors.
var (
	ErrNotFound      = fault.New(fault.NotFound, "inventory: sku not found")
	ErrNoRecord      = fault.New(fault.NotFound, "inventory: no stock record of the order")
	ErrOutOfStock    = fault.New(fault.Conflict, "inventory: out of stock")
	ErrBelowReserved = fault.New(fault.Conflict, "inventory: on hand below reserved")
	ErrInvalid       = fault.New(fault.Invalid, "inventory: invalid stock")
)

// Stock is one SKU's numbers. Available is what new orders can still take;
// Backordered is what backordered orders wait for, WaitingOrders how many
// of them do.
type Stock struct {
	SKU           string `json:"sku"`
	OnHand        int64  `json:"on_hand"`
	Reserved      int64  `json:"reserved"`
	Available     int64  `json:"available"`
	Backordered   int64  `json:"backordered"`
	WaitingOrders int64  `json:"waiting_orders"`
}

// Waker is told after a commit that published events.
type Waker interface{ Wake() }

// Service is the inventory module.
type Service struct {
	db *gorm.DB
	// waker is the bus, once Subscribe made inventory its target: stock
	// set from the command line publishes without waking anyone, and the
	// serving instances route those events at their next poll.
	waker Waker
	// released is set by a delivery that gave stock back or backordered an
	// order; after its commit the sweeper (Run) is kicked to look for
	// orders that stock now fits.
	released atomic.Bool
	kick     chan struct{}
}

// New returns the inventory module.
func New(db *gorm.DB) *Service { return &Service{db: db, kick: make(chan struct{}, 1)} }

// Subscribe makes inventory the "inventory" target of the bus, which it
// then wakes after publishing outside a delivery (stock that arrives).
func (s *Service) Subscribe(b *bus.Bus) {
	bus.Subscribe(b, "inventory", s.handle)
	b.AfterCommit(s.afterCommit)
	s.waker = b
}

func (s *Service) wake() {
	if s.waker != nil {
		s.waker.Wake()
	}
}

// Set sets a SKU's on-hand count, creating the SKU if needed. It refuses a
// count below what open orders hold reserved. Then it reserves the orders
// that wait for the SKU, oldest first, each in its own transaction, as far
// as the stock goes; the numbers it returns are those after.
func (s *Service) Set(ctx context.Context, sku string, onHand int64) (Stock, error) {
	if err := checkSKU(sku); err != nil {
		return Stock{}, err
	}
	if sku == "." || sku == ".." { // a URL cannot name it (checkout refuses it too)
		return Stock{}, fmt.Errorf(`%w: a SKU must not be "." or ".."`, ErrInvalid)
	}
	if onHand < 0 {
		return Stock{}, fmt.Errorf("%w: on hand must not be negative", ErrInvalid)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		_, err := setStock(tx, sku, onHand)
		return err
	})
	if err != nil {
		return Stock{}, err
	}
	if _, err := s.reserveWaitingFor(ctx, sku); err != nil {
		return Stock{}, fmt.Errorf("inventory: %s is set, but reserving the orders waiting for it failed (setting it again retries): %w", sku, err)
	}
	return s.Get(ctx, sku)
}

// Get returns a SKU's numbers.
func (s *Service) Get(ctx context.Context, sku string) (Stock, error) {
	if checkSKU(sku) != nil { // Set stores no such SKU (and PostgreSQL would refuse a NUL in it)
		return Stock{}, fmt.Errorf("%w: %s", ErrNotFound, sku)
	}
	db := s.db.WithContext(ctx)
	st, err := getStock(db, sku)
	if err != nil {
		return Stock{}, err
	}
	out := []Stock{st}
	if err := addWaiting(db, out); err != nil {
		return Stock{}, err
	}
	return out[0], nil
}

// Examples are inventory's events for the bus's start-up check of the rules.
func Examples() []bus.Detail {
	return []bus.Detail{
		event.InventoryShortage{OrderID: "ord-example", Items: []event.ShortItem{{SKU: "SKU-1", Requested: 2, Available: 1}}},
		event.StockReserved{OrderID: "ord-example", Items: []event.StockItem{{SKU: "SKU-1", Quantity: 2}}, Backordered: true},
	}
}

// Example is the shortage event of Examples, for callers that check the
// rules against one event of inventory's.
func Example() bus.Detail { return Examples()[0] }

// checkSKU holds stock to the rules orders' SKUs follow (checkout's
// validation): 1 to 64 printable characters, no spaces at either end.
func checkSKU(sku string) error {
	switch {
	case sku == "" || utf8.RuneCountInString(sku) > 64 || !utf8.ValidString(sku):
		return fmt.Errorf("%w: a SKU is 1 to 64 characters", ErrInvalid)
	case strings.ContainsFunc(sku, func(r rune) bool { return !unicode.IsPrint(r) || r == utf8.RuneError }):
		return fmt.Errorf("%w: a SKU holds only printable characters", ErrInvalid)
	case strings.TrimSpace(sku) != sku:
		return fmt.Errorf("%w: a SKU must not start or end with a space", ErrInvalid)
	}
	return nil
}
