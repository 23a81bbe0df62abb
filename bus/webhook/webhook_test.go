package webhook_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopbus/shopbus/bus/webhook"
)

const secretEnv = "SHOPBUS_TEST_WEBHOOK_SECRET"

func newTarget(t *testing.T, c webhook.Config) *webhook.Target {
	t.Helper()
	target, err := webhook.New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(target.Close)
	return target
}

// received is one request as the endpoint saw it.
type received struct {
	header http.Header
	body   []byte
	method string
	at     time.Time
}

// endpoint is a loopback server that records requests and answers status,
// with the headers and body respond gives when it is not nil.
func endpoint(t *testing.T, status int, respond func(h http.Header) string) (*httptest.Server, chan received) {
	t.Helper()
	got := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- received{header: r.Header.Clone(), body: body, method: r.Method, at: time.Now()}
		body = nil
		if respond != nil {
			body = []byte(respond(w.Header()))
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestSendSignsAndSetsHeaders(t *testing.T) {
	t.Setenv(secretEnv, vectorSecret)
	srv, got := endpoint(t, http.StatusNoContent, nil)
	target := newTarget(t, webhook.Config{URL: srv.URL + "/hooks?token=x", SecretEnv: secretEnv,
		Headers: map[string]string{"X-Shop": "demo", "Authorization": "Bearer abc"}})

	payload := []byte(`{"order":"o_1"}`)
	if err := target.Send(context.Background(), "evt_1", payload); err != nil {
		t.Fatalf("Send: %v", err)
	}
	r := <-got
	if err := webhook.Verify(vectorSecret, r.header, r.body, 5*time.Minute, time.Now()); err != nil {
		t.Errorf("Verify: %v", err)
	}
	ts, err := strconv.ParseInt(r.header.Get("webhook-timestamp"), 10, 64)
	if d := r.at.Sub(time.Unix(ts, 0)); err != nil || d < 0 || d > time.Second+time.Second/2 {
		// Unix seconds truncate, so up to 1.5s covers "within a second" of the send.
		t.Errorf("webhook-timestamp %q is %s from the request", r.header.Get("webhook-timestamp"), d)
	}
	want := map[string]string{
		"webhook-id": "evt_1", "Content-Type": "application/json", "User-Agent": "shopbus-webhook/1",
		"X-Shop": "demo", "Authorization": "Bearer abc",
	}
	for k, v := range want {
		if r.header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, r.header.Get(k), v)
		}
	}
	if r.method != http.MethodPost || string(r.body) != string(payload) {
		t.Errorf("got %s %q, want POST %q", r.method, r.body, payload)
	}
}

func TestSendWithoutSecretIsUnsigned(t *testing.T) {
	srv, got := endpoint(t, http.StatusOK, nil)
	target := newTarget(t, webhook.Config{URL: srv.URL})
	if err := target.Send(context.Background(), "evt_1", []byte(`{}`)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r := <-got; r.header.Get("webhook-signature") != "" || r.header.Get("webhook-id") != "evt_1" {
		t.Fatalf("headers %v: want webhook-id and no webhook-signature", r.header)
	}
}

func TestSendStatus(t *testing.T) {
	tests := []struct {
		status    int
		ok        bool
		permanent bool
	}{
		{status: 200, ok: true}, {status: 201, ok: true}, {status: 204, ok: true},
		{status: 500}, {status: 502}, {status: 503}, {status: 429}, {status: 408},
		{status: 400, permanent: true}, {status: 401, permanent: true}, {status: 404, permanent: true},
		{status: 410, permanent: true}, {status: 422, permanent: true}, {status: 304, permanent: true},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			srv, _ := endpoint(t, tc.status, nil)
			err := newTarget(t, webhook.Config{URL: srv.URL}).Send(context.Background(), "evt_1", []byte(`{}`))
			switch {
			case tc.ok && err != nil:
				t.Fatalf("Send: %v", err)
			case !tc.ok && err == nil:
				t.Fatal("Send succeeded, want an error")
			case !tc.ok && errors.Is(err, webhook.ErrPermanent) != tc.permanent:
				t.Fatalf("Send = %v, permanent %v, want %v", err, errors.Is(err, webhook.ErrPermanent), tc.permanent)
			case !tc.ok && !strings.Contains(err.Error(), strconv.Itoa(tc.status)):
				t.Fatalf("Send = %v, want the status in the message", err)
			}
		})
	}
}

func TestSendErrorQuotesBodyOnOneLine(t *testing.T) {
	body := "bad\r\npayload\t" + strings.Repeat("x", 300)
	srv, _ := endpoint(t, http.StatusUnprocessableEntity, func(http.Header) string { return body })
	err := newTarget(t, webhook.Config{URL: srv.URL + "/?token=secret"}).Send(context.Background(), "evt_1", []byte(`{}`))
	msg := err.Error()
	if !strings.Contains(msg, "422") || !strings.Contains(msg, "bad payload xxx") || strings.ContainsAny(msg, "\r\n\t") {
		t.Fatalf("message %q: want the status and the body on one line", msg)
	}
	if strings.Contains(msg, strings.Repeat("x", 200)) || strings.Contains(msg, "token") {
		t.Fatalf("message %q: want at most 200 bytes of body and no URL query", msg)
	}
}

func TestSendReusesConnectionAfterErrorBody(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, strings.Repeat("e", 32<<10))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	target := newTarget(t, webhook.Config{URL: srv.URL})
	for range 3 {
		if err := target.Send(context.Background(), "evt_1", []byte(`{}`)); err == nil {
			t.Fatal("Send succeeded, want a 500 error")
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 3 sends, want 1", n)
	}
}

func TestSendTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // longer than the timeout: until the test ends
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first, so Close does not wait
	const timeout = 200 * time.Millisecond
	target := newTarget(t, webhook.Config{URL: srv.URL, Timeout: timeout})
	start := time.Now()
	err := target.Send(context.Background(), "evt_1", []byte(`{}`))
	if took := time.Since(start); took > timeout+time.Second {
		t.Errorf("Send took %s with a %s timeout", took, timeout)
	}
	if err == nil || errors.Is(err, webhook.ErrPermanent) {
		t.Fatalf("Send = %v, want a retryable error", err)
	}
}

func TestSendNetworkErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens on its port any more
	err := newTarget(t, webhook.Config{URL: srv.URL}).Send(context.Background(), "evt_1", []byte(`{}`))
	if err == nil || errors.Is(err, webhook.ErrPermanent) {
		t.Fatalf("Send = %v, want a retryable error", err)
	}
}

func TestRedirectToAnotherHostIsNotFollowed(t *testing.T) {
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(other.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)

	err := newTarget(t, webhook.Config{URL: srv.URL}).Send(context.Background(), "evt_1", []byte(`{}`))
	if !errors.Is(err, webhook.ErrPermanent) || !strings.Contains(err.Error(), "redirect to "+other.URL+" not followed") {
		t.Fatalf("Send = %v, want a permanent redirect error", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the other host got %d requests, want 0", n)
	}
}

func TestRedirectOnSameHost(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		hops      int
		followed  bool
		permanent bool
	}{
		{name: "307 followed", status: http.StatusTemporaryRedirect, hops: 1, followed: true},
		{name: "308 three times followed", status: http.StatusPermanentRedirect, hops: 3, followed: true},
		{name: "307 four times refused", status: http.StatusTemporaryRedirect, hops: 4, permanent: true},
		{name: "302 refused", status: http.StatusFound, hops: 1, permanent: true},
		{name: "301 refused", status: http.StatusMovedPermanently, hops: 1, permanent: true},
		{name: "303 refused", status: http.StatusSeeOther, hops: 1, permanent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(secretEnv, "plain secret")
			got := make(chan received, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hop, _ := strconv.Atoi(r.URL.Query().Get("hop"))
				if hop < tc.hops {
					http.Redirect(w, r, "/next?hop="+strconv.Itoa(hop+1), tc.status)
					return
				}
				body, _ := io.ReadAll(r.Body)
				got <- received{header: r.Header.Clone(), body: body, method: r.Method}
			}))
			t.Cleanup(srv.Close)

			err := newTarget(t, webhook.Config{URL: srv.URL, SecretEnv: secretEnv}).Send(context.Background(), "evt_1", []byte(`{"a":1}`))
			if !tc.followed {
				if !errors.Is(err, webhook.ErrPermanent) || len(got) != 0 {
					t.Fatalf("Send = %v, %d final requests; want a permanent error and none", err, len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			r := <-got
			if r.method != http.MethodPost || string(r.body) != `{"a":1}` {
				t.Fatalf("final request %s %q, want the POST and its body", r.method, r.body)
			}
			if err := webhook.Verify("plain secret", r.header, r.body, time.Minute, time.Now()); err != nil {
				t.Fatalf("Verify after redirect: %v", err)
			}
		})
	}
}

func TestRetryAfterIsExposed(t *testing.T) {
	tests := []struct {
		name     string
		value    string
		min, max time.Duration
	}{
		{name: "seconds", value: "7", min: 7 * time.Second, max: 7 * time.Second},
		{name: "date", value: time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat), min: 25 * time.Second, max: 30 * time.Second},
		{name: "absent", value: ""},
		{name: "garbage", value: "soon"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := endpoint(t, http.StatusTooManyRequests, func(h http.Header) string {
				if tc.value != "" {
					h.Set("Retry-After", tc.value)
				}
				return ""
			})
			err := newTarget(t, webhook.Config{URL: srv.URL}).Send(context.Background(), "evt_1", []byte(`{}`))
			var ra webhook.RetryAfter
			if !errors.As(err, &ra) || errors.Is(err, webhook.ErrPermanent) {
				t.Fatalf("Send = %v, want a retryable error with RetryAfter", err)
			}
			if d := ra.RetryAfter(); d < tc.min || d > tc.max {
				t.Fatalf("RetryAfter = %s, want %s..%s", d, tc.min, tc.max)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Setenv(secretEnv, "s3cret")
	t.Setenv("SHOPBUS_TEST_EMPTY", "")
	t.Setenv("SHOPBUS_TEST_BAD_WHSEC", "whsec_not base64!")
	ok := webhook.Config{URL: "https://hooks.example.com/shopbus"}
	tests := []struct {
		name string
		edit func(c *webhook.Config)
		want string // a substring of the error; "" for valid
	}{
		{name: "minimal", edit: func(c *webhook.Config) {}},
		{name: "everything", edit: func(c *webhook.Config) {
			c.URL, c.SecretEnv, c.Timeout = "http://127.0.0.1:8080/x", secretEnv, 5*time.Minute
			c.Headers = map[string]string{"Authorization": "Bearer x", "X-Shop": "demo", "User-Agent": "mine"}
		}},
		{name: "empty url", edit: func(c *webhook.Config) { c.URL = "" }, want: "webhook.url"},
		{name: "unparsable url", edit: func(c *webhook.Config) { c.URL = "http://[::1" }, want: "webhook.url"},
		{name: "relative url", edit: func(c *webhook.Config) { c.URL = "/hooks" }, want: "webhook.url"},
		{name: "ftp", edit: func(c *webhook.Config) { c.URL = "ftp://example.com/x" }, want: "webhook.url"},
		{name: "missing host", edit: func(c *webhook.Config) { c.URL = "https:///x" }, want: "webhook.url"},
		{name: "negative timeout", edit: func(c *webhook.Config) { c.Timeout = -time.Second }, want: "webhook.timeout"},
		{name: "timeout below 1ms", edit: func(c *webhook.Config) { c.Timeout = time.Microsecond }, want: "webhook.timeout"},
		{name: "timeout above 5m", edit: func(c *webhook.Config) { c.Timeout = 5*time.Minute + 1 }, want: "webhook.timeout"},
		{name: "timeout 1ms", edit: func(c *webhook.Config) { c.Timeout = time.Millisecond }},
		{name: "secret env unset", edit: func(c *webhook.Config) { c.SecretEnv = "SHOPBUS_TEST_NOT_SET" }, want: "webhook.secret_env"},
		{name: "secret env empty", edit: func(c *webhook.Config) { c.SecretEnv = "SHOPBUS_TEST_EMPTY" }, want: "webhook.secret_env"},
		{name: "whsec not base64", edit: func(c *webhook.Config) { c.SecretEnv = "SHOPBUS_TEST_BAD_WHSEC" }, want: "webhook.secret_env"},
		{name: "header with space", edit: func(c *webhook.Config) { c.Headers = map[string]string{"X Shop": "a"} }, want: "webhook.headers"},
		{name: "empty header name", edit: func(c *webhook.Config) { c.Headers = map[string]string{"": "a"} }, want: "webhook.headers"},
		{name: "webhook-id", edit: func(c *webhook.Config) { c.Headers = map[string]string{"Webhook-Id": "a"} }, want: "webhook.headers"},
		{name: "webhook-signature", edit: func(c *webhook.Config) { c.Headers = map[string]string{"webhook-signature": "a"} }, want: "webhook.headers"},
		{name: "content-type", edit: func(c *webhook.Config) { c.Headers = map[string]string{"content-type": "text/plain"} }, want: "webhook.headers"},
		{name: "content-length", edit: func(c *webhook.Config) { c.Headers = map[string]string{"Content-Length": "1"} }, want: "webhook.headers"},
		{name: "host", edit: func(c *webhook.Config) { c.Headers = map[string]string{"HOST": "evil"} }, want: "webhook.headers"},
		{name: "newline in value", edit: func(c *webhook.Config) { c.Headers = map[string]string{"X-A": "a\r\nX-B: b"} }, want: "webhook.headers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "not base64!") {
				t.Fatalf("Validate = %v: leaks the secret", err)
			}
		})
	}
}
