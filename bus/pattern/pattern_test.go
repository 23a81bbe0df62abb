package pattern

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// example is one documented pattern/event pair from testdata/examples.jsonl.
// PatternRaw and EventRaw hold texts that JSON re-encoding would change
// (duplicate keys, 3.0e2).
type example struct {
	Name       string          `json:"name"`
	Source     string          `json:"source"`
	Pattern    json.RawMessage `json:"pattern"`
	PatternRaw string          `json:"pattern_raw"`
	Event      json.RawMessage `json:"event"`
	EventRaw   string          `json:"event_raw"`
	Match      bool            `json:"match"`
	Note       string          `json:"note"`
}

func (e example) pattern() []byte {
	if e.PatternRaw != "" {
		return []byte(e.PatternRaw)
	}
	return e.Pattern
}

func (e example) event() []byte {
	if e.EventRaw != "" {
		return []byte(e.EventRaw)
	}
	return e.Event
}

// readJSONL decodes every line of a testdata file into a T.
func readJSONL[T any](t testing.TB, name string) []T {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDocumentedExamples(t *testing.T) {
	for _, ex := range readJSONL[example](t, "examples.jsonl") {
		t.Run(ex.Name, func(t *testing.T) {
			p, err := Compile(ex.pattern())
			if err != nil {
				t.Fatalf("Compile (%s): %v", ex.Source, err)
			}
			got, err := p.Match(ex.event())
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if got != ex.Match {
				t.Errorf("Match = %v, want %v (%s) %s\npattern %s\nevent %s", got, ex.Match, ex.Source, ex.Note, ex.pattern(), ex.event())
			}
			if want := refMatch(t, p, ex.event()); want != got {
				t.Errorf("reference matcher says %v", want)
			}
		})
	}
}

func TestInvalidPatterns(t *testing.T) {
	type invalid struct {
		Name    string `json:"name"`
		Source  string `json:"source"`
		Pattern string `json:"pattern"`
		Error   string `json:"error"`
	}
	for _, tc := range readJSONL[invalid](t, "invalid.jsonl") {
		t.Run(tc.Name, func(t *testing.T) {
			p, err := Compile([]byte(tc.Pattern))
			if err == nil {
				t.Fatalf("Compile accepted %s (%s)", p, tc.Source)
			}
			if !errors.Is(err, ErrInvalidPattern) {
				t.Errorf("error %v does not wrap ErrInvalidPattern", err)
			}
			if !strings.HasPrefix(err.Error(), "pattern: ") || !strings.Contains(err.Error(), tc.Error) {
				t.Errorf("error %q, want it to contain %q", err, tc.Error)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		pattern string
		want    string
	}{
		{`{"detail":{"order_state":"new"}}`, `pattern: detail.order_state: value must be an array, got string (EventBridge: "order_state" must be an object or an array)`},
		{`{"detail":{"total":[{"numerc":[">",1]}]}}`, `pattern: detail.total: unknown operator "numerc" (EventBridge: Unrecognized match type numerc)`},
		{`{}`, `pattern: pattern has no fields (EventBridge: Empty objects are not allowed)`},
		{`{"a":[{"anything-but":{"prefix":""}}]}`, `pattern: a: anything-but prefix must not be empty (EventBridge: Null prefix/suffix not allowed)`},
	}
	for _, tt := range tests {
		_, err := Compile([]byte(tt.pattern))
		if err == nil || err.Error() != tt.want {
			t.Errorf("Compile(%s) = %v, want %s", tt.pattern, err, tt.want)
		}
		var pe *PatternError
		if !errors.As(err, &pe) {
			t.Errorf("Compile(%s): not a *PatternError", tt.pattern)
		}
	}
}

func TestInvalidEvents(t *testing.T) {
	p, err := Compile([]byte(`{"a":[{"exists":false}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{
		``, ` `, `[]`, `"a"`, `1`, `null`, `{`, `{"a":1`, `{"a":1,}`, `{"a" 1}`, `{"a":tru}`,
		`{"a":01}`, `{"a":1.}`, `{"a":1e}`, `{"a":-}`, `{"a":"\x01"}`, `{"a":"\q"}`, `{"a":"\u12"}`,
		`{"a":"x}`, `{"b":[1,2}`, `{"a":1} x`, `{"a":1}{}`, `{1:2}`,
		`{"a":{"b":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}}`,
	} {
		ok, err := p.Match([]byte(ev))
		if !errors.Is(err, ErrInvalidEvent) || ok {
			t.Errorf("Match(%q) = %v, %v; want ErrInvalidEvent", ev, ok, err)
		}
		m := NewMatcher([]*Pattern{p, p})
		if got, err := m.Match([]byte(ev), nil); !errors.Is(err, ErrInvalidEvent) || len(got) != 0 {
			t.Errorf("Matcher.Match(%q) = %v, %v; want ErrInvalidEvent", ev, got, err)
		}
	}
}

func TestString(t *testing.T) {
	src := `{ "source": ["aws.ec2"] }`
	p, err := Compile([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != src {
		t.Errorf("String() = %q, want %q", p.String(), src)
	}
}
