package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/nats-io/nats-server/v2/server"
	"gorm.io/driver/sqlite"
)

// deployment is what one journey run posts to: a fresh shopbus on a fresh
// SQLite file (the default), or -instances shopbus processes sharing a
// fresh database on the bench's PostgreSQL cluster (-postgres) and, when
// there are several, a NATS server of their own, as README's "Growing
// past one machine" sets them up.
type deployment struct {
	shops []*shopbus
	db    *sql.DB // read-only use: what the bus still owes, delivery times
	size  func(context.Context) int64
	stop  func()
}

// deploy starts the deployment for one run, tagged tag, mailing smtpAddr.
// On error everything it started is stopped.
func deploy(ctx context.Context, o *options, bin, tmp, tag, smtpAddr string) (d *deployment, err error) {
	d = &deployment{}
	var stops []func()
	d.stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			d.stop()
		}
	}()
	if o.postgresDSN == "" {
		shop, err := startShopbus(ctx, bin, tmp, "journey-"+tag, smtpAddr, "")
		if err != nil {
			return nil, err
		}
		stops = append(stops, func() { shop.stop(15 * time.Second); o.removeAll(shop.dir) })
		d.shops = []*shopbus{shop}
		if d.db, err = sql.Open(sqlite.DriverName, "file:"+shop.dsn+"?mode=ro&_busy_timeout=10000"); err != nil {
			return nil, err
		}
		d.db.SetMaxOpenConns(1)
		stops = append(stops, func() { d.db.Close() })
		d.size = func(context.Context) int64 {
			if fi, err := os.Stat(shop.dsn); err == nil {
				return fi.Size()
			}
			return 0
		}
		return d, nil
	}

	dsn, err := freshDatabase(ctx, o.postgresDSN, "bench_"+strings.NewReplacer("-", "_", ".", "_").Replace(tag))
	if err != nil {
		return nil, err
	}
	env := []string{"SHOPBUS_DATABASE_DRIVER=postgres", "SHOPBUS_DATABASE_DSN=" + dsn}
	if o.instances > 1 {
		dir, err := os.MkdirTemp(tmp, "nats-")
		if err != nil {
			return nil, err
		}
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
			StoreDir: dir, NoLog: true, NoSigs: true})
		if err != nil {
			return nil, fmt.Errorf("nats: %w", err)
		}
		ns.Start()
		stops = append(stops, func() { ns.Shutdown(); ns.WaitForShutdown(); _ = os.RemoveAll(dir) })
		if !ns.ReadyForConnections(10 * time.Second) {
			return nil, fmt.Errorf("nats: the server did not start")
		}
		env = append(env, "SHOPBUS_BUS_TRANSPORT=nats", "SHOPBUS_NATS_URL="+ns.ClientURL())
	}
	// One after the other: the first migrates the new database.
	for i := range o.instances {
		shop, err := startShopbus(ctx, bin, tmp, fmt.Sprintf("journey-%s-%d", tag, i), smtpAddr, "", env...)
		if err != nil {
			return nil, fmt.Errorf("instance %d: %w", i+1, err)
		}
		stops = append(stops, func() { shop.stop(15 * time.Second); o.removeAll(shop.dir) })
		d.shops = append(d.shops, shop)
	}
	if d.db, err = sql.Open("pgx", dsn); err != nil {
		return nil, err
	}
	d.db.SetMaxOpenConns(2)
	stops = append(stops, func() { d.db.Close() })
	d.size = func(ctx context.Context) int64 {
		var n int64
		_ = d.db.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
		return n
	}
	return d, nil
}

// freshDatabase creates database name on the cluster adminDSN reaches and
// returns the DSN that reaches it instead.
func freshDatabase(ctx context.Context, adminDSN, name string) (string, error) {
	admin, err := sql.Open("pgx", adminDSN)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return "", fmt.Errorf("postgres: %w", err)
	}
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return "", fmt.Errorf("postgres: %w", err)
	}
	u, err := url.Parse(adminDSN)
	if err != nil {
		return "", fmt.Errorf("postgres dsn: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// startPostgres starts a throwaway PostgreSQL cluster (.ci/postgres) with
// the server's own durability settings, fsync and synchronous_commit on,
// as a shop runs it, and returns its superuser DSN and how to stop it.
func startPostgres(ctx context.Context, root string) (string, func(), error) {
	// Its own folder in the system's: as root the cluster runs as the
	// postgres user, who may not enter the bench's private one.
	dir, err := os.MkdirTemp("", "shopbus-bench-pg-")
	if err != nil {
		return "", nil, err
	}
	script := filepath.Join(root, ".ci", "postgres")
	cmd := exec.CommandContext(ctx, script, "start", dir)
	cmd.Env = append(os.Environ(), "SHOPBUS_PG_FAST=") // durable, whatever the caller's shell says
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("start postgres (%s start): %w", script, err)
	}
	stop := func() { _ = exec.Command(script, "stop", dir).Run() }
	return strings.TrimSpace(string(out)), stop, nil
}

// removeAll removes a run's folder, unless -keep asks to keep them all.
func (o *options) removeAll(dir string) {
	if !o.keep {
		_ = os.RemoveAll(dir)
	}
}
