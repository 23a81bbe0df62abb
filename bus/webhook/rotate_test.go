package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bus/webhook"
)

// specVerify is a receiver's check as the Standard Webhooks specification
// words it, written from the specification rather than from shopbus's
// Verify: the key is the base64 after whsec_; the signed content is
// "id.timestamp.body"; webhook-signature is split on single spaces, each
// entry on its first comma into a version and a signature; one v1 match
// is enough.
func specVerify(secret string, h http.Header, body []byte) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, entry := range strings.Split(h.Get("webhook-signature"), " ") {
		version, sig, ok := strings.Cut(entry, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

// TestSendSignsWithEverySecret: while a secret is rotated, secret_env
// holds the old and the new, separated by commas or spaces; each request
// carries one signature per secret, so a receiver holding either one
// verifies it, by the specification's reading and by Verify's.
func TestSendSignsWithEverySecret(t *testing.T) {
	const oldSecret, newSecret = vectorSecret, "whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA=="
	const stranger = "whsec_bm90LW9uZS1vZi10aGUtc2VjcmV0cw=="
	for _, value := range []string{oldSecret + " " + newSecret, oldSecret + "," + newSecret, " " + oldSecret + ",\n" + newSecret + " "} {
		t.Run(value, func(t *testing.T) {
			t.Setenv(secretEnv, value)
			srv, got := endpoint(t, http.StatusNoContent, nil)
			if err := newTarget(t, webhook.Config{URL: srv.URL, SecretEnv: secretEnv}).Send(context.Background(), "evt_1", []byte(`{"a":1}`)); err != nil {
				t.Fatal(err)
			}
			r := <-got
			sigs := r.header.Get("webhook-signature")
			if entries := strings.Split(sigs, " "); len(entries) != 2 || !strings.HasPrefix(entries[0], "v1,") || !strings.HasPrefix(entries[1], "v1,") {
				t.Fatalf("webhook-signature %q, want two v1 signatures separated by one space", sigs)
			}
			for _, secret := range []string{oldSecret, newSecret} {
				if !specVerify(secret, r.header, r.body) {
					t.Errorf("a receiver holding %.12s… refuses it by the specification", secret)
				}
				if err := webhook.Verify(secret, r.header, r.body, time.Minute, time.Now()); err != nil {
					t.Errorf("Verify with %.12s…: %v", secret, err)
				}
			}
			if specVerify(stranger, r.header, r.body) || webhook.Verify(stranger, r.header, r.body, time.Minute, time.Now()) == nil {
				t.Error("a secret that is neither verifies it")
			}
		})
	}
}

// TestSecretEnvReading: a plain secret is taken whole, spaces and all, as
// before rotation existed; a list must be of whsec_ secrets, each valid,
// and a bad one is named by its place, never shown.
func TestSecretEnvReading(t *testing.T) {
	t.Setenv(secretEnv, "plain secret, with a comma")
	srv, got := endpoint(t, http.StatusNoContent, nil)
	if err := newTarget(t, webhook.Config{URL: srv.URL, SecretEnv: secretEnv}).Send(context.Background(), "evt_1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if err := webhook.Verify("plain secret, with a comma", r.header, r.body, time.Minute, time.Now()); err != nil ||
		strings.Count(r.header.Get("webhook-signature"), "v1,") != 1 {
		t.Errorf("a plain secret: %v, %q", err, r.header.Get("webhook-signature"))
	}

	t.Setenv(secretEnv, vectorSecret+" whsec_not-base64!")
	err := webhook.Config{URL: "https://hooks.example.com/x", SecretEnv: secretEnv}.Validate()
	if err == nil || !strings.Contains(err.Error(), "secret 2 of 2") || strings.Contains(err.Error(), "not-base64") {
		t.Errorf("Validate = %v, want secret 2 of 2 refused, unshown", err)
	}
}
