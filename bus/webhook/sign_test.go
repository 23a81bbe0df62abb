package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bus/webhook"
)

// The test vector of the Standard Webhooks reference libraries
// (standard-webhooks/standard-webhooks, libraries/go/webhook_test.go,
// TestWebhookSign); matching it means any Standard Webhooks library verifies
// shopbus's deliveries.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorPayload   = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func vectorHeader(sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", strconv.Itoa(vectorTimestamp))
	h.Set("webhook-signature", sig)
	return h
}

func TestSignMatchesStandardWebhooksVector(t *testing.T) {
	if got := webhook.Sign(vectorSecret, vectorID, vectorTimestamp, []byte(vectorPayload)); got != vectorSignature {
		t.Fatalf("Sign = %s, want %s", got, vectorSignature)
	}
}

func TestSignPlainSecretUsesItsBytes(t *testing.T) {
	h := hmac.New(sha256.New, []byte("plain secret"))
	h.Write([]byte("msg_1.42.{}"))
	want := "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil))
	if got := webhook.Sign("plain secret", "msg_1", 42, []byte("{}")); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	signedAt := time.Unix(vectorTimestamp, 0)
	other := webhook.Sign("whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==", vectorID, vectorTimestamp, []byte(vectorPayload))
	tests := []struct {
		name   string
		secret string
		header http.Header
		body   string
		now    time.Time
		ok     bool
	}{
		{name: "vector", secret: vectorSecret, header: vectorHeader(vectorSignature), body: vectorPayload, now: signedAt.Add(10 * time.Second), ok: true},
		{name: "one of several signatures", secret: vectorSecret, header: vectorHeader(other + " v2,abc " + vectorSignature), body: vectorPayload, now: signedAt, ok: true},
		{name: "only another secret's signature", secret: vectorSecret, header: vectorHeader(other), body: vectorPayload, now: signedAt},
		{name: "body altered", secret: vectorSecret, header: vectorHeader(vectorSignature), body: `{"test": 1}`, now: signedAt},
		{name: "too old", secret: vectorSecret, header: vectorHeader(vectorSignature), body: vectorPayload, now: signedAt.Add(5*time.Minute + time.Second)},
		{name: "from the future", secret: vectorSecret, header: vectorHeader(vectorSignature), body: vectorPayload, now: signedAt.Add(-5*time.Minute - time.Second)},
		{name: "no signature", secret: vectorSecret, header: vectorHeader(""), body: vectorPayload, now: signedAt},
		{name: "no secret", secret: "", header: vectorHeader(vectorSignature), body: vectorPayload, now: signedAt},
		{name: "wrong version", secret: vectorSecret, header: vectorHeader("v1a" + vectorSignature[2:]), body: vectorPayload, now: signedAt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.secret, tc.header, []byte(tc.body), 5*time.Minute, tc.now)
			if tc.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tc.ok && !errors.Is(err, webhook.ErrUnverified) {
				t.Fatalf("Verify = %v, want ErrUnverified", err)
			}
		})
	}
}
