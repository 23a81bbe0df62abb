package web_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/web/webtest"
)

const admin = webtest.AdminKey

// createKey creates a key through the API, as an operator does, and
// returns its secret.
func createKey(t *testing.T, s *webtest.Shop, name string, scopes []string, expiresIn string) string {
	t.Helper()
	body := map[string]any{"name": name, "scopes": scopes}
	if expiresIn != "" {
		body["expires_in"] = expiresIn
	}
	k := webtest.Decode[struct {
		Key, Name string
	}](t, http.StatusCreated, s.Request(t, "POST", "/v1/apikeys", body, admin))
	if !strings.HasPrefix(k.Key, "sb_live_") || k.Name != name {
		t.Fatalf("created key %+v", k)
	}
	return k.Key
}

// TestScopes: each key can do what its scopes allow and nothing more;
// revocation and expiry count from the next request; no key reaches the log.
func TestScopes(t *testing.T) {
	t.Parallel()
	s := webtest.New(t, webtest.Options{Run: true, Config: func(c *config.Config) { c.Log.Level = "debug" }})
	storefront := createKey(t, s, "storefront", []string{"orders:write"}, "")
	reader := createKey(t, s, "reporting", []string{"orders:read"}, "")
	both := createKey(t, s, "pos", []string{"orders:write", "orders:read"}, "90d")

	t.Run("scopes", func(t *testing.T) {
		s.Run(t,
			webtest.Scenario{Key: storefront, Method: "POST", URL: "/v1/orders", Body: newOrder("ord-s1", "a@example.com", "MUG", 1), Status: 201},
			webtest.Scenario{Key: storefront, Method: "POST", URL: "/v1/orders/ord-s1/state", Body: map[string]string{"order_state": "order_paid"}, Status: 200},
			webtest.Scenario{Key: storefront, Method: "GET", URL: "/v1/orders/ord-s1", Status: 403},
			webtest.Scenario{Key: storefront, Method: "GET", URL: "/v1/orders", Status: 403},
			webtest.Scenario{Key: storefront, Method: "PUT", URL: "/v1/inventory/MUG", Body: map[string]int{"on_hand": 5}, Status: 403},
			webtest.Scenario{Key: storefront, Method: "GET", URL: "/v1/apikeys", Status: 403},
			webtest.Scenario{Key: reader, Method: "GET", URL: "/v1/orders/ord-s1", Status: 200},
			webtest.Scenario{Key: reader, Method: "GET", URL: "/v1/orders", Status: 200},
			webtest.Scenario{Key: reader, Method: "POST", URL: "/v1/orders", Body: newOrder("ord-s2", "a@example.com", "MUG", 1), Status: 403},
			webtest.Scenario{Key: reader, Method: "GET", URL: "/v1/dlq", Status: 403},
			webtest.Scenario{Key: reader, Method: "POST", URL: "/v1/rules/test", Body: `{"source":"x"}`, Status: 403},
			webtest.Scenario{Key: reader, Method: "GET", URL: "/metrics", Status: 403},
			webtest.Scenario{Key: "", Method: "GET", URL: "/metrics", Status: 401},
			webtest.Scenario{Key: both, Method: "POST", URL: "/v1/orders", Body: newOrder("ord-s3", "a@example.com", "MUG", 1), Status: 201},
			webtest.Scenario{Key: both, Method: "GET", URL: "/v1/orders/ord-s3", Status: 200},
			webtest.Scenario{Key: both, Method: "GET", URL: "/v1/inventory/MUG", Status: 403},
			webtest.Scenario{Key: admin, Method: "GET", URL: "/v1/apikeys", Status: 200},
		)
	})

	s.Run(t,
		webtest.Scenario{Name: "the list shows hints, never secrets", Key: admin, URL: "/v1/apikeys", Status: 200,
			Contains: []string{`"hint":"sb_live_`}, NotContains: []string{storefront, reader, both, admin}},
		// Revocation counts at the next request.
		webtest.Scenario{Name: "revoke", Key: admin, Method: "DELETE", URL: "/v1/apikeys/storefront", Status: 204},
		webtest.Scenario{Name: "a revoked key", Key: storefront, URL: "/v1/orders", Body: newOrder("ord-s4", "a@example.com", "MUG", 1),
			Status: 401, Header: map[string]string{"WWW-Authenticate": "*"}},
		webtest.Scenario{Name: "revoking twice", Key: admin, Method: "DELETE", URL: "/v1/apikeys/storefront", Status: 404},
	)
	// Its name is free again.
	createKey(t, s, "storefront", []string{"orders:write"}, "")

	// Expiry.
	short := createKey(t, s, "temp", []string{"orders:read"}, "300ms")
	webtest.WaitFor(t, "the short key to expire", 10*time.Second, func() (bool, string) {
		r := s.Request(t, "GET", "/v1/orders", nil, short)
		return r.Status == 401, r.String()
	})

	// Bad key requests.
	var bad []webtest.Scenario
	for _, body := range []map[string]any{
		{"name": "", "scopes": []string{"admin"}},
		{"name": "x", "scopes": []string{}},
		{"name": "x", "scopes": []string{"root"}},
		{"name": "x", "scopes": []string{"admin"}, "expires_in": "-1h"},
		{"name": "x", "scopes": []string{"admin"}, "expires_in": "soon"},
	} {
		bad = append(bad, webtest.Scenario{Name: fmt.Sprint(body), Key: admin, URL: "/v1/apikeys", Body: body, Status: 422})
	}
	bad = append(bad, webtest.Scenario{Name: "a duplicate live name", Key: admin, URL: "/v1/apikeys",
		Body: map[string]any{"name": "pos", "scopes": []string{"admin"}}, Status: 409})
	s.Run(t, bad...)

	for _, k := range []string{storefront, reader, both, short, admin} {
		if strings.Contains(s.Logs(), k) {
			t.Fatalf("the log contains an API key")
		}
	}
}

// TestRateLimitPerKey: a key past its bucket gets 429 with Retry-After;
// another key is not affected.
func TestRateLimitPerKey(t *testing.T) {
	t.Parallel()
	s := webtest.New(t, webtest.Options{Config: func(c *config.Config) {
		c.HTTP.RateLimit.RPS, c.HTTP.RateLimit.Burst = 0.5, 3
	}})
	other := createKey(t, s, "other", []string{"orders:read"}, "") // spends one of the admin's 3
	var limited *webtest.Response
	for range 5 {
		if r := s.Request(t, "GET", "/v1/orders", nil, admin); r.Status == 429 {
			limited = &r
			break
		}
	}
	if limited == nil {
		t.Fatal("5 quick requests on a 3-token bucket were all served")
	}
	webtest.CheckProblem(t, *limited)
	if ra := limited.Header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2 (seconds for one token at 0.5/s)", ra)
	}
	if r := s.Request(t, "GET", "/v1/orders", nil, other); r.Status != 200 {
		t.Errorf("another key: %s", r)
	}
}

// TestRateLimitOff: SHOPBUS_RATE_LIMIT_RPS=0 turns the limit off.
func TestRateLimitOff(t *testing.T) {
	builtin, err := os.ReadFile(webtest.BuiltinConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHOPBUS_RATE_LIMIT_RPS", "0")
	loaded, err := config.Load("", builtin)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.HTTP.RateLimit.RPS != 0 {
		t.Fatalf("rps %v with SHOPBUS_RATE_LIMIT_RPS=0", loaded.HTTP.RateLimit.RPS)
	}
	s := webtest.New(t, webtest.Options{Config: func(c *config.Config) { c.HTTP.RateLimit = loaded.HTTP.RateLimit }})
	for i := range 300 { // the built-in bucket holds 200
		if r := s.Request(t, "GET", "/v1/orders?limit=1", nil, admin); r.Status != 200 {
			t.Fatalf("request %d: %s", i, r)
		}
	}
	t.Setenv("SHOPBUS_RATE_LIMIT_RPS", "fast")
	if _, err := config.Load("", builtin); err == nil || !strings.Contains(err.Error(), "SHOPBUS_RATE_LIMIT_RPS") {
		t.Errorf("SHOPBUS_RATE_LIMIT_RPS=fast: %v", err)
	}
}

// TestSpoofedForwardedForCannotEscapeRateLimit: failed authentications are
// counted per peer address; a client inventing X-Forwarded-For values is
// still blocked, and so is its next request with a valid key. With a
// trusted proxy configured, the header it sets is believed. The shops
// listen on loopback, so the peer address is real.
func TestSpoofedForwardedForCannotEscapeRateLimit(t *testing.T) {
	t.Parallel()
	s := webtest.New(t, webtest.Options{Network: true, Config: func(c *config.Config) {
		c.HTTP.AuthFailures.PerMinute, c.HTTP.AuthFailures.Burst = 1, 5
	}})
	statuses := ""
	for i := range 8 {
		r := s.Request(t, "GET", "/v1/orders", nil, "sb_live_guess",
			fmt.Sprintf("X-Forwarded-For: 198.51.100.%d", i), fmt.Sprintf("X-Real-IP: 203.0.113.%d", i))
		statuses += fmt.Sprint(r.Status, " ")
	}
	if statuses != "401 401 401 401 401 429 429 429 " {
		t.Errorf("failed attempts answered %s; want five 401s, then 429s", statuses)
	}
	s.Run(t, webtest.Scenario{Name: "a valid key from the blocked address", Key: admin, URL: "/v1/orders",
		Headers: []string{"X-Forwarded-For: 192.0.2.77"}, Status: 429, Header: map[string]string{"Retry-After": "*"}})

	// Behind a trusted proxy (here: loopback), each forwarded client counts
	// on its own.
	proxied := webtest.New(t, webtest.Options{Network: true, Config: func(c *config.Config) {
		c.HTTP.AuthFailures.PerMinute, c.HTTP.AuthFailures.Burst = 1, 5
		c.HTTP.TrustedProxies = []string{"127.0.0.1/32"}
	}})
	for i := range 8 {
		if r := proxied.Request(t, "GET", "/v1/orders", nil, "sb_live_guess", fmt.Sprintf("X-Forwarded-For: 198.51.100.%d", i)); r.Status != 401 {
			t.Errorf("client %d behind the trusted proxy: %s, want 401", i, r)
		}
	}
}

// TestCORS: off by default; from config, a storefront origin may post orders.
func TestCORS(t *testing.T) {
	t.Parallel()
	preflight := []string{"Origin: https://shop.example", "Access-Control-Request-Method: POST"}
	webtest.New(t, webtest.Options{}).Run(t, webtest.Scenario{Name: "off by default", Method: "OPTIONS", URL: "/v1/orders",
		Headers: preflight, Status: 204, Header: map[string]string{"Access-Control-Allow-Origin": ""}})

	s := webtest.New(t, webtest.Options{Config: func(c *config.Config) { c.HTTP.CORSAllowOrigins = []string{"https://shop.example"} }})
	s.Run(t,
		webtest.Scenario{Name: "preflight", Method: "OPTIONS", URL: "/v1/orders",
			Headers: append(preflight, "Access-Control-Request-Headers: authorization,content-type,idempotency-key"), Status: 204,
			Header: map[string]string{"Access-Control-Allow-Origin": "https://shop.example"},
			After: func(t *testing.T, _ *webtest.Shop, r webtest.Response) {
				if !strings.Contains(strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")), "idempotency-key") {
					t.Errorf("preflight: %v", r.Header)
				}
			}},
		webtest.Scenario{Name: "a storefront's order", Key: admin, URL: "/v1/orders", Body: newOrder("ord-cors", "a@example.com", "MUG", 1),
			Headers: []string{"Origin: https://shop.example"}, Status: 201,
			Header: map[string]string{"Access-Control-Allow-Origin": "https://shop.example"}},
		webtest.Scenario{Name: "another origin", Method: "OPTIONS", URL: "/v1/orders",
			Headers: []string{"Origin: https://evil.example", "Access-Control-Request-Method: POST"}, Status: 204,
			Header: map[string]string{"Access-Control-Allow-Origin": ""}},
	)
}

// TestRequestID: every response, error or not, carries X-Request-ID.
func TestRequestID(t *testing.T) {
	t.Parallel()
	s := webtest.New(t, webtest.Options{})
	var scenarios []webtest.Scenario
	for _, tc := range []struct {
		path              string
		withKey, withNone int
	}{
		{"/healthz", 200, 200},
		{"/v1/orders", 200, 401},
		{"/v1/orders/nope", 404, 401},
		{"/nowhere", 404, 404},
	} {
		id := map[string]string{"X-Request-ID": "*"}
		scenarios = append(scenarios,
			webtest.Scenario{Name: tc.path + " with a key", URL: tc.path, Key: admin, Status: tc.withKey, Header: id},
			webtest.Scenario{Name: tc.path + " without", URL: tc.path, Status: tc.withNone, Header: id})
	}
	s.Run(t, scenarios...)
}
