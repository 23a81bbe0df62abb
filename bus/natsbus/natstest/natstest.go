// Package natstest runs a real NATS server with JetStream inside a test,
// listening on a random loopback port, with its storage in the test's
// temporary folder: what the bus's transport over NATS is tested against.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start starts a JetStream server that stops when the test ends, and
// returns it; its ClientURL is what clients connect to.
func Start(t testing.TB) *server.Server {
	t.Helper()
	return StartAt(t, t.TempDir(), 0)
}

// StartAt starts a JetStream server on port (0: a random one) that keeps
// its streams in dir, so a second server on the same dir and port is the
// first one restarted.
func StartAt(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "shopbus-test",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
		// Small limits: the tests' streams hold little.
		JetStreamMaxMemory: 64 << 20,
		JetStreamMaxStore:  1 << 30,
	})
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("natstest: the server did not start")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}
