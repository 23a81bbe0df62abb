package checkout

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"
)

// FieldError is one invalid field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field, so a client fixes them at once.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid order: " + strings.Join(parts, "; ")
}

// Bounds that keep every sum inside int64 and every row a sane size.
const (
	MaxItems       = 500
	MaxQuantity    = 10_000
	MaxPriceMinor  = 1_000_000_000_000 // ten billion in major units
	maxTextLength  = 200
	maxOrderIDSize = 64
)

var (
	orderIDPattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
	countryPattern  = regexp.MustCompile(`^[A-Z]{2}$`)
)

type checker struct{ errs []FieldError }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// text checks a required, bounded, printable string.
func (c *checker) text(field, v string) {
	switch {
	case strings.TrimSpace(v) == "":
		c.add(field, "is required")
	case !utf8.ValidString(v):
		c.add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(v) > maxTextLength:
		c.add(field, "must be at most %d characters", maxTextLength)
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		c.add(field, "must not contain control characters")
	}
}

// Validate reports every problem with the order, or nil.
func (o *NewOrder) Validate() error {
	var c checker
	if o.OrderID != "" && (len(o.OrderID) > maxOrderIDSize || !orderIDPattern.MatchString(o.OrderID)) {
		c.add("order_id", "must be 1-%d letters, digits or . _ : - and start with a letter or digit", maxOrderIDSize)
	}
	c.text("customer.email", o.Customer.Email)
	if a, err := mail.ParseAddress(o.Customer.Email); o.Customer.Email != "" && (err != nil || a.Address != o.Customer.Email) {
		c.add("customer.email", "must be an email address like name@example.com")
	}
	c.text("customer.name", o.Customer.Name)
	switch {
	case len(o.Items) == 0:
		c.add("items", "must list at least one item")
	case len(o.Items) > MaxItems:
		c.add("items", "must list at most %d items", MaxItems)
	}
	for i, it := range o.Items {
		f := fmt.Sprintf("items[%d].", i)
		c.text(f+"sku", it.SKU)
		c.text(f+"name", it.Name)
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			c.add(f+"quantity", "must be between 1 and %d", MaxQuantity)
		}
		if it.UnitPriceMinor < 0 || it.UnitPriceMinor > MaxPriceMinor {
			c.add(f+"unit_price_minor", "must be between 0 and %d", int64(MaxPriceMinor))
		}
	}
	if !currencyPattern.MatchString(o.Currency) {
		c.add("currency", "must be a three-letter ISO 4217 code such as EUR")
	}
	c.text("shipping_address.line1", o.ShippingAddress.Line1)
	c.text("shipping_address.city", o.ShippingAddress.City)
	c.text("shipping_address.postal_code", o.ShippingAddress.PostalCode)
	if !countryPattern.MatchString(o.ShippingAddress.Country) {
		c.add("shipping_address.country", "must be a two-letter ISO 3166 code such as FR")
	}
	c.text("payment.method", o.Payment.Method)
	if o.Payment.Reference != "" {
		c.text("payment.reference", o.Payment.Reference)
	}
	if o.Payment.AmountMinor < 0 {
		c.add("payment.amount_minor", "must not be negative")
	}
	if len(c.errs) > 0 {
		return &ValidationError{Fields: c.errs}
	}
	return nil
}

// totals counts items and sums the order; Validate's bounds keep it exact.
func (o *NewOrder) totals() (count, total int64) {
	for _, it := range o.Items {
		count += it.Quantity
		total += it.Quantity * it.UnitPriceMinor
	}
	return count, total
}
