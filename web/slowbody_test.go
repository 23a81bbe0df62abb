package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/web"
)

// slowUpload is a POST whose body trickles in: the headers announce
// 100,000 bytes, then one byte comes every gap, as a slow-body attacker
// sends them.
type slowUpload struct {
	conn    net.Conn
	stop    chan struct{}
	answers chan string // the final status line, or the read error
}

// startSlowUpload opens a connection from local (nil: any address), sends
// the headers of a POST to path with key and extra headers, and returns
// once the server has begun to read the body: the headers ask for
// "100 Continue", which the server sends at its first read, so by then the
// request has passed every check before the body (the bounds on keys,
// addresses and, before the fix, the order-write slot). Then one byte goes
// every gap until the server answers or the test ends.
func startSlowUpload(t *testing.T, base string, local net.Addr, path, key string, gap time.Duration, extra ...string) *slowUpload {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := (&net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}).Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() }) // before the server's Close, which waits for it
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n"+
		"Expect: 100-continue\r\nAuthorization: Bearer %s\r\n", path, u.Host, key)
	for _, h := range extra {
		head += h + "\r\n"
	}
	if _, err := conn.Write([]byte(head + "\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("waiting for 100 Continue: %q %v", line, err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "\r\n" {
		t.Fatalf("after 100 Continue: %q %v", line, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	if _, err := conn.Write([]byte("{")); err != nil {
		t.Fatal(err)
	}
	s := &slowUpload{conn: conn, stop: make(chan struct{}), answers: make(chan string, 1)}
	go func() {
		line, err := r.ReadString('\n')
		if err != nil {
			s.answers <- "read: " + err.Error()
			return
		}
		s.answers <- strings.TrimSpace(line)
	}()
	go func() {
		tick := time.NewTicker(gap)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() { close(s.stop) })
	return s
}

// answer waits for the server's final status line.
func (s *slowUpload) answer(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case a := <-s.answers:
		return a
	case <-time.After(within):
		t.Fatalf("no answer within %s", within)
		return ""
	}
}

// TestSlowBodyHoldsNoSlot: an order whose body trickles in holds no
// order-write slot while it uploads (with or without an Idempotency-Key),
// so with one slot a second client's order still gets 201; the trickle is
// cut off with 408 once it falls below the minimum rate, and its
// connection closed.
func TestSlowBodyHoldsNoSlot(t *testing.T) {
	s := newIdemShopWith(t, func(_ *web.Deps, c *config.HTTP) {
		c.MaxInflightOrders = 1
		c.BodyMinRate, c.BodyGrace = 1024, time.Second
	})
	slow := startSlowUpload(t, s.url, nil, "/v1/orders", s.key, 200*time.Millisecond)
	keyed := startSlowUpload(t, s.url, nil, "/v1/orders", s.key, 200*time.Millisecond, "Idempotency-Key: slow-1")

	if r := s.post("/v1/orders", orderBody("ada@example.com"), ""); r.status != http.StatusCreated {
		t.Errorf("an order while two uploads trickle: %s, want 201", r)
	}
	if r := s.post("/v1/orders", orderBody("ada@example.com"), "fast-1"); r.status != http.StatusCreated {
		t.Errorf("a keyed order while two uploads trickle: %s, want 201", r)
	}
	for name, u := range map[string]*slowUpload{"the upload": slow, "the keyed upload": keyed} {
		if a := u.answer(t, 10*time.Second); !strings.HasPrefix(a, "HTTP/1.1 408") {
			t.Errorf("%s: %q, want 408 once below 1 KB/s after 1 s", name, a)
		}
		_ = u.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := bufio.NewReader(u.conn).ReadString(0); err == nil || isTimeout(err) {
			t.Errorf("%s: the connection stays open after the 408 (%v)", name, err)
		}
	}
	if k := s.keys(); k != 1 {
		t.Errorf("%d idempotency keys stored, want 1 (the fast one's)", k)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestBodyAboveTheMinimumRateIsRead: a body that takes longer than the
// grace period but arrives faster than the minimum rate is read whole.
func TestBodyAboveTheMinimumRateIsRead(t *testing.T) {
	s := newIdemShopWith(t, func(_ *web.Deps, c *config.HTTP) {
		c.BodyMinRate, c.BodyGrace = 1024, 500*time.Millisecond
	})
	body := padded(t, 6000)
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/orders HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nAuthorization: Bearer %s\r\n\r\n",
		u.Host, len(body), s.key)
	// 300 bytes every 100 ms: 3 KB/s, for 2 s, four times the grace.
	start := time.Now()
	for i := 0; i < len(body); i += 300 {
		if _, err := conn.Write([]byte(body[i:min(i+300, len(body))])); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("a %d-byte body over %s: %d, want 201", len(body), time.Since(start).Round(time.Millisecond), resp.StatusCode)
	}
}

// TestOpenRequestsPerKey: one API key may have so many requests in
// progress and no more; the next gets 429 at once, another key is not
// affected, and neither is a key reissued under the same name, which is
// a key of its own.
func TestOpenRequestsPerKey(t *testing.T) {
	s := newIdemShopWith(t, func(_ *web.Deps, c *config.HTTP) { c.MaxOpenRequestsPerKey = 2 })
	writer, _, err := web.NewKeys(s.db).Create(context.Background(), web.NewKey{Name: "writer", Scopes: []string{web.ScopeOrdersWrite}})
	if err != nil {
		t.Fatal(err)
	}
	startSlowUpload(t, s.url, nil, "/v1/orders", writer, 100*time.Millisecond)
	startSlowUpload(t, s.url, nil, "/v1/orders", writer, 100*time.Millisecond)

	r := s.postAs(writer, "/v1/orders", orderBody("ada@example.com"), "")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("a third request of the key: %s (Retry-After %q), want 429 with Retry-After", r, r.header.Get("Retry-After"))
	}
	if r := s.post("/v1/orders", orderBody("ada@example.com"), ""); r.status != http.StatusCreated {
		t.Errorf("another key: %s, want 201", r)
	}
	if r := s.postAs(reissue(t, s, "writer"), "/v1/orders", orderBody("ada@example.com"), ""); r.status != http.StatusCreated {
		t.Errorf("the key reissued under the name: %s, want 201 (its own count)", r)
	}
}

// TestOpenRequestsPerAddress: one client address may have so many
// requests in progress, whatever keys they carry; the next gets 429,
// while another address and the health probes are answered.
func TestOpenRequestsPerAddress(t *testing.T) {
	s := newIdemShopWith(t, func(_ *web.Deps, c *config.HTTP) { c.MaxOpenRequestsPerAddress = 2 })
	other, _, err := web.NewKeys(s.db).Create(context.Background(), web.NewKey{Name: "other", Scopes: []string{web.ScopeOrdersWrite}})
	if err != nil {
		t.Fatal(err)
	}
	startSlowUpload(t, s.url, nil, "/v1/orders", s.key, 100*time.Millisecond)
	startSlowUpload(t, s.url, nil, "/v1/orders", other, 100*time.Millisecond)

	if r := s.postAs(other, "/v1/orders", orderBody("ada@example.com"), ""); r.status != http.StatusTooManyRequests {
		t.Errorf("a third request from the address: %s, want 429", r)
	}
	if resp, err := http.Get(s.url + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz from the address: %v %v, want 200", resp, err)
	} else {
		resp.Body.Close()
	}
	client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	req := s.newRequest("/v1/orders", orderBody("ada@example.com"), other)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("from 127.0.0.2: %d, want 201", resp.StatusCode)
	}
}

// TestRefusedSlowBodyIsAnsweredAtOnce: a request refused before its body
// is read (here a wrong key) is answered at once and its connection
// closed, instead of the server first reading the rest of a body that
// trickles in.
func TestRefusedSlowBodyIsAnsweredAtOnce(t *testing.T) {
	s := newIdemShopWith(t, func(_ *web.Deps, c *config.HTTP) { c.BodyMinRate, c.BodyGrace = 1024, 5*time.Second })
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /v1/orders HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\nAuthorization: Bearer sb_live_wrong\r\n\r\n{", u.Host)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second)) // well inside the 5 s grace
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("no answer while the body trickles: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
		t.Errorf("%d (close %v), want 401 and the connection closed", resp.StatusCode, resp.Close)
	}
}
