package checkout

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	long := strings.Repeat("é", maxTextLength) // at the limit in runes, twice that in bytes
	tests := []struct {
		name   string
		change func(o *NewOrder)
		fields []string // nil: valid
	}{
		{"valid", func(o *NewOrder) {}, nil},
		{"no order id is generated later", func(o *NewOrder) { o.OrderID = "" }, nil},
		{"order id with every allowed character", func(o *NewOrder) { o.OrderID = "A9._:-z" }, nil},
		{"order id at its maximum size", func(o *NewOrder) { o.OrderID = strings.Repeat("a", maxOrderIDSize) }, nil},
		{"text at its maximum length", func(o *NewOrder) { o.Customer.Name = long; o.Items[0].Name = long }, nil},
		{"no payment reference", func(o *NewOrder) { o.Payment.Reference = "" }, nil},
		{"free item", func(o *NewOrder) { o.Items[0].UnitPriceMinor = 0 }, nil},
		{"largest quantity and price", func(o *NewOrder) {
			o.Items[0].Quantity, o.Items[0].UnitPriceMinor = MaxQuantity, MaxPriceMinor
		}, nil},
		{"most items", func(o *NewOrder) { o.Items = slices.Repeat(o.Items[:1], MaxItems) }, nil},

		{"order id too long", func(o *NewOrder) { o.OrderID = strings.Repeat("a", maxOrderIDSize+1) }, []string{"order_id"}},
		{"order id starting with a dash", func(o *NewOrder) { o.OrderID = "-abc" }, []string{"order_id"}},
		{"order id with a space", func(o *NewOrder) { o.OrderID = "a b" }, []string{"order_id"}},
		{"order id with a slash", func(o *NewOrder) { o.OrderID = "a/b" }, []string{"order_id"}},
		{"no email", func(o *NewOrder) { o.Customer.Email = "" }, []string{"customer.email"}},
		{"not an email", func(o *NewOrder) { o.Customer.Email = "ada" }, []string{"customer.email"}},
		{"email with a display name", func(o *NewOrder) { o.Customer.Email = "Ada <ada@example.com>" }, []string{"customer.email"}},
		{"no name", func(o *NewOrder) { o.Customer.Name = "" }, []string{"customer.name"}},
		{"blank name", func(o *NewOrder) { o.Customer.Name = " \t " }, []string{"customer.name"}},
		{"name too long", func(o *NewOrder) { o.Customer.Name = long + "x" }, []string{"customer.name"}},
		{"name with a newline", func(o *NewOrder) { o.Customer.Name = "Ada\nBcc: x@evil" }, []string{"customer.name"}},
		{"name with DEL", func(o *NewOrder) { o.Customer.Name = "Ada\x7f" }, []string{"customer.name"}},
		{"name not UTF-8", func(o *NewOrder) { o.Customer.Name = "Ada\xff" }, []string{"customer.name"}},
		{"no items", func(o *NewOrder) { o.Items = nil }, []string{"items"}},
		{"too many items", func(o *NewOrder) { o.Items = slices.Repeat(o.Items[:1], MaxItems+1) }, []string{"items"}},
		{"item without sku", func(o *NewOrder) { o.Items[1].SKU = "" }, []string{"items[1].sku"}},
		{"item without name", func(o *NewOrder) { o.Items[0].Name = "" }, []string{"items[0].name"}},
		{"zero quantity", func(o *NewOrder) { o.Items[1].Quantity = 0 }, []string{"items[1].quantity"}},
		{"negative quantity", func(o *NewOrder) { o.Items[0].Quantity = -1 }, []string{"items[0].quantity"}},
		{"quantity too large", func(o *NewOrder) { o.Items[0].Quantity = MaxQuantity + 1 }, []string{"items[0].quantity"}},
		{"negative price", func(o *NewOrder) { o.Items[0].UnitPriceMinor = -1 }, []string{"items[0].unit_price_minor"}},
		{"price too large", func(o *NewOrder) { o.Items[1].UnitPriceMinor = MaxPriceMinor + 1 }, []string{"items[1].unit_price_minor"}},
		{"no currency", func(o *NewOrder) { o.Currency = "" }, []string{"currency"}},
		{"lower-case currency", func(o *NewOrder) { o.Currency = "eur" }, []string{"currency"}},
		{"four-letter currency", func(o *NewOrder) { o.Currency = "EURO" }, []string{"currency"}},
		{"no address line", func(o *NewOrder) { o.ShippingAddress.Line1 = "" }, []string{"shipping_address.line1"}},
		{"no city", func(o *NewOrder) { o.ShippingAddress.City = "" }, []string{"shipping_address.city"}},
		{"no postal code", func(o *NewOrder) { o.ShippingAddress.PostalCode = "" }, []string{"shipping_address.postal_code"}},
		{"no country", func(o *NewOrder) { o.ShippingAddress.Country = "" }, []string{"shipping_address.country"}},
		{"three-letter country", func(o *NewOrder) { o.ShippingAddress.Country = "FRA" }, []string{"shipping_address.country"}},
		{"lower-case country", func(o *NewOrder) { o.ShippingAddress.Country = "fr" }, []string{"shipping_address.country"}},
		{"no payment method", func(o *NewOrder) { o.Payment.Method = "" }, []string{"payment.method"}},
		{"reference with a control character", func(o *NewOrder) { o.Payment.Reference = "pi\x00" }, []string{"payment.reference"}},
		{"negative amount", func(o *NewOrder) { o.Payment.AmountMinor = -1 }, []string{"payment.amount_minor"}},
		{"every problem at once", func(o *NewOrder) {
			*o = NewOrder{OrderID: "?", Items: []Item{{}}, Payment: Payment{AmountMinor: -5}}
		}, []string{
			"order_id", "customer.email", "customer.name",
			"items[0].sku", "items[0].name", "items[0].quantity",
			"currency", "shipping_address.line1", "shipping_address.city", "shipping_address.postal_code",
			"shipping_address.country", "payment.method", "payment.amount_minor",
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
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			var got []string
			for _, f := range ve.Fields {
				got = append(got, f.Field)
				if f.Message == "" {
					t.Errorf("field %s has no message", f.Field)
				}
				if !strings.Contains(err.Error(), f.Field+": "+f.Message) {
					t.Errorf("Error() %q does not mention %s", err, f.Field)
				}
			}
			if !slices.Equal(got, tt.fields) {
				t.Errorf("fields = %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestTotals(t *testing.T) {
	o := validOrder("ord-1")
	count, total := o.totals()
	if count != 3 || total != 3000 {
		t.Errorf("totals = %d items, %d; want 3 items, 3000", count, total)
	}
	// Validate's bounds keep the largest possible order inside int64.
	o.Items = slices.Repeat([]Item{{SKU: "X", Name: "X", Quantity: MaxQuantity, UnitPriceMinor: MaxPriceMinor}}, MaxItems)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	count, total = o.totals()
	if count != MaxItems*MaxQuantity || total != MaxItems*MaxQuantity*MaxPriceMinor || total <= 0 {
		t.Errorf("largest order: %d items, total %d", count, total)
	}
}
