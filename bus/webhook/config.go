package webhook

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// DefaultTimeout bounds one Send when the config sets no timeout.
const DefaultTimeout = 10 * time.Second

// Config is a webhook target as written in config.yaml.
type Config struct {
	URL string `yaml:"url" json:"url"`
	// SecretEnv names the environment variable holding the signing secret, so
	// the secret stays out of config.yaml. Without it requests are unsigned:
	// no webhook-signature header is sent. While a secret is rotated it may
	// hold several whsec_ secrets separated by spaces or commas, the new
	// beside the old: each request then carries one signature per secret,
	// so the receiver verifies with whichever it has.
	SecretEnv string            `yaml:"secret_env" json:"secret_env,omitempty"`
	Timeout   time.Duration     `yaml:"timeout" json:"timeout,omitempty"` // default DefaultTimeout
	Headers   map[string]string `yaml:"headers" json:"headers,omitempty"`
}

// reservedHeaders are set by shopbus itself or by the HTTP transport; a
// configured value would either be overwritten or corrupt the request.
var reservedHeaders = []string{
	"content-type", "content-length", "host",
	"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
}

// Validate checks the URL (absolute http/https with a host), the timeout
// (0 or 1ms..5m), the header names and values, and that SecretEnv, when set,
// names an environment variable that is set and holds a usable secret.
// Messages name the field.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("webhook.url is required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("webhook.url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("webhook.url: scheme must be http or https, not %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("webhook.url: host is missing")
	}
	if c.Timeout != 0 && (c.Timeout < time.Millisecond || c.Timeout > 5*time.Minute) {
		return fmt.Errorf("webhook.timeout: %s is outside 1ms..5m", c.Timeout)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		lower := strings.ToLower(name)
		switch {
		case !isToken(name):
			return fmt.Errorf("webhook.headers: %q is not a valid header name", name)
		case strings.HasPrefix(lower, "webhook-") || slices.Contains(reservedHeaders, lower):
			return fmt.Errorf("webhook.headers: %q is set by shopbus and cannot be configured", name)
		case !isHeaderValue(c.Headers[name]):
			return fmt.Errorf("webhook.headers: value of %q holds a control character", name)
		}
	}
	if c.SecretEnv != "" {
		if _, err := c.secrets(); err != nil {
			return err
		}
	}
	return nil
}

// secrets reads the signing secrets from the environment: one secret, or
// several Standard Webhooks secrets (whsec_…) separated by spaces or
// commas while one is rotated, each of which signs every request. Neither
// ever occurs in a whsec_ secret, whose key is base64; a value that is not
// a list of whsec_ secrets is one plain secret, taken whole, spaces and
// all. It never puts a secret itself in an error.
func (c Config) secrets() ([]string, error) {
	if c.SecretEnv == "" {
		return nil, nil
	}
	s := os.Getenv(c.SecretEnv)
	if s == "" {
		return nil, fmt.Errorf("webhook.secret_env: environment variable %s is not set or empty", c.SecretEnv)
	}
	list := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	if !slices.ContainsFunc(list, func(s string) bool { return !strings.HasPrefix(s, secretPrefix) }) && len(list) > 0 {
		for i, secret := range list {
			if _, err := key(secret); err != nil {
				return nil, fmt.Errorf("webhook.secret_env: %s: secret %d of %d: %w", c.SecretEnv, i+1, len(list), err)
			}
		}
		return list, nil
	}
	if _, err := key(s); err != nil {
		return nil, fmt.Errorf("webhook.secret_env: %s: %w", c.SecretEnv, err)
	}
	return []string{s}, nil
}

// isToken reports whether s is an RFC 9110 token, the grammar of header names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r >= 0x80 || !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// isHeaderValue refuses the control characters that would split a header or
// that net/http refuses to send (which would look like a network error and be
// retried for ever).
func isHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}
