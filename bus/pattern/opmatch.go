package pattern

import (
	"bytes"
	"net/netip"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// valKind is the JSON type of an event leaf value.
type valKind uint8

const (
	vString valKind = iota
	vNumber
	vTrue
	vFalse
	vNull
)

// value is one leaf value found in an event. raw is the unescaped string
// content or the number's JSON text; num is valid when numOK.
type value struct {
	kind  valKind
	numOK bool
	next  int32 // next value of the same field in scratch.vals, or -1
	raw   []byte
	num   float64
}

// parseNum converts a JSON number's text; numbers beyond float64 are not
// numeric for matching purposes.
func parseNum(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	return f, err == nil
}

// match reports whether one present value satisfies o. opExists is decided
// by the caller, which knows whether the field is present at all.
func (o *op) match(v *value) bool {
	isStr := v.kind == vString
	switch o.kind {
	case opExact:
		return isStr && string(v.raw) == o.s
	case opNumber:
		// AWS compares exact numbers by value where event-ruler can (300
		// matches 300.0), and by text where it cannot.
		return v.kind == vNumber && (string(v.raw) == o.s ||
			o.numOK && v.numOK && v.num == o.num && eventComparable(v.raw))
	case opTrue:
		return v.kind == vTrue
	case opFalse:
		return v.kind == vFalse
	case opNull:
		return v.kind == vNull
	case opPrefix:
		return isStr && len(v.raw) >= len(o.s) && string(v.raw[:len(o.s)]) == o.s
	case opPrefixFold:
		return isStr && hasPrefixFold(v.raw, o.s)
	case opSuffix:
		return isStr && len(v.raw) >= len(o.s) && string(v.raw[len(v.raw)-len(o.s):]) == o.s
	case opSuffixFold:
		return isStr && hasSuffixFold(v.raw, o.s)
	case opEqualsFold:
		return isStr && equalFold(v.raw, o.s)
	case opWildcard:
		return isStr && o.wilds[0].match(v.raw)
	case opNumeric:
		return v.kind == vNumber && v.numOK && o.inRange(v.num)
	case opCIDR:
		return isStr && o.cidrContains(v.raw)
	case opNotExact:
		return !isStr || !inList(v.raw, o.list)
	case opNotNumber:
		if v.kind != vNumber || !v.numOK {
			return true
		}
		for _, n := range o.nums {
			if v.num == n {
				return false
			}
		}
		return true
	case opNotPrefix:
		if !isStr {
			return true
		}
		for _, s := range o.list {
			if len(v.raw) >= len(s) && string(v.raw[:len(s)]) == s {
				return false
			}
		}
		return true
	case opNotSuffix:
		if !isStr {
			return true
		}
		for _, s := range o.list {
			if len(v.raw) >= len(s) && string(v.raw[len(v.raw)-len(s):]) == s {
				return false
			}
		}
		return true
	case opNotFold:
		if !isStr {
			return true
		}
		for _, s := range o.list {
			if equalFold(v.raw, s) {
				return false
			}
		}
		return true
	case opNotWildcard:
		if !isStr {
			return true
		}
		for i := range o.wilds {
			if o.wilds[i].match(v.raw) {
				return false
			}
		}
		return true
	}
	return false
}

// eventComparable reports whether an event number, already equal in value
// to a pattern's, is one event-ruler compares by value.
func eventComparable(raw []byte) bool {
	_, ok := comparable(string(raw))
	return ok
}

func inList(b []byte, list []string) bool {
	for _, s := range list {
		if string(b) == s {
			return true
		}
	}
	return false
}

func (o *op) inRange(f float64) bool {
	if f < o.lo || (f == o.lo && !o.loIncl) {
		return false
	}
	return f < o.hi || (f == o.hi && o.hiIncl)
}

func (o *op) cidrContains(b []byte) bool {
	a, ok := parseIPv4(b)
	if !ok {
		if bytes.IndexByte(b, ':') < 0 {
			return false
		}
		var err error
		if a, err = netip.ParseAddr(string(b)); err != nil {
			return false
		}
	}
	return o.cidr.Contains(a.Unmap())
}

// parseIPv4 parses dotted-quad text without allocating, which the common
// IPv4 case deserves; it refuses leading zeros as netip does.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	part, n, digits := 0, 0, 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '.' {
			if digits == 0 || part > 3 {
				return netip.Addr{}, false
			}
			ip[part] = byte(n)
			part, n, digits = part+1, 0, 0
			continue
		}
		c := b[i]
		if c < '0' || c > '9' || (digits == 1 && n == 0) {
			return netip.Addr{}, false
		}
		n, digits = n*10+int(c-'0'), digits+1
		if n > 255 {
			return netip.Addr{}, false
		}
	}
	if part != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(ip), true
}

// foldRune reports whether a and b are equal under Unicode simple folding,
// the same test strings.EqualFold applies rune by rune.
func foldRune(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

func equalFold(b []byte, s string) bool {
	rest, ok := foldPrefix(b, s)
	return ok && len(rest) == 0
}

func hasPrefixFold(b []byte, s string) bool {
	_, ok := foldPrefix(b, s)
	return ok
}

// foldPrefix matches s against the start of b ignoring case and returns
// what is left of b.
func foldPrefix(b []byte, s string) ([]byte, bool) {
	for len(s) > 0 {
		if len(b) == 0 {
			return nil, false
		}
		r1, n1 := utf8.DecodeRune(b)
		r2, n2 := utf8.DecodeRuneInString(s)
		if !foldRune(r1, r2) {
			return nil, false
		}
		b, s = b[n1:], s[n2:]
	}
	return b, true
}

func hasSuffixFold(b []byte, s string) bool {
	for len(s) > 0 {
		if len(b) == 0 {
			return false
		}
		r1, n1 := utf8.DecodeLastRune(b)
		r2, n2 := utf8.DecodeLastRuneInString(s)
		if !foldRune(r1, r2) {
			return false
		}
		b, s = b[:len(b)-n1], s[:len(s)-n2]
	}
	return true
}
