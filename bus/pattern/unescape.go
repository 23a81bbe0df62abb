package pattern

import (
	"unicode/utf16"
	"unicode/utf8"
)

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

// decodeStr unescapes, into s.buf, the string starting at start whose plain
// run ended at i. Like encoding/json, invalid UTF-8 and lone surrogates
// become U+FFFD, so both read the same text.
func (s *scratch) decodeStr(b []byte, start, i int) ([]byte, int, error) {
	out := len(s.buf)
	s.buf = append(s.buf, b[start:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return s.buf[out:len(s.buf):len(s.buf)], i + 1, nil
		case c == '\\':
			n, ok := escapeLen(b[i:])
			if !ok {
				return nil, 0, badEvent(b, i, "invalid escape")
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
					if x, ok := hex4(b[i+2:]); ok {
						r2 = x
					}
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
			return nil, 0, badEvent(b, i, "control character in string")
		case c < utf8.RuneSelf:
			s.buf = append(s.buf, c)
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			s.buf = utf8.AppendRune(s.buf, r)
			i += n
		}
	}
	return nil, 0, badEvent(b, i, "unterminated string")
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
