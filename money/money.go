// Package money formats amounts held as integers in minor units, as
// shopbus stores every price, for people to read.
package money

import (
	"errors"
	"fmt"
	"math"
	"strconv"
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

// A Formatter writes amounts as readers of one language expect them,
// with the digits, separators and groups x/text gives the language,
// learnt once: a message.Printer costs microseconds per number. In German,
// 123456 EUR minor units are "1.234,56 EUR", in English "1,234.56 EUR", in
// Swiss German "1’234.56 EUR". It is safe for concurrent use.
type Formatter struct {
	digits  [10]string // 0 to 9, in the language's numbering system
	group   string     // between groups of digits of the whole
	first   int        // digits in the rightmost group; 0: no grouping
	other   int        // digits in each group to its left
	decimal string     // between the whole and the fraction
}

// NewFormatter learns how readers of lang write numbers.
func NewFormatter(lang language.Tag) *Formatter {
	p := message.NewPrinter(lang)
	f := &Formatter{decimal: decimalSeparator(p)}
	for d := range f.digits {
		f.digits[d] = p.Sprint(number.Decimal(d))
	}
	// 10^18 is written as a one and eighteen zeros, with a separator
	// wherever a group ends: split at the zeros, the pieces not empty are
	// the separators, and the pieces after one count the digits to its
	// right.
	pieces := strings.Split(strings.TrimPrefix(p.Sprint(number.Decimal(uint64(1e18))), f.digits[1]), f.digits[0])
	var ends []int // the zeros right of each separator, fewest first
	for i := len(pieces) - 1; i >= 0; i-- {
		if pieces[i] != "" {
			f.group = pieces[i]
			ends = append(ends, len(pieces)-1-i)
		}
	}
	if len(ends) > 0 {
		f.first, f.other = ends[0], ends[0]
	}
	if len(ends) > 1 {
		f.other = ends[1] - ends[0]
	}
	return f
}

// Format writes minor units of currency with the currency's ISO 4217
// decimals and its code after it. The whole and the fraction are
// written apart, as integers, so no amount is ever rounded through a
// float.
func (f *Formatter) Format(minor int64, currency string) string {
	sign, u := "", uint64(minor)
	if minor < 0 {
		sign, u = "-", uint64(-minor) // -MinInt64 wraps to 1<<63, the right magnitude
	}
	exp := exponent(currency)
	unit := uint64(1)
	for range exp {
		unit *= 10
	}
	var b strings.Builder
	b.Grow(32) // most amounts and their code, in one allocation
	b.WriteString(sign)
	f.writeWhole(&b, u/unit)
	if exp > 0 {
		b.WriteString(f.decimal)
		f.writeFraction(&b, u%unit, exp)
	}
	b.WriteByte(' ')
	b.WriteString(currency)
	return strings.TrimSpace(b.String())
}

// writeWhole writes n, each group of its digits but the last followed
// by the separator.
func (f *Formatter) writeWhole(b *strings.Builder, n uint64) {
	var buf [20]byte
	digits := strconv.AppendUint(buf[:0], n, 10)
	for i, d := range digits {
		b.WriteString(f.digits[d-'0'])
		if f.endsGroup(len(digits) - 1 - i) {
			b.WriteString(f.group)
		}
	}
}

// endsGroup reports whether the digit with right digits to its right is
// the last of a group (other than the rightmost group).
func (f *Formatter) endsGroup(right int) bool {
	return f.first > 0 && right >= f.first && (right-f.first)%f.other == 0
}

// writeFraction writes n as width digits, zeros to the left.
func (f *Formatter) writeFraction(b *strings.Builder, n uint64, width int) {
	var buf [20]byte
	digits := strconv.AppendUint(buf[:0], n, 10)
	for range width - len(digits) {
		b.WriteString(f.digits[0])
	}
	for _, d := range digits {
		b.WriteString(f.digits[d-'0'])
	}
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
