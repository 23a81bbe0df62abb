package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// benchKey is the admin key every shopbus the bench starts is bootstrapped
// with (SHOPBUS_BOOTSTRAP_API_KEY); it never leaves loopback.
const benchKey = "sb_bench_0123456789abcdef"

// shopbus is a running shopbus with a fresh database in its own folder.
type shopbus struct {
	*proc
	dir, dsn string
	ready    time.Duration
}

// startShopbus serves the built-in config.yaml from a fresh folder under
// tmp, mailing smtpAddr, with the rate limit off (it would cap the
// benchmark at 100 req/s per key) and the bounds per client off, and
// waits for /readyz. extra are more environment variables.
func startShopbus(ctx context.Context, bin, tmp, name, smtpAddr string, dir string, extra ...string) (*shopbus, error) {
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp(tmp, name+"-"); err != nil {
			return nil, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dsn := filepath.Join(dir, "shop.db")
	env := []string{
		"SHOPBUS_HTTP_ADDR=" + addr,
		"SHOPBUS_DATABASE_DSN=" + dsn,
		"SHOPBUS_SMTP_ADDR=" + smtpAddr,
		"SHOPBUS_MAIL_DIR=" + filepath.Join(dir, "mail"),
		"SHOPBUS_BOOTSTRAP_API_KEY=" + benchKey,
		"SHOPBUS_RATE_LIMIT_RPS=0",
		// The journey sends up to -max-inflight requests at once from one
		// address with one key: a load generator, not a client to bound.
		"SHOPBUS_MAX_CONNECTIONS_PER_ADDRESS=0",
		"SHOPBUS_MAX_OPEN_REQUESTS_PER_KEY=0",
		"SHOPBUS_MAX_OPEN_REQUESTS_PER_ADDRESS=0",
	}
	env = append(env, extra...)
	p, err := startProc("shopbus", bin, dir, addr, filepath.Join(dir, "shopbus.log"), []string{"serve"}, env)
	if err != nil {
		return nil, err
	}
	ready, err := p.waitReady(ctx, "/readyz", 60*time.Second)
	if err != nil {
		p.stop(3 * time.Second)
		return nil, err
	}
	return &shopbus{proc: p, dir: dir, dsn: dsn, ready: ready}, nil
}

// stockUp sets a large on_hand for every bench SKU so no order shorts.
func (s *shopbus) stockUp(ctx context.Context) error {
	for _, it := range benchItems {
		body := fmt.Appendf(nil, `{"on_hand": %d}`, stockOnHand)
		req, err := http.NewRequestWithContext(ctx, "PUT", s.url+"/v1/inventory/"+it.SKU, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", benchKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("stock %s: %w", it.SKU, err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("stock %s: %s %s", it.SKU, resp.Status, out)
		}
	}
	return nil
}
