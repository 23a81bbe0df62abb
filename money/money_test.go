package money

import (
	"math"
	"strings"
	"testing"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
	"golang.org/x/text/message"
	"golang.org/x/text/number"
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

// TestFormatterFormat: each language groups and separates as its readers do,
// while the currency keeps its ISO 4217 decimals, exactly.
func TestFormatterFormat(t *testing.T) {
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
		{"fr", 123456789012, "EUR", "1\u00a0234\u00a0567\u00a0890,12 EUR"},
		{"pt-BR", 123456789012, "BRL", "1.234.567.890,12 BRL"},
		{"hi", 123456789012, "INR", "1,23,45,67,890.12 INR"},
		{"en", 123456789012, "JPY", "123,456,789,012 JPY"},
		{"de", 7, "KWD", "0,007 KWD"},
	} {
		if got := NewFormatter(language.MustParse(tc.lang)).Format(tc.minor, tc.currency); got != tc.want {
			t.Errorf("Format(%s, %d, %q) = %q, want %q", tc.lang, tc.minor, tc.currency, got, tc.want)
		}
	}
}

// TestFormatterIsXText: a Formatter writes every amount as x/text's
// message.Printer does, digit for digit, in every language x/text names
// and in numbering systems and regions a tag asks for.
func TestFormatterIsXText(t *testing.T) {
	tags := display.Supported.Tags()
	for _, s := range []string{"und", "en-x-shop", "de-u-rg-chzzzz", "en-u-nu-fullwide", "hi-u-nu-deva", "ar-u-nu-latn", "zh-u-nu-hanidec"} {
		tags = append(tags, language.MustParse(s))
	}
	amounts := []int64{0, 7, -7, 1234567890123456789, -1234567890123456789, math.MaxInt64, math.MinInt64}
	for n := int64(1); n <= math.MaxInt64/10; n *= 10 {
		amounts = append(amounts, n, n-1, -n, n+n/10*3)
	}
	for _, tag := range tags {
		f := NewFormatter(tag)
		for _, currency := range []string{"EUR", "JPY", "KWD", ""} {
			for _, minor := range amounts {
				if got, want := f.Format(minor, currency), formatXText(tag, minor, currency); got != want {
					t.Errorf("%s: Format(%d, %q) = %q, x/text writes %q", tag, minor, currency, got, want)
				}
			}
		}
	}
}

// formatXText is how amounts were formatted before Formatter: a Printer per
// amount, and one and a half formatted to learn the decimal separator.
func formatXText(lang language.Tag, minor int64, currency string) string {
	p := message.NewPrinter(lang)
	sign, u := "", uint64(minor)
	if minor < 0 {
		sign, u = "-", uint64(-minor)
	}
	exp := exponent(currency)
	unit := uint64(1)
	for range exp {
		unit *= 10
	}
	out := sign + p.Sprint(number.Decimal(u/unit))
	if exp > 0 {
		out += decimalSeparator(p) + p.Sprint(number.Decimal(u%unit, number.MinIntegerDigits(exp), number.NoSeparator()))
	}
	return strings.TrimSpace(out + " " + currency)
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
