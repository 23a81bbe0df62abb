package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Limits EventBridge puts on an InputTransformer.
const (
	maxTemplateLen = 8192
	maxVariables   = 100
	maxNameLen     = 256
)

// The predefined variables. They are reserved: a paths map may not define them.
const (
	varRuleARN       = "aws.events.rule-arn"
	varRuleName      = "aws.events.rule-name"
	varEvent         = "aws.events.event"
	varEventJSON     = "aws.events.event.json"
	varIngestionTime = "aws.events.event.ingestion-time"
)

func isReserved(name string) bool {
	switch name {
	case varRuleARN, varRuleName, varEvent, varEventJSON, varIngestionTime:
		return true
	}
	return false
}

// segment is literal template text followed by an optional placeholder.
type segment struct {
	lit      string
	name     string // placeholder name, "" for the final literal
	inString bool   // placeholder sits inside a quoted string
}

// template is a compiled InputTemplate.
type template struct {
	segs []segment
	// json is set when the template is a JSON object or array; otherwise
	// it is a string template whose output is plain text.
	json bool
}

// compileTemplate splits src into segments and checks it the way
// EventBridge does: every placeholder defined, none used as an object key,
// the event placeholders only as JSON values, JSON templates valid JSON.
func compileTemplate(src string, defined map[string]jsonPath) (*template, error) {
	if src == "" || len(src) > maxTemplateLen {
		return nil, fmt.Errorf("input_template must be 1 to %d characters", maxTemplateLen)
	}
	trimmed := strings.TrimSpace(src)
	switch {
	case strings.HasPrefix(trimmed, "{"):
		return scanTemplate(src, defined, true)
	case strings.HasPrefix(trimmed, "["):
		// An array template is JSON only if it is valid JSON; text such as
		// "[<level>] order <id> failed" stays a string template.
		if t, err := scanTemplate(src, defined, true); err == nil {
			return t, nil
		}
	}
	return scanTemplate(src, defined, false)
}

func scanTemplate(src string, defined map[string]jsonPath, asJSON bool) (*template, error) {
	t := &template{json: asJSON}
	inString, keyCheck := false, false
	lit := 0
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			if inString && keyCheck && t.json && nextIsColon(src[i+1:]) {
				return nil, fmt.Errorf("input_template: a placeholder cannot be used as an object key")
			}
			inString, keyCheck = !inString, false
		case c == '<':
			end := strings.IndexByte(src[i+1:], '>')
			if end < 0 || !isPlaceholder(src[i+1:i+1+end]) {
				continue
			}
			name := src[i+1 : i+1+end]
			if _, ok := defined[name]; !ok && !isReserved(name) {
				return nil, fmt.Errorf("input_template: <%s> is neither in input_paths_map nor a predefined variable", name)
			}
			if (name == varEvent || name == varEventJSON) && (!t.json || inString) {
				return nil, fmt.Errorf("input_template: <%s> can only be used as the value of a JSON field", name)
			}
			if t.json && !inString && nextIsColon(src[i+end+2:]) {
				return nil, fmt.Errorf("input_template: a placeholder cannot be used as an object key")
			}
			t.segs = append(t.segs, segment{lit: src[lit:i], name: name, inString: inString})
			keyCheck = keyCheck || inString
			i += end + 1
			lit = i + 1
		}
	}
	t.segs = append(t.segs, segment{lit: src[lit:]})
	if t.json && !json.Valid(t.render(nil, func(string) *value { return nil })) {
		return nil, fmt.Errorf("input_template starts like JSON but is not valid JSON")
	}
	return t, nil
}

// isPlaceholder reports whether the text between < and > names a
// variable. Anything else, such as "a < b", stays literal text.
func isPlaceholder(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '/' || (!isNameByte(c) && c != '.') {
			return false
		}
	}
	return true
}

func nextIsColon(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	return s != "" && s[0] == ':'
}

// render appends the template filled with the values lookup returns; a
// nil value is a variable whose path selected nothing.
func (t *template) render(dst []byte, lookup func(string) *value) []byte {
	for _, s := range t.segs {
		dst = append(dst, s.lit...)
		if s.name == "" {
			continue
		}
		v := lookup(s.name)
		switch {
		case !t.json:
			dst = appendPlain(dst, v, s.inString)
		case s.inString && v != nil && v.isContainer():
			// AWS puts an object's or array's JSON inside the quotes as it
			// is, quotes and all. That is seldom JSON, and then AWS sends
			// nothing: Apply reports ErrNotJSON.
			dst = appendCompact(dst, v.raw, false)
		case s.inString && v != nil:
			// Inside a JSON string the value's text is escaped, so a quote,
			// backslash or newline in an event value cannot break the output.
			dst = appendEscaped(dst, appendText(nil, v))
		case s.inString:
		case v == nil:
			// A bare placeholder whose path selected nothing: AWS delivers
			// an empty string, though its guide says no variable is made.
			dst = append(dst, `""`...)
		default:
			// A bare value is inserted as JSON: strings keep their quotes,
			// objects and arrays stay structured.
			dst = append(dst, v.raw...)
		}
	}
	return dst
}

// appendPlain fills a placeholder of a string template. EventBridge does
// not escape values here, so the output is text, not necessarily JSON.
func appendPlain(dst []byte, v *value, inString bool) []byte {
	switch {
	case v == nil:
		return dst
	case v.isContainer() && !inString:
		return appendCompact(dst, v.raw, false)
	}
	return appendText(dst, v)
}

// compact is the last step for a JSON template: EventBridge passes the
// target minified JSON.
func compact(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(b))
	if err := json.Compact(&buf, b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	return buf.Bytes(), nil
}
