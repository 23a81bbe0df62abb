package web_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/web"
)

// limitedServer serves a plain 200 on a loopback port behind
// web.LimitListener with cfg, logging to log.
func limitedServer(t *testing.T, cfg config.HTTP, log io.Writer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := slog.New(slog.NewTextHandler(log, nil))
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})}
	go func() { _ = srv.Serve(web.LimitListener(ln, cfg, l)) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// conn is a client connection from a chosen loopback address.
type conn struct {
	net.Conn
	r   *bufio.Reader
	err error // the dial's: a refused connection can be reset before connect returns
}

func dialFrom(t *testing.T, addr, from string) *conn {
	t.Helper()
	c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}).Dial("tcp", addr)
	if err != nil {
		return &conn{err: err}
	}
	t.Cleanup(func() { c.Close() })
	return &conn{Conn: c, r: bufio.NewReader(c)}
}

// get sends a GET on the connection and reports whether it was answered:
// a connection the listener refused is closed (reset) at once.
func (c *conn) get(t *testing.T) error {
	t.Helper()
	if c.err != nil {
		return c.err
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// TestConnectionLimits: past the bound per address, and past the bound
// in all, a new connection is closed at once; others are served; a
// closed connection gives its place back; the refusals are logged.
func TestConnectionLimits(t *testing.T) {
	var log logBuffer
	addr := limitedServer(t, config.HTTP{MaxConnections: 4, MaxConnectionsPerAddress: 2}, &log)

	a1, a2 := dialFrom(t, addr, "127.0.0.1"), dialFrom(t, addr, "127.0.0.1")
	for i, c := range []*conn{a1, a2} {
		if err := c.get(t); err != nil {
			t.Fatalf("connection %d from 127.0.0.1: %v", i+1, err)
		}
	}
	if err := dialFrom(t, addr, "127.0.0.1").get(t); err == nil || isTimeout(err) {
		t.Errorf("a third connection from 127.0.0.1: %v, want it closed at once", err)
	}
	b1, b2 := dialFrom(t, addr, "127.0.0.2"), dialFrom(t, addr, "127.0.0.2")
	for i, c := range []*conn{b1, b2} {
		if err := c.get(t); err != nil {
			t.Fatalf("connection %d from 127.0.0.2: %v", i+1, err)
		}
	}
	if err := dialFrom(t, addr, "127.0.0.3").get(t); err == nil || isTimeout(err) {
		t.Errorf("a fifth connection in all: %v, want it closed at once", err)
	}
	_ = a1.Close()
	waitUntil(t, "the closed connection's place to come back", func() bool { return dialFrom(t, addr, "127.0.0.1").get(t) == nil })
	if !strings.Contains(log.String(), "connections refused at the connection limits") {
		t.Errorf("no warning logged:\n%s", log.String())
	}
}

// TestTrustedProxyIsNotBoundedPerAddress: a trusted proxy carries many
// clients' connections, so only the bound in all applies to it.
func TestTrustedProxyIsNotBoundedPerAddress(t *testing.T) {
	addr := limitedServer(t, config.HTTP{MaxConnectionsPerAddress: 1, TrustedProxies: []string{"127.0.0.0/24"}}, io.Discard)
	for i := range 3 {
		if err := dialFrom(t, addr, "127.0.0.1").get(t); err != nil {
			t.Fatalf("connection %d from the proxy: %v", i+1, err)
		}
	}
	if err := dialFrom(t, addr, "127.0.1.1").get(t); err != nil {
		t.Fatalf("the one connection an untrusted address may have: %v", err)
	}
	if err := dialFrom(t, addr, "127.0.1.1").get(t); err == nil {
		t.Errorf("a second connection from an untrusted address was served")
	}
}

// TestSilentConnectionIsClosed: a connection that sends nothing is closed
// after first_byte_timeout, long before the server's 10 s for headers; one
// that speaks at once is served and kept alive past it.
func TestSilentConnectionIsClosed(t *testing.T) {
	addr := limitedServer(t, config.HTTP{FirstByteTimeout: 300 * time.Millisecond}, io.Discard)
	silent := dialFrom(t, addr, "127.0.0.1")
	if silent.err != nil {
		t.Fatal(silent.err)
	}
	start := time.Now()
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("the silent connection: %v, want it closed", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("closed after %s, want about 300 ms", took)
	}

	talker := dialFrom(t, addr, "127.0.0.1")
	for i := range 2 {
		if err := talker.get(t); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		time.Sleep(500 * time.Millisecond) // idle past first_byte_timeout: a kept-alive connection is not silent
	}
}

// waitUntil polls cond every 20 ms for up to 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logBuffer is a log written by the server's goroutines and read by the
// test's.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
