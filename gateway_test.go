package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/modules/email/smtptest"
)

type createdKey struct {
	Key       string     `json:"key"`
	Name      string     `json:"name"`
	Hint      string     `json:"hint"`
	Scopes    []string   `json:"scopes"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func (s *shop) newKey(name string, scopes []string, expiresIn string) string {
	s.t.Helper()
	body := map[string]any{"name": name, "scopes": scopes}
	if expiresIn != "" {
		body["expires_in"] = expiresIn
	}
	k := must[createdKey](s.t, http.StatusCreated)(s.request("POST", "/v1/apikeys", body))
	if !strings.HasPrefix(k.Key, "sb_live_") || k.Name != name {
		s.t.Fatalf("created key %+v", k)
	}
	return k.Key
}

// lockedBuffer collects a server's log safely across goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestScopes: each key can do what its scopes allow and nothing more;
// revocation and expiry count from the next request; no key reaches the log.
func TestScopes(t *testing.T) {
	var logs lockedBuffer
	cfg := testConfig(t, smtptest.FreeAddr(t))
	cfg.Log.Level = "debug"
	s := startShopLogging(t, cfg, nil, &logs)
	storefront := s.newKey("storefront", []string{"orders:write"}, "")
	reader := s.newKey("reporting", []string{"orders:read"}, "")
	both := s.newKey("pos", []string{"orders:write", "orders:read"}, "90d")

	tests := []struct {
		key, method, path string
		body              any
		want              int
	}{
		{storefront, "POST", "/v1/orders", newOrder("ord-s1", "a@example.com", "MUG", 1), 201},
		{storefront, "POST", "/v1/orders/ord-s1/state", map[string]string{"order_state": "order_paid"}, 200},
		{storefront, "GET", "/v1/orders/ord-s1", nil, 403},
		{storefront, "GET", "/v1/orders", nil, 403},
		{storefront, "PUT", "/v1/inventory/MUG", map[string]int{"on_hand": 5}, 403},
		{storefront, "GET", "/v1/apikeys", nil, 403},
		{reader, "GET", "/v1/orders/ord-s1", nil, 200},
		{reader, "GET", "/v1/orders", nil, 200},
		{reader, "POST", "/v1/orders", newOrder("ord-s2", "a@example.com", "MUG", 1), 403},
		{reader, "GET", "/v1/dlq", nil, 403},
		{reader, "POST", "/v1/rules/test", `{"source":"x"}`, 403},
		{both, "POST", "/v1/orders", newOrder("ord-s3", "a@example.com", "MUG", 1), 201},
		{both, "GET", "/v1/orders/ord-s3", nil, 200},
		{both, "GET", "/v1/inventory/MUG", nil, 403},
		{testKey, "GET", "/v1/apikeys", nil, 200},
	}
	for i, tc := range tests {
		resp, body := rawRequest(t, tc.method, s.url+tc.path, tc.body, tc.key, nil)
		if resp.StatusCode != tc.want {
			t.Errorf("case %d: %s %s: %d, want %d: %s", i, tc.method, tc.path, resp.StatusCode, tc.want, body)
		}
	}

	// The list shows hints, never secrets.
	_, list := s.request("GET", "/v1/apikeys", nil)
	for _, k := range []string{storefront, reader, both, testKey} {
		if bytes.Contains(list, []byte(k)) {
			t.Errorf("GET /v1/apikeys shows a secret: %s", list)
		}
	}
	if !bytes.Contains(list, []byte(`"hint":"sb_live_`)) {
		t.Errorf("GET /v1/apikeys: %s", list)
	}

	// Revocation counts at the next request.
	if status, body := s.request("DELETE", "/v1/apikeys/storefront", nil); status != 204 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	resp, body := rawRequest(t, "POST", s.url+"/v1/orders", newOrder("ord-s4", "a@example.com", "MUG", 1), storefront, nil)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("a revoked key: %d %s", resp.StatusCode, body)
	}
	if status, _ := s.request("DELETE", "/v1/apikeys/storefront", nil); status != 404 {
		t.Errorf("revoking twice: %d, want 404", status)
	}
	// Its name is free again.
	s.newKey("storefront", []string{"orders:write"}, "")

	// Expiry.
	short := s.newKey("temp", []string{"orders:read"}, "300ms")
	waitFor(t, "the short key to expire", 10*time.Second, func() (bool, string) {
		resp, _ := rawRequest(t, "GET", s.url+"/v1/orders", nil, short, nil)
		return resp.StatusCode == 401, resp.Status
	})

	// Bad key requests.
	for _, bad := range []map[string]any{
		{"name": "", "scopes": []string{"admin"}},
		{"name": "x", "scopes": []string{}},
		{"name": "x", "scopes": []string{"root"}},
		{"name": "x", "scopes": []string{"admin"}, "expires_in": "-1h"},
		{"name": "x", "scopes": []string{"admin"}, "expires_in": "soon"},
	} {
		if status, body := s.request("POST", "/v1/apikeys", bad); status != 422 {
			t.Errorf("%v: %d %s", bad, status, body)
		}
	}
	if status, _ := s.request("POST", "/v1/apikeys", map[string]any{"name": "pos", "scopes": []string{"admin"}}); status != 409 {
		t.Errorf("a duplicate live name: %d, want 409", status)
	}

	for _, k := range []string{storefront, reader, both, short, testKey} {
		if strings.Contains(logs.String(), k) {
			t.Fatalf("the log contains an API key")
		}
	}
}

// TestRateLimitPerKey: a key past its bucket gets 429 with Retry-After;
// another key is not affected.
func TestRateLimitPerKey(t *testing.T) {
	cfg := testConfig(t, smtptest.FreeAddr(t))
	cfg.HTTP.RateLimit.RPS, cfg.HTTP.RateLimit.Burst = 0.5, 3
	s := startShop(t, cfg, nil)
	other := s.newKey("other", []string{"orders:read"}, "") // spends one of the admin's 3
	var limited *http.Response
	for range 5 {
		resp, _ := rawRequest(t, "GET", s.url+"/v1/orders", nil, testKey, nil)
		if resp.StatusCode == 429 {
			limited = resp
			break
		}
	}
	if limited == nil {
		t.Fatal("5 quick requests on a 3-token bucket were all served")
	}
	if ra := limited.Header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2 (seconds for one token at 0.5/s)", ra)
	}
	if resp, body := rawRequest(t, "GET", s.url+"/v1/orders", nil, other, nil); resp.StatusCode != 200 {
		t.Errorf("another key: %d %s", resp.StatusCode, body)
	}
}

// TestRateLimitOff: SHOPBUS_RATE_LIMIT_RPS=0 turns the limit off.
func TestRateLimitOff(t *testing.T) {
	t.Setenv("SHOPBUS_RATE_LIMIT_RPS", "0")
	loaded, err := config.Load("", defaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.HTTP.RateLimit.RPS != 0 {
		t.Fatalf("rps %v with SHOPBUS_RATE_LIMIT_RPS=0", loaded.HTTP.RateLimit.RPS)
	}
	cfg := testConfig(t, smtptest.FreeAddr(t))
	cfg.HTTP.RateLimit = loaded.HTTP.RateLimit
	s := startShop(t, cfg, nil)
	for i := range 300 { // the built-in bucket holds 200
		if resp, _ := rawRequest(t, "GET", s.url+"/v1/orders?limit=1", nil, testKey, nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	t.Setenv("SHOPBUS_RATE_LIMIT_RPS", "fast")
	if _, err := config.Load("", defaultConfig); err == nil || !strings.Contains(err.Error(), "SHOPBUS_RATE_LIMIT_RPS") {
		t.Errorf("SHOPBUS_RATE_LIMIT_RPS=fast: %v", err)
	}
}

// TestSpoofedForwardedForCannotEscapeRateLimit: failed authentications are
// counted per peer address; a client inventing X-Forwarded-For values is
// still blocked, and so is its next request with a valid key. With a
// trusted proxy configured, the header it sets is believed.
func TestSpoofedForwardedForCannotEscapeRateLimit(t *testing.T) {
	cfg := testConfig(t, smtptest.FreeAddr(t))
	cfg.HTTP.AuthFailures.PerMinute, cfg.HTTP.AuthFailures.Burst = 1, 5
	s := startShop(t, cfg, nil)
	statuses := ""
	for i := range 8 {
		spoof := map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i), "X-Real-IP": fmt.Sprintf("203.0.113.%d", i)}
		resp, _ := rawRequest(t, "GET", s.url+"/v1/orders", nil, "sb_live_guess", spoof)
		statuses += fmt.Sprint(resp.StatusCode, " ")
	}
	if statuses != "401 401 401 401 401 429 429 429 " {
		t.Errorf("failed attempts answered %s; want five 401s, then 429s", statuses)
	}
	resp, _ := rawRequest(t, "GET", s.url+"/v1/orders", nil, testKey, map[string]string{"X-Forwarded-For": "192.0.2.77"})
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a valid key from the blocked address: %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// Behind a trusted proxy (here: loopback), each forwarded client counts
	// on its own.
	cfg2 := testConfig(t, smtptest.FreeAddr(t))
	cfg2.HTTP.AuthFailures.PerMinute, cfg2.HTTP.AuthFailures.Burst = 1, 5
	cfg2.HTTP.TrustedProxies = []string{"127.0.0.1/32"}
	s2 := startShop(t, cfg2, nil)
	for i := range 8 {
		spoof := map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)}
		if resp, _ := rawRequest(t, "GET", s2.url+"/v1/orders", nil, "sb_live_guess", spoof); resp.StatusCode != 401 {
			t.Errorf("client %d behind the trusted proxy: %d, want 401", i, resp.StatusCode)
		}
	}
}

// TestCORS: off by default; from config, a storefront origin may post orders.
func TestCORS(t *testing.T) {
	s := startShop(t, testConfig(t, smtptest.FreeAddr(t)), nil)
	resp, _ := rawRequest(t, "OPTIONS", s.url+"/v1/orders", nil, "", map[string]string{
		"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
	if h := resp.Header.Get("Access-Control-Allow-Origin"); h != "" {
		t.Errorf("CORS is on by default: Access-Control-Allow-Origin %q", h)
	}

	cfg := testConfig(t, smtptest.FreeAddr(t))
	cfg.HTTP.CORSAllowOrigins = []string{"https://shop.example"}
	s = startShop(t, cfg, nil)
	resp, _ = rawRequest(t, "OPTIONS", s.url+"/v1/orders", nil, "", map[string]string{
		"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "authorization,content-type,idempotency-key"})
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "idempotency-key") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := rawRequest(t, "POST", s.url+"/v1/orders", newOrder("ord-cors", "a@example.com", "MUG", 1), testKey,
		map[string]string{"Origin": "https://shop.example"})
	if resp.StatusCode != 201 || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Errorf("a storefront's order: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	resp, _ = rawRequest(t, "OPTIONS", s.url+"/v1/orders", nil, "", map[string]string{
		"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
	if h := resp.Header.Get("Access-Control-Allow-Origin"); h != "" {
		t.Errorf("another origin is allowed: %q", h)
	}
}

// TestRequestID: every response, error or not, carries X-Request-ID.
func TestRequestID(t *testing.T) {
	s := startShop(t, testConfig(t, smtptest.FreeAddr(t)), nil)
	for _, path := range []string{"/healthz", "/v1/orders", "/v1/orders/nope", "/nowhere"} {
		for _, key := range []string{"", testKey} {
			resp, _ := rawRequest(t, "GET", s.url+path, nil, key, nil)
			if resp.Header.Get("X-Request-ID") == "" {
				t.Errorf("GET %s (key %t): %d without X-Request-ID", path, key != "", resp.StatusCode)
			}
		}
	}
}
