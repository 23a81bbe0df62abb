// Package bustest helps tests of the bus and of the modules behind it: it
// hands a handler a payload the way the bus would, and waits for what
// happens asynchronously. It does not import bus, so bus's own tests can
// use it too.
package bustest

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// Payload returns v as a handler of T receives it from the bus: encoded to
// JSON and decoded into T, so the payload's tags and types are exercised as
// in a real delivery. It fails the test if either step fails.
func Payload[T any](t testing.TB, v any) T {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var p T
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// WaitFor polls cond until it holds, failing the test if it does not within
// ten seconds: deliveries and mail happen on other goroutines.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Run calls run in a goroutine until the test ends, then cancels its
// context and fails the test unless run returns nil within 15 seconds: a
// loop that ignores cancellation would hang shutdown.
func Run(t testing.TB, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}
