package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// leaves flattens joined errors, so that each problem is placed on its own
// line of the file.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var all []error
	for _, e := range joined.Unwrap() {
		all = append(all, leaves(e)...)
	}
	return all
}

// keyPath matches the config key a Validate error begins with, such as
// "shipping.rates[1]" or "mail.from".
var keyPath = regexp.MustCompile(`^[a-z_]+(?:\.[a-z_]+|\[[0-9]+\])*`)

// locate says where err, from the section named key, comes from: the file,
// and the line of the key it names (or of its nearest parent the file
// holds), or the environment variable that set it.
func (c *Config) locate(section string, err error) error {
	key := keyPath.FindString(err.Error())
	if key != section && !strings.HasPrefix(key, section+".") && !strings.HasPrefix(key, section+"[") {
		key = section
	}
	// A variable setting the key or, below a section, a key inside it
	// (SHOPBUS_RATE_LIMIT_RPS for http.rate_limit).
	env, set := "", false
	for name, o := range Env {
		if o.Key != "" && (o.Key == key || strings.Contains(key, ".") && strings.HasPrefix(o.Key, key+".")) {
			env = name
			if c.fromEnv[o.Key] == name {
				set = true
				break
			}
		}
	}
	var hint string
	switch {
	case env != "" && strings.Contains(err.Error(), env):
	case set:
		hint = " (from " + env + ")"
	case env != "":
		hint = " (or " + env + ")"
	}
	if line := c.line(key); line > 0 && !set {
		return fmt.Errorf("config: %s: line %d: %w%s", c.File, line, err, hint)
	}
	return fmt.Errorf("config: %s: %w%s", c.File, err, hint)
}

// line is the line of key in the file, or of its nearest parent the file
// holds; 0 when the file holds neither.
func (c *Config) line(key string) int {
	if c.doc == nil || len(c.doc.Content) == 0 {
		return 0
	}
	n, line := c.doc.Content[0], 0
	for _, step := range strings.FieldsFunc(key, func(r rune) bool { return r == '.' || r == '[' }) {
		if i, err := strconv.Atoi(strings.TrimSuffix(step, "]")); err == nil && strings.HasSuffix(step, "]") {
			if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				break
			}
			n = n.Content[i]
			line = n.Line
			continue
		}
		k, v := entry(n, step)
		if k == nil {
			break
		}
		n, line = v, k.Line
	}
	return line
}

// entry returns the key and value nodes of key in mapping node m.
func entry(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// lookup returns the value node of a top-level key.
func lookup(doc *yaml.Node, key string) *yaml.Node {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	_, v := entry(doc.Content[0], key)
	return v
}

// unknownField is how the YAML decoder reports a key no field takes.
var unknownField = regexp.MustCompile(`^line ([0-9]+): field (.+) not found in type (.+)$`)

// decodeError rewrites the YAML decoder's error so that it names the file
// and the line the problem is on, and suggests the key an unknown one
// was probably meant to be.
func decodeError(name string, src []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		line, col := syntaxPosition(src)
		if line == 0 {
			return fmt.Errorf("config: %s: %w", name, err)
		}
		// The decoder's own "yaml: line N: " points elsewhere.
		msg := yamlLine.ReplaceAllString(err.Error(), "")
		return fmt.Errorf("config: %s: line %d, column %d: %s", name, line, col, msg)
	}
	errs := make([]error, 0, len(te.Errors))
	for _, e := range te.Errors {
		if m := unknownField.FindStringSubmatch(e); m != nil {
			e = fmt.Sprintf("line %s: unknown key %q", m[1], m[2])
			if near := nearest(m[2], knownKeys()[m[3]]); near != "" {
				e += fmt.Sprintf("; did you mean `%s`?", near)
			}
		}
		errs = append(errs, fmt.Errorf("config: %s: %s", name, e))
	}
	return errors.Join(errs...)
}

var yamlLine = regexp.MustCompile(`^yaml: (line [0-9]+: )?`)

// maxScan bounds the file syntaxPosition searches, since each step parses
// a prefix of it again.
const maxScan = 5000

// syntaxPosition finds the line and column (from 1) of a syntax error in
// src, or 0, 0. The decoder's message cannot be trusted for it: for an
// error inside a block mapping it reports where the mapping starts, a
// whole-file mapping's first key for a mis-indented key far below, and
// counts that line from 0. Instead, the error is at the shortest prefix
// of the file from which every longer prefix fails to parse: cutting the
// file before it leaves valid YAML, cutting it after keeps the error.
func syntaxPosition(src []byte) (line, col int) {
	lines := bytes.SplitAfter(src, []byte("\n"))
	if len(lines) > maxScan || parses(src) {
		return 0, 0
	}
	end := len(lines) // lines[:end] fails to parse
	for end > 0 && !parses(bytes.Join(lines[:end-1], nil)) {
		end--
	}
	if end == 0 {
		return 0, 0
	}
	head := bytes.Join(lines[:end-1], nil)
	text := bytes.TrimRight(lines[end-1], "\r\n")
	n := len(text) // head+text[:n] fails to parse
	for n > 0 && !parses(append(head[:len(head):len(head)], text[:n-1]...)) {
		n--
	}
	return end, max(n, 1)
}

func parses(src []byte) bool {
	var n yaml.Node
	return yaml.Unmarshal(src, &n) == nil
}

// knownKeys lists, by the name the decoder gives a struct type, the keys
// that type takes, for every struct in Config.
func knownKeys() map[string][]string {
	keys := map[string][]string{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		if _, seen := keys[t.String()]; seen {
			return
		}
		keys[t.String()] = nil
		var names []string
		var fields func(t reflect.Type)
		fields = func(t reflect.Type) {
			for f := range t.Fields() {
				tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				switch {
				case tag == "-" || !f.IsExported():
				case opts == "inline":
					fields(f.Type)
				default:
					names = append(names, cmp.Or(tag, strings.ToLower(f.Name)))
					walk(f.Type)
				}
			}
		}
		fields(t)
		keys[t.String()] = names
	}
	walk(reflect.TypeFor[Config]())
	return keys
}

// nearest is the known key closest to key, when it is close enough to be
// a typo of it: at most a third of its letters changed.
func nearest(key string, known []string) string {
	best, bestD := "", len(key)/3+1
	for _, k := range slices.Sorted(slices.Values(known)) {
		if d := distance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
