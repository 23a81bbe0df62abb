package transform

import (
	"fmt"
	"strings"
)

// maxPathLen is EventBridge's limit on InputPath and on each
// InputPathsMap value.
const maxPathLen = 256

// step is one hop of a JSON path: a member name, an array index, or a
// wildcard over every member or element.
type step struct {
	name  string
	index int // -1 for a name or wildcard step
	wild  bool
}

// jsonPath is the subset of JSONPath EventBridge documents: dot notation
// with names of letters, digits, '-', '_' and '/', array indices,
// wildcards and, where allowed, bracket-quoted names.
type jsonPath struct {
	steps []step
	// wild paths may select several values; they always yield an array,
	// as JSONPath does for indefinite paths.
	wild bool
}

// parsePath parses s. quoted allows ['name'] steps, which EventBridge
// accepts in a target's InputPath but not in InputPathsMap ("You must use
// JSON dot notation, not bracket notation").
func parsePath(s string, quoted bool) (jsonPath, error) {
	var p jsonPath
	if s == "" || len(s) > maxPathLen {
		return p, fmt.Errorf("path %q must be 1 to %d characters", s, maxPathLen)
	}
	if s[0] != '$' {
		return p, fmt.Errorf("path %q must start with $", s)
	}
	for i := 1; i < len(s); {
		var st step
		var err error
		switch s[i] {
		case '.':
			st, i, err = parseDot(s, i+1)
		case '[':
			st, i, err = parseBracket(s, i+1, quoted)
		default:
			err = fmt.Errorf("unexpected %q at offset %d", s[i], i)
		}
		if err != nil {
			return p, fmt.Errorf("path %q: %w", s, err)
		}
		p.wild = p.wild || st.wild
		p.steps = append(p.steps, st)
	}
	return p, nil
}

func parseDot(s string, i int) (step, int, error) {
	if i < len(s) && s[i] == '*' {
		return step{index: -1, wild: true}, i + 1, nil
	}
	j := i
	for j < len(s) && isNameByte(s[j]) {
		j++
	}
	if j == i {
		return step{}, j, fmt.Errorf("empty or invalid name at offset %d", i)
	}
	return step{name: s[i:j], index: -1}, j, nil
}

func parseBracket(s string, i int, quoted bool) (step, int, error) {
	end := strings.IndexByte(s[i:], ']')
	if end < 0 {
		return step{}, i, fmt.Errorf("unclosed [ at offset %d", i-1)
	}
	inner, next := s[i:i+end], i+end+1
	switch {
	case inner == "*":
		return step{index: -1, wild: true}, next, nil
	case len(inner) >= 3 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0]:
		name := inner[1 : len(inner)-1]
		if !quoted {
			return step{}, i, fmt.Errorf("bracket notation ['%s'] is not allowed here, use dot notation", name)
		}
		if strings.IndexByte(name, inner[0]) >= 0 {
			return step{}, i, fmt.Errorf("invalid quoted name %s", inner)
		}
		return step{name: name, index: -1}, next, nil
	}
	if inner == "" || len(inner) > 9 {
		return step{}, i, fmt.Errorf("invalid array index [%s]", inner)
	}
	n := 0
	for k := 0; k < len(inner); k++ {
		if inner[k] < '0' || inner[k] > '9' {
			return step{}, i, fmt.Errorf("invalid array index [%s]", inner)
		}
		n = n*10 + int(inner[k]-'0')
	}
	return step{index: n}, next, nil
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '/'
}

// lookup returns what p selects in root, or nil when it selects nothing.
// A wildcard path's matches are gathered into a new array value.
func (p *jsonPath) lookup(root *value) *value {
	if !p.wild {
		v := root
		for _, st := range p.steps {
			if v = v.child(st); v == nil {
				return nil
			}
		}
		return v
	}
	matches := collect(root, p.steps, nil)
	if len(matches) == 0 {
		return nil
	}
	raw := []byte{'['}
	for i, m := range matches {
		if i > 0 {
			raw = append(raw, ',')
		}
		raw = appendCompact(raw, m.raw, false)
	}
	return &value{raw: append(raw, ']')}
}

func collect(v *value, steps []step, out []*value) []*value {
	if len(steps) == 0 {
		return append(out, v)
	}
	st := steps[0]
	if !st.wild {
		if c := v.child(st); c != nil {
			out = collect(c, steps[1:], out)
		}
		return out
	}
	if v.isContainer() {
		for i := range v.kids {
			out = collect(&v.kids[i], steps[1:], out)
		}
	}
	return out
}

// child follows one non-wildcard step.
func (v *value) child(st step) *value {
	if st.index < 0 {
		return v.member(st.name)
	}
	if v.kind() != '[' || st.index >= len(v.kids) {
		return nil
	}
	return &v.kids[st.index]
}
