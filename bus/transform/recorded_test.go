package transform

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// recorded is one line of testdata/recorded.jsonl: a target's transform and
// an event as LocalStack's AWS-validated tests sent them to EventBridge,
// with what AWS delivered (want), refused (err) or did not send (apply_err).
type recorded struct {
	Name          string          `json:"name"`
	Source        string          `json:"source"`
	Event         string          `json:"event"`
	Spec          Spec            `json:"spec"`
	RuleName      string          `json:"rule_name"`
	RuleARN       string          `json:"rule_arn"`
	IngestionTime time.Time       `json:"ingestion_time"`
	Want          json.RawMessage `json:"want"`
	Compare       string          `json:"compare"` // "exact" text, "json" value, "exact_json" value and key order
	Err           string          `json:"err"`
	ApplyErr      string          `json:"apply_err"`
	Note          string          `json:"note"`
}

// TestRecordedOnAWS holds Apply to what EventBridge itself delivered.
func TestRecordedOnAWS(t *testing.T) {
	var cases []recorded
	sc := bufio.NewScanner(bytes.NewReader(readTestdata(t, "recorded.jsonl")))
	for sc.Scan() {
		var c recorded
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, c)
	}
	if len(cases) < 30 {
		t.Fatalf("%d recorded cases, want them all", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			tr, err := Compile(tc.Spec)
			if tc.Err != "" {
				if err == nil || !errors.Is(err, ErrInvalidTransform) || !strings.Contains(err.Error(), tc.Err) {
					t.Fatalf("Compile: %v, want an error containing %q (%s)", err, tc.Err, tc.Note)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compile: %v (%s)", err, tc.Source)
			}
			got, err := tr.ApplyMeta([]byte(tc.Event), Meta{RuleName: tc.RuleName, RuleARN: tc.RuleARN, IngestionTime: tc.IngestionTime})
			if tc.ApplyErr != "" {
				if !errors.Is(err, ErrNotJSON) || !strings.Contains(err.Error(), tc.ApplyErr) {
					t.Fatalf("Apply = %s, %v; AWS sent nothing (%s)", got, err, tc.Note)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v (%s)", err, tc.Source)
			}
			switch tc.Compare {
			case "exact":
				var want string
				if err := json.Unmarshal(tc.Want, &want); err != nil {
					t.Fatal(err)
				}
				if string(got) != want {
					t.Fatalf("got  %s\nwant %s\n(%s)", got, want, tc.Source)
				}
			case "exact_json":
				var want bytes.Buffer
				if err := json.Compact(&want, tc.Want); err != nil {
					t.Fatal(err)
				}
				if string(got) != want.String() {
					t.Fatalf("got  %s\nwant %s\n(%s)", got, want.Bytes(), tc.Source)
				}
			case "json":
				assertJSONEqual(t, got, tc.Want)
			default:
				t.Fatalf("unknown compare %q", tc.Compare)
			}
		})
	}
}
