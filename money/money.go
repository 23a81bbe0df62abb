// Package money formats amounts held as integers in minor units, as
// shopbus stores every price, for people to read.
package money

import (
	"fmt"
	"strings"
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
	exp, ok := exponents[strings.ToUpper(currency)]
	if !ok {
		exp = 2
	}
	if exp == 0 {
		return strings.TrimSpace(fmt.Sprintf("%s%d %s", sign, u, currency))
	}
	unit := uint64(1)
	for range exp {
		unit *= 10
	}
	return strings.TrimSpace(fmt.Sprintf("%s%d.%0*d %s", sign, u/unit, exp, u%unit, currency))
}
