package config

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// base is a configuration Load accepts, for the sections tested here.
const base = "database:\n  dsn: shop.db\nmail:\n  from: shop@example.com\n  mail_dir: mail\n" + valid

// TestStripeSecrets: the endpoint's secrets come from the environment
// only, several at once separated by commas or spaces; anything but an
// endpoint secret is refused without being repeated; none is ever shown.
func TestStripeSecrets(t *testing.T) {
	for k := range Env {
		t.Setenv(k, "")
	}
	src := []byte(base)
	t.Setenv("SHOPBUS_STRIPE_WEBHOOK_SECRET", " whsec_old, whsec_new whsec_third ")
	c, err := Load("", src)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"whsec_old", "whsec_new", "whsec_third"}; !slices.Equal(c.Stripe.WebhookSecrets, want) {
		t.Errorf("secrets %q, want %q", c.Stripe.WebhookSecrets, want)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "stripe", c.Stripe)
	if shown := logged.String() + fmt.Sprint(c.Stripe) + fmt.Sprintf("%+v", c.Stripe); strings.Contains(shown, "whsec_") {
		t.Errorf("a secret shows: %s", shown)
	}

	t.Setenv("SHOPBUS_STRIPE_WEBHOOK_SECRET", "whsec_ok,sk_live_pasted_by_mistake")
	_, err = Load("", src)
	if err == nil || !strings.Contains(err.Error(), "secret 2 of 2") || !strings.Contains(err.Error(), "SHOPBUS_STRIPE_WEBHOOK_SECRET") ||
		strings.Contains(err.Error(), "sk_live") {
		t.Errorf("an API key as a secret: %v", err)
	}

	t.Setenv("SHOPBUS_STRIPE_WEBHOOK_SECRET", "")
	_, err = Load("", []byte("stripe:\n  webhook_secrets: [whsec_x]\n"+base))
	if err == nil || !strings.Contains(err.Error(), "SHOPBUS_STRIPE_WEBHOOK_SECRET only") || strings.Contains(err.Error(), "whsec_x") {
		t.Errorf("secrets in the file: %v", err)
	}
}

// TestBusIdentity: the bus's account and region default to a bus off AWS,
// and must be shaped as AWS's are.
func TestBusIdentity(t *testing.T) {
	for k := range Env {
		t.Setenv(k, "")
	}
	c, err := Load("", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.Bus.Account != "000000000000" || c.Bus.Region != "local" {
		t.Errorf("defaults %q %q", c.Bus.Account, c.Bus.Region)
	}
	c, err = Load("", []byte("bus:\n  account: \"123456789012\"\n  region: eu-west-1\n"+base))
	if err != nil || c.Bus.Account != "123456789012" || c.Bus.Region != "eu-west-1" {
		t.Errorf("set: %v %+v", err, c.Bus)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"bus:\n  account: \"12345\"\n", "line 2: bus.account"},
		{"bus:\n  account: \"12345678901a\"\n", "bus.account"},
		{"bus:\n  region: EU West\n", "line 2: bus.region"},
		{"bus:\n  region: eu-\n", "bus.region"},
	} {
		if _, err := Load("", []byte(tc.yaml+base)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %s", tc.yaml, err, tc.want)
		}
	}
}
