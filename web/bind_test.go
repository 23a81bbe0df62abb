package web

import (
	"strings"
	"testing"

	jsonv2 "encoding/json/v2"

	"github.com/shopbus/shopbus/modules/checkout"
)

// TestDescribeJSON: a body that does not fit the order is described by its
// member and path, in JSON's words, never by a Go type.
func TestDescribeJSON(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"order_id":"o1","items":[{"sku":"X","colour":"red"}]}`, `unknown member "colour" at /items/0/colour`},
		{`{"order_id":"o1","items":["abc"]}`, `/items/0 must be an object, not a string`},
		{`{"order_id":5}`, `/order_id must be a string, not a number`},
		{`{"items":[{"quantity":1.5}]}`, `/items/0/quantity must be a whole number in range, not a number`},
		{`{"customer":[]}`, `/customer must be an object, not an array`},
		{`{"order_id":"o1",`, `unexpected EOF`},
	}
	for _, tt := range tests {
		var o checkout.NewOrder
		err := jsonv2.Unmarshal([]byte(tt.body), &o, jsonv2.RejectUnknownMembers(true))
		if err == nil {
			t.Fatalf("%s decoded", tt.body)
		}
		got := describeJSON(err)
		if !strings.Contains(got, tt.want) || strings.Contains(got, "Go ") || strings.Contains(got, "checkout.") ||
			strings.Contains(got, "event.") {
			t.Errorf("%s: %q, want it to say %q and name no Go type", tt.body, got, tt.want)
		}
	}
}
