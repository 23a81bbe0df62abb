// Package inventory keeps stock per SKU. A new order reserves its items
// all-or-nothing, never below zero; a cancellation releases them and a
// shipment takes them off the shelf. Not enough stock is announced as an
// "Inventory Shortage" event.
package inventory

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shopbus/shopbus/fault"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/event"
)

// Errors.
var (
	ErrNotFound      = fault.New(fault.NotFound, "inventory: sku not found")
	ErrOutOfStock    = fault.New(fault.Conflict, "inventory: out of stock")
	ErrBelowReserved = fault.New(fault.Conflict, "inventory: on hand below reserved")
	ErrInvalid       = fault.New(fault.Invalid, "inventory: invalid stock")
)

// Stock is one SKU's numbers. Available is what new orders can still take.
type Stock struct {
	SKU       string `json:"sku"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
}

// Service is the inventory module.
type Service struct {
	db *gorm.DB
}

// New returns the inventory module.
func New(db *gorm.DB) *Service { return &Service{db: db} }

// Subscribe makes inventory the "inventory" target of the bus.
func (s *Service) Subscribe(b *bus.Bus) { bus.Subscribe(b, "inventory", s.handle) }

// Set sets a SKU's on-hand count, creating the SKU if needed. It refuses a
// count below what open orders hold reserved.
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
	var out Stock
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		out, err = setStock(tx, sku, onHand)
		return err
	})
	return out, err
}

// Get returns a SKU's numbers.
func (s *Service) Get(ctx context.Context, sku string) (Stock, error) {
	if checkSKU(sku) != nil { // Set stores no such SKU (and PostgreSQL would refuse a NUL in it)
		return Stock{}, fmt.Errorf("%w: %s", ErrNotFound, sku)
	}
	return getStock(s.db.WithContext(ctx), sku)
}

// Example is a shortage event for the bus's start-up check of the rules.
func Example() bus.Detail {
	return event.InventoryShortage{OrderID: "ord-example", Items: []event.ShortItem{{SKU: "SKU-1", Requested: 2, Available: 1}}}
}

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
