package web

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopbus/shopbus/database/dbtest"
)

func TestAuthenticateRef(t *testing.T) {
	keys := NewKeys(dbtest.Open(t, Migrations))
	ctx := context.Background()
	admin, _, err := keys.Create(ctx, NewKey{Name: "ops", Scopes: []string{ScopeAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := keys.Create(ctx, NewKey{Name: "old", Scopes: []string{ScopeAdmin}, TTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}

	p, err := keys.AuthenticateRef(ctx, KeyRef(admin))
	if err != nil || p.Name != "ops" || !p.Can(ScopeAdmin) {
		t.Fatalf("AuthenticateRef of a live key = %+v, %v", p, err)
	}
	for name, ref := range map[string]string{
		"the key itself, not its ref": admin,
		"an unknown ref":              KeyRef("sb_live_unknown"),
		"an expired key":              KeyRef(expired),
		"empty":                       "",
	} {
		if _, err := keys.AuthenticateRef(ctx, ref); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: err = %v, want ErrUnauthorized", name, err)
		}
	}
	if err := keys.Revoke(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.AuthenticateRef(ctx, KeyRef(admin)); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("after revocation: err = %v, want ErrUnauthorized", err)
	}
}
