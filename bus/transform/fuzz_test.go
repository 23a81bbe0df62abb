package transform

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzApply shows that no spec or event makes Compile or Apply panic or
// hang, that Compile errors wrap ErrInvalidTransform, and that whenever
// JSON() is true a successful Apply returns valid JSON.
func FuzzApply(f *testing.F) {
	f.Add(uint8(0), "$.detail.payment", "", "", order)
	f.Add(uint8(1), "$.detail.payment", "p", `{"p": <p>, "s": "x <p> <aws.events.rule-name>"}`, order)
	f.Add(uint8(1), "$.detail.nasty", "n", `"<n> and \"<n>\""`, order)
	f.Add(uint8(1), "$.detail.items[*].sku", "s", `[<s>, "<s>", <aws.events.event>, <aws.events.event.json>]`, order)
	f.Add(uint8(2), "detail.items.sku,id", "", "", order)
	f.Add(uint8(1), "$.a", "a", `{"a": <a>}`, `{"a": "\u0000\"\\\ud800"}`)
	f.Add(uint8(3), "", "", "", `[1, {"a": [true, null]}]`)
	f.Fuzz(func(t *testing.T, mode uint8, path, name, template, event string) {
		var s Spec
		switch mode % 4 {
		case 0:
			s.InputPath = path
		case 1:
			s.InputPathsMap = map[string]string{name: path}
			s.InputTemplate = template
		case 2:
			s.Fields = strings.Split(path, ",")
		}
		tr, err := Compile(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidTransform) {
				t.Fatalf("Compile error does not wrap ErrInvalidTransform: %v", err)
			}
			return
		}
		out, err := tr.ApplyMeta([]byte(event), Meta{RuleName: name, RuleARN: template})
		if err != nil {
			return
		}
		whole := s.InputPath == "" && s.InputTemplate == "" && len(s.InputPathsMap) == 0 && len(s.Fields) == 0
		if tr.JSON() && (!whole || json.Valid([]byte(event))) && !json.Valid(out) {
			t.Fatalf("JSON() is true but output is not JSON\nspec %+v\nevent %q\nout %q", s, event, out)
		}
	})
}
