package pattern

import (
	"strings"
	"testing"
)

// complexityCase is one line of testdata/complexity.jsonl: the wildcard
// patterns of one event-ruler byte machine and the complexity event-ruler's
// own tests expect of it.
type complexityCase struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	Terms  []struct {
		Wildcard    []string `json:"wildcard"`
		AnythingBut []string `json:"anything_but_wildcard"`
	} `json:"terms"`
	Complexity int `json:"complexity"`
}

// TestMachineComplexity holds the evaluator to event-ruler's expectations,
// with event-ruler's test limit of 100. Those machines hold bare values,
// without the quotes a rule's strings get.
func TestMachineComplexity(t *testing.T) {
	for _, tc := range readJSONL[complexityCase](t, "complexity.jsonl") {
		t.Run(tc.Name, func(t *testing.T) {
			var terms []wildTerm
			seen := map[string]bool{}
			for _, term := range tc.Terms {
				srcs := append(term.Wildcard, term.AnythingBut...)
				id := strings.Join(srcs, "\x00")
				if term.AnythingBut != nil {
					id = "not\x00" + id
				}
				if seen[id] {
					continue // a machine holds a pattern once
				}
				seen[id] = true
				var wt wildTerm
				for _, s := range srcs {
					w, err := compileWildcard(s)
					if err != nil {
						t.Fatal(err)
					}
					wt = append(wt, w.tokens())
				}
				terms = append(terms, wt)
			}
			if got := machineComplexity(terms, false, 100); got != tc.Complexity {
				t.Errorf("complexity %d, event-ruler says %d (%s)", got, tc.Complexity, tc.Source)
			}
		})
	}
}

// TestPatternComplexity measures whole patterns, whose machines sit behind
// the name states of the fields before them, as event-ruler builds them.
func TestPatternComplexity(t *testing.T) {
	tests := []struct {
		name, pattern string
		want          int
	}{
		{"event-ruler testEvaluateNestedMachinesViaNextNameStates",
			`{"abc": [{"prefix": "a"}, "abcdef", {"suffix": "z"}], "def": [{"prefix": "b"}, {"wildcard": "a*a*a*a*a*a*"}, {"suffix": "c"}], "ghi": [{"prefix": "a"}, "abcdef", {"suffix": "z"}]}`, 11},
		{"AWS refuses", `{"EventBusArn": [{"wildcard": "*:*:*:*:*:event-bus/*"}]}`, 11},
		{"AWS accepts", `{"FileName": [{"wildcard": "/Users/*/dir/dir/dir/dir/dir/doc.txt"}]}`, 7},
		{"no wildcard", `{"a": ["x"]}`, 0},
		{"$or alternatives share the root machine",
			`{"$or": [{"k": [{"wildcard": "*/datasync/*.bif"}]}, {"k": [{"wildcard": "*/datasync/*.tif"}]}]}`, 8},
		{"$or alternatives behind different values do not",
			`{"$or": [{"a": ["1"], "k": [{"wildcard": "*/datasync/*.bif"}]}, {"a": ["2"], "k": [{"wildcard": "*/datasync/*.tif"}]}]}`, 4},
		{"four wildcards in one field", `{"k": [{"wildcard": "*/datasync/*.bif"}, {"wildcard": "*/datasync/*.tif"}, {"wildcard": "*/datasync/*.tiff"}, {"wildcard": "*/datasync/*.svs"}]}`, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &compiler{ids: map[string]int{}}
			root, err := c.parse([]byte(tt.pattern))
			if err != nil {
				t.Fatal(err)
			}
			if got := patternComplexity(root, c.paths, 100); got != tt.want {
				t.Errorf("complexity %d, want %d", got, tt.want)
			}
			_, err = Compile([]byte(tt.pattern))
			if refused := err != nil; refused != (tt.want > maxComplexity) {
				t.Errorf("Compile: %v, with complexity %d against the limit %d", err, tt.want, maxComplexity)
			}
			if err != nil && !strings.Contains(err.Error(), reasonTooComplex) {
				t.Errorf("refused for another reason: %v", err)
			}
		})
	}
}
