// Package webhook delivers a payload to a third-party HTTP endpoint the
// Standard Webhooks way (https://www.standardwebhooks.com): a JSON POST
// carrying webhook-id, webhook-timestamp and, when a secret is configured,
// a webhook-signature the receiver checks with Verify or any Standard
// Webhooks library.
//
// Send tells the bus what to do next through its error: nil is delivered,
// an error wrapping ErrPermanent will never succeed, and any other error is
// worth retrying later.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// ErrPermanent is wrapped by a Send error that retrying cannot fix: the
// endpoint refused the request (a 4xx other than 408 and 429) or answered
// with a redirect shopbus will not follow.
var ErrPermanent = errors.New("webhook: permanent failure")

// RetryAfter is implemented by Send errors that carry the endpoint's
// Retry-After hint; zero means it gave none.
type RetryAfter interface{ RetryAfter() time.Duration }

const (
	userAgent    = "shopbus-webhook/1"
	maxRedirects = 3
	maxDrain     = 64 << 10 // read this much of a response so the connection is reused
	maxSnippet   = 200      // bytes of a failed response's body kept in the error
)

// Target is a ready-to-use webhook endpoint. It is safe for concurrent use.
type Target struct {
	url     string
	host    string // for messages: a URL's path or query may hold a token
	secrets []string
	timeout time.Duration
	headers map[string]string
	client  *http.Client
}

// New validates c and reads the signing secret once, so a secret changed in
// the environment later takes effect at the next start.
func New(c Config) (*Target, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	secrets, err := c.secrets()
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(c.URL) // Validate parsed it
	t := &Target{url: c.URL, host: u.Host, secrets: secrets, timeout: c.Timeout, headers: c.Headers}
	if t.timeout == 0 {
		t.timeout = DefaultTimeout
	}
	t.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: t.timeout,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: checkRedirect,
	}
	return t, nil
}

// Timeout bounds one Send.
func (t *Target) Timeout() time.Duration { return t.timeout }

// Close releases the target's idle connections.
func (t *Target) Close() { t.client.CloseIdleConnections() }

// checkRedirect follows only what keeps the request intact and on the same
// origin: a 307 or 308 (which resend the POST body) to the same scheme, host
// and port, at most maxRedirects times. Anything else stops at the redirect
// response itself, which Send reports as a permanent failure: following it
// would hand a signed event to a host nobody configured, or turn the POST
// into a GET.
func checkRedirect(req *http.Request, via []*http.Request) error {
	code := req.Response.StatusCode
	if len(via) > maxRedirects || code != http.StatusTemporaryRedirect && code != http.StatusPermanentRedirect ||
		origin(req.URL) != origin(via[0].URL) {
		return http.ErrUseLastResponse
	}
	return nil
}

func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// Send POSTs payload (JSON) with the headers webhook-id (id),
// webhook-timestamp (unix seconds of now), webhook-signature (only when a
// secret is configured), Content-Type: application/json, User-Agent
// shopbus-webhook/1, plus the configured headers (which may replace the
// User-Agent). The receiver should treat id as an idempotency key: a retried
// delivery carries the same id.
//
// A 2xx is success. 5xx, 429, 408, network errors and timeouts are retryable
// errors; any other status wraps ErrPermanent. A status error is a
// *StatusError, which implements RetryAfter.
func (t *Target) Send(ctx context.Context, id string, payload []byte) error {
	if id == "" || !isHeaderValue(id) {
		return fmt.Errorf("%w: webhook id %q is empty or not a header value", ErrPermanent, id)
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	now := time.Now().Unix()
	req.Header.Set("User-Agent", userAgent)
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now, 10))
	if len(t.secrets) > 0 {
		req.Header.Set("webhook-signature", Signatures(t.secrets, id, now, payload))
	}

	resp, err := t.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its message repeats the whole URL
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("webhook: POST %s: no response within %s: %w", t.host, t.timeout, err)
		}
		return fmt.Errorf("webhook: POST %s: %w", t.host, err)
	}
	defer resp.Body.Close()
	snippet := drain(resp.Body)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &StatusError{Host: t.host, Status: resp.StatusCode, Body: snippet}
	if loc, err := resp.Location(); err == nil && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e.Location = origin(loc)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return e
}

// drain reads at most maxDrain bytes of body, so the connection is back in
// the pool before Send returns (the transport's own drain after Close is
// asynchronous), and returns the first maxSnippet of them as one printable line.
func drain(body io.Reader) string {
	r := io.LimitReader(body, maxDrain)
	buf := make([]byte, maxSnippet)
	n, _ := io.ReadFull(r, buf)
	_, _ = io.Copy(io.Discard, r)
	s := strings.ToValidUTF8(string(buf[:n]), "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// parseRetryAfter reads delay-seconds or an HTTP date; zero when absent,
// malformed or already past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// StatusError is a response outside 2xx.
type StatusError struct {
	Host   string
	Status int
	Body   string // up to 200 bytes of the response body, on one line
	// Location is the scheme, host and port of a redirect's target.
	Location string
	// retryAfter is the Retry-After of a 429 or 503.
	retryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("webhook: POST %s: %d", e.Host, e.Status)
	if text := http.StatusText(e.Status); text != "" {
		msg += " " + text
	}
	switch {
	case e.Location != "":
		msg += ": redirect to " + e.Location + " not followed"
	case e.Status >= 300 && e.Status < 400:
		msg += ": redirect not followed"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrPermanent) true for statuses no retry fixes.
func (e *StatusError) Unwrap() error {
	if e.Retryable() {
		return nil
	}
	return ErrPermanent
}

// Retryable reports whether the same request may succeed later: 5xx, 429 and 408.
func (e *StatusError) Retryable() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout
}

// RetryAfter is the wait the endpoint asked for with Retry-After on a 429
// or 503, capped at a day; zero when it asked for none.
func (e *StatusError) RetryAfter() time.Duration { return e.retryAfter }
