package web

import (
	"context"
	"testing"
	"time"

	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/database/dbtest"
)

// TestIdempotencyRecordsMoveToKeyRefs upgrades a database whose records
// name keys: a live key's records follow it, a revoked key's are gone.
func TestIdempotencyRecordsMoveToKeyRefs(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Open(t, Migrations, IdempotencyMigrations[:1])
	keys := NewKeys(db)
	live, _, err := keys.Create(ctx, NewKey{Name: "writer", Scopes: []string{ScopeOrdersWrite}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.Create(ctx, NewKey{Name: "gone", Scopes: []string{ScopeOrdersWrite}}); err != nil {
		t.Fatal(err)
	}
	if err := keys.Revoke(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, name := range []string{"writer", "gone"} {
		rec := idempotencyRecord{APIKey: name, IdempotencyKey: "idem-1", Method: "POST", Path: "/v1/orders",
			Fingerprint: "f", Status: 201, Body: "{}", CreatedAt: now}
		if err := db.Create(&rec).Error; err != nil {
			t.Fatal(err)
		}
	}

	if _, err := database.Migrate(ctx, db, append(Migrations, IdempotencyMigrations...)); err != nil {
		t.Fatal(err)
	}
	var refs []string
	if err := db.Model(&idempotencyRecord{}).Order("api_key").Pluck("api_key", &refs).Error; err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0] != KeyRef(live) {
		t.Errorf("records belong to %q, want only the live key's ref %q", refs, KeyRef(live))
	}
}
