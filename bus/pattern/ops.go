package pattern

import (
	"encoding/json"
	"fmt"
	"net/netip"
)

// opKind says what one value of a leaf array tests.
type opKind uint8

const (
	opExact       opKind = iota // string equal to s
	opNumber                    // number whose JSON text is s, or whose value is num
	opTrue                      // JSON true
	opFalse                     // JSON false
	opNull                      // JSON null
	opPrefix                    // string starting with s
	opPrefixFold                // string starting with s, ignoring case
	opSuffix                    // string ending with s
	opSuffixFold                // string ending with s, ignoring case
	opEqualsFold                // string equal to s, ignoring case
	opWildcard                  // string matching wild
	opNumeric                   // number within lo..hi
	opCIDR                      // string IP address within cidr
	opExists                    // field present (exists) or absent
	opNotExact                  // anything but the strings in list
	opNotNumber                 // anything but the numbers in nums
	opNotPrefix                 // anything but strings starting with one of list
	opNotSuffix                 // anything but strings ending with one of list
	opNotFold                   // anything but list, ignoring case
	opNotWildcard               // anything but strings matching any of wilds
)

// op is one compiled element of a leaf array.
type op struct {
	kind   opKind
	s      string
	num    float64 // opNumber's value, when numOK
	numOK  bool    // opNumber's text is exactly a float64, so it compares by value
	list   []string
	nums   []float64
	wilds  []wildcard
	lo, hi float64 // numeric bounds; infinite when absent
	loIncl bool
	hiIncl bool
	cidr   netip.Prefix
	exists bool
}

// refusal is a compile error that also carries EventBridge's reason for
// refusing the same pattern, in its own words, so that a rule ported from
// AWS fails here with the message AWS gave.
type refusal struct {
	msg, reason string
}

func (r *refusal) Error() string { return r.msg }

// refuse makes a refusal; reason is EventBridge's text, msg shopbus's.
func refuse(reason, format string, a ...any) error {
	return &refusal{msg: fmt.Sprintf(format, a...), reason: reason}
}

// EventBridge's reasons that several operators share.
const (
	reasonNotMatchValue = "Match value must be String, number, true, false, or null"
	reasonOneKey        = "Only one key allowed in match expression"
	reasonNoName        = "Match expression name not found"
	reasonAffixString   = "prefix/suffix match pattern must be a string"
	reasonNullAffix     = "Null prefix/suffix not allowed"
	reasonWildString    = "wildcard match pattern must be a string"
	reasonFoldString    = "equals-ignore-case match pattern must be a string"
	reasonNotValue      = "Value of anything-but must be an array or single string/number value."
	reasonNotListType   = "Inside anything but list, start|null|boolean is not supported."
	reasonNotListMixed  = "Inside anything but list, either all values are number or string, mixed type is not supported"
	reasonNotFoldType   = "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
)

// compileValue compiles one element of a leaf array.
func compileValue(v any) (op, error) {
	switch v := v.(type) {
	case string:
		return op{kind: opExact, s: v}, nil
	case json.Number:
		o := op{kind: opNumber, s: v.String()}
		o.num, o.numOK = comparable(o.s)
		return o, nil
	case bool:
		if v {
			return op{kind: opTrue}, nil
		}
		return op{kind: opFalse}, nil
	case nil:
		return op{kind: opNull}, nil
	case map[string]any:
		return compileOperator(v)
	}
	return op{}, refuse(reasonNotMatchValue, "array element must be a string, number, boolean, null or operator object, got %s", typeName(v))
}

func compileOperator(m map[string]any) (op, error) {
	if len(m) != 1 {
		reason := reasonOneKey
		if len(m) == 0 {
			reason = reasonNoName
		}
		return op{}, refuse(reason, "operator object must have exactly one key, got %d", len(m))
	}
	for name, arg := range m {
		switch name {
		case "prefix", "suffix":
			return compileAffix(name, arg)
		case "equals-ignore-case":
			s, ok := arg.(string)
			if !ok {
				return op{}, refuse(reasonFoldString, "equals-ignore-case must be a string, got %s", typeName(arg))
			}
			return op{kind: opEqualsFold, s: s}, nil
		case "wildcard":
			s, ok := arg.(string)
			if !ok {
				return op{}, refuse(reasonWildString, "wildcard must be a string, got %s", typeName(arg))
			}
			w, err := compileWildcard(s)
			if err != nil {
				return op{}, err
			}
			return op{kind: opWildcard, s: s, wilds: []wildcard{w}}, nil
		case "anything-but":
			return compileAnythingBut(arg)
		case "numeric":
			return compileNumeric(arg)
		case "cidr":
			return compileCIDR(arg)
		case "exists":
			b, ok := arg.(bool)
			if !ok {
				return op{}, refuse("exists match pattern must be either true or false.", "exists must be true or false, got %s", typeName(arg))
			}
			return op{kind: opExists, exists: b}, nil
		default:
			return op{}, refuse("Unrecognized match type "+name, "unknown operator %q", name)
		}
	}
	panic("unreachable")
}

// compileAffix handles prefix and suffix, each either a string or
// {"equals-ignore-case": string}.
func compileAffix(name string, arg any) (op, error) {
	plain, fold := opPrefix, opPrefixFold
	if name == "suffix" {
		plain, fold = opSuffix, opSuffixFold
	}
	want := fmt.Sprintf("%s must be a string or {\"equals-ignore-case\": string}, got %s", name, typeName(arg))
	switch a := arg.(type) {
	case string:
		return op{kind: plain, s: a}, nil
	case map[string]any:
		if len(a) == 0 {
			return op{}, refuse(capital(name)+" expression name not found", "%s", want)
		}
		for k, v := range a {
			if k != "equals-ignore-case" {
				return op{}, refuse("Unsupported "+name+" pattern: "+k, "%s", want)
			}
			s, ok := v.(string)
			if !ok {
				return op{}, refuse(reasonFoldString, "%s", want)
			}
			if len(a) != 1 {
				return op{}, refuse(reasonOneKey, "%s", want)
			}
			return op{kind: fold, s: s}, nil
		}
	}
	return op{}, refuse(name+" match pattern must be a string", "%s", want)
}

func capital(s string) string { return string(s[0]-'a'+'A') + s[1:] }

// compileCIDR accepts what event-ruler's CIDR.cidr accepts: an address,
// one '/', and a mask length.
func compileCIDR(arg any) (op, error) {
	s, ok := arg.(string)
	if !ok {
		return op{}, refuse("prefix match pattern must be a string", "cidr must be a string, got %s", typeName(arg))
	}
	bad := fmt.Sprintf("invalid cidr %q", s)
	addr, bits, found := cut(s, '/')
	if !found || containsByte(bits, '/') {
		return op{}, refuse("Malformed CIDR, one '/' required", "%s", bad)
	}
	if !allDigits(bits) {
		return op{}, refuse("Malformed CIDR, mask bits must be an integer", "%s", bad)
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return op{}, refuse("Nonstandard IP address: "+addr, "%s", bad)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		reason := "IPv6 mask bits must be < 128"
		if a.Is4() {
			reason = "IPv4 mask bits must be < 32"
		}
		return op{}, refuse(reason, "%s", bad)
	}
	return op{kind: opCIDR, cidr: p.Masked()}, nil
}

func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func containsByte(s string, c byte) bool {
	_, _, found := cut(s, c)
	return found
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
