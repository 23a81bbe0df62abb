package email

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/text/language"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func renderJSON(t *testing.T, s *Service, template string, data any) rendered {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, ok := s.templates.lookup(template, s.lang)
	if !ok {
		t.Fatalf("no template %s", template)
	}
	r, err := tmpl.render(b, s.lang)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTemplatesGolden(t *testing.T) {
	cfg := testConfig()
	cfg.Dir = t.TempDir()
	s := newTestService(t, nil, cfg)
	withCharges := sampleOrder()
	withCharges.SubtotalMinor = withCharges.TotalMinor
	withCharges.ShippingMinor, withCharges.TaxMinor, withCharges.DiscountMinor = 490, 1200, 500
	withCharges.TotalMinor += 490 + 1200 - 500
	for golden, c := range map[string]struct {
		template string
		data     any
	}{
		"order_success":              {"order_success", sampleOrder()},
		"order_success_with_charges": {"order_success", withCharges},
		"inventory_shortage": {"inventory_shortage", Shortage{OrderID: "ord_123", Items: []ShortItem{
			{SKU: "MUG-1", Requested: 2, Available: 1}, {SKU: "TEA-7", Requested: 1, Available: 0}}}},
		"order_backordered": {"order_backordered", StockNotice{OrderID: "ord_123", CustomerName: "Ada",
			Items: []Line{{SKU: "TEA-7", Name: "Green tea", Quantity: 1}}}},
		"order_in_stock": {"order_in_stock", StockNotice{OrderID: "ord_123", CustomerName: "Ada"}},
	} {
		template, data := c.template, c.data
		t.Run(golden, func(t *testing.T) {
			r := renderJSON(t, s, template, data)
			if !strings.Contains(r.subject, "ord_123") {
				t.Errorf("subject %q lacks the order id", r.subject)
			}
			golden := filepath.Join("testdata", golden+".txt.golden")
			got := "Subject: " + r.subject + "\n\n" + r.text
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("rendered text differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestTemplatesDirOverrides(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"order_success.subject": "Custom: {{.OrderID}} for {{.CustomerName}}\n",
		"order_success.txt":     "Custom text {{money .TotalMinor .Currency}}\n",
		"README.md":             "not a template",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig()
	cfg.Dir = t.TempDir()
	cfg.TemplatesDir = dir
	s := newTestService(t, nil, cfg)

	r := renderJSON(t, s, "order_success", sampleOrder())
	if want := "Custom: ord_123 for Ada <script>alert(1)</script>"; r.subject != want {
		t.Errorf("subject %q, want %q", r.subject, want)
	}
	if want := "Custom text 33.99 EUR\n"; r.text != want {
		t.Errorf("text %q, want %q", r.text, want)
	}
	if !strings.Contains(r.html, "Blue mug") { // the embedded HTML part is kept
		t.Errorf("HTML part is not the embedded one:\n%s", r.html)
	}
	if r := renderJSON(t, s, "inventory_shortage", Shortage{OrderID: "ord_1"}); !strings.Contains(r.subject, "Inventory shortage") {
		t.Errorf("other templates must stay embedded, got subject %q", r.subject)
	}
}

func TestSubjectIsOneLine(t *testing.T) {
	cfg := testConfig()
	cfg.Dir = t.TempDir()
	s := newTestService(t, nil, cfg)
	r := renderJSON(t, s, "inventory_shortage", Shortage{OrderID: "ord_1\r\nBcc: victim@example.com"})
	if strings.ContainsAny(r.subject, "\r\n") {
		t.Errorf("subject %q spans lines", r.subject)
	}
}

// TestRenderShared: the clones a template keeps for a language serve
// many renders at once (go test -race) and render what the first render
// did; a template keeps clones for at most maxBound languages, and
// renders the same in the languages beyond them.
func TestRenderShared(t *testing.T) {
	cfg := testConfig()
	cfg.Dir = t.TempDir()
	s := newTestService(t, nil, cfg)
	tmpl := s.templates["de"]["owner_new_order"]
	data := mustJSON(t, shippedOrder())
	langs := []language.Tag{language.German, language.MustParse("de-CH"), language.MustParse("de-AT")}
	for i := len(langs); i < maxBound+8; i++ {
		langs = append(langs, language.MustParse(fmt.Sprintf("de-x-shop%02d", i)))
	}
	want := map[language.Tag]rendered{}
	for _, lang := range langs {
		r, err := tmpl.render(data, lang)
		if err != nil {
			t.Fatal(err)
		}
		want[lang] = r
	}
	var wg sync.WaitGroup
	for range 4 {
		for _, lang := range langs {
			wg.Go(func() {
				if r, err := tmpl.render(data, lang); err != nil || r != want[lang] {
					t.Errorf("%s: render = %v, differs from the first:\n%+v", lang, err, r)
				}
			})
		}
	}
	wg.Wait()
	if n := len(tmpl.bound); n != maxBound {
		t.Errorf("clones kept for %d languages, want %d", n, maxBound)
	}
	if want[langs[0]] == want[langs[1]] {
		t.Error("de and de-CH render alike: the functions are not the reader's")
	}
}
