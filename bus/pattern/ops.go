package pattern

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
)

// opKind says what one value of a leaf array tests.
type opKind uint8

const (
	opExact       opKind = iota // string equal to s
	opNumber                    // number whose JSON text is s
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
	opNotPrefix                 // anything but strings starting with s
	opNotSuffix                 // anything but strings ending with s
	opNotFold                   // anything but list, ignoring case
	opNotWildcard               // anything but strings matching any of wilds
)

// op is one compiled element of a leaf array.
type op struct {
	kind   opKind
	s      string
	list   []string
	nums   []float64
	wilds  []wildcard
	lo, hi float64 // numeric bounds; infinite when absent
	loIncl bool
	hiIncl bool
	cidr   netip.Prefix
	exists bool
}

// compileValue compiles one element of a leaf array.
func compileValue(v any) (op, error) {
	switch v := v.(type) {
	case string:
		return op{kind: opExact, s: v}, nil
	case json.Number:
		return op{kind: opNumber, s: v.String()}, nil
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
	return op{}, fmt.Errorf("array element must be a string, number, boolean, null or operator object, got %s", typeName(v))
}

func compileOperator(m map[string]any) (op, error) {
	if len(m) != 1 {
		return op{}, fmt.Errorf("operator object must have exactly one key, got %d", len(m))
	}
	for name, arg := range m {
		switch name {
		case "prefix", "suffix":
			return compileAffix(name, arg)
		case "equals-ignore-case":
			s, ok := arg.(string)
			if !ok {
				return op{}, fmt.Errorf("equals-ignore-case must be a string, got %s", typeName(arg))
			}
			return op{kind: opEqualsFold, s: s}, nil
		case "wildcard":
			w, err := compileWildcardArg(arg)
			if err != nil {
				return op{}, err
			}
			return op{kind: opWildcard, wilds: []wildcard{w}}, nil
		case "anything-but":
			return compileAnythingBut(arg)
		case "numeric":
			return compileNumeric(arg)
		case "cidr":
			return compileCIDR(arg)
		case "exists":
			b, ok := arg.(bool)
			if !ok {
				return op{}, fmt.Errorf("exists must be true or false, got %s", typeName(arg))
			}
			return op{kind: opExists, exists: b}, nil
		default:
			return op{}, fmt.Errorf("unknown operator %q", name)
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
	switch a := arg.(type) {
	case string:
		return op{kind: plain, s: a}, nil
	case map[string]any:
		if s, ok := a["equals-ignore-case"].(string); ok && len(a) == 1 {
			return op{kind: fold, s: s}, nil
		}
	}
	return op{}, fmt.Errorf("%s must be a string or {\"equals-ignore-case\": string}, got %s", name, typeName(arg))
}

func compileAnythingBut(arg any) (op, error) {
	switch a := arg.(type) {
	case string:
		return op{kind: opNotExact, list: []string{a}}, nil
	case json.Number:
		f, err := number(a)
		if err != nil {
			return op{}, err
		}
		return op{kind: opNotNumber, nums: []float64{f}}, nil
	case []any:
		return compileNotList(a)
	case map[string]any:
		return compileNotOperator(a)
	}
	return op{}, fmt.Errorf("anything-but must be a string, number, array or operator object, got %s", typeName(arg))
}

// compileNotList handles anything-but lists, which must be all strings or
// all numbers.
func compileNotList(a []any) (op, error) {
	if len(a) == 0 {
		return op{}, errors.New("anything-but list must not be empty")
	}
	if _, ok := a[0].(string); ok {
		o := op{kind: opNotExact}
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return op{}, errors.New("anything-but list must contain only strings or only numbers")
			}
			o.list = append(o.list, s)
		}
		return o, nil
	}
	o := op{kind: opNotNumber}
	for _, e := range a {
		n, ok := e.(json.Number)
		if !ok {
			return op{}, errors.New("anything-but list must contain only strings or only numbers")
		}
		f, err := number(n)
		if err != nil {
			return op{}, err
		}
		o.nums = append(o.nums, f)
	}
	return o, nil
}

func compileNotOperator(m map[string]any) (op, error) {
	if len(m) != 1 {
		return op{}, fmt.Errorf("anything-but operator object must have exactly one key, got %d", len(m))
	}
	for name, arg := range m {
		switch name {
		case "prefix", "suffix":
			s, ok := arg.(string)
			if !ok {
				return op{}, fmt.Errorf("anything-but %s must be a string, got %s", name, typeName(arg))
			}
			if name == "prefix" {
				return op{kind: opNotPrefix, s: s}, nil
			}
			return op{kind: opNotSuffix, s: s}, nil
		case "equals-ignore-case":
			list, err := stringOrStrings(name, arg)
			return op{kind: opNotFold, list: list}, err
		case "wildcard":
			list, err := stringOrStrings(name, arg)
			if err != nil {
				return op{}, err
			}
			o := op{kind: opNotWildcard}
			for _, s := range list {
				w, err := compileWildcard(s)
				if err != nil {
					return op{}, err
				}
				o.wilds = append(o.wilds, w)
			}
			return o, nil
		default:
			return op{}, fmt.Errorf("unknown anything-but operator %q", name)
		}
	}
	panic("unreachable")
}

func stringOrStrings(name string, arg any) ([]string, error) {
	switch a := arg.(type) {
	case string:
		return []string{a}, nil
	case []any:
		if len(a) == 0 {
			return nil, fmt.Errorf("anything-but %s list must not be empty", name)
		}
		out := make([]string, 0, len(a))
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("anything-but %s list must contain only strings", name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("anything-but %s must be a string or array of strings, got %s", name, typeName(arg))
}

func compileWildcardArg(arg any) (wildcard, error) {
	s, ok := arg.(string)
	if !ok {
		return wildcard{}, fmt.Errorf("wildcard must be a string, got %s", typeName(arg))
	}
	return compileWildcard(s)
}

// compileNumeric accepts ["=", x], one bound, or a lower and an upper bound
// in either order with lower < upper.
func compileNumeric(arg any) (op, error) {
	a, ok := arg.([]any)
	if !ok {
		return op{}, fmt.Errorf("numeric must be an array, got %s", typeName(arg))
	}
	if len(a) != 2 && len(a) != 4 {
		return op{}, fmt.Errorf("numeric must have one or two comparisons, got %d elements", len(a))
	}
	o := op{kind: opNumeric, lo: math.Inf(-1), hi: math.Inf(1), loIncl: true, hiIncl: true}
	var gotLo, gotHi bool
	for i := 0; i < len(a); i += 2 {
		name, ok := a[i].(string)
		if !ok {
			return op{}, fmt.Errorf("numeric comparison must be a string, got %s", typeName(a[i]))
		}
		n, ok := a[i+1].(json.Number)
		if !ok {
			return op{}, fmt.Errorf("numeric %q needs a number, got %s", name, typeName(a[i+1]))
		}
		f, err := number(n)
		if err != nil {
			return op{}, err
		}
		switch name {
		case "=":
			if len(a) != 2 {
				return op{}, errors.New(`numeric "=" cannot be combined with another comparison`)
			}
			o.lo, o.hi = f, f
		case ">", ">=":
			if gotLo {
				return op{}, errors.New("numeric has two lower bounds")
			}
			gotLo, o.lo, o.loIncl = true, f, name == ">="
		case "<", "<=":
			if gotHi {
				return op{}, errors.New("numeric has two upper bounds")
			}
			gotHi, o.hi, o.hiIncl = true, f, name == "<="
		default:
			return op{}, fmt.Errorf("unknown numeric comparison %q", name)
		}
	}
	if gotLo && gotHi && !(o.lo < o.hi) {
		return op{}, fmt.Errorf("numeric lower bound %v must be below upper bound %v", o.lo, o.hi)
	}
	return o, nil
}

func compileCIDR(arg any) (op, error) {
	s, ok := arg.(string)
	if !ok {
		return op{}, fmt.Errorf("cidr must be a string, got %s", typeName(arg))
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return op{}, fmt.Errorf("invalid cidr %q", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	return op{kind: opCIDR, cidr: p.Masked()}, nil
}

// number parses a pattern number; values beyond float64 are refused.
func number(n json.Number) (float64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return 0, fmt.Errorf("number %s out of range", n)
	}
	return f, nil
}
