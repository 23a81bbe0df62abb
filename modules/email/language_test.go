package email

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"
)

// shippedOrder is an order as its order_shipped event carries it, every
// field set; the other state emails' cases edit it.
func shippedOrder() Order {
	placed := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	return Order{
		OrderID: "ord_123", OrderState: "order_shipped", PreviousState: "order_paid",
		Customer: Customer{Email: "ada@example.com", Name: "Ada <script>alert(1)</script>"},
		Items: []Line{
			{SKU: "MUG-1", Name: "Blue mug", Quantity: 2, UnitPriceMinor: 1250},
			{SKU: "TEA-7", Name: "Green tea", Quantity: 100, UnitPriceMinor: 1899},
		},
		ItemCount: 102, Currency: "EUR",
		ShippingAddress: Address{Line1: "1 Analytical Row", City: "London", PostalCode: "N1 9GU", Country: "GB"},
		SubtotalMinor:   192400, ShippingMinor: 490, TaxMinor: 1200, DiscountMinor: 500, TotalMinor: 193590,
		Payment:   Payment{Method: "card", AmountMinor: 193590},
		Shipment:  &Shipment{Carrier: "DHL", TrackingNumber: "JD0140", TrackingURL: "https://track.example/JD0140?a=1&b=2"},
		CreatedAt: placed, UpdatedAt: placed.AddDate(0, 0, 3),
	}
}

// goldenCases are every built-in template, with the data its email gets.
func goldenCases() map[string]struct {
	template string
	data     any
} {
	withCharges := sampleOrder()
	withCharges.SubtotalMinor = withCharges.TotalMinor
	withCharges.ShippingMinor, withCharges.TaxMinor, withCharges.DiscountMinor = 490, 1200, 500
	withCharges.TotalMinor += 490 + 1200 - 500
	untracked := shippedOrder()
	untracked.Shipment = nil
	delivered := shippedOrder()
	delivered.OrderState, delivered.UpdatedAt = "order_delivered", delivered.UpdatedAt.AddDate(0, 0, 2)
	cancelled := shippedOrder()
	cancelled.OrderState, cancelled.PreviousState, cancelled.Shipment = "order_cancelled", "new_order_created", nil
	partial := shippedOrder()
	partial.OrderState, partial.RefundMinor, partial.Payment.RefundedMinor = "order_refunded", 1250, 1250
	full := shippedOrder()
	full.OrderState, full.RefundMinor, full.Payment.RefundedMinor = "order_refunded", 192340, 193590
	placed := shippedOrder()
	placed.OrderState, placed.PreviousState, placed.Shipment, placed.UpdatedAt = "new_order_created", "", nil, placed.CreatedAt
	return map[string]struct {
		template string
		data     any
	}{
		"order_success":              {"order_success", withCharges},
		"inventory_shortage":         {"inventory_shortage", Shortage{OrderID: "ord_123", Items: []ShortItem{{SKU: "MUG-1", Requested: 2, Available: 1}}}},
		"order_backordered":          {"order_backordered", StockNotice{OrderID: "ord_123", CustomerName: "Ada", Items: []Line{{SKU: "TEA-7", Name: "Green tea", Quantity: 1}}}},
		"order_in_stock":             {"order_in_stock", StockNotice{OrderID: "ord_123", CustomerName: "Ada"}},
		"order_shipped":              {"order_shipped", shippedOrder()},
		"order_shipped_untracked":    {"order_shipped", untracked},
		"order_delivered":            {"order_delivered", delivered},
		"order_cancelled":            {"order_cancelled", cancelled},
		"order_refunded_partly":      {"order_refunded", partial},
		"order_refunded_in_full":     {"order_refunded", full},
		"owner_new_order":            {"owner_new_order", placed},
		"owner_new_order_no_charges": {"owner_new_order", func() Order { o := placed; o.ShippingMinor, o.TaxMinor, o.DiscountMinor = 0, 0, 0; return o }()},
	}
}

// TestTemplatesGoldenByLanguage renders every built-in template in each
// built-in language, for a reader of that language, against
// testdata/<lang>/<case>.golden (go test -update rewrites them), and
// checks what every email must have: the order in the subject, both
// parts, and the customer's name escaped in HTML.
func TestTemplatesGoldenByLanguage(t *testing.T) {
	cfg := testConfig()
	cfg.Dir = t.TempDir()
	cfg.DashboardURL = "https://shop.example/dashboard"
	s := newTestService(t, nil, cfg)
	for _, lang := range []string{"en", "de"} {
		for name, c := range goldenCases() {
			t.Run(lang+"/"+name, func(t *testing.T) {
				tmpl, ok := s.templates[lang][c.template]
				if !ok {
					t.Fatalf("no built-in %s/%s", lang, c.template)
				}
				r := renderIn(t, s, tmpl, lang, c.data)
				if !strings.Contains(r.subject, "ord_123") {
					t.Errorf("subject %q lacks the order id", r.subject)
				}
				if strings.Contains(r.html, "<script>") {
					t.Errorf("the HTML part holds the customer's name unescaped:\n%s", r.html)
				}
				got := "Subject: " + r.subject + "\n\n" + r.text + "\n---- HTML ----\n" + r.html
				checkGolden(t, filepath.Join("testdata", lang, name+".golden"), got)
			})
		}
	}
	// Every built-in template exists in every built-in language: German
	// is the proof that a language can be complete.
	for _, name := range s.templates.names() {
		if _, ok := s.templates["de"][name]; !ok {
			t.Errorf("template %s has no German version", name)
		}
	}
	if n := len(s.templates.names()); n != 9 {
		t.Errorf("%d built-in templates, want 9: %v", n, s.templates.names())
	}
}

// renderIn renders data with tmpl for a reader of lang.
func renderIn(t *testing.T, s *Service, tmpl *template, lang string, data any) rendered {
	t.Helper()
	b := mustJSON(t, data)
	r, err := tmpl.render(b, language.MustParse(lang))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("rendered email differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestLanguageLookup: a template is found in the reader's language, then
// in the more general forms of it, then in English; templates_dir
// replaces a language's file or adds a language of its own; amounts and
// dates read as the reader's language has them, unless the email fell
// back to English.
func TestLanguageLookup(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"de/order_delivered.subject": "Angekommen: {{.OrderID}} am {{date .UpdatedAt}}, {{money .TotalMinor .Currency}}\n",
		"fr/order_delivered.subject": "Livrée : {{.OrderID}}\n",
		"fr/order_delivered.txt":     "Bonjour {{.Customer.Name}}\n",
		"fr/order_delivered.html":    "<p>Bonjour {{.Customer.Name}}</p>\n",
		"assets/logo.txt":            "not a language: passed over",
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig()
	cfg.Dir, cfg.TemplatesDir = t.TempDir(), dir
	s := newTestService(t, nil, cfg)
	data := shippedOrder()
	for _, tc := range []struct {
		reader, wantLang, subject string
	}{
		{"de-DE", "de", "Angekommen: ord_123 am 5. März 2026, 1.935,90 EUR"},
		{"de-CH", "de", "Angekommen: ord_123 am 5. März 2026, 1’935.90 EUR"}, // a German text, Swiss numbers
		{"de", "de", "Angekommen: ord_123 am 5. März 2026, 1.935,90 EUR"},
		{"fr-CA", "fr", "Livrée : ord_123"},
		{"en-US", "en", "Your order ord_123 at Test Shop has arrived"},
		{"ja", "en", "Your order ord_123 at Test Shop has arrived"},
	} {
		tmpl, ok := s.templates.lookup("order_delivered", language.MustParse(tc.reader))
		if !ok || tmpl.lang != tc.wantLang {
			t.Errorf("%s: found %v in %q, want it in %s", tc.reader, ok, tmpl.lang, tc.wantLang)
			continue
		}
		r := renderIn(t, s, tmpl, readerLanguage(language.MustParse(tc.reader), tmpl.lang).String(), data)
		if r.subject != tc.subject {
			t.Errorf("%s: subject %q, want %q", tc.reader, r.subject, tc.subject)
		}
	}
	// The German text and HTML that templates_dir left alone stay built in.
	tmpl, _ := s.templates.lookup("order_delivered", language.German)
	if r := renderIn(t, s, tmpl, "de", data); !strings.Contains(r.text, "wurde am 5. März 2026 zugestellt") {
		t.Errorf("German text is not the built-in one:\n%s", r.text)
	}
	// An English text read in French has English numbers and dates.
	if got := readerLanguage(language.MustParse("fr-FR"), "en"); got != language.English {
		t.Errorf("an English email for a French reader formats as %s", got)
	}
}

// TestTemplatesDirLanguageRefused: a language of the shop's own must
// give each template whole, and every template must exist in English.
func TestTemplatesDirLanguageRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		files map[string]string
		want  string
	}{
		"a part missing": {map[string]string{"fr/order_delivered.subject": "x", "fr/order_delivered.txt": "x"},
			"template fr/order_delivered has no order_delivered.html file"},
		"no English version": {map[string]string{"fr/merci.subject": "x", "fr/merci.txt": "x", "fr/merci.html": "x"},
			"template fr/merci has no English version"},
		"a broken template": {map[string]string{"de/order_shipped.txt": "{{if}}"}, "template de/order_shipped"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for f, body := range tc.files {
				path := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg := testConfig()
			cfg.Dir, cfg.TemplatesDir = t.TempDir(), dir
			_, err := New(Deps{}, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestFormatDate: each language writes the day its way; one shopbus has no
// words for is written as ISO 8601.
func TestFormatDate(t *testing.T) {
	day := time.Date(2026, 12, 24, 23, 30, 0, 0, time.UTC)
	for lang, want := range map[string]string{"en": "24 December 2026", "en-GB": "24 December 2026",
		"en-US": "December 24, 2026", "de-DE": "24. Dezember 2026", "de-AT": "24. Dezember 2026", "fi": "2026-12-24"} {
		if got := formatDate(language.MustParse(lang), day); got != want {
			t.Errorf("%s: %q, want %q", lang, got, want)
		}
	}
}
