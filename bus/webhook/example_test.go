package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/shopbus/shopbus/bus/webhook"
)

// A receiver checks every request with Verify before trusting it, using the
// raw body exactly as it arrived, and answers a refusal with 401.
func ExampleVerify() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the value of the target's secret_env

	receive := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header, body, 5*time.Minute, time.Now()); err != nil {
			http.Error(w, "unverified", http.StatusUnauthorized)
			return
		}
		// webhook-id is stable across retries: use it to ignore duplicates.
		fmt.Println("accepted", r.Header.Get("webhook-id"), string(body))
		w.WriteHeader(http.StatusNoContent)
	})

	// What shopbus sends, and a copy whose body was altered on the way.
	body := `{"order":"o_1"}`
	now := time.Now().Unix()
	for _, sent := range []string{body, `{"order":"o_2"}`} {
		r := httptest.NewRequest(http.MethodPost, "/hooks/shopbus", strings.NewReader(sent))
		r.Header.Set("webhook-id", "evt_1")
		r.Header.Set("webhook-timestamp", strconv.FormatInt(now, 10))
		r.Header.Set("webhook-signature", webhook.Sign(secret, "evt_1", now, []byte(body)))
		w := httptest.NewRecorder()
		receive.ServeHTTP(w, r)
		fmt.Println(w.Code)
	}
	// Output:
	// accepted evt_1 {"order":"o_1"}
	// 204
	// 401
}
