package web

import (
	"context"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database"
)

// keyVersionMigration adds the revocation counter: one row whose version
// every revocation raises, in the transaction that revokes.
var keyVersionMigration = database.Migration{
	ID: "web-key-version-0001",
	SQL: []string{
		`CREATE TABLE web_api_key_version (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)`,
		`INSERT INTO web_api_key_version (id, version) VALUES (1, 0)`,
	},
}

// keyCache keeps the keys that authenticated, by hash, so that a request
// reads one small row (the revocation version) instead of its key's: the
// key lookup was 7% of an order's CPU at the front door. An entry holds
// while the version it was cached under is the database's: a revocation,
// by this instance or any other sharing the database, raises the version
// and so empties every instance's cache at its next request. A revoked key
// is refused from the next request, as before.
type keyCache struct {
	mu      sync.RWMutex
	version int64
	keys    map[string]cachedKey
}

type cachedKey struct {
	p       Principal
	expires *time.Time
}

// get returns the key cached under version, and whether there was one.
func (c *keyCache) get(ref string, version int64) (cachedKey, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.version != version {
		return cachedKey{}, false
	}
	k, ok := c.keys[ref]
	return k, ok
}

// put caches k under version, dropping whatever an older version held.
func (c *keyCache) put(ref string, version int64, k cachedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil || version > c.version {
		c.keys, c.version = map[string]cachedKey{}, version
	}
	if version == c.version {
		c.keys[ref] = k
	}
}

// keyVersion reads the revocation version.
func keyVersion(ctx context.Context, db *gorm.DB) (int64, error) {
	var v int64
	err := db.WithContext(ctx).Raw(`SELECT version FROM web_api_key_version WHERE id = 1`).Row().Scan(&v)
	return v, err
}

// bumpKeyVersion raises the revocation version inside tx.
func bumpKeyVersion(tx *gorm.DB) error {
	return tx.Exec(`UPDATE web_api_key_version SET version = version + 1 WHERE id = 1`).Error
}
