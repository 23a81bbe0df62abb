package email

import (
	"encoding/json"
	"testing"
	"time"

	"golang.org/x/text/language"
)

// BenchmarkRender renders what a complete order mails, the customer's
// order_success and the owner's owner_new_order, for an order of five
// lines (the journey's, speed_test.go), in each built-in language:
//
//	go test -run '^$' -bench BenchmarkRender -benchmem ./modules/email/
func BenchmarkRender(b *testing.B) {
	s, err := New(Deps{}, Config{From: "Test Shop <shop@example.com>", OwnerEmail: "owner@example.com", Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	placed := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	order := Order{
		OrderID: "ord-run-0001234", OrderState: "new_order_created",
		Customer: Customer{Email: "buyer+ord-run-0001234@example.com", Name: "Jeanne Dupont-Lefebvre"},
		Items: []Line{
			{SKU: "BENCH-MUG-WHT", Name: "Ceramic mug, white, 350 ml", Quantity: 2, UnitPriceMinor: 950},
			{SKU: "BENCH-TEE-BLK-M", Name: "Organic cotton T-shirt, black, size M", Quantity: 1, UnitPriceMinor: 2490},
			{SKU: "BENCH-NB-A5", Name: "Dotted notebook A5, 120 pages, recycled paper", Quantity: 3, UnitPriceMinor: 690},
			{SKU: "BENCH-PEN-BLU", Name: "Gel pen, blue ink, 0.5 mm", Quantity: 2, UnitPriceMinor: 320},
			{SKU: "BENCH-TOTE-NAT", Name: "Canvas tote bag, natural, printed logo", Quantity: 1, UnitPriceMinor: 1590},
		},
		ItemCount: 9, Currency: "EUR",
		ShippingAddress: Address{Line1: "12 Rue de Rivoli, Batiment B, 3e etage", City: "Paris", PostalCode: "75001", Country: "FR"},
		SubtotalMinor:   8660, ShippingMinor: 990, TaxMinor: 1738, DiscountMinor: 500, TotalMinor: 10888,
		Payment:   Payment{Method: "card", AmountMinor: 10888},
		CreatedAt: placed, UpdatedAt: placed,
	}
	type email struct{ template, data string }
	var emails []email
	for _, name := range []string{"order_success", "owner_new_order"} {
		detail, err := json.Marshal(order)
		if err != nil {
			b.Fatal(err)
		}
		data, err := fromDetail(name, detail)
		if err != nil {
			b.Fatal(err)
		}
		j, err := json.Marshal(data)
		if err != nil {
			b.Fatal(err)
		}
		emails = append(emails, email{name, string(j)})
	}
	for _, lang := range []string{"en", "de"} {
		reader := language.MustParse(lang)
		b.Run(lang, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, e := range emails {
					tmpl, _ := s.templates.lookup(e.template, reader)
					if _, err := tmpl.render([]byte(e.data), readerLanguage(reader, tmpl.lang)); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
