package checkout

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/shopbus/shopbus/fault"
)

// FuzzDecodeValidate feeds request bodies through the web layer's decoding
// and Validate: nothing may panic, and whatever Validate accepts must have
// sane totals that the payment matches and must survive a JSON round trip.
func FuzzDecodeValidate(f *testing.F) {
	seed := func(o NewOrder) {
		b, err := json.Marshal(o)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(validOrder("ord-1"))
	charged := validOrder("ord-2")
	charged.ShippingMinor, charged.TaxMinor, charged.DiscountMinor, charged.Payment.AmountMinor = 500, 600, 100, 4000
	seed(charged)
	largest := validOrder("")
	largest.Items = slices.Repeat([]Item{{SKU: "X", Name: "X", Quantity: MaxQuantity, UnitPriceMinor: MaxPriceMinor}}, 3)
	largest.ShippingMinor, largest.TaxMinor, largest.DiscountMinor = MaxPriceMinor, MaxPriceMinor, MaxPriceMinor
	pay(&largest)
	seed(largest)
	hostile := validOrder("ord-3")
	hostile.Customer.Name = `<script>alert(1)</script>'; DROP TABLE orders;-- ` + "\u202e\u2028"
	hostile.Items[0].SKU = " \u00a0"
	seed(hostile)
	for _, s := range []string{
		`{}`, `null`, `[]`, `""`, `0`,
		`{"customer": null, "items": null, "currency": null, "shipping_address": null, "payment": null}`,
		`{"items": [null, {}, {"quantity": 10000, "unit_price_minor": 1000000000000}]}`,
		`{"items": [{"quantity": 9223372036854775807, "unit_price_minor": 9223372036854775807}],
		  "payment": {"amount_minor": 1}}`,
		`{"items": [{"sku": "A", "name": "A", "quantity": 2, "unit_price_minor": 4611686018427387904}],
		  "payment": {"amount_minor": 0}}`,
		`{"shipping_minor": -9223372036854775808, "tax_minor": 9223372036854775807, "discount_minor": -1}`,
		`{"customer": {"email": "a@b.c\u0000", "name": "\ud800"}, "currency": "eur"}`,
		`{"currency": "EUR", "currency": "USD"}`,
		`{"items": [{"quantity": 1.5}]}`, `{"payment": {"amount_minor": "1"}}`, `{"coupon": 1}`,
		`{"order_id": "` + strings.Repeat("a", 100) + `"}`,
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := decode(body)
		if err != nil {
			return // the web layer answers 400
		}
		err = o.Validate()
		var ve *fault.Error
		if errors.As(err, &ve) {
			seen := map[string]bool{}
			for _, fe := range ve.Fields {
				if fe.Field == "" || fe.Message == "" || seen[fe.Field] {
					t.Fatalf("bad field error %+v in %v", fe, ve.Fields)
				}
				seen[fe.Field] = true
			}
			return
		}
		if err != nil {
			t.Fatalf("Validate = %v, not an invalid *fault.Error", err)
		}
		count, subtotal, total := o.totals()
		if count < 1 || subtotal < 0 || total < 0 || total != o.Payment.AmountMinor {
			t.Fatalf("valid order with %d items, subtotal %d, total %d, paid %d", count, subtotal, total, o.Payment.AmountMinor)
		}
		if subtotal > MaxItems*MaxQuantity*MaxPriceMinor || total > subtotal+2*MaxPriceMinor {
			t.Fatalf("valid order beyond the bounds: subtotal %d, total %d", subtotal, total)
		}
		// What is stored is re-read from JSON: it must come back the same
		// and still be valid.
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decode(b)
		if err != nil {
			t.Fatalf("re-decode %s: %v", b, err)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("re-decoded order invalid: %v", err)
		}
		if b2, _ := json.Marshal(back); string(b2) != string(b) {
			t.Fatalf("round trip changed the order:\n%s\n%s", b, b2)
		}
	})
}
