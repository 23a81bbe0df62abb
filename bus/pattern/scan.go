package pattern

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth matches encoding/json's nesting limit, so both accept the same
// events.
const maxDepth = 10000

// scratch is the per-call state of Matcher.Match, pooled so that steady
// state matching does not allocate.
type scratch struct {
	m     *Matcher
	heads []int32 // per field: first value in vals, or -1
	vals  []value
	buf   []byte // unescaped strings; earlier slices stay valid on growth
	cand  []uint64

	b     []byte // the event being scanned
	i     int
	depth int
}

func newScratch(m *Matcher) *scratch {
	return &scratch{
		m:     m,
		heads: make([]int32, m.nf),
		cand:  make([]uint64, len(m.always)),
	}
}

// scan validates the event and records, per wanted field, its leaf values.
func (s *scratch) scan(event []byte) error {
	for i := range s.heads {
		s.heads[i] = -1
	}
	s.vals, s.buf = s.vals[:0], s.buf[:0]
	s.b, s.i, s.depth = event, 0, 0
	defer func() { s.b = nil }() // don't pin the caller's event in the pool
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return fmt.Errorf("%w: not a JSON object", ErrInvalidEvent)
	}
	if err := s.value(s.m.root); err != nil {
		return err
	}
	s.ws()
	if s.i != len(s.b) {
		return s.fail("data after the top-level object")
	}
	return nil
}

func (s *scratch) fail(msg string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrInvalidEvent, msg, s.i)
}

func (s *scratch) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one JSON value. n is the trie node for its path, nil when no
// pattern looks at or below it.
func (s *scratch) value(n *trieNode) error {
	s.ws()
	if s.i >= len(s.b) {
		return s.fail("unexpected end")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(n)
	case c == '[':
		return s.array(n)
	case c == '"':
		want := n != nil && n.field >= 0
		str, err := s.str(want)
		if err == nil && want {
			s.record(n.field, value{kind: vString, raw: str})
		}
		return err
	case c == 't':
		return s.literal("true", n, vTrue)
	case c == 'f':
		return s.literal("false", n, vFalse)
	case c == 'n':
		return s.literal("null", n, vNull)
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number(n)
	}
	return s.fail("unexpected character")
}

func (s *scratch) record(f int32, v value) {
	v.next = s.heads[f]
	s.heads[f] = int32(len(s.vals))
	s.vals = append(s.vals, v)
}

func (s *scratch) literal(lit string, n *trieNode, k valKind) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.fail("invalid literal")
	}
	s.i += len(lit)
	if n != nil && n.field >= 0 {
		s.record(n.field, value{kind: k})
	}
	return nil
}

func (s *scratch) number(n *trieNode) error {
	b, start := s.b, s.i
	i := s.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		s.i = i
		return s.fail("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			s.i = i
			return s.fail("invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			s.i = i
			return s.fail("invalid number")
		}
	}
	s.i = i
	if n != nil && n.field >= 0 {
		v := value{kind: vNumber, raw: b[start:i]}
		v.num, v.numOK = parseNum(v.raw)
		s.record(n.field, v)
	}
	return nil
}

func (s *scratch) object(n *trieNode) error {
	s.i++ // '{'
	if s.depth++; s.depth > maxDepth {
		return s.fail("nested too deeply")
	}
	wantKeys := n != nil && len(n.keys) > 0
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.depth--
		return nil
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.fail("expected object key")
		}
		key, err := s.str(wantKeys)
		if err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.fail("expected ':'")
		}
		s.i++
		var kid *trieNode
		if wantKeys {
			kid = n.child(key)
		}
		if err := s.value(kid); err != nil {
			return err
		}
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			continue
		}
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			s.depth--
			return nil
		}
		return s.fail("expected ',' or '}'")
	}
}

// array scans an array whose elements all belong to n's path: arrays are
// flattened, so scalars are values of n and objects are searched with n's
// children.
func (s *scratch) array(n *trieNode) error {
	s.i++ // '['
	if s.depth++; s.depth > maxDepth {
		return s.fail("nested too deeply")
	}
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.depth--
		return nil
	}
	for {
		if err := s.value(n); err != nil {
			return err
		}
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			continue
		}
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			s.depth--
			return nil
		}
		return s.fail("expected ',' or ']'")
	}
}

// plain marks the bytes a string can hold with no special handling:
// printable ASCII other than '"' and '\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans a string starting at its opening quote. With decode it returns
// the unescaped content (a slice of the event when nothing needed
// unescaping), decoding like encoding/json: invalid UTF-8 and lone
// surrogates become U+FFFD.
func (s *scratch) str(decode bool) ([]byte, error) {
	b := s.b
	start := s.i + 1
	i := start
	for i < len(b) && plain[b[i]] {
		i++
	}
	if i < len(b) && b[i] == '"' {
		s.i = i + 1
		return b[start:i], nil
	}
	if !decode {
		return nil, s.skipStr(i)
	}
	return s.decodeStr(start, i)
}

// skipStr validates the rest of a string from i without decoding it.
func (s *scratch) skipStr(i int) error {
	b := s.b
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return nil
		case c == '\\':
			n, ok := escapeLen(b[i:])
			if !ok {
				s.i = i
				return s.fail("invalid escape")
			}
			i += n
		case c < 0x20:
			s.i = i
			return s.fail("control character in string")
		default:
			i++
		}
	}
	s.i = i
	return s.fail("unterminated string")
}

// escapeLen returns the length of the escape sequence at the start of b.
func escapeLen(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, true
	case 'u':
		if len(b) < 6 {
			return 0, false
		}
		if _, ok := hex4(b[2:6]); !ok {
			return 0, false
		}
		return 6, true
	}
	return 0, false
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}

// decodeStr unescapes a string whose plain run ended at i, into s.buf.
func (s *scratch) decodeStr(start, i int) ([]byte, error) {
	b := s.b
	out := len(s.buf)
	s.buf = append(s.buf, b[start:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return s.buf[out:len(s.buf):len(s.buf)], nil
		case c == '\\':
			n, ok := escapeLen(b[i:])
			if !ok {
				s.i = i
				return nil, s.fail("invalid escape")
			}
			if n == 2 {
				s.buf = append(s.buf, unescape(b[i+1]))
				i += 2
				continue
			}
			r, _ := hex4(b[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(b)-i >= 6 && b[i] == '\\' && b[i+1] == 'u' {
					r2, _ = hex4(b[i+2:])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			s.buf = utf8.AppendRune(s.buf, r)
		case c < 0x20:
			s.i = i
			return nil, s.fail("control character in string")
		case c < utf8.RuneSelf:
			s.buf = append(s.buf, c)
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			s.buf = utf8.AppendRune(s.buf, r)
			i += n
		}
	}
	s.i = i
	return nil, s.fail("unterminated string")
}

func unescape(c byte) byte {
	switch c {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return c // '"', '\\', '/'
}
