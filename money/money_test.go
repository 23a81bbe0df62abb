package money

import (
	"math"
	"testing"
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
