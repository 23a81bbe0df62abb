// Package shipping creates a shipment for each new order, priced from the
// rate table in config, and moves it with its order: shipped (with the
// carrier and tracking the shop gave), delivered, or cancelled. It records
// what the shop and its carrier did; it books no parcel itself.
package shipping

import (
	"errors"
	"fmt"
	"slices"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/fault"
)

// ErrNoRate means no rate in the table covers an order.
var ErrNoRate = fault.New(fault.Invalid, "shipping: no rate for order")

// Rate prices a shipment. The first rate whose countries include the
// destination (empty: any country) and whose max_items covers the order
// (0: any count) applies.
type Rate struct {
	Countries []string `yaml:"countries" json:"countries"`
	MaxItems  int64    `yaml:"max_items" json:"max_items"`
	RateMinor int64    `yaml:"rate_minor" json:"rate_minor"`
}

// Config is the `shipping:` section of config.yaml.
type Config struct {
	Rates []Rate `yaml:"rates"`
}

// Validate refuses a rate table that can price nothing or prices below zero.
func (c Config) Validate() error {
	if len(c.Rates) == 0 {
		return errors.New("shipping.rates: at least one rate is required")
	}
	var errs []error
	for i, r := range c.Rates {
		if r.RateMinor < 0 {
			errs = append(errs, fmt.Errorf("shipping.rates[%d].rate_minor must not be negative", i))
		}
		if r.MaxItems < 0 {
			errs = append(errs, fmt.Errorf("shipping.rates[%d].max_items must not be negative", i))
		}
	}
	return errors.Join(errs...)
}

// price returns the rate for a destination and item count.
func (c Config) price(country string, items int64) (int64, error) {
	for _, r := range c.Rates {
		if (len(r.Countries) == 0 || slices.Contains(r.Countries, country)) && (r.MaxItems == 0 || items <= r.MaxItems) {
			return r.RateMinor, nil
		}
	}
	return 0, fmt.Errorf("%w: %d items to %s", ErrNoRate, items, country)
}

// Quote is what the rate table prices a parcel of items to a country at:
// what a storefront should charge as the order's shipping_minor.
func (s *Service) Quote(country string, items int64) (int64, error) {
	if items < 1 {
		return 0, fault.InvalidFields(fault.Field{Field: "items", Message: "must be a whole number of at least 1"})
	}
	return s.cfg.price(country, items)
}

// Service is the shipping module.
type Service struct {
	db  *gorm.DB
	cfg Config
}

// New returns the shipping module, pricing from cfg, which is expected to
// have passed Validate (config.Load makes sure). The error is always nil;
// it stays until the callers are rewired.
func New(db *gorm.DB, cfg Config) (*Service, error) {
	return &Service{db: db, cfg: cfg}, nil
}

// Subscribe makes shipping the "shipping" target of the bus.
func (s *Service) Subscribe(b *bus.Bus) { bus.Subscribe(b, "shipping", s.handle) }
