package transform

import (
	"encoding/json"
	"errors"
	"testing"
)

// order is a shopbus-shaped event used by the tests below.
const order = `{
  "version": "0", "id": "e1", "detail-type": "OrderPlaced", "source": "shop.orders",
  "account": "1", "time": "2024-05-01T10:00:00Z", "region": "eu", "resources": [],
  "detail": {
    "order_id": "o-1", "total": 1250, "paid": true, "note": null,
    "payment": {"method": "card", "last4": "4242"},
    "items": [{"sku": "A", "qty": 1}, {"qty": 2}, 7, {"sku": "B", "qty": 3}],
    "tags": ["new", "vip"],
    "nasty": "quote \" back \\ newline \n tab \t <b> \u2028 end"
  }
}`

func apply(t *testing.T, s Spec, event string) string {
	t.Helper()
	tr, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tr.Apply([]byte(event), "orders-rule")
	if err != nil {
		t.Fatal(err)
	}
	if tr.JSON() && !json.Valid(got) {
		t.Fatalf("not JSON: %s", got)
	}
	return string(got)
}

func TestInputPath(t *testing.T) {
	tests := []struct{ path, want string }{
		{"$.detail.order_id", `"o-1"`},
		{"$.detail.total", `1250`},
		{"$.detail.note", `null`},
		{"$.detail.payment", `{"method":"card","last4":"4242"}`},
		{"$.detail.items[0].sku", `"A"`},
		{"$['detail-type']", `"OrderPlaced"`},
		{"$.detail['payment'].method", `"card"`},
		{"$.resources", `[]`},
		{"$.detail.items[*].sku", `["A","B"]`},
		{"$.detail.payment.*", `["card","4242"]`},
		{"$.detail.tags[1]", `"vip"`},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if got := apply(t, Spec{InputPath: tc.path}, order); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestInputPathSelectsNothing(t *testing.T) {
	for _, path := range []string{"$.nope", "$.detail.items[9]", "$.detail.order_id.x", "$.detail.tags[*].x", "$.resources[*]"} {
		t.Run(path, func(t *testing.T) {
			tr, err := Compile(Spec{InputPath: path})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.Apply([]byte(order), "r"); err != ErrNothingSelected {
				t.Fatalf("err = %v, want ErrNothingSelected", err)
			}
		})
	}
}

// TestTemplateEscaping checks that no event value can break a JSON
// template, wherever its placeholder sits.
func TestTemplateEscaping(t *testing.T) {
	paths := map[string]string{"nasty": "$.detail.nasty", "payment": "$.detail.payment", "total": "$.detail.total", "tags": "$.detail.tags"}
	tests := []struct {
		name, template, want string
	}{
		{"bare string", `{"v": <nasty>}`, `{"v":"quote \" back \\ newline \n tab \t <b> \u2028 end"}`},
		{"quoted string", `{"v": "<nasty>"}`, `{"v":"quote \" back \\ newline \n tab \t <b> \u2028 end"}`},
		{"string inside text", `{"v": "say <nasty>!"}`, `{"v":"say quote \" back \\ newline \n tab \t <b> \u2028 end!"}`},
		{"number bare and quoted", `{"n": <total>, "s": "<total>"}`, `{"n":1250,"s":"1250"}`},
		{"array bare", `{"a": <tags>}`, `{"a":["new","vip"]}`},
		{"object bare", `{"o": <payment>}`, `{"o":{"method":"card","last4":"4242"}}`},
		{"array template", `[<total>, "<total>"]`, `[1250,"1250"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := apply(t, Spec{InputPathsMap: paths, InputTemplate: tc.template}, order)
			var g, w any
			if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(tc.want), &w) != nil {
				t.Fatalf("got %s", got)
			}
			if gb, _ := json.Marshal(g); string(gb) != mustRemarshal(t, tc.want) {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestContainerInsideQuotes follows AWS: an object or array inside the
// quotes of a JSON template keeps its JSON, which is not JSON there, so
// nothing is sent; an array without strings happens to stay JSON.
func TestContainerInsideQuotes(t *testing.T) {
	paths := map[string]string{"payment": "$.detail.payment", "tags": "$.detail.tags", "nums": "$.detail.nums"}
	event := `{"detail": {"payment": {"method": "card"}, "tags": ["new", "vip"], "nums": [1, 2]}}`
	for _, tmpl := range []string{`{"s": "<payment>"}`, `{"s": "tags <tags>"}`} {
		tr, err := Compile(Spec{InputPathsMap: paths, InputTemplate: tmpl})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := tr.Apply([]byte(event), "r"); !errors.Is(err, ErrNotJSON) {
			t.Errorf("%s: Apply = %s, %v; want ErrNotJSON", tmpl, got, err)
		}
	}
	if got := apply(t, Spec{InputPathsMap: paths, InputTemplate: `{"s": "nums <nums>"}`}, event); got != `{"s":"nums [1,2]"}` {
		t.Errorf("got %s", got)
	}
}

func mustRemarshal(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestStringTemplateIsUnescapedText(t *testing.T) {
	paths := map[string]string{"id": "$.detail.order_id", "payment": "$.detail.payment", "total": "$.detail.total"}
	tests := []struct{ name, template, want string }{
		{"plain", `Order <id> for <total>`, `Order o-1 for 1250`},
		{"object bare", `paid with <payment>`, `paid with {"method":"card","last4":"4242"}`},
		{"object quoted", `"paid with <payment>"`, `"paid with {method:card,last4:4242}"`},
		{"rule name", `"<aws.events.rule-name>: <id>"`, `"orders-rule: o-1"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := apply(t, Spec{InputPathsMap: paths, InputTemplate: tc.template}, order); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		want   string
	}{
		{"leaves keep nesting", []string{"detail.order_id", "detail.payment"}, `{"detail":{"order_id":"o-1","payment":{"method":"card","last4":"4242"}}}`},
		{"event order kept", []string{"detail.total", "id"}, `{"id":"e1","detail":{"total":1250}}`},
		{"missing paths are absent", []string{"id", "detail.nope", "nope.deeper"}, `{"id":"e1"}`},
		{"nothing found", []string{"nope"}, `{}`},
		{"through an array", []string{"detail.items.sku"}, `{"detail":{"items":[{"sku":"A"},{},{"sku":"B"}]}}`},
		{"whole array", []string{"detail.tags"}, `{"detail":{"tags":["new","vip"]}}`},
		{"leaf wins over deeper path", []string{"detail.payment", "detail.payment.method"}, `{"detail":{"payment":{"method":"card","last4":"4242"}}}`},
		{"null value kept", []string{"detail.note"}, `{"detail":{"note":null}}`},
		{"through a scalar", []string{"detail.total.x"}, `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := apply(t, Spec{Fields: tc.fields}, order); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestApplyEventSharesOneParse applies every kind of transform, and none,
// to one Event in turn, as the bus does for an event's targets: each gets
// what Apply gives it alone, and an event that is not JSON fails each.
func TestApplyEventSharesOneParse(t *testing.T) {
	specs := []Spec{
		{Fields: []string{"detail.order_id", "detail.payment"}},
		{InputPath: "$.detail.items[*].sku"},
		{InputPathsMap: map[string]string{"id": "$.detail.order_id"}, InputTemplate: `{"order": <id>, "rule": <aws.events.rule-name>}`},
		{},
		{Fields: []string{"detail.tags", "id"}},
	}
	ev := NewEvent([]byte(order))
	for _, s := range specs {
		tr, err := Compile(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tr.ApplyEvent(ev, Meta{RuleName: "orders-rule"})
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		if want := apply(t, s, order); string(got) != want {
			t.Errorf("%+v: shared parse gave %s, alone %s", s, got, want)
		}
	}
	bad := NewEvent([]byte(`{"detail": `))
	tr, _ := Compile(specs[0])
	for range 2 {
		if _, err := tr.ApplyEvent(bad, Meta{}); !errors.Is(err, ErrInvalidEvent) {
			t.Fatalf("got %v, want ErrInvalidEvent", err)
		}
	}
}
