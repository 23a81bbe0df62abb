package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/fault"
)

// Errors of authentication and key management.
var (
	ErrUnauthorized = fault.New(fault.Unauthorized, "missing, unknown, expired or revoked API key")
	ErrForbidden    = fault.New(fault.Forbidden, "the API key lacks the scope this needs")
	ErrKeyNotFound  = fault.New(fault.NotFound, "apikey: no such key")
	ErrKeyExists    = fault.New(fault.Conflict, "apikey: a key with that name exists")
	ErrInvalidKey   = fault.New(fault.Invalid, "apikey: invalid key request")
)

// Scopes a key may hold. Admin holds every other.
const (
	ScopeOrdersWrite = "orders:write" // a storefront: create orders, change their state
	ScopeOrdersRead  = "orders:read"
	ScopeAdmin       = "admin" // everything: inventory, rules, dead letters, replay, keys
	// ScopeEventsPut is another system's (a warehouse, an ERP): put events
	// on the bus with POST /v1/events.
	ScopeEventsPut = "events:put"
)

// Scopes lists every scope.
var Scopes = []string{ScopeOrdersWrite, ScopeOrdersRead, ScopeEventsPut, ScopeAdmin}

// KeyPrefix starts every generated key, so a leaked key is recognisable
// (and secret scanners can find it).
const KeyPrefix = "sb_live_"

// Migrations create the gateway's tables.
var Migrations = []database.Migration{{
	ID: "web-0001",
	SQL: []string{
		`CREATE TABLE web_api_keys (
			id $AUTOID,
			name TEXT NOT NULL,
			hash TEXT NOT NULL UNIQUE,
			hint TEXT NOT NULL,
			scopes TEXT NOT NULL,
			created_at TIMESTAMP NOT NULL,
			expires_at TIMESTAMP,
			revoked_at TIMESTAMP
		)`,
		// A revoked key's name can be given to a new key.
		`CREATE UNIQUE INDEX web_api_keys_live_name ON web_api_keys (name) WHERE revoked_at IS NULL`,
	},
}, keyVersionMigration}

type apiKey struct {
	ID        int64 `gorm:"primaryKey;autoIncrement"`
	Name      string
	Hash      string
	Hint      string
	Scopes    string
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

func (apiKey) TableName() string { return "web_api_keys" }

// KeyInfo describes a key without its secret.
type KeyInfo struct {
	Name      string     `json:"name"`
	Hint      string     `json:"hint"`
	Scopes    []string   `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func (k apiKey) info() KeyInfo {
	return KeyInfo{Name: k.Name, Hint: k.Hint, Scopes: strings.Split(k.Scopes, ","), CreatedAt: k.CreatedAt,
		ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt}
}

// Principal is who a request acts as.
type Principal struct {
	Name   string
	Scopes []string
	// Ref is the key's KeyRef. What a key accumulates (its idempotency
	// records, its rate-limit bucket) belongs to Ref, not to Name: a
	// revoked key's name can be given to a new key, which must start
	// afresh.
	Ref string
}

// Can reports whether the principal holds scope (admin holds all).
func (p Principal) Can(scope string) bool {
	return slices.Contains(p.Scopes, ScopeAdmin) || slices.Contains(p.Scopes, scope)
}

// Keys stores API keys as SHA-256 hashes: a generated key has 160 random
// bits, so a fast hash is enough and the database never holds a usable
// secret.
type Keys struct {
	db    *gorm.DB
	cache keyCache
}

// NewKeys returns the key store.
func NewKeys(db *gorm.DB) *Keys { return &Keys{db: db} }

func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewKey asks for a key.
type NewKey struct {
	Name   string
	Scopes []string
	// TTL, when positive, makes the key expire that long after creation.
	TTL time.Duration
}

func (n *NewKey) validate() error {
	n.Name = strings.TrimSpace(n.Name)
	if !possibleKeyName(n.Name) {
		return fmt.Errorf("%w: the name must be 1-100 printable characters", ErrInvalidKey)
	}
	if n.Name == "." || n.Name == ".." { // DELETE /v1/apikeys/{name} could never reach it
		return fmt.Errorf(`%w: the name must not be "." or ".."`, ErrInvalidKey)
	}
	if len(n.Scopes) == 0 {
		return fmt.Errorf("%w: give at least one scope (%s)", ErrInvalidKey, strings.Join(Scopes, ", "))
	}
	for _, s := range n.Scopes {
		if !slices.Contains(Scopes, s) {
			return fmt.Errorf("%w: unknown scope %q (known: %s)", ErrInvalidKey, s, strings.Join(Scopes, ", "))
		}
	}
	if n.TTL < 0 {
		return fmt.Errorf("%w: the expiry must be in the future", ErrInvalidKey)
	}
	return nil
}

// possibleKeyName reports whether a key may be called name: 1-100
// characters, none a control character.
func possibleKeyName(name string) bool {
	return name != "" && len(name) <= 100 && !strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Create makes a new key and returns it; it is shown only this once.
func (k *Keys) Create(ctx context.Context, n NewKey) (string, KeyInfo, error) {
	if err := n.validate(); err != nil {
		return "", KeyInfo{}, err
	}
	raw := make([]byte, 20)
	if _, err := rand.Read(raw); err != nil {
		return "", KeyInfo{}, err
	}
	key := KeyPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
	info, err := k.store(ctx, n, key)
	return key, info, err
}

func (k *Keys) store(ctx context.Context, n NewKey, key string) (KeyInfo, error) {
	now := time.Now().UTC()
	row := apiKey{Name: n.Name, Hash: hashKey(key), Hint: key[:min(len(key), len(KeyPrefix)+4)] + "…",
		Scopes: strings.Join(n.Scopes, ","), CreatedAt: now}
	if n.TTL > 0 {
		exp := now.Add(n.TTL)
		row.ExpiresAt = &exp
	}
	err := k.db.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return KeyInfo{}, fmt.Errorf("%w: %q", ErrKeyExists, n.Name)
	}
	return row.info(), err
}

// Bootstrap makes sure a first key exists. With no key stored it stores
// given (when not empty) or a new key as the admin key, and returns the key
// it created (empty when given was used or a key existed).
//
// Instances that start together all run it: the one whose insert wins
// bootstraps, and the others find the admin key taken (by name, or by hash
// when they were given the same key) and carry on as if it had existed.
func (k *Keys) Bootstrap(ctx context.Context, given string) (string, error) {
	var n int64
	if err := k.db.WithContext(ctx).Model(&apiKey{}).Count(&n).Error; err != nil || n > 0 {
		return "", err
	}
	if given != "" && len(given) < 16 {
		return "", errors.New("apikey: SHOPBUS_BOOTSTRAP_API_KEY must be at least 16 characters")
	}
	admin := NewKey{Name: "admin", Scopes: []string{ScopeAdmin}}
	var key string
	var err error
	if given != "" {
		_, err = k.store(ctx, admin, given)
	} else {
		key, _, err = k.Create(ctx, admin)
	}
	if errors.Is(err, ErrKeyExists) {
		return "", nil
	}
	return key, err
}

// List returns every key, newest first, without secrets.
func (k *Keys) List(ctx context.Context) ([]KeyInfo, error) {
	var rows []apiKey
	if err := k.db.WithContext(ctx).Order("id DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]KeyInfo, len(rows))
	for i, r := range rows {
		out[i] = r.info()
	}
	return out, nil
}

// Revoke ends the live key named name; the next request with it is refused.
func (k *Keys) Revoke(ctx context.Context, name string) error {
	if !possibleKeyName(name) { // no key has it (and PostgreSQL would refuse a NUL in it)
		return fmt.Errorf("%w: %q", ErrKeyNotFound, name)
	}
	var res *gorm.DB
	err := k.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res = tx.Model(&apiKey{}).Where("name = ? AND revoked_at IS NULL", name).Update("revoked_at", time.Now().UTC())
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return bumpKeyVersion(tx) // every instance's cached keys go at their next request
	})
	if err != nil || res.RowsAffected > 0 {
		return err
	}
	var revoked int64
	if err := k.db.WithContext(ctx).Model(&apiKey{}).Where("name = ?", name).Count(&revoked).Error; err != nil {
		return err
	}
	if revoked > 0 {
		return fault.Errorf(fault.NotFound, "apikey: %q is already revoked: no active key has that name", name)
	}
	return fmt.Errorf("%w: %q", ErrKeyNotFound, name)
}

// Authenticate returns who the key belongs to, or ErrUnauthorized. It reads
// the key's row on every request, so a revocation counts at once.
func (k *Keys) Authenticate(ctx context.Context, key string) (Principal, error) {
	if key == "" || len(key) > 512 {
		return Principal{}, ErrUnauthorized
	}
	return k.AuthenticateRef(ctx, hashKey(key))
}
