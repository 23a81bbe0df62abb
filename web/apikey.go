package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database"
)

// ErrUnauthorized means a request carried no key, or one that is unknown or revoked.
var ErrUnauthorized = errors.New("web: missing or invalid API key")

// KeyPrefix starts every generated key, so a leaked key is recognisable.
const KeyPrefix = "sb_live_"

// Migrations create the gateway's tables.
var Migrations = []database.Migration{{
	ID: "web-0001",
	SQL: []string{`CREATE TABLE web_api_keys (
		id $AUTOID,
		name TEXT NOT NULL UNIQUE,
		hash TEXT NOT NULL UNIQUE,
		created_at TIMESTAMP NOT NULL,
		revoked_at TIMESTAMP
	)`},
}}

type apiKey struct {
	ID        int64 `gorm:"primaryKey;autoIncrement"`
	Name      string
	Hash      string
	CreatedAt time.Time
	RevokedAt *time.Time
}

func (apiKey) TableName() string { return "web_api_keys" }

// Keys stores API keys as SHA-256 hashes: a key has 160 random bits, so a
// fast hash is enough and the database never holds a usable secret.
type Keys struct{ db *gorm.DB }

// NewKeys returns the key store.
func NewKeys(db *gorm.DB) *Keys { return &Keys{db: db} }

func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Create makes a new key named name and returns it; it is shown only once.
func (k *Keys) Create(ctx context.Context, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", errors.New("apikey: name must be 1-100 characters")
	}
	raw := make([]byte, 20)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	key := KeyPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
	return key, k.store(ctx, name, key)
}

func (k *Keys) store(ctx context.Context, name, key string) error {
	err := k.db.WithContext(ctx).Create(&apiKey{Name: name, Hash: hashKey(key), CreatedAt: time.Now().UTC()}).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("apikey: a key named %q exists", name)
	}
	return err
}

// Bootstrap makes sure a first key exists. With no key stored it stores
// given (when not empty) or a new key, and returns the key it created
// (empty when given was used or a key existed).
func (k *Keys) Bootstrap(ctx context.Context, given string) (string, error) {
	var n int64
	if err := k.db.WithContext(ctx).Model(&apiKey{}).Count(&n).Error; err != nil || n > 0 {
		return "", err
	}
	if given != "" {
		if len(given) < 16 {
			return "", errors.New("apikey: SHOPBUS_BOOTSTRAP_API_KEY must be at least 16 characters")
		}
		return "", k.store(ctx, "admin", given)
	}
	return k.Create(ctx, "admin")
}

// Authenticate returns the name of the key, or ErrUnauthorized.
func (k *Keys) Authenticate(ctx context.Context, key string) (string, error) {
	if key == "" {
		return "", ErrUnauthorized
	}
	want := hashKey(key)
	var row apiKey
	err := k.db.WithContext(ctx).Where("hash = ? AND revoked_at IS NULL", want).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", ErrUnauthorized
	}
	if err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare([]byte(row.Hash), []byte(want)) != 1 {
		return "", ErrUnauthorized
	}
	return row.Name, nil
}
