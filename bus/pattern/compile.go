package pattern

import (
	"bytes"
	"encoding/json"
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
		return nil, &PatternError{Msg: "must be a JSON object, got " + typeName(v)}
	}
	return c.object(m, nil, "")
}

// object compiles one pattern object at path; where names it in errors.
func (c *compiler) object(m map[string]any, path []string, where string) (*node, error) {
	if len(m) == 0 {
		return nil, &PatternError{Path: where, Msg: "pattern has no fields"}
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
			l, err := c.leaf(v, append(path[:len(path):len(path)], k), at)
			if err != nil {
				return nil, err
			}
			n.leaves = append(n.leaves, l)
		case map[string]any:
			sub, err := c.object(v, append(path[:len(path):len(path)], k), at)
			if err != nil {
				return nil, err
			}
			n.leaves = append(n.leaves, sub.leaves...)
			n.ors = append(n.ors, sub.ors...)
		default:
			return nil, &PatternError{Path: at, Msg: "value must be an array, got " + typeName(v)}
		}
	}
	return n, nil
}

// or compiles the alternatives of a $or; they apply at the enclosing path.
func (c *compiler) or(v []any, path []string, where string) ([]*node, error) {
	if len(v) < 2 {
		return nil, &PatternError{Path: where, Msg: "must contain at least two sub-patterns"}
	}
	alts := make([]*node, 0, len(v))
	for i, e := range v {
		at := where + "[" + strconv.Itoa(i) + "]"
		m, ok := e.(map[string]any)
		if !ok {
			return nil, &PatternError{Path: at, Msg: "sub-pattern must be an object, got " + typeName(e)}
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
		return nil, &PatternError{Path: where, Msg: "empty array"}
	}
	l := &leaf{field: c.intern(path)}
	for _, e := range v {
		o, err := compileValue(e)
		if err != nil {
			return nil, &PatternError{Path: where, Msg: err.Error()}
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
