package web

import (
	"context"
	"sync"
	"testing"

	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// TestBootstrapConcurrently starts several instances' Bootstrap at the same
// moment against one new database, each over its own connection pool as
// separate processes would: none may fail, and one admin key results.
func TestBootstrapConcurrently(t *testing.T) {
	const instances, rounds = 6, 4
	for _, tc := range []struct {
		name  string
		given string // SHOPBUS_BOOTSTRAP_API_KEY, the same for every instance
	}{
		{"given key", "sb_live_bootstrap_key_from_the_orchestrator"},
		{"generated key", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range rounds {
				cfg := dbtest.Config(t)
				first := dbtest.Connect(t, cfg)
				if _, err := database.Migrate(context.Background(), first, Migrations); err != nil {
					t.Fatal(err)
				}
				keys := make([]*Keys, instances)
				for i := range keys {
					keys[i] = NewKeys(dbtest.Connect(t, cfg))
				}

				start := make(chan struct{})
				created := make([]string, instances)
				errs := make([]error, instances)
				var wg sync.WaitGroup
				for i, k := range keys {
					wg.Go(func() {
						<-start
						created[i], errs[i] = k.Bootstrap(context.Background(), tc.given)
					})
				}
				close(start)
				wg.Wait()

				var made []string
				for i, err := range errs {
					if err != nil {
						t.Fatalf("instance %d: Bootstrap: %v", i, err)
					}
					if created[i] != "" {
						made = append(made, created[i])
					}
				}
				if n := dbtest.Count(t, first, "web_api_keys"); n != 1 {
					t.Fatalf("%d keys stored, want 1", n)
				}
				want := tc.given
				if want == "" {
					if len(made) != 1 {
						t.Fatalf("%d instances report a key created, want 1", len(made))
					}
					want = made[0]
				} else if len(made) != 0 {
					t.Fatalf("a given key was reported as created: %q", made)
				}
				if p, err := keys[0].Authenticate(context.Background(), want); err != nil || !p.Can(ScopeAdmin) || p.Name != "admin" {
					t.Fatalf("the bootstrapped key: %+v, %v", p, err)
				}
			}
		})
	}
}
