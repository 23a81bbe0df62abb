package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"
)

// KeyRef names a key without holding its secret: the hash the key store
// keeps. A dashboard session stores it so that every request can check
// that the key it logged in with is still live.
func KeyRef(key string) string { return hashKey(key) }

// AuthenticateRef is Authenticate for a key known by its KeyRef: who the
// key belongs to, or ErrUnauthorized once it is revoked or expired.
func (k *Keys) AuthenticateRef(ctx context.Context, ref string) (Principal, error) {
	if len(ref) != 64 {
		return Principal{}, ErrUnauthorized
	}
	// The version is read on every request, so a revocation counts at once.
	version, err := keyVersion(ctx, k.db)
	if err != nil {
		return Principal{}, err
	}
	if c, ok := k.cache.get(ref, version); ok {
		if c.expires != nil && !time.Now().Before(*c.expires) {
			return Principal{}, ErrUnauthorized
		}
		return c.p, nil
	}
	var row apiKey
	err = k.db.WithContext(ctx).Where("hash = ? AND revoked_at IS NULL", ref).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Principal{}, ErrUnauthorized
	}
	if err != nil {
		return Principal{}, err
	}
	// The lookup is by hash, so no secret byte leaks through its timing;
	// the comparison is constant-time all the same.
	if subtle.ConstantTimeCompare([]byte(row.Hash), []byte(ref)) != 1 ||
		(row.ExpiresAt != nil && !time.Now().Before(*row.ExpiresAt)) {
		return Principal{}, ErrUnauthorized
	}
	p := Principal{Name: row.Name, Scopes: strings.Split(row.Scopes, ","), Ref: row.Hash}
	k.cache.put(ref, version, cachedKey{p: p, expires: row.ExpiresAt})
	return p, nil
}
