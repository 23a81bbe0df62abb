package web_test

import (
	"strconv"
	"testing"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/web/webtest"
)

// TestKeyHeaders: where a key may be sent, and that X-API-Key, when
// present, is the one that counts.
func TestKeyHeaders(t *testing.T) {
	t.Parallel()
	webtest.New(t, webtest.Options{}).Run(t,
		webtest.Scenario{Name: "bearer", URL: "/v1/orders", Headers: []string{"Authorization: Bearer " + admin}, Status: 200},
		webtest.Scenario{Name: "BEARER", URL: "/v1/orders", Headers: []string{"Authorization: BEARER " + admin}, Status: 200},
		webtest.Scenario{Name: "bearer with spaces around the key", URL: "/v1/orders", Headers: []string{"Authorization: Bearer   " + admin + "  "}, Status: 200},
		webtest.Scenario{Name: "X-API-Key beside a wrong bearer", URL: "/v1/orders",
			Headers: []string{"X-API-Key: " + admin, "Authorization: Bearer sb_live_wrong"}, Status: 200},
		webtest.Scenario{Name: "a wrong X-API-Key beside a good bearer", URL: "/v1/orders",
			Headers: []string{"X-API-Key: sb_live_wrong", "Authorization: Bearer " + admin}, Status: 401},
		webtest.Scenario{Name: "an empty X-API-Key leaves the bearer", URL: "/v1/orders",
			Headers: []string{"X-API-Key: ", "Authorization: Bearer " + admin}, Status: 200},
		webtest.Scenario{Name: "the key as a query parameter", URL: "/v1/orders?api_key=" + admin, Status: 401},
		webtest.Scenario{Name: "healthz needs no key", URL: "/healthz", Status: 200},
		webtest.Scenario{Name: "readyz needs no key", URL: "/readyz", Status: 200},
		webtest.Scenario{Name: "the API description needs no key", URL: "/openapi.yaml", Status: 200},
	)
}

// TestFailedAuthenticationsPerAddress: each client address may fail
// burst times at once, and then waits, any key it sends unlooked at, for
// the time a failure takes to be forgiven; other addresses, and requests
// that succeed, spend nothing.
func TestFailedAuthenticationsPerAddress(t *testing.T) {
	t.Parallel()
	s := webtest.New(t, webtest.Options{Config: func(c *config.Config) {
		c.HTTP.AuthFailures.PerMinute, c.HTTP.AuthFailures.Burst = 1, 2
	}})
	const guesser, neighbour, customer = "192.0.2.10:5000", "192.0.2.11:5000", "192.0.2.12:5000"
	wrong := "sb_live_guess"
	good := make([]webtest.Scenario, 5)
	for i := range good {
		good[i] = webtest.Scenario{Name: "a good key " + strconv.Itoa(i+1), RemoteAddr: customer, URL: "/v1/orders", Key: admin, Status: 200}
	}
	s.Run(t, good...)
	s.Run(t,
		webtest.Scenario{Name: "first failure", RemoteAddr: guesser, URL: "/v1/orders", Key: wrong, Status: 401, Header: map[string]string{"Retry-After": ""}},
		webtest.Scenario{Name: "second failure", RemoteAddr: guesser, URL: "/v1/orders", Key: wrong, Status: 401},
		webtest.Scenario{Name: "blocked", RemoteAddr: guesser, URL: "/v1/orders", Key: wrong, Status: 429,
			After: func(t *testing.T, _ *webtest.Shop, r webtest.Response) {
				// At one failure forgiven a minute, the next is about a minute away.
				if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 50 || ra > 60 {
					t.Errorf("Retry-After %q, want about 60 seconds", r.Header.Get("Retry-After"))
				}
			}},
		webtest.Scenario{Name: "blocked even with a good key", RemoteAddr: guesser, URL: "/v1/orders", Key: admin, Status: 429},
		webtest.Scenario{Name: "blocked on every route that needs a key", RemoteAddr: guesser, URL: "/v1/apikeys", Key: admin, Status: 429},
		webtest.Scenario{Name: "public routes stay open", RemoteAddr: guesser, URL: "/healthz", Status: 200},
		webtest.Scenario{Name: "another address is not blocked", RemoteAddr: neighbour, URL: "/v1/orders", Key: admin, Status: 200},
		webtest.Scenario{Name: "and it has failures of its own to spend", RemoteAddr: neighbour, URL: "/v1/orders", Key: wrong, Status: 401},
		// The customer's five successes spent nothing of its bucket.
		webtest.Scenario{Name: "the customer's first failure", RemoteAddr: customer, URL: "/v1/orders", Key: wrong, Status: 401},
		webtest.Scenario{Name: "the customer's second failure", RemoteAddr: customer, URL: "/v1/orders", Key: wrong, Status: 401},
	)
}

// TestRateLimitRetryAfter: Retry-After is the seconds one token takes,
// rounded up, at least one; the limit counts after authentication, so a
// request with a bad key is answered 401, not 429.
func TestRateLimitRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rps  float64
		want string
	}{{4, "1"}, {1, "1"}, {0.4, "3"}, {0.25, "4"}} {
		t.Run(strconv.FormatFloat(tc.rps, 'f', -1, 64)+" rps", func(t *testing.T) {
			s := webtest.New(t, webtest.Options{Config: func(c *config.Config) { c.HTTP.RateLimit.RPS, c.HTTP.RateLimit.Burst = tc.rps, 1 }})
			s.Run(t,
				webtest.Scenario{Name: "the one token", URL: "/v1/orders", Key: admin, Status: 200},
				webtest.Scenario{Name: "none left", URL: "/v1/orders", Key: admin, Status: 429, Header: map[string]string{"Retry-After": tc.want}},
				webtest.Scenario{Name: "a bad key is not limited", URL: "/v1/orders", Key: "sb_live_wrong", Status: 401},
			)
		})
	}
}
