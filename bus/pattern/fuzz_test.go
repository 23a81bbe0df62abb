package pattern

import (
	"errors"
	"os"
	"testing"
)

// FuzzCompileMatch checks that no pattern or event panics or hangs, that
// Compile errors wrap ErrInvalidPattern, and that Matcher.Match, Pattern.Match
// and the reference matcher agree.
func FuzzCompileMatch(f *testing.F) {
	for _, ex := range readJSONL[example](f, "examples.jsonl") {
		f.Add(ex.pattern(), ex.event())
	}
	for _, rc := range readJSONL[recorded](f, "recorded.jsonl") {
		f.Add([]byte(rc.PatternRaw), []byte(rc.EventRaw))
	}
	order, err := os.ReadFile("testdata/order_event.json")
	if err != nil {
		f.Fatal(err)
	}
	for i, bp := range readJSONL[benchPattern](f, "patterns.jsonl") {
		if i%50 == 0 {
			f.Add([]byte(bp.Pattern), order)
		}
	}
	f.Add([]byte(`{"a":[{"wildcard":"*x*y*"}],"b":{"$or":[{"c":["\u00e9"]},{"d":[{"exists":false}]}]}}`),
		[]byte(`{"a":"zxzzy","b":[{"c":"\u00e9"},{"d":[]}]}`))
	f.Fuzz(func(t *testing.T, src, event []byte) {
		p, err := Compile(src)
		if err != nil {
			if !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("Compile error %v does not wrap ErrInvalidPattern", err)
			}
			return
		}
		one, err1 := p.Match(event)
		ref, errRef := refMatchErr(p, event)
		if (err1 == nil) != (errRef == nil) {
			t.Fatalf("Pattern.Match error %v, reference error %v", err1, errRef)
		}
		if err1 != nil {
			if !errors.Is(err1, ErrInvalidEvent) {
				t.Fatalf("Match error %v does not wrap ErrInvalidEvent", err1)
			}
			return
		}
		if one != ref {
			t.Fatalf("Pattern.Match = %v, reference = %v", one, ref)
		}
		got, err := NewMatcher([]*Pattern{p, p}).Match(event, nil)
		if err != nil {
			t.Fatalf("Matcher.Match: %v", err)
		}
		if want := map[bool]int{true: 2, false: 0}[one]; len(got) != want {
			t.Fatalf("Matcher.Match = %v, Pattern.Match = %v", got, one)
		}
	})
}
