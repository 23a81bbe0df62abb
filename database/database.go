// Package database opens shopbus's database and runs its versioned schema
// migrations. Every module owns its tables and declares their migrations;
// this package only knows how to open a connection and apply steps in order.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/dbresolver"
)

// The drivers: SQLite, one file on one machine, is the default; PostgreSQL
// is one server that several shopbus instances share.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Config says where the data lives.
type Config struct {
	// Driver is the storage engine: "sqlite" (the default) or "postgres".
	Driver string `yaml:"driver"`
	// DSN is the SQLite file path, or PostgreSQL's connection string (a
	// postgres:// URL or key=value pairs, as libpq reads them).
	DSN string `yaml:"dsn"`
}

// SetDefaults chooses SQLite when no driver is named.
func (c *Config) SetDefaults() {
	if c.Driver == "" {
		c.Driver = SQLite
	}
}

// Validate checks the driver and that there is a DSN. Its errors begin
// with the config.yaml key they are about.
func (c Config) Validate() error {
	var errs []error
	if c.Driver != "" && c.Driver != SQLite && c.Driver != Postgres {
		errs = append(errs, fmt.Errorf("database.driver %q is neither %s nor %s", c.Driver, SQLite, Postgres))
	}
	if c.DSN == "" {
		errs = append(errs, errors.New("database.dsn is empty"))
	}
	return errors.Join(errs...)
}

// Where names the database for messages and logs: the SQLite file, or
// PostgreSQL's user, host and database, never its password.
func (c Config) Where() string {
	if c.Driver != Postgres {
		return c.DSN
	}
	pc, err := pgx.ParseConfig(c.DSN)
	if err != nil {
		return "postgres (a DSN that does not parse)"
	}
	u := url.URL{Scheme: "postgres", User: url.User(pc.User), Host: fmt.Sprintf("%s:%d", pc.Host, pc.Port), Path: "/" + pc.Database}
	return u.String()
}

// readers is how many connections serve reads beside the one writer.
const readers = 4

// postgresConns bounds the connections one instance opens to PostgreSQL:
// enough for the bus's workers, the group commit and the API, few enough
// that several instances fit in the server's default max_connections (100).
const postgresConns = 16

// Open opens the database the config names. The config is expected to
// have passed Validate, as config.Load makes sure.
func Open(cfg Config) (*DB, error) {
	switch cfg.Driver {
	case Postgres:
		return openPostgres(cfg)
	case SQLite, "":
		return openSQLite(cfg)
	}
	return nil, fmt.Errorf("database: unknown driver %q", cfg.Driver)
}

func gormConfig() *gorm.Config {
	return &gorm.Config{
		Logger:  logger.Discard,
		NowFunc: func() time.Time { return time.Now().UTC() },
		// Errors become gorm's, such as ErrDuplicatedKey, whatever the engine.
		TranslateError: true,
	}
}

// openPostgres opens one pool on the server. Transactions run at
// PostgreSQL's default READ COMMITTED; writes that must not race say so in
// their own statements (conditional UPDATEs, row locks).
func openPostgres(cfg Config) (*DB, error) {
	pc, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("database: postgres dsn: %w", err) // pgx leaves the password out
	}
	// Times are stored as UTC without a zone: a UTC session makes the
	// server's now() agree with them.
	if _, ok := pc.RuntimeParams["timezone"]; !ok {
		pc.RuntimeParams["timezone"] = "UTC"
	}
	// A server that does not answer is an error, not a hang.
	if pc.ConnectTimeout == 0 {
		pc.ConnectTimeout = 10 * time.Second
	}
	pool := stdlib.OpenDB(*pc)
	pool.SetMaxOpenConns(postgresConns)
	pool.SetMaxIdleConns(postgresConns)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: pool}), gormConfig())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("database: open %s: %w", cfg.Where(), err), pool.Close())
	}
	return &DB{DB: db}, nil
}

// openSQLite creates the file's folder and opens two pools on the file, in
// WAL mode so readers never wait for the writer, with synchronous=FULL so a
// commit is on disk before it returns (an accepted order survives a power
// cut, not only a crash of the process): ONE writer connection, whose
// IMMEDIATE transactions queue in Go (first come, first served) instead of
// sleeping in SQLite's busy handler, and a few read-only connections that
// queries are routed to (gorm's dbresolver: transactions and writes go to
// the writer, plain queries to the readers).
func openSQLite(cfg Config) (*DB, error) {
	if dir := filepath.Dir(cfg.DSN); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("database: create folder: %w", err)
		}
	}
	// The path is part of a URI: escape what SQLite would read as a query,
	// fragment or escape.
	uri := "file:" + strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(cfg.DSN) +
		"?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_synchronous=FULL&_stmt_cache_size=128"
	registerSQLite.Do(func() { sql.Register(sqliteDriver, &sqlite3.SQLiteDriver{ConnectHook: tuneSQLite}) })
	db, err := gorm.Open(sqlite.New(sqlite.Config{DriverName: sqliteDriver, DSN: uri + "&_txlock=immediate"}), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("database: open %s: %w", cfg.DSN, err)
	}
	writer, err := db.DB()
	if err != nil {
		return nil, err
	}
	reader, err := sql.Open(sqliteDriver, uri+"&mode=ro")
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
	return &DB{DB: db, reader: reader}, nil
}

// sqliteDriver is mattn's SQLite driver with tuneSQLite run on every new
// connection, registered once.
const sqliteDriver = "sqlite3_shopbus"

var registerSQLite sync.Once

// tuneSQLite keeps SQLite's temporary files in memory: the journals that
// undo a savepoint or a statement (the group commit opens one per unit)
// would otherwise spill to a file past 64 KiB, a write system call per
// page, which cost the writer a quarter of its CPU. They never hold more
// than the pages one transaction touches, and durability does not depend
// on them.
func tuneSQLite(c *sqlite3.SQLiteConn) error {
	_, err := c.Exec("PRAGMA temp_store = MEMORY", nil)
	return err
}

// DB is an open database: the gorm handle the modules work through and,
// on SQLite, the read-only pool beneath it, which Close closes too.
type DB struct {
	*gorm.DB
	reader *sql.DB // nil on PostgreSQL
}

// Close closes the database's connection pools (SQLite's two, or
// PostgreSQL's one).
func (d *DB) Close() error {
	writer, err := d.DB.DB()
	if err != nil {
		return err
	}
	if d.reader != nil {
		err = d.reader.Close()
	}
	return errors.Join(err, writer.Close())
}

// Ping reports whether the database answers. The query is a plain SELECT,
// which on SQLite goes to a reader connection, so a long write does not
// make the process look dead.
func Ping(ctx context.Context, db *gorm.DB) error {
	var alive int
	return db.WithContext(ctx).Raw("SELECT 1 AS alive").Scan(&alive).Error
}
