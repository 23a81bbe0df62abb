package transform

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCompileRefuses(t *testing.T) {
	tooMany := map[string]string{}
	for i := 0; i <= maxVariables; i++ {
		tooMany[fmt.Sprintf("v%d", i)] = "$.detail"
	}
	one := map[string]string{"a": "$.detail.a"}
	tests := []struct {
		name string
		spec Spec
		want string // part of the error message
	}{
		{"input_path and fields", Spec{InputPath: "$", Fields: []string{"id"}}, "only one of"},
		{"input_path and template", Spec{InputPath: "$", InputTemplate: `"x"`}, "only one of"},
		{"path without $", Spec{InputPath: "detail"}, "must start with $"},
		{"path with empty name", Spec{InputPath: "$.detail..a"}, "empty or invalid name"},
		{"path with space", Spec{InputPath: "$.de tail"}, "unexpected"},
		{"negative index", Spec{InputPath: "$.resources[-1]"}, "invalid array index"},
		{"unclosed bracket", Spec{InputPath: "$.resources[0"}, "unclosed"},
		{"path too long", Spec{InputPath: "$." + strings.Repeat("a", maxPathLen)}, "1 to 256"},
		{"bracket names in paths map", Spec{InputPathsMap: map[string]string{"t": "$['detail-type']"}, InputTemplate: `"<t>"`}, "use dot notation"},
		{"more than 100 variables", Spec{InputPathsMap: tooMany, InputTemplate: `"x"`}, "at most 100"},
		{"reserved name as key", Spec{InputPathsMap: map[string]string{"aws.events.rule-name": "$.id"}, InputTemplate: `"x"`}, "reserved"},
		{"AWS. prefix as key", Spec{InputPathsMap: map[string]string{"AWS.x": "$.id"}, InputTemplate: `"x"`}, "reserved"},
		{"key with a dot", Spec{InputPathsMap: map[string]string{"a.b": "$.id"}, InputTemplate: `"x"`}, "must be 1 to 256"},
		{"paths map without template", Spec{InputPathsMap: one}, "input_template must be"},
		{"template too long", Spec{InputTemplate: `"` + strings.Repeat("x", maxTemplateLen) + `"`}, "1 to 8192"},
		{"undefined variable", Spec{InputPathsMap: one, InputTemplate: `"<a> and <b>"`}, "<b> is neither"},
		{"unknown aws variable", Spec{InputTemplate: `"<aws.events.rule>"`}, "neither"},
		{"placeholder as key", Spec{InputPathsMap: one, InputTemplate: `{<a>: 1}`}, "object key"},
		{"placeholder in quoted key", Spec{InputPathsMap: one, InputTemplate: `{"k<a>" : 1}`}, "object key"},
		{"event in a string template", Spec{InputTemplate: `"got <aws.events.event>"`}, "only be used as the value"},
		{"event json inside quotes", Spec{InputTemplate: `{"e": "<aws.events.event.json>"}`}, "only be used as the value"},
		{"invalid JSON template", Spec{InputPathsMap: one, InputTemplate: `{"a": <a>`}, "not valid JSON"},
		{"adjacent placeholders", Spec{InputPathsMap: one, InputTemplate: `{"a": <a><a>}`}, "not valid JSON"},
		{"empty field path", Spec{Fields: []string{"id", ""}}, "empty path"},
		{"empty field segment", Spec{Fields: []string{"detail..id"}}, "empty or blank segment"},
		{"duplicate field path", Spec{Fields: []string{"detail.id", "detail.id"}}, "duplicate path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.spec)
			if !errors.Is(err, ErrInvalidTransform) {
				t.Fatalf("err = %v, want ErrInvalidTransform", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		json bool
	}{
		{"whole event path", Spec{InputPath: "$"}, true},
		{"bracket-quoted name", Spec{InputPath: `$['detail-type']`}, true},
		{"double-quoted name", Spec{InputPath: `$.detail["a b"]`}, true},
		{"wildcards", Spec{InputPath: "$.detail.items[*].sku"}, true},
		{"slashes in names", Spec{InputPath: "$.detail.a/b"}, true},
		{"constant string template", Spec{InputTemplate: `"hello"`}, false},
		{"constant JSON template", Spec{InputTemplate: `{"hello": true}`}, true},
		{"JSON array template", Spec{InputPathsMap: map[string]string{"a": "$.id"}, InputTemplate: ` [<a>, "<a>"]`}, true},
		{"reserved variables only", Spec{InputTemplate: `{"r": <aws.events.rule-name>, "e": <aws.events.event>}`}, true},
		{"angle brackets that are not placeholders", Spec{InputTemplate: `"a < b and c > d"`}, false},
		{"bracketed text is a string template", Spec{InputPathsMap: map[string]string{"a": "$.id"}, InputTemplate: `[<a>] failed`}, false},
		{"unused variable", Spec{InputPathsMap: map[string]string{"a": "$.id"}, InputTemplate: `"x"`}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := Compile(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if tr.JSON() != tc.json {
				t.Fatalf("JSON() = %v, want %v", tr.JSON(), tc.json)
			}
		})
	}
}
