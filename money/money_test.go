package money

import (
	"math"
	"testing"

	"golang.org/x/text/language"
)

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{12345, "EUR", "123.45 EUR"},
		{5, "USD", "0.05 USD"},
		{-250, "GBP", "-2.50 GBP"},
		{500, "JPY", "500 JPY"},
		{1500, "KWD", "1.500 KWD"},
		{7, "BHD", "0.007 BHD"},
		{100, "", "1.00"},
		{math.MinInt64, "EUR", "-92233720368547758.08 EUR"},
	} {
		if got := Format(tc.minor, tc.currency); got != tc.want {
			t.Errorf("Format(%d, %q) = %q, want %q", tc.minor, tc.currency, got, tc.want)
		}
	}
}

// TestFormatIn: each language groups and separates as its readers do,
// while the currency keeps its ISO 4217 decimals, exactly.
func TestFormatIn(t *testing.T) {
	for _, tc := range []struct {
		lang     string
		minor    int64
		currency string
		want     string
	}{
		{"en", 123456, "EUR", "1,234.56 EUR"},
		{"de", 123456, "EUR", "1.234,56 EUR"},
		{"de-DE", 5, "EUR", "0,05 EUR"},
		{"de-CH", 123456, "CHF", "1’234.56 CHF"},
		{"de", 150000, "JPY", "150.000 JPY"},
		{"en", 1500, "KWD", "1.500 KWD"},
		{"de", 1500, "KWD", "1,500 KWD"},
		{"en-IN", 1234567800, "INR", "1,23,45,678.00 INR"},
		{"de", -250, "EUR", "-2,50 EUR"},
		{"en", math.MaxInt64, "EUR", "92,233,720,368,547,758.07 EUR"},
		{"de", math.MinInt64, "EUR", "-92.233.720.368.547.758,08 EUR"},
	} {
		if got := FormatIn(language.MustParse(tc.lang), tc.minor, tc.currency); got != tc.want {
			t.Errorf("FormatIn(%s, %d, %q) = %q, want %q", tc.lang, tc.minor, tc.currency, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		text, currency string
		want           int64
		ok             bool
	}{
		{"12.50", "EUR", 1250, true},
		{"12.5", "EUR", 1250, true},
		{"12", "EUR", 1200, true},
		{" 0.07 ", "EUR", 7, true},
		{"12,50", "EUR", 1250, true},
		{".5", "EUR", 50, true},
		{"500", "JPY", 500, true},
		{"1.500", "KWD", 1500, true},
		{"12.505", "EUR", 0, false},
		{"5.5", "JPY", 0, false},
		{"-1", "EUR", 0, false},
		{"+1", "EUR", 0, false},
		{"1 000", "EUR", 0, false},
		{"1.2.3", "EUR", 0, false},
		{"", "EUR", 0, false},
		{".", "EUR", 0, false},
		{"abc", "EUR", 0, false},
		{"99999999999999999999", "EUR", 0, false},
	} {
		got, err := Parse(tc.text, tc.currency)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("Parse(%q, %s) = %d, %v; want %d (ok %v)", tc.text, tc.currency, got, err, tc.want, tc.ok)
		}
		if err == nil && Format(got, tc.currency) == "" {
			t.Errorf("%d does not format", got)
		}
	}
}
