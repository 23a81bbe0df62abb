package pattern

import (
	"fmt"
	"testing"
)

// TestMatcherAgrees builds one Matcher over every documented pattern and
// checks, event by event, that it reports exactly the patterns whose own
// Match says true. Many patterns share fields, so this exercises the
// exact, prefix and anything-but indexes against full evaluation.
func TestMatcherAgrees(t *testing.T) {
	exs := readJSONL[example](t, "examples.jsonl")
	ps := make([]*Pattern, len(exs))
	for i, ex := range exs {
		var err error
		if ps[i], err = Compile(ex.pattern()); err != nil {
			t.Fatalf("%s: %v", ex.Name, err)
		}
	}
	extra := []string{
		`{"source":[{"anything-but":["aws.ec2","x"]}]}`,
		`{"source":[{"anything-but":["y"]}],"detail-type":["EC2 Instance State-change Notification"]}`,
		`{"source":[{"prefix":"aws."},{"prefix":"aws"}]}`,
		`{"source":[{"prefix":""}]}`,
		`{"resources":[{"anything-but":["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}]}`,
		`{"detail":{"state":[{"anything-but":"running"}]}}`,
	}
	for _, src := range extra {
		p, err := Compile([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, rc := range readJSONL[recorded](t, "recorded.jsonl") {
		if p, err := Compile([]byte(rc.PatternRaw)); err == nil && rc.EventError == "" {
			ps = append(ps, p)
			exs = append(exs, example{Name: rc.Name, EventRaw: rc.EventRaw})
		}
	}
	m := NewMatcher(ps)
	for _, ex := range exs {
		var want []int
		for i, p := range ps {
			ok, err := p.Match(ex.event())
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				want = append(want, i)
			}
		}
		got, err := m.Match(ex.event(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !equalInts(got, want) {
			t.Errorf("event of %q: Matcher.Match = %v, want %v", ex.Name, got, want)
		}
	}
}

func TestMatcherEmpty(t *testing.T) {
	got, err := NewMatcher(nil).Match([]byte(`{"a":1}`), []int{7})
	if err != nil || len(got) != 1 || got[0] != 7 {
		t.Errorf("Match = %v, %v; want [7], nil", got, err)
	}
}

// TestMatcherConcurrent shares one Matcher between goroutines; run it with
// -race.
func TestMatcherConcurrent(t *testing.T) {
	event, bps, ps := loadBench(t)
	m := NewMatcher(ps)
	want := 0
	for _, bp := range bps {
		if bp.Match {
			want++
		}
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			var dst []int
			for range 200 {
				var err error
				if dst, err = m.Match(event, dst[:0]); err != nil || len(dst) != want {
					errs <- fmt.Errorf("got %d matches, %v; want %d", len(dst), err, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestArrayElementsCombine pins the choice doc.go explains: conditions on
// one array of objects may be met by different elements.
func TestArrayElementsCombine(t *testing.T) {
	p, err := Compile([]byte(`{"a":{"x":["1"],"y":["2"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		event string
		want  bool
	}{
		{`{"a":[{"x":"1","y":"3"},{"x":"4","y":"2"}]}`, true},
		{`{"a":[{"x":"1","y":"3"},{"x":"4","y":"5"}]}`, false},
	} {
		if got, err := p.Match([]byte(tc.event)); err != nil || got != tc.want {
			t.Errorf("Match(%s) = %v, %v; want %v", tc.event, got, err, tc.want)
		}
	}
}
