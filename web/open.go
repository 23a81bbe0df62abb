package web

import (
	"net/netip"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// openCount counts the requests in progress per holder (an API key, a
// client address), at most max each. Holders with none open are
// forgotten, so the map is as large as what is in progress.
type openCount struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newOpenCount(max int) *openCount { return &openCount{max: max, n: map[string]int{}} }

// acquire takes one for holder, or reports false at its bound.
func (o *openCount) acquire(holder string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n[holder] >= o.max {
		return false
	}
	o.n[holder]++
	return true
}

func (o *openCount) release(holder string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n[holder] <= 1 {
		delete(o.n, holder)
		return
	}
	o.n[holder]--
}

// bound lets a request through while its holder has fewer than max in
// progress, and answers the next 429 with Retry-After at once: a client
// that opens requests faster than it finishes them (slow bodies, streams
// it never reads) holds a bounded share of the server, whatever its rate.
func (o *openCount) bound(holderOf func(echo.Context) string, msg string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			holder := holderOf(c)
			if holder == "" {
				return next(c)
			}
			if !o.acquire(holder) {
				return tooMany(c, time.Second, msg)
			}
			defer o.release(holder)
			return next(c)
		}
	}
}

// openPerKey bounds the requests in progress per API key. The count is
// the key's own (its Ref), not its name's, so a key reissued under a
// revoked one's name starts at zero. It runs after authenticate.
func openPerKey(max int) echo.MiddlewareFunc {
	return newOpenCount(max).bound(func(c echo.Context) string {
		p, _ := c.Get("principal").(Principal)
		return p.Ref
	}, "too many requests in progress for this API key")
}

// openPerAddress bounds the requests in progress per client address (as
// RealIP sees it: behind a trusted proxy, the client's). The probes
// /healthz and /readyz are not counted: an orchestrator must always get
// its answer.
func openPerAddress(max int) echo.MiddlewareFunc {
	return newOpenCount(max).bound(func(c echo.Context) string {
		switch c.Request().URL.Path {
		case "/healthz", "/readyz":
			return ""
		}
		return addressKey(c.RealIP())
	}, "too many requests in progress from this address")
}

// addressKey is what one client's address counts as: the address itself
// for IPv4, and its /64 for IPv6, where one subscriber is given a whole
// /64 to choose addresses from.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
