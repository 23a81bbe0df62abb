package web

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// TestKeysCachedUntilARevocation: once a key has authenticated, a request
// with it reads the revocation version, not the key's row; a
// revocation by another instance sharing the database counts from this
// instance's next request.
func TestKeysCachedUntilARevocation(t *testing.T) {
	cfg := dbtest.Config(t)
	db1, db2 := dbtest.Connect(t, cfg), dbtest.Connect(t, cfg)
	if _, err := database.Migrate(context.Background(), db1, Migrations); err != nil {
		t.Fatal(err)
	}
	here, there := NewKeys(db1), NewKeys(db2)
	ctx := context.Background()
	key, _, err := here.Create(ctx, NewKey{Name: "shop", Scopes: []string{ScopeOrdersWrite}})
	if err != nil {
		t.Fatal(err)
	}
	var reads atomic.Int64 // of key rows
	count := func(tx *gorm.DB) {
		if strings.Contains(tx.Statement.SQL.String(), "web_api_keys") {
			reads.Add(1)
		}
	}
	if err := db1.Callback().Query().Register("test:count", count); err != nil {
		t.Fatal(err)
	}
	if err := db1.Callback().Row().Register("test:count", count); err != nil {
		t.Fatal(err)
	}

	for i := range 3 {
		reads.Store(0)
		p, err := here.Authenticate(ctx, key)
		if err != nil || p.Name != "shop" || !p.Can(ScopeOrdersWrite) {
			t.Fatalf("request %d: %+v, %v", i, p, err)
		}
		if i > 0 && reads.Load() != 0 {
			t.Errorf("request %d read the key's row %d times, want none: the key is cached", i, reads.Load())
		}
	}
	if err := there.Revoke(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := here.Authenticate(ctx, key); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("the request after another instance revoked the key: %v, want ErrUnauthorized", err)
	}
}
