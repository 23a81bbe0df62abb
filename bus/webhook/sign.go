package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopbus/shopbus/fault"
)

// ErrUnverified is wrapped by every reason Verify refuses a request; a
// receiver answers it with 401 and nothing more.
var ErrUnverified = fault.New(fault.Unauthorized, "webhook: request not verified")

// secretPrefix marks a Standard Webhooks secret: the rest is the base64 key.
const secretPrefix = "whsec_"

// key derives the HMAC key from a secret as Standard Webhooks does.
func key(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return []byte(secret), nil
	}
	k, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(k) == 0 {
		return nil, errors.New("a whsec_ secret must be followed by non-empty base64")
	}
	return k, nil
}

// Sign returns the Standard Webhooks signature header value for these inputs:
// "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)).
// If the secret starts with "whsec_", the rest is base64-decoded to get the
// key (the Standard Webhooks convention); otherwise the secret's bytes are the
// key. A whsec_ secret whose rest is not base64 is used as plain bytes; New
// refuses such secrets, so shopbus never signs with one.
func Sign(secret, id string, timestamp int64, body []byte) string {
	k, err := key(secret)
	if err != nil {
		k = []byte(secret)
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(k, id, timestamp, body))
}

// Signatures is the webhook-signature header for several secrets at once,
// while one is rotated: one signature per secret, in order, separated by
// single spaces, as the Standard Webhooks specification has receivers
// split them. A receiver holding any one of the secrets verifies it.
func Signatures(secrets []string, id string, timestamp int64, body []byte) string {
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		sigs[i] = Sign(s, id, timestamp, body)
	}
	return strings.Join(sigs, " ")
}

func mac(key []byte, id string, timestamp int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	h.Write(body)
	return h.Sum(nil)
}

// Verify is what a receiver does with a request: it checks the
// webhook-signature header (which may hold several space-separated
// "v1,<sig>" entries while a secret is rotated; one match is enough) against
// webhook-id, webhook-timestamp and the raw body, and refuses timestamps more
// than tolerance away from now, which bounds replays. Every refusal wraps
// ErrUnverified. Five minutes is the conventional tolerance.
func Verify(secret string, header http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	if secret == "" {
		return fmt.Errorf("%w: no secret to verify with", ErrUnverified)
	}
	k, err := key(secret)
	if err != nil {
		k = []byte(secret) // as Sign does
	}
	id, ts, sigs := header.Get("webhook-id"), header.Get("webhook-timestamp"), header.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: webhook-id, webhook-timestamp and webhook-signature are required", ErrUnverified)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp %q is not unix seconds", ErrUnverified, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: webhook-timestamp is %s away from now", ErrUnverified, d.Round(time.Second))
	}
	want := mac(k, id, sec, body)
	for _, entry := range strings.Fields(sigs) {
		version, sig, _ := strings.Cut(entry, ",")
		if version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no matching v1 signature", ErrUnverified)
}
