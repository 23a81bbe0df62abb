package pattern

import (
	"errors"
	"strings"
	"testing"
)

// recorded is one line of testdata/recorded.jsonl: a pattern and an event
// as AWS received them in a test recorded against EventBridge itself, with
// what AWS answered: match, or the reason it refused the pattern (error),
// or that it refused the event (event_error).
type recorded struct {
	Name       string `json:"name"`
	Source     string `json:"source"`
	PatternRaw string `json:"pattern_raw"`
	EventRaw   string `json:"event_raw"`
	Match      *bool  `json:"match"`
	Error      string `json:"error"`
	EventError string `json:"event_error"`
	Note       string `json:"note"`
}

// TestRecordedOnAWS holds the matcher to every answer EventBridge gave in
// LocalStack's AWS-validated snapshot tests.
func TestRecordedOnAWS(t *testing.T) {
	cases := readJSONL[recorded](t, "recorded.jsonl")
	if len(cases) < 170 {
		t.Fatalf("%d recorded cases, want them all", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			p, err := Compile([]byte(tc.PatternRaw))
			if tc.Error != "" {
				if err == nil {
					t.Fatalf("Compile accepted %s; AWS refused it: %s (%s)", tc.PatternRaw, tc.Error, tc.Source)
				}
				if !errors.Is(err, ErrInvalidPattern) {
					t.Errorf("error %v does not wrap ErrInvalidPattern", err)
				}
				if !strings.Contains(err.Error(), tc.Error) {
					t.Errorf("error %q does not give AWS's reason %q", err, tc.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compile: %v; AWS accepted %s (%s)", err, tc.PatternRaw, tc.Source)
			}
			got, err := p.Match([]byte(tc.EventRaw))
			if tc.EventError != "" {
				if !errors.Is(err, ErrInvalidEvent) {
					t.Fatalf("Match = %v, %v; AWS refused the event: %s", got, err, tc.EventError)
				}
				return
			}
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if tc.Match == nil {
				t.Fatal("case has neither match, error nor event_error")
			}
			if got != *tc.Match {
				t.Errorf("Match = %v, AWS said %v (%s) %s\npattern %s\nevent %s", got, *tc.Match, tc.Source, tc.Note, tc.PatternRaw, tc.EventRaw)
			}
			if ref := refMatch(t, p, []byte(tc.EventRaw)); ref != got {
				t.Errorf("reference matcher says %v", ref)
			}
		})
	}
}
