// Package checkout owns orders: it validates them, keeps their state
// machine, and announces every accepted change as an "Order State Change"
// event written in the same transaction as the order (the outbox).
package checkout

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/event"
	"github.com/shopbus/shopbus/fault"
)

// Errors the web layer maps to HTTP statuses.
var (
	ErrNotFound          = fault.New(fault.NotFound, "checkout: order not found")
	ErrDuplicate         = fault.New(fault.Conflict, "checkout: order id already exists")
	ErrInvalidTransition = fault.New(fault.Conflict, "checkout: state change not allowed")
)

// transitions is the state machine: from a state, the states it may move to.
var transitions = map[string][]string{
	event.NewOrderCreated: {event.OrderPaid, event.OrderShipped, event.OrderCancelled},
	event.OrderPaid:       {event.OrderShipped, event.OrderCancelled, event.OrderRefunded},
	event.OrderShipped:    {event.OrderDelivered, event.OrderRefunded},
	event.OrderDelivered:  {event.OrderRefunded},
}

// The parts of an order are the parts of its events: what the API accepts is
// what every consumer of the order's events can read.
type (
	// Customer is who ordered.
	Customer = event.Customer
	// Item is one order line. Prices are minor units (cents).
	Item = event.Item
	// Address is where the order ships.
	Address = event.Address
	// Payment is how the customer pays, as the storefront reports it.
	Payment = event.Payment
)

// NewOrder is the body of POST /v1/orders. Its total is the items plus
// shipping and tax, less the discount, and the payment must be exactly that.
type NewOrder struct {
	OrderID         string   `json:"order_id"`
	Customer        Customer `json:"customer"`
	Items           []Item   `json:"items"`
	Currency        string   `json:"currency"`
	ShippingAddress Address  `json:"shipping_address"`
	ShippingMinor   int64    `json:"shipping_minor,omitempty"`
	TaxMinor        int64    `json:"tax_minor,omitempty"`
	DiscountMinor   int64    `json:"discount_minor,omitempty"`
	Payment         Payment  `json:"payment"`
}

// Order is a stored order. Its events carry all of it (see stateChange), so
// rules can filter on any of its fields.
type Order struct {
	NewOrder
	State     string `json:"order_state"`
	ItemCount int64  `json:"item_count"`
	// SubtotalMinor is the items alone; TotalMinor is what the customer
	// pays: the subtotal plus shipping and tax, less the discount.
	SubtotalMinor int64     `json:"subtotal_minor"`
	TotalMinor    int64     `json:"total_minor"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// Shipment is how the order travels, once it shipped with one.
	Shipment *Shipment `json:"shipment,omitempty"`
	// RefundMinor is what the order's latest change refunded, when that
	// change was a refund (partial, or the one that moved it to
	// order_refunded); Payment.RefundedMinor sums every refund.
	RefundMinor int64 `json:"refund_minor,omitempty"`
}

// stateChange is the event detail announcing that o reached its state from
// prev (empty for a new order). Every field of the order is copied: a field
// added to Order must be added to event.OrderStateChange too, and
// TestEventCarriesTheWholeOrder fails until it is.
func (o Order) stateChange(prev string) event.OrderStateChange {
	return event.OrderStateChange{
		OrderID: o.OrderID, Customer: o.Customer, Items: o.Items, Currency: o.Currency,
		ShippingAddress: o.ShippingAddress, ShippingMinor: o.ShippingMinor, TaxMinor: o.TaxMinor,
		DiscountMinor: o.DiscountMinor, Payment: o.Payment, OrderState: o.State, ItemCount: o.ItemCount,
		SubtotalMinor: o.SubtotalMinor, TotalMinor: o.TotalMinor, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		Shipment: o.Shipment, RefundMinor: o.RefundMinor, PreviousState: prev,
	}
}

// Accepted is the answer to a new order or a state change.
type Accepted struct {
	OrderID string `json:"order_id"`
	EventID string `json:"event_id"`
	State   string `json:"order_state"`
}

// Waker is told after a commit that published events.
type Waker interface{ Wake() }

// Service places orders and moves them through their states.
type Service struct {
	db        *gorm.DB
	waker     Waker
	committer Committer
}

// New returns the checkout service. It writes orders through commits:
// database.Direct (one transaction per order) or a database.Batcher,
// which shares each commit among many orders.
func New(db *gorm.DB, waker Waker, commits Committer) *Service {
	return &Service{db: db, waker: waker, committer: commits}
}

// Committer runs a unit of write work in a transaction and returns once it
// is committed.
type Committer interface {
	Do(ctx context.Context, fn func(tx *gorm.DB) error) error
}

// Page is one page of the order list, newest first.
type Page struct {
	Orders []Order `json:"orders"`
	Total  int64   `json:"total"`
	// Next is the "after" value for the following page, empty on the last.
	Next string `json:"next,omitempty"`
}

// ChangeState moves an order to a new state and publishes the change, in one
// transaction.
func (s *Service) ChangeState(ctx context.Context, orderID, state string) (Accepted, error) {
	return s.Apply(ctx, orderID, Change{State: state})
}

// Apply moves an order to the change's state with the change's facts, and
// publishes the change, in one transaction. The API, the dashboard and any
// other caller move orders through it, so the state machine is one. A
// refund that leaves part of the order paid keeps the order's state and
// is published as an Order Partially Refunded event instead.
func (s *Service) Apply(ctx context.Context, orderID string, ch Change) (Accepted, error) {
	return s.ApplyWith(ctx, orderID, ch, nil)
}

// ApplyWith is Apply with first run before the change, in its transaction:
// a caller whose own record must commit with the change or not at all (a
// payment provider's event, applied once) writes it in first. An error
// from first rolls everything back and is returned as it is.
func (s *Service) ApplyWith(ctx context.Context, orderID string, ch Change, first func(tx *gorm.DB) error) (Accepted, error) {
	if err := ch.validate(); err != nil {
		return Accepted{}, err
	}
	if !possibleOrderID(orderID) {
		return Accepted{}, fmt.Errorf("%w: %s", ErrNotFound, orderID)
	}
	acc, err := s.store().changeState(ctx, orderID, ch, first)
	if err == nil {
		s.waker.Wake()
	}
	return acc, err
}

// Place validates and stores a new order with its first event, in one
// transaction: when Place returns, the order will reach every target.
func (s *Service) Place(ctx context.Context, in NewOrder) (Accepted, error) {
	if err := in.Validate(); err != nil {
		return Accepted{}, err
	}
	acc, err := s.store().place(ctx, in)
	if err == nil {
		s.waker.Wake()
	}
	return acc, err
}

// Get returns one order.
func (s *Service) Get(ctx context.Context, orderID string) (Order, error) {
	if !possibleOrderID(orderID) {
		return Order{}, fmt.Errorf("%w: %s", ErrNotFound, orderID)
	}
	return s.store().get(ctx, orderID)
}

// MaxPage bounds a page of the order list.
const MaxPage = 500

// List returns up to limit orders (1 to MaxPage), newest first, starting
// after the order named by after (empty: from the newest).
func (s *Service) List(ctx context.Context, limit int, after string) (Page, error) {
	return s.Search(ctx, Filter{}, limit, after)
}
