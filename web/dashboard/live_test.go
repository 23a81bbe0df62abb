package dashboard_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stream is a live view as a browser's EventSource reads it.
type stream struct {
	t     *testing.T
	lines chan string
	done  chan struct{}
	// seen holds every line waitFor read.
	seen []string
}

// openLive opens the live view at path and reads it line by line until the
// test ends or the server ends the stream.
func (b *browser) openLive(path string, header map[string]string) *stream {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.shop.url+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		b.t.Fatalf("GET %s: %d %q, want an event stream", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &stream{t: b.t, lines: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	return s
}

// waitFor reads lines until one holds want, failing the test after timeout.
func (s *stream) waitFor(want string, timeout time.Duration) string {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line := <-s.lines:
			s.seen = append(s.seen, line)
			if strings.Contains(line, want) {
				return line
			}
		case <-s.done:
			s.t.Fatalf("the stream ended before a line with %q", want)
		case <-deadline:
			s.t.Fatalf("no line with %q within %s", want, timeout)
		}
	}
}

func since(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// TestLiveOrders: the order list's stream sends a new order's row, and its
// journey again as deliveries change, without the page asking.
func TestLiveOrders(t *testing.T) {
	s := newShop(t)
	b := s.loggedIn()
	live := b.openLive("/dashboard/live?since="+since(time.Now()), nil)
	live.waitFor("retry: ", 5*time.Second)

	s.place("ord-live", "ada@example.com")
	line := live.waitFor(`"id":"order-ord-live"`, 10*time.Second)
	if !strings.HasPrefix(line, "data: ") || !strings.Contains(line, `"into":"orders-body"`) || !strings.Contains(line, `"at":"start"`) {
		t.Errorf("patch %s: want a data line inserting the row at the top of the list", line)
	}
	for !strings.Contains(line, `s-dead`) { // the row again as its journey goes on, until shipping died
		line = live.waitFor(`"id":"order-ord-live"`, 10*time.Second)
	}
	if !slices.ContainsFunc(live.seen, func(l string) bool { return strings.HasPrefix(l, "id: ") }) {
		t.Errorf("no cursor (id: line) came with the patches: %q", live.seen)
	}
}

// TestLiveOrder: an order page's stream sends the rows of its deliveries as
// they change, here after a redrive.
func TestLiveOrder(t *testing.T) {
	s := newShop(t)
	s.place("ord-1", "ada@example.com")
	s.place("ord-2", "bob@example.org")
	b := s.loggedIn()
	live := b.openLive("/dashboard/live?"+url.Values{"order": {"ord-1"}, "since": {since(time.Now())}}.Encode(), nil)
	live.waitFor("retry: ", 5*time.Second)

	dead := s.dead("shipping")[0]
	form := url.Values{"csrf": {b.csrf("/dashboard/orders/ord-1")}, "id": {itoa(dead.ID)}, "back": {"/dashboard/orders/ord-1"}}
	if p := b.post("/dashboard/dlq/redrive", form); p.status != http.StatusSeeOther {
		t.Fatalf("redrive: %d", p.status)
	}
	line := live.waitFor(`"id":"delivery-`+itoa(dead.ID)+`"`, 10*time.Second)
	if !strings.Contains(line, `"into":"deliveries-body"`) || strings.Contains(line, "ord-2") {
		t.Errorf("patch %s: want ord-1's delivery row only", line)
	}
}

// TestLiveResumes: a reconnecting browser sends the last cursor it got in
// Last-Event-ID and is sent what changed after it.
func TestLiveResumes(t *testing.T) {
	s := newShop(t)
	before := time.Now()
	s.place("ord-1", "ada@example.com")
	b := s.loggedIn()
	live := b.openLive("/dashboard/live?since="+since(time.Now().Add(time.Hour)), map[string]string{"Last-Event-ID": since(before)})
	live.waitFor(`"id":"order-ord-1"`, 10*time.Second)
}

// TestLiveStopsOnClose: a server shutting down ends its streams instead of
// waiting for browsers to go.
func TestLiveStopsOnClose(t *testing.T) {
	s := newShop(t)
	live := s.loggedIn().openLive("/dashboard/live", nil)
	live.waitFor("retry: ", 5*time.Second)
	start := time.Now()
	s.dash.Close()
	select {
	case <-live.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream is still open 5 s after Close")
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("the stream took %s to end after Close", waited)
	}
}
