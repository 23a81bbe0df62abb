package transform

import (
	"bytes"
	"encoding/json"
)

// value is one node of a decoded event. It keeps the exact bytes the
// publisher sent, so what a target receives keeps the event's key order,
// number spelling and string escapes rather than a re-encoding of them.
type value struct {
	raw  []byte   // the value's bytes, without surrounding whitespace
	keys [][]byte // object member names as raw quoted JSON strings
	kids []value  // object member values or array elements
}

// kind is the first byte of the value: '{', '[', '"', 't', 'f', 'n' for
// null, or a digit or '-' for a number.
func (v *value) kind() byte { return v.raw[0] }

func (v *value) isContainer() bool { return v.kind() == '{' || v.kind() == '[' }

// member returns the object member called name, or nil.
func (v *value) member(name string) *value {
	if v.kind() != '{' {
		return nil
	}
	for i, k := range v.keys {
		if keyIs(k, name) {
			return &v.kids[i]
		}
	}
	return nil
}

// keyIs reports whether the raw quoted key k spells name.
func keyIs(k []byte, name string) bool {
	inner := k[1 : len(k)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == name
	}
	var s string
	return json.Unmarshal(k, &s) == nil && s == name
}

// parseEvent decodes an event once per delivery. It checks validity with
// json.Valid first so the parser below can assume well-formed input.
func parseEvent(b []byte) (value, error) {
	if !json.Valid(b) {
		return value{}, ErrInvalidEvent
	}
	p := parser{b: b}
	return p.value(), nil
}

type parser struct {
	b []byte
	i int
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value() value {
	p.ws()
	start := p.i
	var v value
	switch p.b[p.i] {
	case '{':
		p.i++
		p.ws()
		for p.b[p.i] != '}' {
			p.ws()
			ks := p.i
			p.skipString()
			v.keys = append(v.keys, p.b[ks:p.i])
			p.ws()
			p.i++ // ':'
			v.kids = append(v.kids, p.value())
			p.ws()
			if p.b[p.i] == ',' {
				p.i++
			}
		}
		p.i++
	case '[':
		p.i++
		p.ws()
		for p.b[p.i] != ']' {
			v.kids = append(v.kids, p.value())
			p.ws()
			if p.b[p.i] == ',' {
				p.i++
			}
		}
		p.i++
	case '"':
		p.skipString()
	default: // number, true, false, null
		for p.i < len(p.b) && !isDelim(p.b[p.i]) {
			p.i++
		}
	}
	v.raw = p.b[start:p.i]
	return v
}

// skipString moves past the string starting at p.i.
func (p *parser) skipString() {
	p.i++
	for p.b[p.i] != '"' {
		if p.b[p.i] == '\\' {
			p.i++
		}
		p.i++
	}
	p.i++
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}
