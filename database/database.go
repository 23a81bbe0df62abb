// Package database opens shopbus's database and runs its versioned schema
// migrations. Every module owns its tables and declares their migrations;
// this package only knows how to open a connection and apply steps in order.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/dbresolver"
)

// Config says where the data lives.
type Config struct {
	// Driver is the storage engine; only "sqlite" is supported today.
	Driver string `yaml:"driver"`
	// DSN is the SQLite file path.
	DSN string `yaml:"dsn"`
}

// readers is how many connections serve reads beside the one writer.
const readers = 4

// Open opens the database. For SQLite it creates the file's folder and
// opens two pools on the file, in WAL mode so readers never wait for the
// writer, with synchronous=FULL so a commit is on disk before it returns (an
// accepted order survives a power cut, not only a crash of the process): ONE writer connection, whose IMMEDIATE transactions queue in Go
// (first come, first served) instead of sleeping in SQLite's busy handler,
// and a few read-only connections that queries are routed to
// (gorm's dbresolver: transactions and writes go to the writer, plain
// queries to the readers).
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
	uri := "file:" + strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(cfg.DSN) +
		"?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_synchronous=FULL&_stmt_cache_size=128"
	db, err := gorm.Open(sqlite.Open(uri+"&_txlock=immediate"), &gorm.Config{
		Logger:         logger.Discard,
		NowFunc:        func() time.Time { return time.Now().UTC() },
		TranslateError: true,
	})
	if err != nil {
		return nil, fmt.Errorf("database: open %s: %w", cfg.DSN, err)
	}
	writer, err := db.DB()
	if err != nil {
		return nil, err
	}
	reader, err := sql.Open(sqlite.DriverName, uri+"&mode=ro")
	if err != nil {
		return nil, fmt.Errorf("database: open %s: %w", cfg.DSN, err)
	}
	resolver := dbresolver.Register(dbresolver.Config{Replicas: []gorm.Dialector{sqlite.New(sqlite.Config{Conn: reader})}})
	if err := db.Use(resolver); err != nil {
		return nil, errors.Join(fmt.Errorf("database: open %s: %w", cfg.DSN, err), reader.Close(), writer.Close())
	}
	writer.SetMaxOpenConns(1)
	reader.SetMaxOpenConns(readers)
	reader.SetConnMaxIdleTime(time.Minute)
	if err := errors.Join(writer.Ping(), reader.Ping()); err != nil {
		return nil, errors.Join(fmt.Errorf("database: open %s: %w", cfg.DSN, err), reader.Close(), writer.Close())
	}
	readPools.Store(writer, reader)
	return db, nil
}

// readPools finds each writer's reader pool, for Close.
var readPools sync.Map // *sql.DB -> *sql.DB

// Close closes both connection pools.
func Close(db *gorm.DB) error {
	writer, err := db.DB()
	if err != nil {
		return err
	}
	if reader, ok := readPools.LoadAndDelete(writer); ok {
		err = reader.(*sql.DB).Close()
	}
	return errors.Join(err, writer.Close())
}

// Ping reports whether the database answers, on a reader connection, so
// a long write does not make the process look dead.
func Ping(ctx context.Context, db *gorm.DB) error {
	writer, err := db.DB()
	if err != nil {
		return err
	}
	if reader, ok := readPools.Load(writer); ok {
		return reader.(*sql.DB).PingContext(ctx)
	}
	return writer.PingContext(ctx)
}
