package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Stripe holds what the Stripe webhook endpoint (POST /v1/webhooks/stripe)
// verifies events with. Its secrets come from SHOPBUS_STRIPE_WEBHOOK_SECRET
// only, never from the file, and are never logged or shown.
type Stripe struct {
	// WebhookSecrets are the endpoint's signing secrets (whsec_…): one, or
	// several while a secret is rolled or several Stripe endpoints (test
	// and live mode, say) point at the shop. An event signed with any of
	// them is accepted. None: the endpoint answers 503, which Stripe
	// retries for days, so events wait until the secret is set.
	WebhookSecrets []string `json:"-" yaml:"-"`
}

// UnmarshalYAML refuses a stripe: section in the file, so a secret is
// never written where backups and version control would keep it.
func (s *Stripe) UnmarshalYAML(*yaml.Node) error {
	return errors.New("stripe: the webhook secrets are read from SHOPBUS_STRIPE_WEBHOOK_SECRET only, never from the file")
}

// splitSecrets reads a variable holding several secrets, separated by
// commas or spaces: neither ever occurs in a secret.
func splitSecrets(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

// Validate refuses a secret that is not a Stripe endpoint secret, such as
// an API key pasted by mistake, naming it by its position only.
func (s Stripe) Validate() error {
	var errs []error
	for i, secret := range s.WebhookSecrets {
		if rest, ok := strings.CutPrefix(secret, "whsec_"); !ok || rest == "" {
			errs = append(errs, fmt.Errorf("stripe.webhook_secrets: secret %d of %d is not an endpoint signing secret (whsec_…, from the endpoint's page in Stripe's dashboard)",
				i+1, len(s.WebhookSecrets)))
		}
	}
	return errors.Join(errs...)
}

// String shows how many secrets there are, never the secrets.
func (s Stripe) String() string { return fmt.Sprintf("%d webhook secret(s)", len(s.WebhookSecrets)) }

// LogValue logs how many secrets there are, never the secrets.
func (s Stripe) LogValue() slog.Value { return slog.IntValue(len(s.WebhookSecrets)) }
