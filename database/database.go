// Package database opens shopbus's database and runs its versioned schema
// migrations. Every module owns its tables and declares their migrations;
// this package only knows how to open a connection and apply steps in order.
package database

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Config says where the data lives.
type Config struct {
	// Driver is the storage engine; only "sqlite" is supported today.
	Driver string `yaml:"driver"`
	// DSN is the SQLite file path.
	DSN string `yaml:"dsn"`
}

// Open opens the database. For SQLite it creates the file's folder and turns
// on WAL (readers never wait for the writer), a busy timeout (writers queue
// instead of failing), foreign keys and IMMEDIATE transactions (a transaction
// takes the write lock at BEGIN, so two writers never deadlock on upgrade).
func Open(cfg Config) (*gorm.DB, error) {
	if cfg.Driver != "" && cfg.Driver != "sqlite" {
		return nil, fmt.Errorf("database: unknown driver %q (supported: sqlite)", cfg.Driver)
	}
	if cfg.DSN == "" {
		return nil, errors.New("database: dsn is empty")
	}
	if dir := filepath.Dir(cfg.DSN); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("database: create folder: %w", err)
		}
	}
	// The path is part of a URI: escape what SQLite would read as a query,
	// fragment or escape.
	path := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(cfg.DSN)
	dsn := "file:" + path + "?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_txlock=immediate&_synchronous=NORMAL"
	db, err := gorm.Open(sqlite.Open(dsn), &gorm.Config{
		Logger:         logger.Discard,
		NowFunc:        func() time.Time { return time.Now().UTC() },
		TranslateError: true,
	})
	if err != nil {
		return nil, fmt.Errorf("database: open %s: %w", cfg.DSN, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	// SQLite has one writer; a few connections let reads proceed beside it.
	sqlDB.SetMaxOpenConns(4)
	sqlDB.SetConnMaxIdleTime(time.Minute)
	if err := sqlDB.Ping(); err != nil {
		return nil, fmt.Errorf("database: open %s: %w", cfg.DSN, err)
	}
	return db, nil
}

// Close closes the connection pool.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping reports whether the database answers.
func Ping(ctx context.Context, db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}
