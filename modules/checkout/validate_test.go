package checkout

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/fault"
)

// pay sets the payment to the order's total, summed here independently of
// totals, for cases that change amounts and must stay valid.
func pay(o *NewOrder) {
	var sum int64
	for _, it := range o.Items {
		sum += it.Quantity * it.UnitPriceMinor
	}
	o.Payment.AmountMinor = sum + o.ShippingMinor + o.TaxMinor - o.DiscountMinor
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("é", maxTextLength) // at the limit in runes, twice that in bytes
	longEmail := strings.Repeat("a", 64) + "@" + strings.Repeat("b", maxEmailLength-64-1-4) + ".com"
	tests := []struct {
		name   string
		change func(o *NewOrder)
		fields []string // nil: valid
	}{
		{"valid", func(o *NewOrder) {}, nil},
		{"no order id is generated later", func(o *NewOrder) { o.OrderID = "" }, nil},
		{"order id with every allowed character", func(o *NewOrder) { o.OrderID = "A9._:-z" }, nil},
		{"order id at its maximum size", func(o *NewOrder) { o.OrderID = strings.Repeat("a", maxOrderIDSize) }, nil},
		{"text at its maximum length", func(o *NewOrder) {
			o.Customer.Name, o.Items[0].Name, o.Payment.Reference = long, long, long
			o.ShippingAddress = Address{Line1: long, City: long, PostalCode: long, Country: "FR"}
		}, nil},
		{"name with markup and SQL is data", func(o *NewOrder) {
			o.Customer.Name = `<script>alert("x")</script> Robert'); DROP TABLE orders;--`
			o.ShippingAddress.Line1 = `<img src=x onerror=alert(1)> & "quotes"`
		}, nil},
		{"names in any script, with joiners and marks", func(o *NewOrder) {
			o.Customer.Name = "محمد\u200cرضا \u200f👩\u200d👩\u200d👧 Zoë 山田"
			o.ShippingAddress.City = "Zürich"
		}, nil},
		{"email with an internationalised domain", func(o *NewOrder) { o.Customer.Email = "john@exämple.com" }, nil},
		{"email with a plus and subdomain", func(o *NewOrder) { o.Customer.Email = "ada+shop@mail.example.co.uk" }, nil},
		{"email at its maximum length", func(o *NewOrder) { o.Customer.Email = longEmail }, nil},
		{"sku at its maximum length", func(o *NewOrder) { o.Items[0].SKU = strings.Repeat("É", maxSKULength) }, nil},
		{"sku with inner spaces and punctuation", func(o *NewOrder) { o.Items[0].SKU = "TEA 1/green#2 (50g)" }, nil},
		{"no payment reference", func(o *NewOrder) { o.Payment.Reference = "" }, nil},
		{"locale with a region", func(o *NewOrder) { o.Customer.Locale = "de-DE" }, nil},
		{"locale of a language alone", func(o *NewOrder) { o.Customer.Locale = "fr" }, nil},
		{"locale with a script", func(o *NewOrder) { o.Customer.Locale = "zh-Hant-TW" }, nil},
		{"currency without minor units", func(o *NewOrder) { o.Currency = "JPY" }, nil},
		{"newest currency", func(o *NewOrder) { o.Currency = "XCG" }, nil},
		{"territory with its own country code", func(o *NewOrder) { o.ShippingAddress.Country = "RE" }, nil},
		{"free item", func(o *NewOrder) { o.Items[0].UnitPriceMinor = 0; pay(o) }, nil},
		{"largest quantity and price", func(o *NewOrder) {
			o.Items[0].Quantity, o.Items[0].UnitPriceMinor = MaxQuantity, MaxPriceMinor
			pay(o)
		}, nil},
		{"most items", func(o *NewOrder) { o.Items = slices.Repeat(o.Items[:1], MaxItems); pay(o) }, nil},
		{"shipping, tax and discount", func(o *NewOrder) {
			o.ShippingMinor, o.TaxMinor, o.DiscountMinor, o.Payment.AmountMinor = 500, 600, 100, 4000
		}, nil},
		{"discount of the whole order", func(o *NewOrder) {
			o.ShippingMinor, o.TaxMinor, o.DiscountMinor, o.Payment.AmountMinor = 500, 100, 3600, 0
		}, nil},
		{"largest shipping, tax and discount", func(o *NewOrder) {
			o.ShippingMinor, o.TaxMinor, o.DiscountMinor = MaxPriceMinor, MaxPriceMinor, MaxPriceMinor
			pay(o)
		}, nil},

		{"order id too long", func(o *NewOrder) { o.OrderID = strings.Repeat("a", maxOrderIDSize+1) }, []string{"order_id"}},
		{"order id starting with a dash", func(o *NewOrder) { o.OrderID = "-abc" }, []string{"order_id"}},
		{"order id with a space", func(o *NewOrder) { o.OrderID = "a b" }, []string{"order_id"}},
		{"order id with a slash", func(o *NewOrder) { o.OrderID = "a/b" }, []string{"order_id"}},
		{"no email", func(o *NewOrder) { o.Customer.Email = "" }, []string{"customer.email"}},
		{"not an email", func(o *NewOrder) { o.Customer.Email = "ada" }, []string{"customer.email"}},
		{"email with a display name", func(o *NewOrder) { o.Customer.Email = "Ada <ada@example.com>" }, []string{"customer.email"}},
		{"email with a comment", func(o *NewOrder) { o.Customer.Email = "ada@example.com (Ada)" }, []string{"customer.email"}},
		{"email with spaces around", func(o *NewOrder) { o.Customer.Email = " ada@example.com " }, []string{"customer.email"}},
		{"email with a quoted local part", func(o *NewOrder) { o.Customer.Email = `"ada l"@example.com` }, []string{"customer.email"}},
		{"email without a dot in the domain", func(o *NewOrder) { o.Customer.Email = "ada@localhost" }, []string{"customer.email"}},
		{"email with a domain literal", func(o *NewOrder) { o.Customer.Email = "ada@[192.168.0.1]" }, []string{"customer.email"}},
		{"email with two dots", func(o *NewOrder) { o.Customer.Email = "ada@example..com" }, []string{"customer.email"}},
		{"email with a newline", func(o *NewOrder) { o.Customer.Email = "ada@example.com\nBcc: x@evil.example" }, []string{"customer.email"}},
		{"email too long", func(o *NewOrder) { o.Customer.Email = "a" + longEmail }, []string{"customer.email"}},
		{"email not UTF-8", func(o *NewOrder) { o.Customer.Email = "ad\xffa@example.com" }, []string{"customer.email"}},
		// Without SMTPUTF8 a server answers 553 5.6.7: the email could never go.
		{"email with a non-ASCII local part", func(o *NewOrder) { o.Customer.Email = "jöhn@example.com" }, []string{"customer.email"}},
		{"email with a domain IDNA refuses", func(o *NewOrder) { o.Customer.Email = "john@exä_mple.com" }, []string{"customer.email"}},
		{"no name", func(o *NewOrder) { o.Customer.Name = "" }, []string{"customer.name"}},
		{"locale not a language tag", func(o *NewOrder) { o.Customer.Locale = "german" }, []string{"customer.locale"}},
		{"locale with an underscore", func(o *NewOrder) { o.Customer.Locale = "de_DE" }, []string{"customer.locale"}},
		{"locale in the wrong case", func(o *NewOrder) { o.Customer.Locale = "de-de" }, []string{"customer.locale"}},
		{"locale with a newline", func(o *NewOrder) { o.Customer.Locale = "de\nBcc: x" }, []string{"customer.locale"}},
		{"locale too long", func(o *NewOrder) { o.Customer.Locale = "de-DE-x-" + strings.Repeat("abcdefgh-", 4) + "a" }, []string{"customer.locale"}},
		{"blank name", func(o *NewOrder) { o.Customer.Name = " \t " }, []string{"customer.name"}},
		{"name too long", func(o *NewOrder) { o.Customer.Name = long + "x" }, []string{"customer.name"}},
		{"name with a newline", func(o *NewOrder) { o.Customer.Name = "Ada\nBcc: x@evil" }, []string{"customer.name"}},
		{"name with DEL", func(o *NewOrder) { o.Customer.Name = "Ada\x7f" }, []string{"customer.name"}},
		{"name with a C1 control", func(o *NewOrder) { o.Customer.Name = "Ada\u0085Lovelace" }, []string{"customer.name"}},
		{"name with a line separator", func(o *NewOrder) { o.Customer.Name = "Ada\u2028Lovelace" }, []string{"customer.name"}},
		{"name with a bidi override", func(o *NewOrder) { o.Customer.Name = "Ada \u202egpj.exe" }, []string{"customer.name"}},
		{"name with a bidi isolate", func(o *NewOrder) { o.Customer.Name = "Ada \u2066x\u2069" }, []string{"customer.name"}},
		{"name not UTF-8", func(o *NewOrder) { o.Customer.Name = "Ada\xff" }, []string{"customer.name"}},
		{"name with U+FFFD", func(o *NewOrder) { o.Customer.Name = "Ada \ufffd" }, []string{"customer.name"}},
		{"address with U+FFFD", func(o *NewOrder) { o.ShippingAddress.Line1 = "12 \ufffd Rivoli" }, []string{"shipping_address.line1"}},
		{"no items", func(o *NewOrder) { o.Items = nil }, []string{"items"}},
		{"too many items", func(o *NewOrder) { o.Items = slices.Repeat(o.Items[:1], MaxItems+1) }, []string{"items"}},
		{"item without sku", func(o *NewOrder) { o.Items[1].SKU = "" }, []string{"items[1].sku"}},
		{"sku too long", func(o *NewOrder) { o.Items[0].SKU = strings.Repeat("A", maxSKULength+1) }, []string{"items[0].sku"}},
		{"sku with a leading space", func(o *NewOrder) { o.Items[0].SKU = " TEA-1" }, []string{"items[0].sku"}},
		{"sku with a trailing space", func(o *NewOrder) { o.Items[1].SKU = "MUG-2 " }, []string{"items[1].sku"}},
		{"blank sku", func(o *NewOrder) { o.Items[0].SKU = "   " }, []string{"items[0].sku"}},
		{"sku with a tab", func(o *NewOrder) { o.Items[0].SKU = "TEA\t1" }, []string{"items[0].sku"}},
		{"sku with a no-break space", func(o *NewOrder) { o.Items[0].SKU = "TEA\u00a01" }, []string{"items[0].sku"}},
		{"sku with a zero-width space", func(o *NewOrder) { o.Items[0].SKU = "TEA\u200b1" }, []string{"items[0].sku"}},
		{"sku not UTF-8", func(o *NewOrder) { o.Items[0].SKU = "TEA\xff" }, []string{"items[0].sku"}},
		{"sku with U+FFFD", func(o *NewOrder) { o.Items[0].SKU = "TEA\ufffd" }, []string{"items[0].sku"}},
		{"item without name", func(o *NewOrder) { o.Items[0].Name = "" }, []string{"items[0].name"}},
		{"item name too long", func(o *NewOrder) { o.Items[1].Name = long + "x" }, []string{"items[1].name"}},
		{"item name with a control character", func(o *NewOrder) { o.Items[1].Name = "Mug\x1b[31m" }, []string{"items[1].name"}},
		{"zero quantity", func(o *NewOrder) { o.Items[1].Quantity = 0 }, []string{"items[1].quantity"}},
		{"negative quantity", func(o *NewOrder) { o.Items[0].Quantity = -1 }, []string{"items[0].quantity"}},
		{"quantity too large", func(o *NewOrder) { o.Items[0].Quantity = MaxQuantity + 1 }, []string{"items[0].quantity"}},
		{"negative price", func(o *NewOrder) { o.Items[0].UnitPriceMinor = -1 }, []string{"items[0].unit_price_minor"}},
		{"price too large", func(o *NewOrder) { o.Items[1].UnitPriceMinor = MaxPriceMinor + 1 }, []string{"items[1].unit_price_minor"}},
		{"no currency", func(o *NewOrder) { o.Currency = "" }, []string{"currency"}},
		{"lower-case currency", func(o *NewOrder) { o.Currency = "eur" }, []string{"currency"}},
		{"four-letter currency", func(o *NewOrder) { o.Currency = "EURO" }, []string{"currency"}},
		{"unknown currency", func(o *NewOrder) { o.Currency = "ABC" }, []string{"currency"}},
		{"withdrawn currency", func(o *NewOrder) { o.Currency = "HRK" }, []string{"currency"}},
		{"no-currency code", func(o *NewOrder) { o.Currency = "XXX" }, []string{"currency"}},
		{"testing currency code", func(o *NewOrder) { o.Currency = "XTS" }, []string{"currency"}},
		{"no address line", func(o *NewOrder) { o.ShippingAddress.Line1 = "" }, []string{"shipping_address.line1"}},
		{"address line too long", func(o *NewOrder) { o.ShippingAddress.Line1 = long + "x" }, []string{"shipping_address.line1"}},
		{"no city", func(o *NewOrder) { o.ShippingAddress.City = "" }, []string{"shipping_address.city"}},
		{"city with a control character", func(o *NewOrder) { o.ShippingAddress.City = "Paris\r" }, []string{"shipping_address.city"}},
		{"no postal code", func(o *NewOrder) { o.ShippingAddress.PostalCode = "" }, []string{"shipping_address.postal_code"}},
		{"postal code too long", func(o *NewOrder) { o.ShippingAddress.PostalCode = long + "1" }, []string{"shipping_address.postal_code"}},
		{"no country", func(o *NewOrder) { o.ShippingAddress.Country = "" }, []string{"shipping_address.country"}},
		{"three-letter country", func(o *NewOrder) { o.ShippingAddress.Country = "FRA" }, []string{"shipping_address.country"}},
		{"lower-case country", func(o *NewOrder) { o.ShippingAddress.Country = "fr" }, []string{"shipping_address.country"}},
		{"UK is not a country code", func(o *NewOrder) { o.ShippingAddress.Country = "UK" }, []string{"shipping_address.country"}},
		{"user-assigned country code", func(o *NewOrder) { o.ShippingAddress.Country = "XK" }, []string{"shipping_address.country"}},
		{"negative shipping", func(o *NewOrder) { o.ShippingMinor = -1 }, []string{"shipping_minor"}},
		{"shipping too large", func(o *NewOrder) { o.ShippingMinor = MaxPriceMinor + 1; pay(o) }, []string{"shipping_minor"}},
		{"negative tax", func(o *NewOrder) { o.TaxMinor = -1 }, []string{"tax_minor"}},
		{"tax too large", func(o *NewOrder) { o.TaxMinor = MaxPriceMinor + 1; pay(o) }, []string{"tax_minor"}},
		{"negative discount", func(o *NewOrder) { o.DiscountMinor = -1; pay(o) }, []string{"discount_minor"}},
		{"discount too large", func(o *NewOrder) { o.DiscountMinor = MaxPriceMinor + 1 }, []string{"discount_minor"}},
		{"discount above the order", func(o *NewOrder) {
			o.ShippingMinor, o.DiscountMinor, o.Payment.AmountMinor = 500, 3501, 0
		}, []string{"discount_minor"}},
		{"no payment method", func(o *NewOrder) { o.Payment.Method = "" }, []string{"payment.method"}},
		{"payment method too long", func(o *NewOrder) { o.Payment.Method = long + "x" }, []string{"payment.method"}},
		{"reference with a control character", func(o *NewOrder) { o.Payment.Reference = "pi\x00" }, []string{"payment.reference"}},
		{"reference too long", func(o *NewOrder) { o.Payment.Reference = long + "x" }, []string{"payment.reference"}},
		{"negative amount", func(o *NewOrder) { o.Payment.AmountMinor = -1 }, []string{"payment.amount_minor"}},
		{"payment below the total", func(o *NewOrder) { o.Payment.AmountMinor = 2999 }, []string{"payment.amount_minor"}},
		{"payment above the total", func(o *NewOrder) { o.Payment.AmountMinor = 3001 }, []string{"payment.amount_minor"}},
		{"payment without shipping and tax", func(o *NewOrder) { o.ShippingMinor, o.TaxMinor = 500, 100 }, []string{"payment.amount_minor"}},
		{"payment without the discount", func(o *NewOrder) { o.DiscountMinor = 100 }, []string{"payment.amount_minor"}},
		{"every problem at once", func(o *NewOrder) {
			*o = NewOrder{OrderID: "?", Items: []Item{{}}, ShippingMinor: -1, TaxMinor: -1, DiscountMinor: -1, Payment: Payment{AmountMinor: -5}}
		}, []string{
			"order_id", "customer.email", "customer.name",
			"items[0].sku", "items[0].name", "items[0].quantity",
			"currency", "shipping_address.line1", "shipping_address.city", "shipping_address.postal_code",
			"shipping_address.country", "shipping_minor", "tax_minor", "discount_minor", "payment.method", "payment.amount_minor",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOrder("ord-1")
			o.Items = slices.Clone(o.Items)
			tt.change(&o)
			err := o.Validate()
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("valid order refused: %v", err)
				}
				return
			}
			if got := fieldsOf(t, err); !slices.Equal(got, tt.fields) {
				t.Errorf("fields = %v, want %v", got, tt.fields)
			}
		})
	}
}

// fieldsOf returns the fields an invalid *fault.Error lists, checking that each
// has a message, appears once and is in Error().
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	var ve *fault.Error
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want an invalid *fault.Error", err)
	}
	var got []string
	for _, f := range ve.Fields {
		if f.Message == "" {
			t.Errorf("field %s has no message", f.Field)
		}
		if slices.Contains(got, f.Field) {
			t.Errorf("field %s listed twice: %v", f.Field, ve.Fields)
		}
		if !strings.Contains(err.Error(), f.Field+": "+f.Message) {
			t.Errorf("Error() %q does not mention %s", err, f.Field)
		}
		got = append(got, f.Field)
	}
	return got
}

func TestValidateMessages(t *testing.T) {
	tests := []struct {
		name    string
		change  func(o *NewOrder)
		field   string
		message string
	}{
		{"payment names the total and its parts", func(o *NewOrder) { o.ShippingMinor, o.TaxMinor, o.DiscountMinor = 500, 600, 100 },
			"payment.amount_minor", "must equal the order total 4000 (items 3000 + shipping 500 + tax 600 - discount 100)"},
		{"discount names the most it may be", func(o *NewOrder) { o.ShippingMinor, o.DiscountMinor = 500, 3501 },
			"discount_minor", "must not exceed the items, shipping and tax together: 3500"},
		{"charges name their bounds", func(o *NewOrder) { o.TaxMinor = -1 },
			"tax_minor", "must be between 0 and 1000000000000"},
		{"lower-case currency gets a hint", func(o *NewOrder) { o.Currency = "eur" },
			"currency", "must be upper-case: EUR"},
		{"unknown currency names an example", func(o *NewOrder) { o.Currency = "ABC" },
			"currency", "must be an ISO 4217 currency code such as EUR"},
		{"dotless i gets no misleading hint", func(o *NewOrder) { o.ShippingAddress.Country = "ıs" },
			"shipping_address.country", "must be an ISO 3166-1 two-letter country code such as FR"},
		{"lower-case country gets a hint", func(o *NewOrder) { o.ShippingAddress.Country = "gb" },
			"shipping_address.country", "must be upper-case: GB"},
		{"unknown country names an example", func(o *NewOrder) { o.ShippingAddress.Country = "UK" },
			"shipping_address.country", "must be an ISO 3166-1 two-letter country code such as FR"},
		{"email", func(o *NewOrder) { o.Customer.Email = "ada@localhost" },
			"customer.email", "must be an email address like name@example.com"},
		{"sku with spaces at an end", func(o *NewOrder) { o.Items[0].SKU = "TEA " },
			"items[0].sku", "must not start or end with a space"},
		{"sku too long", func(o *NewOrder) { o.Items[0].SKU = strings.Repeat("A", 65) },
			"items[0].sku", "must be at most 64 characters"},
		{"blank sku", func(o *NewOrder) { o.Items[0].SKU = "  " },
			"items[0].sku", "is required"},
		{"control characters", func(o *NewOrder) { o.Customer.Name = "Ada\u202e" },
			"customer.name", "must not contain control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOrder("ord-1")
			o.Items = slices.Clone(o.Items)
			tt.change(&o)
			var ve *fault.Error
			if err := o.Validate(); !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want an invalid *fault.Error", err)
			}
			want := []fault.Field{{Field: tt.field, Message: tt.message}}
			if !slices.Equal(ve.Fields, want) {
				t.Errorf("errors = %+v, want %+v", ve.Fields, want)
			}
		})
	}
}

// decode reads a request body as the web layer does: one JSON value, no
// unknown fields.
func decode(data []byte) (NewOrder, error) {
	var o NewOrder
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return NewOrder{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return NewOrder{}, errors.New("more than one value")
	}
	return o, nil
}

// TestValidateDecoded checks bodies as the decoder leaves them: JSON null
// decodes to the zero value, so each required field under it is reported as
// missing rather than slipping through, and a lone surrogate becomes U+FFFD.
func TestValidateDecoded(t *testing.T) {
	required := []string{"customer.email", "customer.name", "items", "currency",
		"shipping_address.line1", "shipping_address.city", "shipping_address.postal_code", "shipping_address.country",
		"payment.method"}
	tests := []struct {
		name   string
		body   string
		fields []string
	}{
		{"every field null", `{"order_id": null, "customer": null, "items": null, "currency": null, "shipping_address": null,
			"shipping_minor": null, "tax_minor": null, "discount_minor": null, "payment": null}`, required},
		{"the body null", `null`, required},
		{"empty object", `{}`, required},
		{"lone surrogate escape", `{"customer": {"email": "ada@example.com", "name": "Ada \ud800"}}`,
			[]string{"customer.name", "items", "currency", "shipping_address.line1", "shipping_address.city",
				"shipping_address.postal_code", "shipping_address.country", "payment.method"}},
		{"nulls inside objects", `{"customer": {"email": null, "name": null}, "items": [null],
			"shipping_address": {"line1": null, "city": null, "postal_code": null, "country": null},
			"payment": {"method": null, "reference": null, "amount_minor": null}}`,
			[]string{"customer.email", "customer.name", "items[0].sku", "items[0].name", "items[0].quantity", "currency",
				"shipping_address.line1", "shipping_address.city", "shipping_address.postal_code", "shipping_address.country",
				"payment.method"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := decode([]byte(tt.body))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got := fieldsOf(t, o.Validate()); !slices.Equal(got, tt.fields) {
				t.Errorf("fields = %v, want %v", got, tt.fields)
			}
		})
	}
}

// TestDecodeRefusesNonIntegers: amounts that are not int64 never reach
// Validate; the web layer answers 400 for the decoder's error.
func TestDecodeRefusesNonIntegers(t *testing.T) {
	for _, body := range []string{
		`{"items": [{"quantity": 1.5}]}`,
		`{"items": [{"quantity": "1"}]}`,
		`{"items": [{"unit_price_minor": 1e3}]}`,
		`{"shipping_minor": "500"}`,
		`{"tax_minor": true}`,
		`{"discount_minor": -0.5}`,
		`{"payment": {"amount_minor": 9223372036854775808}}`,
		`{"payment": {"amount_minor": -9223372036854775809}}`,
		`{"items": {}}`,
		`{"customer": []}`,
		`{"currency": 978}`,
		`{"coupon": "FREE"}`,
	} {
		if _, err := decode([]byte(body)); err == nil {
			t.Errorf("decode(%s) succeeded", body)
		}
	}
}

func TestTotals(t *testing.T) {
	o := validOrder("ord-1")
	o.ShippingMinor, o.TaxMinor, o.DiscountMinor = 500, 700, 200
	count, subtotal, total := o.totals()
	if count != 3 || subtotal != 3000 || total != 4000 {
		t.Errorf("totals = %d items, %d, %d; want 3 items, 3000, 4000", count, subtotal, total)
	}
	// Validate's bounds keep the largest possible order inside int64, and
	// the smallest at zero.
	o.Items = slices.Repeat([]Item{{SKU: "X", Name: "X", Quantity: MaxQuantity, UnitPriceMinor: MaxPriceMinor}}, MaxItems)
	o.ShippingMinor, o.TaxMinor, o.DiscountMinor = MaxPriceMinor, MaxPriceMinor, 0
	const most = MaxItems * MaxQuantity * MaxPriceMinor
	o.Payment.AmountMinor = most + 2*MaxPriceMinor
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	count, subtotal, total = o.totals()
	if count != MaxItems*MaxQuantity || subtotal != most || total != most+2*MaxPriceMinor || total <= 0 {
		t.Errorf("largest order: %d items, subtotal %d, total %d", count, subtotal, total)
	}

	o.Items = []Item{{SKU: "X", Name: "X", Quantity: 1, UnitPriceMinor: 0}}
	o.ShippingMinor, o.TaxMinor, o.DiscountMinor, o.Payment.AmountMinor = 0, 0, 0, 0
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, subtotal, total = o.totals(); subtotal != 0 || total != 0 {
		t.Errorf("free order: subtotal %d, total %d", subtotal, total)
	}
}

func TestCodes(t *testing.T) {
	if len(countries) != 249 {
		t.Errorf("%d country codes, ISO 3166-1 assigns 249", len(countries))
	}
	if n := len(currencies); n < 170 || n > 185 {
		t.Errorf("%d currency codes, ISO 4217 lists about 180", n)
	}
	upper3, upper2 := regexp.MustCompile(`^[A-Z]{3}$`), regexp.MustCompile(`^[A-Z]{2}$`)
	for c := range currencies {
		if !upper3.MatchString(c) {
			t.Errorf("currency %q", c)
		}
	}
	for c := range countries {
		if !upper2.MatchString(c) {
			t.Errorf("country %q", c)
		}
	}
	for _, c := range []string{"EUR", "USD", "GBP", "JPY", "CHF", "CNY", "INR", "BRL", "KWD", "XOF", "XCG", "ZWG", "SLE", "VES"} {
		if !currencies[c] {
			t.Errorf("currency %s missing", c)
		}
	}
	for _, c := range []string{"FR", "DE", "US", "GB", "JP", "CN", "IN", "BR", "AX", "SS", "CW", "SX", "BQ", "GG", "PS", "AQ"} {
		if !countries[c] {
			t.Errorf("country %s missing", c)
		}
	}
}
