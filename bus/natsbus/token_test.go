package natsbus

import "testing"

func TestSubjectTokens(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Order State Change", "Order_State_Change"},
		{"Inventory Shortage", "Inventory_Shortage"},
		{"v1.order.*>", "v1_order___"},
		{"tab\there", "tab_here"},
	} {
		if got := subjectToken(tc.in); got != tc.want {
			t.Errorf("subjectToken(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"inventory", "inventory"},
		{"erp-hook_2", "erp-hook_2"},
		{"webhook:erp.example", "webhook_erp_example-"},
	} {
		got := targetToken(tc.in)
		if got != tc.want && (len(got) != len(tc.want)+8 || got[:len(tc.want)] != tc.want) {
			t.Errorf("targetToken(%q) = %q, want %q (and a hash when changed)", tc.in, got, tc.want)
		}
	}
	// Names that differ only where they are unsafe keep their own consumers.
	if a, b := targetToken("webhook:a.b"), targetToken("webhook:a_b"); a == b {
		t.Errorf("targetToken gives %q to two targets", a)
	}
	if got := redact("nats://user:secret@host:4222"); got != "nats://…@host:4222" {
		t.Errorf("redact = %q", got)
	}
}
