// Package money formats amounts held as integers in minor units, as
// shopbus stores every price, for people to read.
package money

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"
)

// exponents are ISO 4217's minor units for the active currencies that do
// not have two: 1 JPY has no smaller unit, 1 KWD has 1000 fils.
var exponents = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// Format writes minor units of currency with the currency's decimals:
// Format(12345, "EUR") is "123.45 EUR", Format(500, "JPY") "500 JPY",
// Format(1500, "KWD") "1.500 KWD".
func Format(minor int64, currency string) string {
	sign, u := "", uint64(minor)
	if minor < 0 {
		sign, u = "-", uint64(-minor) // -MinInt64 wraps to 1<<63, the right magnitude
	}
	exp := exponent(currency)
	if exp == 0 {
		return strings.TrimSpace(fmt.Sprintf("%s%d %s", sign, u, currency))
	}
	unit := uint64(1)
	for range exp {
		unit *= 10
	}
	return strings.TrimSpace(fmt.Sprintf("%s%d.%0*d %s", sign, u/unit, exp, u%unit, currency))
}

// FormatIn writes minor units of currency as a reader of lang expects the
// number, with the currency's ISO 4217 decimals and its code after it:
// FormatIn(language.German, 123456, "EUR") is "1.234,56 EUR", in English
// "1,234.56 EUR", in Swiss German "1’234.56 EUR". The whole and the
// fraction are formatted apart, as integers, so no amount is ever rounded
// through a float.
func FormatIn(lang language.Tag, minor int64, currency string) string {
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

// decimalSeparator is what stands between the whole and the fraction for
// p's language: what is left of one and a half once its digits are gone.
func decimalSeparator(p *message.Printer) string {
	r := []rune(p.Sprint(number.Decimal(1.5, number.Scale(1))))
	if len(r) < 3 {
		return "."
	}
	return string(r[1 : len(r)-1])
}

// exponent is the currency's number of decimals: two unless listed.
func exponent(currency string) int {
	if exp, ok := exponents[strings.ToUpper(currency)]; ok {
		return exp
	}
	return 2
}

// ErrAmount means text is not an amount of the currency.
var ErrAmount = errors.New("money: not an amount")

// Parse reads an amount of currency as a person types it, in major units
// with at most the currency's decimals, into minor units: Parse("12.5",
// "EUR") is 1250, Parse("500", "JPY") 500. It takes digits and one dot
// (a comma as the dot too), nothing else: no sign, no grouping.
func Parse(text, currency string) (int64, error) {
	t := strings.ReplaceAll(strings.TrimSpace(text), ",", ".")
	whole, frac, _ := strings.Cut(t, ".")
	exp := exponent(currency)
	if whole == "" && frac == "" || len(frac) > exp || strings.Contains(frac, ".") {
		return 0, fmt.Errorf("%w: %q has more than %d decimals or no digits", ErrAmount, text, exp)
	}
	var minor int64
	for _, r := range whole + frac + strings.Repeat("0", exp-len(frac)) {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%w: %q holds %q", ErrAmount, text, r)
		}
		if minor > (math.MaxInt64-9)/10 {
			return 0, fmt.Errorf("%w: %q is too large", ErrAmount, text)
		}
		minor = minor*10 + int64(r-'0')
	}
	return minor, nil
}
