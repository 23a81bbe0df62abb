package transform

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// example is one documented EventBridge example from testdata/examples.json.
type example struct {
	Name     string          `json:"name"`
	Page     string          `json:"page"`
	Event    string          `json:"event"`
	RuleName string          `json:"rule_name"`
	RuleARN  string          `json:"rule_arn"`
	Spec     Spec            `json:"spec"`
	Want     json.RawMessage `json:"want"`
	Compare  string          `json:"compare"` // "exact" text or "json" value
	Err      string          `json:"err"`
	Note     string          `json:"note"`
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDocumentedExamples runs every example from the EventBridge user
// guide and API reference; each case names the page it comes from.
func TestDocumentedExamples(t *testing.T) {
	var file struct{ Cases []example }
	if err := json.Unmarshal(readTestdata(t, "examples.json"), &file); err != nil {
		t.Fatal(err)
	}
	for _, ex := range file.Cases {
		t.Run(ex.Name, func(t *testing.T) {
			tr, err := Compile(ex.Spec)
			if err != nil {
				t.Fatalf("Compile: %v (%s)", err, ex.Page)
			}
			got, err := tr.ApplyMeta(readTestdata(t, ex.Event), Meta{RuleName: ex.RuleName, RuleARN: ex.RuleARN})
			if ex.Err != "" {
				if err == nil || !strings.Contains(err.Error(), ex.Err) {
					t.Fatalf("err = %v, want %q (%s)", err, ex.Err, ex.Page)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v (%s)", err, ex.Page)
			}
			if tr.JSON() && !json.Valid(got) {
				t.Fatalf("JSON() is true but output is not JSON: %s", got)
			}
			switch ex.Compare {
			case "exact":
				var want string
				if err := json.Unmarshal(ex.Want, &want); err != nil {
					t.Fatal(err)
				}
				if string(got) != want {
					t.Fatalf("got  %s\nwant %s\n(%s)", got, want, ex.Page)
				}
			case "json":
				assertJSONEqual(t, got, ex.Want)
			default:
				t.Fatalf("unknown compare %q", ex.Compare)
			}
		})
	}
}

func assertJSONEqual(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestNilAndEmptyDeliverTheEvent(t *testing.T) {
	event := []byte(`{"id":"1", "detail":{}}`)
	empty, err := Compile(Spec{})
	if err != nil {
		t.Fatal(err)
	}
	for name, tr := range map[string]*Transform{"nil": nil, "empty spec": empty} {
		t.Run(name, func(t *testing.T) {
			got, err := tr.Apply(event, "r")
			if err != nil || string(got) != string(event) || !tr.JSON() {
				t.Fatalf("got %s, %v, JSON()=%v", got, err, tr.JSON())
			}
		})
	}
}

func TestApplyRejectsInvalidEvent(t *testing.T) {
	tr, err := Compile(Spec{InputPath: "$.detail"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Apply([]byte(`{"detail":`), "r"); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("err = %v, want ErrInvalidEvent", err)
	}
}

func TestIngestionTime(t *testing.T) {
	tr, err := Compile(Spec{InputTemplate: `{"at": <aws.events.event.ingestion-time>}`})
	if err != nil {
		t.Fatal(err)
	}
	event := readTestdata(t, "ec2_event.json")
	tests := []struct {
		name string
		at   time.Time
		want string
	}{
		{"event time when not given", time.Time{}, `{"at":"2015-11-11T21:29:54Z"}`},
		{"given time in UTC", time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("x", 3600)), `{"at":"2024-05-01T11:00:00Z"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tr.ApplyMeta(event, Meta{IngestionTime: tc.at})
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func BenchmarkApply(b *testing.B) {
	event := readTestdata(b, "ec2_event.json")
	paths := map[string]string{"instance": "$.detail.instance-id", "state": "$.detail.state", "resource": "$.resources[0]"}
	specs := []struct {
		name string
		spec Spec
	}{
		{"none", Spec{}},
		{"input_path", Spec{InputPath: "$.detail"}},
		{"json_template", Spec{InputPathsMap: paths, InputTemplate: `{"instance": <instance>, "state": "<state>", "r": <resource>, "event": <aws.events.event>}`}},
		{"string_template", Spec{InputPathsMap: paths, InputTemplate: `"instance <instance> is in <state>"`}},
		{"fields", Spec{Fields: []string{"id", "detail.state", "resources"}}},
	}
	for _, s := range specs {
		tr, err := Compile(s.spec)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(event)))
			for b.Loop() {
				if _, err := tr.Apply(event, "rule"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
