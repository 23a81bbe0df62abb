package pattern

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
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
	stack []frame
}

// frame is an open object or array and the trie node of its path.
type frame struct {
	n   *trieNode
	obj bool
}

func newScratch(m *Matcher) *scratch {
	return &scratch{
		m:     m,
		heads: make([]int32, m.nf),
		cand:  make([]uint64, len(m.always)),
	}
}

func (s *scratch) record(f int32, v value) {
	v.next = s.heads[f]
	s.heads[f] = int32(len(s.vals))
	s.vals = append(s.vals, v)
}

func badEvent(b []byte, i int, msg string) error {
	if i >= len(b) {
		return fmt.Errorf("%w: %s at end of input", ErrInvalidEvent, msg)
	}
	return fmt.Errorf("%w: %s at offset %d", ErrInvalidEvent, msg, i)
}

// scan validates the event in one pass and records, for every field some
// pattern uses, its leaf values. Subtrees no pattern mentions are only
// validated. It is a loop over an explicit stack rather than recursion:
// this is the hot path, and locals beat struct fields and calls.
func (s *scratch) scan(b []byte) error {
	for i := range s.heads {
		s.heads[i] = -1
	}
	s.vals, s.buf = s.vals[:0], s.buf[:0]
	stack, err := s.walk(b, s.stack[:0])
	s.stack = stack[:0]
	return err
}

// walk is scan's loop; it returns the stack so its storage is reused.
func (s *scratch) walk(b []byte, stack []frame) ([]frame, error) {
	var (
		n   *trieNode // node of the value about to be scanned
		top *frame
		str []byte
		err error
		ok  bool
	)
	fail := func(i int, msg string) ([]frame, error) { return stack, badEvent(b, i, msg) }
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return stack, fmt.Errorf("%w: not a JSON object", ErrInvalidEvent)
	}
	n = s.m.root

value:
	i = skipWS(b, i)
	if i >= len(b) {
		return fail(i, "unexpected end")
	}
	switch c := b[i]; c {
	case '{', '[':
		if len(stack) >= maxDepth {
			return fail(i, "nested too deeply")
		}
		stack = append(stack, frame{n: n, obj: c == '{'})
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == c+2 { // '}' or ']'
			i++
			stack = stack[:len(stack)-1]
			goto next
		}
		if c == '{' {
			goto key
		}
		goto value // elements of an array share its node: arrays flatten
	case '"':
		if n == nil || n.field < 0 {
			if i = skipString(b, i); i < 0 {
				return fail(-i, "invalid string")
			}
			goto next
		}
		if str, i, err = s.str(b, i); err != nil {
			return stack, err
		}
		s.record(n.field, value{kind: vString, raw: str})
	case 't':
		if i, ok = literal(b, i, "true"); !ok {
			return fail(i, "invalid literal")
		}
		s.recordKind(n, vTrue)
	case 'f':
		if i, ok = literal(b, i, "false"); !ok {
			return fail(i, "invalid literal")
		}
		s.recordKind(n, vFalse)
	case 'n':
		if i, ok = literal(b, i, "null"); !ok {
			return fail(i, "invalid literal")
		}
		s.recordKind(n, vNull)
	default:
		start := i
		if i = skipNumber(b, i); i < 0 {
			return fail(-i, "invalid number")
		}
		if n != nil && n.field >= 0 {
			v := value{kind: vNumber, raw: b[start:i]}
			v.num, v.numOK = parseNum(v.raw)
			s.record(n.field, v)
		}
	}

next: // a value ended; what follows depends on the enclosing container
	if len(stack) == 0 {
		if i = skipWS(b, i); i != len(b) {
			return fail(i, "data after the top-level object")
		}
		return stack, nil
	}
	i = skipWS(b, i)
	if i >= len(b) {
		return fail(i, "unexpected end")
	}
	top = &stack[len(stack)-1]
	switch b[i] {
	case ',':
		i++
		if top.obj {
			goto key
		}
		n = top.n
		goto value
	case '}':
		if top.obj {
			i++
			stack = stack[:len(stack)-1]
			goto next
		}
	case ']':
		if !top.obj {
			i++
			stack = stack[:len(stack)-1]
			goto next
		}
	}
	return fail(i, "expected ',' or the end of the container")

key:
	i = skipWS(b, i)
	if i >= len(b) || b[i] != '"' {
		return fail(i, "expected object key")
	}
	top = &stack[len(stack)-1]
	if top.n != nil && len(top.n.keys) > 0 {
		if str, i, err = s.str(b, i); err != nil {
			return stack, err
		}
		if n = top.n.child(str); n == nil && bytes.IndexByte(str, '.') >= 0 {
			n = top.n.dotted(str)
		}
	} else {
		if i = skipString(b, i); i < 0 {
			return fail(-i, "invalid string")
		}
		n = nil
	}
	i = skipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		return fail(i, "expected ':'")
	}
	i++
	goto value
}

func (s *scratch) recordKind(n *trieNode, k valKind) {
	if n != nil && n.field >= 0 {
		s.record(n.field, value{kind: k})
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// skipNumber returns the index after the number at i, or -(error index).
func skipNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return -i
	}
	if i < len(b) && b[i] == '.' {
		d := digits(b, i+1)
		if d == i+1 {
			return -d
		}
		i = d
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := digits(b, i)
		if d == i {
			return -d
		}
		i = d
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// SWAR constants: eight bytes are tested at once for the characters that
// end the fast path of a string.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialAt returns the index of the first byte at or after i that is '"',
// '\\' or a control character, or with ascii also any non-ASCII byte; or
// len(b). The lowest flagged byte of each SWAR test is exact, because
// borrows only travel upwards from a byte that is itself flagged.
func specialAt(b []byte, i int, ascii bool) int {
	var hi uint64
	if ascii {
		hi = highs
	}
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ (ones * '"')
		bs := x ^ (ones * '\\')
		t := ((q-ones)&^q | (bs-ones)&^bs | (x-ones*0x20)&^x | x&hi) & highs
		if t != 0 {
			return i + bits.TrailingZeros64(t)>>3
		}
		i += 8
	}
	for i < len(b) {
		c := b[i]
		if c == '"' || c == '\\' || c < 0x20 || (ascii && c >= 0x80) {
			return i
		}
		i++
	}
	return i
}

// skipString validates the string whose quote is at i and returns the
// index after its closing quote, or -(error index).
func skipString(b []byte, i int) int {
	i++
	for {
		i = specialAt(b, i, false)
		if i >= len(b) {
			return -i
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			n, ok := escapeLen(b[i:])
			if !ok {
				return -i
			}
			i += n
		default:
			return -i
		}
	}
}

// str scans the string whose quote is at i and returns its unescaped
// content and the index after it. Content that needs no unescaping is a
// slice of b; otherwise it is decoded into s.buf like encoding/json does.
func (s *scratch) str(b []byte, i int) ([]byte, int, error) {
	start := i + 1
	j := specialAt(b, start, true)
	if j < len(b) && b[j] == '"' {
		return b[start:j], j + 1, nil
	}
	return s.decodeStr(b, start, j)
}
