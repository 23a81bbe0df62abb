package checkout

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/language"

	"github.com/shopbus/shopbus/fault"
)

// Bounds that keep every sum inside int64 and every row a sane size: the
// largest subtotal is MaxItems*MaxQuantity*MaxPriceMinor = 5e18, and adding
// shipping and tax of at most MaxPriceMinor each stays below 2^63-1 ≈ 9.2e18.
const (
	MaxItems    = 500
	MaxQuantity = 10_000
	// MaxPriceMinor bounds a unit price, and each of shipping, tax and
	// discount: ten billion in major units.
	MaxPriceMinor  = 1_000_000_000_000
	maxTextLength  = 200 // runes, for names, addresses and references
	maxSKULength   = 64  // runes
	maxEmailLength = 254 // bytes, as SMTP allows (RFC 5321)
	maxOrderIDSize = 64
	// maxLocaleLength is what RFC 5646 (section 4.4.1) asks every
	// implementation to keep of a language tag.
	maxLocaleLength = 35
)

var orderIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)

// possibleOrderID reports whether an order may bear id. Place refuses any
// other, so a lookup by one can answer "not found" without asking the
// database (PostgreSQL would refuse a NUL in it outright).
func possibleOrderID(id string) bool {
	return len(id) <= maxOrderIDSize && orderIDPattern.MatchString(id)
}

type checker struct{ errs []fault.Field }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, fault.Field{Field: field, Message: fmt.Sprintf(format, args...)})
}

// text checks a required, bounded, printable string and reports whether it
// passed. Anything printable is fine, markup and quotes included: the order
// is stored as sent, and whoever shows it escapes it for their medium.
func (c *checker) text(field, v string, maxRunes int) bool {
	if !c.bounded(field, v, maxRunes) {
		return false
	}
	if strings.ContainsFunc(v, unsafeRune) {
		c.add(field, "must not contain control characters")
		return false
	}
	return true
}

// bounded checks what every string field must be: present, valid UTF-8
// without U+FFFD, and at most maxRunes characters; it reports whether it
// passed.
func (c *checker) bounded(field, v string, maxRunes int) bool {
	switch {
	case strings.TrimSpace(v) == "":
		c.add(field, "is required")
	case !utf8.ValidString(v):
		c.add(field, "must be valid UTF-8")
	case strings.ContainsRune(v, utf8.RuneError):
		c.add(field, replacementMessage)
	case utf8.RuneCountInString(v) > maxRunes:
		c.add(field, "must be at most %d characters", maxRunes)
	default:
		return true
	}
	return false
}

// replacementMessage refuses U+FFFD: a JSON decoder puts it in place of a
// lone surrogate such as "\ud800", and a client's broken encoding would
// otherwise be stored as if it were the customer's text.
const replacementMessage = "must not contain U+FFFD, which stands for text that was not valid Unicode"

// unsafeRune reports the characters no field may hold: C0 and C1 controls
// (a newline in a name becomes a header in an email), line and paragraph
// separators, and the bidirectional overrides and isolates that make text
// display in another order than it is stored ("Trojan Source"). The marks
// LRM and RLM and the joiners stay: names in many scripts need them.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' ||
		('\u202a' <= r && r <= '\u202e') || ('\u2066' <= r && r <= '\u2069')
}

// email checks an addr-spec such as name@example.com: no display name, no
// comment, no domain literal, and a domain with a dot, as mail to a shop
// customer needs. The address must be one any mail server takes without
// the SMTPUTF8 extension: the local part in ASCII, which servers refuse
// otherwise (553 5.6.7), while an internationalised domain is fine, as the
// email module sends it in its punycode (IDNA) form.
func (c *checker) email(field, v string) {
	if len(v) > maxEmailLength {
		c.add(field, "must be at most %d characters", maxEmailLength)
		return
	}
	if !c.text(field, v, maxEmailLength) {
		return
	}
	a, err := mail.ParseAddress(v)
	domain := v[strings.LastIndexByte(v, '@')+1:]
	if err != nil || a.Name != "" || a.Address != v || !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") {
		c.add(field, "must be an email address like name@example.com")
		return
	}
	local := v[:strings.LastIndexByte(v, '@')]
	if !isASCII(local) {
		c.add(field, "must have only ASCII characters before the @: mail servers refuse others")
		return
	}
	if isASCII(domain) {
		return
	}
	if _, err := idna.Lookup.ToASCII(domain); err != nil {
		c.add(field, "must have a domain that can receive mail: %v", err)
	}
}

func isASCII(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r > unicode.MaxASCII })
}

// locale checks a BCP 47 language tag such as de-DE, as the email module
// reads it to pick the customer's language. A tag written otherwise than
// its canonical form (de_de, DE-de) is refused with that form, as a
// lower-case currency is: what is stored is then the one spelling rules
// and templates see.
func (c *checker) locale(field, v string) {
	if len(v) > maxLocaleLength {
		c.add(field, "must be at most %d characters", maxLocaleLength)
		return
	}
	tag, err := language.Parse(v)
	switch {
	case err != nil:
		c.add(field, "must be a BCP 47 language tag such as de-DE or en")
	case tag.String() != v:
		c.add(field, "must be written %s", tag)
	}
}

// sku checks a stock keeping unit: shops spell them many ways, so any
// printable characters will do, but bounded and without spaces at either
// end, which would make two SKUs that look alike.
func (c *checker) sku(field, v string) {
	if !c.bounded(field, v, maxSKULength) {
		return
	}
	switch {
	case strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }):
		c.add(field, "must contain only printable characters")
	case strings.TrimSpace(v) != v:
		c.add(field, "must not start or end with a space")
	case v == "." || v == "..":
		// A URL path cannot name them: clients resolve them as "this" and
		// "the parent" folder, so /v1/inventory/{sku} would never reach it.
		c.add(field, `must not be "." or ".."`)
	}
}

// minor checks an amount in minor units against [0, MaxPriceMinor] and
// reports whether it passed.
func (c *checker) minor(field string, v int64) bool {
	if v < 0 || v > MaxPriceMinor {
		c.add(field, "must be between 0 and %d", int64(MaxPriceMinor))
		return false
	}
	return true
}

// code checks a code from an ISO list, with a hint for a lower-case one.
func (c *checker) code(field, v string, known map[string]bool, want string) {
	up := strings.ToUpper(v)
	switch {
	case known[v]:
	case known[up] && len(up) == len(v): // equal lengths: "ı" upper-cases to "I"
		c.add(field, "must be upper-case: %s", up)
	default:
		c.add(field, "must be %s", want)
	}
}

// Validate reports every problem with the order, or nil. When it returns nil,
// the payment equals the order's total and totals cannot overflow.
func (o *NewOrder) Validate() error {
	var c checker
	if o.OrderID != "" && !possibleOrderID(o.OrderID) {
		c.add("order_id", "must be 1-%d letters, digits or . _ : - and start with a letter or digit", maxOrderIDSize)
	}
	c.email("customer.email", o.Customer.Email)
	c.text("customer.name", o.Customer.Name, maxTextLength)
	if o.Customer.Locale != "" {
		c.locale("customer.locale", o.Customer.Locale)
	}

	// The sums are only computed when every amount is in bounds.
	amountsOK := true
	switch {
	case len(o.Items) == 0:
		c.add("items", "must list at least one item")
		amountsOK = false
	case len(o.Items) > MaxItems:
		c.add("items", "must list at most %d items", MaxItems)
		amountsOK = false
	}
	for i, it := range o.Items {
		f := fmt.Sprintf("items[%d].", i)
		c.sku(f+"sku", it.SKU)
		c.text(f+"name", it.Name, maxTextLength)
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			c.add(f+"quantity", "must be between 1 and %d", MaxQuantity)
			amountsOK = false
		}
		amountsOK = c.minor(f+"unit_price_minor", it.UnitPriceMinor) && amountsOK
	}
	c.code("currency", o.Currency, currencies, "an ISO 4217 currency code such as EUR")
	c.text("shipping_address.line1", o.ShippingAddress.Line1, maxTextLength)
	c.text("shipping_address.city", o.ShippingAddress.City, maxTextLength)
	c.text("shipping_address.postal_code", o.ShippingAddress.PostalCode, maxTextLength)
	c.code("shipping_address.country", o.ShippingAddress.Country, countries, "an ISO 3166-1 two-letter country code such as FR")
	amountsOK = c.minor("shipping_minor", o.ShippingMinor) && amountsOK
	amountsOK = c.minor("tax_minor", o.TaxMinor) && amountsOK
	discountOK := c.minor("discount_minor", o.DiscountMinor)
	c.text("payment.method", o.Payment.Method, maxTextLength)
	if o.Payment.Reference != "" {
		c.text("payment.reference", o.Payment.Reference, maxTextLength)
	}
	if o.Payment.RefundedMinor != 0 {
		c.add("payment.refunded_minor", "is kept by shopbus as refunds are made; leave it out of a new order")
	}

	if amountsOK && discountOK {
		_, subtotal, _ := o.totals()
		if gross := subtotal + o.ShippingMinor + o.TaxMinor; o.DiscountMinor > gross {
			c.add("discount_minor", "must not exceed the items, shipping and tax together: %d", gross)
			discountOK = false
		}
	}
	switch {
	case o.Payment.AmountMinor < 0:
		c.add("payment.amount_minor", "must not be negative")
	case amountsOK && discountOK:
		if _, subtotal, total := o.totals(); o.Payment.AmountMinor != total {
			c.add("payment.amount_minor", "must equal the order total %d (items %d + shipping %d + tax %d - discount %d)",
				total, subtotal, o.ShippingMinor, o.TaxMinor, o.DiscountMinor)
		}
	}
	if len(c.errs) > 0 {
		return fault.InvalidFields(c.errs...)
	}
	return nil
}

// totals counts the items and sums the order: subtotal is the items alone,
// total adds shipping and tax and takes off the discount. Only call it on
// amounts Validate has bounded; then it is exact.
func (o *NewOrder) totals() (count, subtotal, total int64) {
	for _, it := range o.Items {
		count += it.Quantity
		subtotal += it.Quantity * it.UnitPriceMinor
	}
	return count, subtotal, subtotal + o.ShippingMinor + o.TaxMinor - o.DiscountMinor
}
