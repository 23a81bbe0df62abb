package pattern

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// node is an AND of leaf conditions and of $or groups; a group matches when
// any of its alternatives does.
type node struct {
	leaves []*leaf
	ors    [][]*node
}

// leaf is one field's condition: the field matches when any op does.
type leaf struct {
	field int // index into Pattern.paths
	ops   []op
}

// exactOnly reports whether every op is an exact string, which lets the
// Matcher find candidate patterns by hash lookup.
func (l *leaf) exactOnly() bool {
	for i := range l.ops {
		if l.ops[i].kind != opExact {
			return false
		}
	}
	return true
}

// compiler turns decoded pattern JSON into a node tree, interning paths.
type compiler struct {
	paths [][]string
	ids   map[string]int
}

func (c *compiler) compile(src []byte) (*node, error) {
	n, err := c.parse(src)
	if err != nil {
		return nil, err
	}
	if err := checkComplexity(n, c.paths); err != nil {
		return nil, err
	}
	return n, nil
}

// parse decodes and compiles the pattern, short of measuring it.
func (c *compiler) parse(src []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &PatternError{Msg: "invalid JSON: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &PatternError{Msg: "invalid JSON: data after the top-level object"}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &PatternError{Msg: "must be a JSON object, got " + typeName(v), Reason: "Filter is not an object"}
	}
	return c.object(m, nil, "")
}

// object compiles one pattern object at path; where names it in errors.
// A key holding dots is a path of several steps, as EventBridge joins an
// event's nested keys with dots before it matches: {"a.b": [1]} and
// {"a": {"b": [1]}} are the same pattern.
func (c *compiler) object(m map[string]any, path []string, where string) (*node, error) {
	if len(m) == 0 {
		return nil, &PatternError{Path: where, Msg: "pattern has no fields", Reason: "Empty objects are not allowed"}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic errors and field order
	n := &node{}
	for _, k := range keys {
		at := join(where, k)
		switch v := m[k].(type) {
		case []any:
			if k == "$or" {
				alts, err := c.or(v, path, at)
				if err != nil {
					return nil, err
				}
				n.ors = append(n.ors, alts)
				continue
			}
			l, err := c.leaf(v, appendSteps(path, k), at)
			if err != nil {
				return nil, err
			}
			n.leaves = append(n.leaves, l)
		case map[string]any:
			sub, err := c.object(v, appendSteps(path, k), at)
			if err != nil {
				return nil, err
			}
			n.leaves = append(n.leaves, sub.leaves...)
			n.ors = append(n.ors, sub.ors...)
		default:
			return nil, &PatternError{Path: at, Msg: "value must be an array, got " + typeName(v),
				Reason: `"` + k + `" must be an object or an array`}
		}
	}
	return n, nil
}

// or compiles the alternatives of a $or; they apply at the enclosing path.
func (c *compiler) or(v []any, path []string, where string) ([]*node, error) {
	if len(v) < 2 {
		return nil, &PatternError{Path: where, Msg: "must contain at least two sub-patterns",
			Reason: "There must have at least 2 Objects in $or relationship."}
	}
	alts := make([]*node, 0, len(v))
	for i, e := range v {
		at := where + "[" + strconv.Itoa(i) + "]"
		m, ok := e.(map[string]any)
		if !ok {
			return nil, &PatternError{Path: at, Msg: "sub-pattern must be an object, got " + typeName(e),
				Reason: "Only JSON object is allowed in array of $or relationship."}
		}
		alt, err := c.object(m, path, at)
		if err != nil {
			return nil, err
		}
		alts = append(alts, alt)
	}
	return alts, nil
}

func (c *compiler) leaf(v []any, path []string, where string) (*leaf, error) {
	if len(v) == 0 {
		return nil, &PatternError{Path: where, Msg: "empty array", Reason: "Empty arrays are not allowed"}
	}
	l := &leaf{field: c.intern(path)}
	for _, e := range v {
		o, err := compileValue(e)
		if err != nil {
			pe := &PatternError{Path: where, Msg: err.Error()}
			var r *refusal
			if errors.As(err, &r) {
				pe.Reason = r.reason
			}
			return nil, pe
		}
		l.ops = append(l.ops, o)
	}
	return l, nil
}

func (c *compiler) intern(path []string) int {
	key := strings.Join(path, "\x00")
	if id, ok := c.ids[key]; ok {
		return id
	}
	id := len(c.paths)
	c.ids[key] = id
	c.paths = append(c.paths, path)
	return id
}

// appendSteps extends path by the steps of key k, without sharing path's
// storage with siblings.
func appendSteps(path []string, k string) []string {
	steps := strings.Split(k, ".")
	out := make([]string, 0, len(path)+len(steps))
	return append(append(out, path...), steps...)
}

func join(where, k string) string {
	if where == "" {
		return k
	}
	return where + "." + k
}

// typeName names a decoded JSON value's type the way errors talk about it.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
