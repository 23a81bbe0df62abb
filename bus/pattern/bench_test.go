package pattern

import (
	"encoding/json"
	"os"
	"strconv"
	"testing"
)

// benchPattern is one line of testdata/patterns.jsonl: a pattern and
// whether it matches testdata/order_event.json.
type benchPattern struct {
	Name    string          `json:"name"`
	Match   bool            `json:"match"`
	Pattern json.RawMessage `json:"pattern"`
}

func loadBench(t testing.TB) ([]byte, []benchPattern, []*Pattern) {
	t.Helper()
	event, err := os.ReadFile("testdata/order_event.json")
	if err != nil {
		t.Fatal(err)
	}
	bps := readJSONL[benchPattern](t, "patterns.jsonl")
	ps := make([]*Pattern, len(bps))
	for i, bp := range bps {
		if ps[i], err = Compile(bp.Pattern); err != nil {
			t.Fatalf("%s: %v", bp.Name, err)
		}
	}
	return event, bps, ps
}

func TestBenchPatterns(t *testing.T) {
	event, bps, ps := loadBench(t)
	var want []int
	for i, bp := range bps {
		got, err := ps[i].Match(event)
		if err != nil {
			t.Fatal(err)
		}
		if got != bp.Match {
			t.Errorf("%s: Match = %v, want %v: %s", bp.Name, got, bp.Match, bp.Pattern)
		}
		if ref := refMatch(t, ps[i], event); ref != bp.Match {
			t.Errorf("%s: reference matcher = %v, want %v", bp.Name, ref, bp.Match)
		}
		if bp.Match {
			want = append(want, i)
		}
	}
	got, err := NewMatcher(ps).Match(event, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !equalInts(got, want) {
		t.Errorf("Matcher.Match = %v, want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func BenchmarkMatch(b *testing.B) {
	event, bps, ps := loadBench(b)
	for _, n := range []int{1, 10, 100, 1000} {
		want := 0
		for _, bp := range bps[:n] {
			if bp.Match {
				want++
			}
		}
		m := NewMatcher(ps[:n])
		b.Run("N="+strconv.Itoa(n), func(b *testing.B) {
			dst := make([]int, 0, n)
			b.ReportAllocs()
			b.SetBytes(int64(len(event)))
			for b.Loop() {
				got, err := m.Match(event, dst[:0])
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != want {
					b.Fatalf("%d matches, want %d", len(got), want)
				}
			}
		})
	}
}

// BenchmarkPatternMatch measures one pattern's own Match, which callers
// with a single rule use.
func BenchmarkPatternMatch(b *testing.B) {
	event, _, ps := loadBench(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ps[0].Match(event); err != nil {
			b.Fatal(err)
		}
	}
}
