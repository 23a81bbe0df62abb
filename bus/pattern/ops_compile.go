package pattern

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
)

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
	return op{}, refuse(reasonNotValue, "anything-but must be a string, number, array or operator object, got %s", typeName(arg))
}

// compileNotList handles anything-but lists, which must be all strings or
// all numbers.
func compileNotList(a []any) (op, error) {
	const mixed = "anything-but list must contain only strings or only numbers"
	if len(a) == 0 {
		return op{}, refuse(reasonNotListMixed, "anything-but list must not be empty")
	}
	var strs []string
	var nums []float64
	for _, e := range a {
		switch e := e.(type) {
		case string:
			strs = append(strs, e)
		case json.Number:
			f, err := number(e)
			if err != nil {
				return op{}, err
			}
			nums = append(nums, f)
		default:
			return op{}, refuse(reasonNotListType, mixed)
		}
	}
	if len(strs) > 0 && len(nums) > 0 {
		return op{}, refuse(reasonNotListMixed, mixed)
	}
	if len(nums) > 0 {
		return op{kind: opNotNumber, nums: nums}, nil
	}
	return op{kind: opNotExact, list: strs}, nil
}

// compileNotOperator handles anything-but's prefix, suffix,
// equals-ignore-case and wildcard, each given one string or a list of
// them: the value matches when it matches none of them.
func compileNotOperator(m map[string]any) (op, error) {
	if len(m) != 1 {
		reason := "Too many elements in numeric expression" // event-ruler's words for a second key
		if len(m) == 0 {
			reason = "Anything-But expression name not found"
		}
		return op{}, refuse(reason, "anything-but operator object must have exactly one key, got %d", len(m))
	}
	for name, arg := range m {
		var kind opKind
		var typeReason string
		switch name {
		case "prefix":
			kind, typeReason = opNotPrefix, reasonAffixString
		case "suffix":
			kind, typeReason = opNotSuffix, reasonAffixString
		case "equals-ignore-case":
			kind, typeReason = opNotFold, reasonNotFoldType
		case "wildcard":
			kind, typeReason = opNotWildcard, reasonWildString
		default:
			return op{}, refuse("Unsupported anything-but pattern: "+name, "unknown anything-but operator %q", name)
		}
		list, err := stringOrStrings(name, arg, typeReason)
		if err != nil {
			return op{}, err
		}
		o := op{kind: kind, list: list}
		for _, s := range list {
			switch {
			case s == "" && (kind == opNotPrefix || kind == opNotSuffix):
				return op{}, refuse(reasonNullAffix, "anything-but %s must not be empty", name)
			case kind == opNotWildcard:
				w, err := compileWildcard(s)
				if err != nil {
					return op{}, err
				}
				o.wilds = append(o.wilds, w)
			}
		}
		return o, nil
	}
	panic("unreachable")
}

// stringOrStrings reads anything-but's operand. Like event-ruler, what is
// neither an array nor a string or number is refused for its shape, and a
// number or non-string element for its type.
func stringOrStrings(name string, arg any, typeReason string) ([]string, error) {
	switch a := arg.(type) {
	case string:
		return []string{a}, nil
	case json.Number:
		return nil, refuse(typeReason, "anything-but %s must be a string or array of strings, got number", name)
	case []any:
		if len(a) == 0 {
			return nil, fmt.Errorf("anything-but %s list must not be empty", name)
		}
		out := make([]string, 0, len(a))
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, refuse(typeReason, "anything-but %s list must contain only strings", name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, refuse(reasonNotValue, "anything-but %s must be a string or array of strings, got %s", name, typeName(arg))
}

// compileNumeric follows event-ruler's grammar: ["=", x], one lower or
// one upper bound, or a lower bound then an upper bound with lower < upper.
func compileNumeric(arg any) (op, error) {
	a, ok := arg.([]any)
	if !ok {
		return op{}, refuse("Value of numeric must be an array.", "numeric must be an array, got %s", typeName(arg))
	}
	count := fmt.Sprintf("numeric must have one or two comparisons, got %d elements", len(a))
	if len(a) == 0 {
		return op{}, refuse("Invalid member in numeric match: ]", "%s", count)
	}
	first, ok := a[0].(string)
	if !ok {
		return op{}, refuse("Invalid member in numeric match: "+jsonText(a[0]), "numeric comparison must be a string, got %s", typeName(a[0]))
	}
	o := op{kind: opNumeric, lo: math.Inf(-1), hi: math.Inf(1), loIncl: true, hiIncl: true}
	switch first {
	case "=", ">", ">=", "<", "<=":
	default:
		return op{}, refuse("Unrecognized numeric range operator: "+first, "unknown numeric comparison %q", first)
	}
	f, err := numericValue(a, 1, first, count)
	if err != nil {
		return op{}, err
	}
	switch first {
	case "=":
		if len(a) > 2 {
			return op{}, refuse("Too many elements in numeric expression", `numeric "=" cannot be combined with another comparison`)
		}
		o.lo, o.hi = f, f
		return o, nil
	case "<", "<=":
		if len(a) > 2 {
			return op{}, refuse("Too many elements in numeric expression", "numeric %q must be the last comparison: give the lower bound first", first)
		}
		o.hi, o.hiIncl = f, first == "<="
		return o, nil
	}
	o.lo, o.loIncl = f, first == ">="
	if len(a) == 2 {
		return o, nil
	}
	second, ok := a[2].(string)
	if !ok {
		return op{}, refuse("Bad value in numeric range: "+jsonText(a[2]), "numeric comparison must be a string, got %s", typeName(a[2]))
	}
	switch second {
	case "<", "<=":
	case ">", ">=":
		return op{}, refuse("Bad numeric range operator: "+second, "numeric has two lower bounds")
	case "=":
		return op{}, refuse("Bad numeric range operator: "+second, `numeric "=" cannot be combined with another comparison`)
	default:
		return op{}, refuse("Bad numeric range operator: "+second, "unknown numeric comparison %q", second)
	}
	if o.hi, err = numericValue(a, 3, second, count); err != nil {
		return op{}, err
	}
	o.hiIncl = second == "<="
	if len(a) > 4 {
		return op{}, refuse("Too many terms in numeric range expression", "%s", count)
	}
	if !(o.lo < o.hi) {
		return op{}, refuse("Bottom must be less than top", "numeric lower bound %v must be below upper bound %v", o.lo, o.hi)
	}
	return o, nil
}

// numericValue reads the number after the comparison at a[i-1].
func numericValue(a []any, i int, cmp, count string) (float64, error) {
	reason := "Value of " + cmp + " must be numeric"
	if cmp == "=" {
		reason = "Value of equals must be numeric"
	}
	if i >= len(a) {
		return 0, refuse(reason, "%s", count)
	}
	n, ok := a[i].(json.Number)
	if !ok {
		return 0, refuse(reason, "numeric %q needs a number, got %s", cmp, typeName(a[i]))
	}
	return number(n)
}

// number parses a pattern number; values beyond float64 are refused.
func number(n json.Number) (float64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return 0, refuse("Cannot compare number : "+string(n), "number %s out of range", n)
	}
	return f, nil
}

// comparable reports the value of a JSON number and whether event-ruler
// can compare it by value: its decimal value must be exactly the shortest
// decimal of the float64 it parses to (BigDecimal.valueOf(double) in
// event-ruler's ComparableNumber). Other numbers only match by their text.
func comparable(text string) (float64, bool) {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	if d := significantDigits(text); d <= 15 && (d == 0 || math.Abs(f) >= 1e-307) {
		return f, true // every normal decimal of at most 15 digits survives float64
	}
	x, ok1 := new(big.Rat).SetString(text)
	y, ok2 := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	return f, ok1 && ok2 && x.Cmp(y) == 0
}

// significantDigits counts the mantissa digits of a JSON number, without
// leading zeros.
func significantDigits(text string) int {
	n, lead := 0, true
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == 'e' || c == 'E' {
			break
		}
		if c < '0' || c > '9' || (lead && c == '0') {
			continue
		}
		lead = false
		n++
	}
	return n
}

// jsonText is how event-ruler's messages quote a pattern token.
func jsonText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	case []any:
		return "["
	}
	return "{"
}
