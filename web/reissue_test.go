package web_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/shopbus/shopbus/config"

	"github.com/shopbus/shopbus/web"
)

// reissue revokes the key named name and creates a new key of that name.
func reissue(t *testing.T, s *idemShop, name string) string {
	t.Helper()
	ctx := context.Background()
	keys := web.NewKeys(s.db)
	if err := keys.Revoke(ctx, name); err != nil {
		t.Fatal(err)
	}
	key, _, err := keys.Create(ctx, web.NewKey{Name: name, Scopes: []string{web.ScopeOrdersWrite, web.ScopeOrdersRead}})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestReissuedKeyDoesNotInheritIdempotencyKeys(t *testing.T) {
	s := newIdemShop(t)
	old, _, err := web.NewKeys(s.db).Create(context.Background(), web.NewKey{Name: "writer", Scopes: []string{web.ScopeOrdersWrite}})
	if err != nil {
		t.Fatal(err)
	}
	body := orderBody("ada@example.com")
	first := s.postAs(old, "/v1/orders", body, "idem-1")
	firstID := orderID(t, first)

	again := s.postAs(reissue(t, s, "writer"), "/v1/orders", body, "idem-1")
	if again.replayed() || orderID(t, again) == firstID {
		t.Fatalf("the reissued key got the revoked key's response: %s", again)
	}
	if o := s.orders(); o != 2 {
		t.Errorf("%d orders, want 2", o)
	}
}

func TestReissuedKeyHasItsOwnRateLimit(t *testing.T) {
	s := newIdemShopWith(t, func(_ *web.Deps, c *config.HTTP) {
		c.RateLimit.RPS, c.RateLimit.Burst = 0.01, 2 // a token every 100 s: none comes back during the test
	})
	old, _, err := web.NewKeys(s.db).Create(context.Background(), web.NewKey{Name: "writer", Scopes: []string{web.ScopeOrdersRead}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(key string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, s.url+"/v1/orders", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		r, err := s.do(req)
		if err != nil {
			t.Fatal(err)
		}
		return r.status
	}
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		if got := get(old); got != want {
			t.Fatalf("request %d of the first key: %d, want %d", i+1, got, want)
		}
	}
	fresh := reissue(t, s, "writer")
	for i := range 2 {
		if got := get(fresh); got != http.StatusOK {
			t.Fatalf("request %d of the reissued key: %d, want 200 (a full bucket of its own)", i+1, got)
		}
	}
}
