package pattern

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// The reference matcher below is deliberately naive and independent of the
// scanner: encoding/json parses the event, and paths are walked on the
// tree. Tests and the fuzzer hold the fast path to its answers.

// jv is a JSON value that keeps duplicate object keys.
type jv struct {
	kind byte // 'o', 'a', 's', 'n', 't', 'f', 'z' (null)
	keys []string
	vals []*jv
	text string
}

func parseRef(event []byte) (*jv, error) {
	if !json.Valid(event) {
		return nil, ErrInvalidEvent
	}
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	v, err := parseRefValue(dec)
	if err != nil {
		return nil, err
	}
	if v.kind != 'o' {
		return nil, ErrInvalidEvent
	}
	return v, nil
}

func parseRefValue(dec *json.Decoder) (*jv, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		v := &jv{kind: 'a'}
		if t == '{' {
			v.kind = 'o'
		}
		for dec.More() {
			if v.kind == 'o' {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, k.(string))
			}
			e, err := parseRefValue(dec)
			if err != nil {
				return nil, err
			}
			v.vals = append(v.vals, e)
		}
		_, err := dec.Token() // closing delimiter
		return v, err
	case string:
		return &jv{kind: 's', text: t}, nil
	case json.Number:
		return &jv{kind: 'n', text: string(t)}, nil
	case bool:
		if t {
			return &jv{kind: 't'}, nil
		}
		return &jv{kind: 'f'}, nil
	case nil:
		return &jv{kind: 'z'}, nil
	}
	return nil, errors.New("unexpected token")
}

// collect returns the leaf values at path, flattening arrays.
func collect(v *jv, path []string, out []value) []value {
	switch {
	case v.kind == 'a':
		for _, e := range v.vals {
			out = collect(e, path, out)
		}
	case v.kind == 'o':
		if len(path) == 0 {
			return out
		}
		// A key with dots stands for as many steps, as EventBridge joins
		// nested keys with dots.
		for i, k := range v.keys {
			steps := strings.Split(k, ".")
			if len(steps) <= len(path) && slices.Equal(steps, path[:len(steps)]) {
				out = collect(v.vals[i], path[len(steps):], out)
			}
		}
	case len(path) == 0:
		val := value{raw: []byte(v.text)}
		switch v.kind {
		case 's':
			val.kind = vString
		case 'n':
			val.kind = vNumber
			val.num, val.numOK = parseNum(val.raw)
		case 't':
			val.kind = vTrue
		case 'f':
			val.kind = vFalse
		case 'z':
			val.kind = vNull
		}
		out = append(out, val)
	}
	return out
}

func refEvalNode(n *node, p *Pattern, ev *jv) bool {
	for _, l := range n.leaves {
		vals := collect(ev, p.paths[l.field], nil)
		ok := false
		for i := range l.ops {
			o := &l.ops[i]
			if o.kind == opExists {
				ok = ok || o.exists == (len(vals) > 0)
				continue
			}
			for j := range vals {
				ok = ok || o.match(&vals[j])
			}
		}
		if !ok {
			return false
		}
	}
	for _, alts := range n.ors {
		ok := false
		for _, alt := range alts {
			ok = ok || refEvalNode(alt, p, ev)
		}
		if !ok {
			return false
		}
	}
	return true
}

// refMatchErr is the reference answer to p.Match(event).
func refMatchErr(p *Pattern, event []byte) (bool, error) {
	ev, err := parseRef(event)
	if err != nil {
		return false, err
	}
	return refEvalNode(p.root, p, ev), nil
}

func refMatch(t testing.TB, p *Pattern, event []byte) bool {
	t.Helper()
	ok, err := refMatchErr(p, event)
	if err != nil {
		t.Fatalf("reference matcher: %v", err)
	}
	return ok
}
