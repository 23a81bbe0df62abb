package transform

import (
	"fmt"
	"strings"
)

// fieldTree is the compiled form of a fields list: one node per path
// segment, marked leaf where a listed path ends.
type fieldTree struct {
	name string
	leaf bool
	kids []*fieldTree
}

func (n *fieldTree) kid(name string) *fieldTree {
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

// compileFields builds the tree for shopbus's fields shorthand.
func compileFields(paths []string) (*fieldTree, error) {
	root := &fieldTree{}
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		if p == "" {
			return nil, fmt.Errorf("fields: empty path")
		}
		if seen[p] {
			return nil, fmt.Errorf("fields: duplicate path %q", p)
		}
		seen[p] = true
		n := root
		for _, name := range strings.Split(p, ".") {
			if name == "" || strings.ContainsAny(name, " \t\r\n") {
				return nil, fmt.Errorf("fields: path %q has an empty or blank segment", p)
			}
			k := n.kid(name)
			if k == nil {
				k = &fieldTree{name: name}
				n.kids = append(n.kids, k)
			}
			n = k
		}
		n.leaf = true
	}
	return root, nil
}

// prune appends the event pruned to the tree. The result is always a
// JSON object, {} when no listed path exists.
func (n *fieldTree) prune(dst []byte, event *value) []byte {
	if out, ok := n.appendPruned(dst, event); ok {
		return out
	}
	return append(dst, '{', '}')
}

// appendPruned appends v keeping only what lies under n. It reports
// false, leaving dst as it was, when nothing under n exists in v, so a
// missing path leaves no empty object behind.
//
// Inside an array every element is pruned the same way: object elements
// keep their position (as {} when they lack the field) so elements still
// line up with the original, while scalar elements, which can have no
// sub-field, are dropped.
func (n *fieldTree) appendPruned(dst []byte, v *value) ([]byte, bool) {
	start := len(dst)
	found := false
	switch v.kind() {
	case '{':
		dst = append(dst, '{')
		for i, k := range v.keys {
			f := n.kidForKey(k)
			if f == nil {
				continue
			}
			mark := len(dst)
			if found {
				dst = append(dst, ',')
			}
			dst = append(dst, k...)
			dst = append(dst, ':')
			if f.leaf {
				dst = appendCompact(dst, v.kids[i].raw, false)
			} else if out, ok := f.appendPruned(dst, &v.kids[i]); ok {
				dst = out
			} else {
				dst = dst[:mark]
				continue
			}
			found = true
		}
		dst = append(dst, '}')
	case '[':
		dst = append(dst, '[')
		first := true
		for i := range v.kids {
			e := &v.kids[i]
			if !e.isContainer() {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			out, ok := n.appendPruned(dst, e)
			switch {
			case ok:
				dst, found = out, true
			case e.kind() == '{':
				dst = append(dst, '{', '}')
			default:
				dst = append(dst, '[', ']')
			}
		}
		dst = append(dst, ']')
	}
	if !found {
		return dst[:start], false
	}
	return dst, true
}

func (n *fieldTree) kidForKey(k []byte) *fieldTree {
	for _, f := range n.kids {
		if keyIs(k, f.name) {
			return f
		}
	}
	return nil
}
