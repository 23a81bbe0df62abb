package web

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"
)

// keyFrom reads "Authorization: Bearer <key>" or "X-API-Key: <key>".
func keyFrom(r *http.Request) string {
	if key := r.Header.Get("X-API-Key"); key != "" {
		return key
	}
	scheme, token, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token)
	}
	return ""
}

// authenticate finds the request's key. A client address that keeps
// failing is answered 429 before its key is even looked at, so guessing
// keys is slow; nothing about a key is ever logged.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ip := c.RealIP()
		if wait := s.failures.blocked(ip); wait > 0 {
			return tooMany(c, wait, "too many failed authentication attempts from this address")
		}
		p, err := s.Keys.Authenticate(c.Request().Context(), keyFrom(c.Request()))
		if err != nil {
			s.failures.record(ip)
			return err
		}
		c.Set("principal", p)
		return next(c)
	}
}

// require lets a request through only if its key holds scope.
func require(scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if p, ok := c.Get("principal").(Principal); !ok || !p.Can(scope) {
				return fmt.Errorf("%w: %s", ErrForbidden, scope)
			}
			return next(c)
		}
	}
}

// keyRateLimit is a token bucket per API key (Echo's RateLimiter), so one
// runaway client cannot starve the shop. It runs after authenticate. The
// bucket is the key's own (its Ref): a new key given a revoked key's name
// starts with a full one.
func keyRateLimit(rps float64, burst int) echo.MiddlewareFunc {
	retryAfter := time.Duration(math.Ceil(1/rps)) * time.Second
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(rps), Burst: burst, ExpiresIn: 10 * time.Minute,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) {
			p, _ := c.Get("principal").(Principal)
			return p.Ref, nil
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			return tooMany(c, retryAfter, "rate limit exceeded for this API key")
		},
	})
}

func tooMany(c echo.Context, wait time.Duration, msg string) error {
	c.Response().Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	return echo.NewHTTPError(http.StatusTooManyRequests, msg)
}

// failures counts failed authentications per client address in token
// buckets that refill at perMinute; an empty bucket blocks the address.
type failures struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	swept   time.Time
}

func newFailures(perMinute, burst int) *failures {
	return &failures{limit: rate.Limit(float64(perMinute) / 60), burst: burst, buckets: map[string]*rate.Limiter{}}
}

// blocked returns how long ip must wait, or 0.
func (f *failures) blocked(ip string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.buckets[ip]
	if !ok || b.Tokens() >= 1 {
		return 0
	}
	return time.Duration((1 - b.Tokens()) / float64(f.limit) * float64(time.Second))
}

func (f *failures) record(ip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if now.Sub(f.swept) > time.Minute { // forget addresses whose buckets are full again
		for k, b := range f.buckets {
			if b.TokensAt(now) >= float64(f.burst) {
				delete(f.buckets, k)
			}
		}
		f.swept = now
	}
	b, ok := f.buckets[ip]
	if !ok {
		b = rate.NewLimiter(f.limit, f.burst)
		f.buckets[ip] = b
	}
	b.AllowN(now, 1)
}
