package transform

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// appendCompact appends the valid JSON raw without insignificant
// whitespace. When dropQuotes is set it also leaves out every string
// delimiter, which is how EventBridge renders an object or array
// referenced inside a string ("removes any internal quotes to ensure a
// valid string"); escape sequences inside the strings are kept as written.
func appendCompact(dst, raw []byte, dropQuotes bool) []byte {
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case inString && c == '\\' && i+1 < len(raw):
			dst = append(dst, c, raw[i+1])
			i++
		case c == '"':
			inString = !inString
			if !dropQuotes {
				dst = append(dst, c)
			}
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendText appends v as text: a string's characters, a number or
// literal as written, an object or array as compact JSON without quotes.
func appendText(dst []byte, v *value) []byte {
	switch v.kind() {
	case '"':
		inner := v.raw[1 : len(v.raw)-1]
		if bytes.IndexByte(inner, '\\') < 0 {
			return append(dst, inner...)
		}
		var s string
		if json.Unmarshal(v.raw, &s) != nil {
			return append(dst, inner...)
		}
		return append(dst, s...)
	case '{', '[':
		return appendCompact(dst, v.raw, true)
	}
	return append(dst, v.raw...)
}

// appendEscaped appends s escaped for use inside a JSON string, so that
// no event value can end the string early or smuggle in raw control
// characters. Invalid UTF-8 becomes U+FFFD, as encoding/json does.
func appendEscaped(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

// appendQuoted appends s as a JSON string literal.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, []byte(s))
	return append(dst, '"')
}
