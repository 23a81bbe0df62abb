package main

import (
	"encoding/json"
	"strings"

	"github.com/shopbus/shopbus/modules/checkout"
)

// benchItems are the lines of every bench order; post.lua sends the same.
var benchItems = []checkout.Item{
	{SKU: "BENCH-MUG-WHT", Name: "Ceramic mug, white, 350 ml", Quantity: 2, UnitPriceMinor: 950},
	{SKU: "BENCH-TEE-BLK-M", Name: "Organic cotton T-shirt, black, size M", Quantity: 1, UnitPriceMinor: 2490},
	{SKU: "BENCH-NB-A5", Name: "Dotted notebook A5, 120 pages, recycled paper", Quantity: 3, UnitPriceMinor: 690},
	{SKU: "BENCH-PEN-BLU", Name: "Gel pen, blue ink, 0.5 mm", Quantity: 2, UnitPriceMinor: 320},
	{SKU: "BENCH-TOTE-NAT", Name: "Canvas tote bag, natural, printed logo", Quantity: 1, UnitPriceMinor: 1590},
}

// stockOnHand is what each bench SKU is stocked with: enough that no run
// ever shorts (a shortage would add an owner email and change the journey).
const stockOnHand = 1_000_000_000

// orderBody is a valid order of about 1 KB for id. The customer's address
// carries the order id (buyer+ID@example.com) so the SMTP sink knows which
// order an email belongs to from the envelope alone.
func orderBody(id string) []byte {
	o := checkout.NewOrder{
		OrderID:         id,
		Customer:        checkout.Customer{Email: "buyer+" + id + "@example.com", Name: "Jeanne Dupont-Lefebvre"},
		Items:           benchItems,
		Currency:        "EUR",
		ShippingAddress: checkout.Address{Line1: "12 Rue de Rivoli, Batiment B, 3e etage", City: "Paris", PostalCode: "75001", Country: "FR"},
		ShippingMinor:   990,
		TaxMinor:        1738,
		DiscountMinor:   500,
	}
	var sum int64
	for _, it := range o.Items {
		sum += it.Quantity * it.UnitPriceMinor
	}
	o.Payment = checkout.Payment{Method: "card", Reference: "ch_" + id, AmountMinor: sum + o.ShippingMinor + o.TaxMinor - o.DiscountMinor}
	b, err := json.Marshal(o)
	if err != nil {
		panic(err) // a fixed struct of strings and ints always marshals
	}
	return b
}

// orderIDFromRcpt recovers the order id from buyer+ID@example.com.
func orderIDFromRcpt(to string) (string, bool) {
	local, _, ok := strings.Cut(strings.Trim(to, "<>"), "@")
	if !ok {
		return "", false
	}
	return strings.CutPrefix(local, "buyer+")
}
