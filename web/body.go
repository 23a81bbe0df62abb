package web

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"
)

// paceBodies makes every request body arrive at minRate bytes a second on
// average once grace has passed, as nginx's client_body_timeout does for
// the gaps between reads: the connection's read deadline is moved before
// each read to the moment the body would fall below that rate. A body
// sent a byte a second is cut off with 408 a few seconds in, instead of
// holding its connection, goroutine and buffers for the whole read
// timeout; a big body on a slow but honest link has all the time it needs.
// minRate 0 sets no floor.
//
// A request answered without its body read to the end (a 401, a 429, a
// 408) closes its connection: otherwise the server would read what is
// left of the body before answering, at whatever pace the client chooses.
// It must run after observe, which writes the answer.
func paceBodies(minRate int, grace time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
				return next(c)
			}
			b := &pacedBody{ReadCloser: req.Body, rc: http.NewResponseController(c.Response()),
				start: time.Now(), grace: grace, rate: float64(minRate)}
			req.Body = b
			err := next(c)
			if !b.eof {
				c.Response().Header().Set(echo.HeaderConnection, "close")
				// Should the answer be out already, no read of the rest either.
				_ = b.rc.SetReadDeadline(time.Now())
			}
			return err
		}
	}
}

// pacedBody is a request body read under a deadline that moves with the
// bytes received: start + grace + received/rate.
type pacedBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	grace time.Duration
	rate  float64 // bytes a second; 0: no floor
	n     int64
	eof   bool // read to its end
	fail  bool // a read failed: the rest is not to be waited for
}

// errTooSlow answers a body that fell below the minimum rate.
var errTooSlow = echo.NewHTTPError(http.StatusRequestTimeout, "the body arrived too slowly")

func (b *pacedBody) Read(p []byte) (int, error) {
	if b.eof || b.fail {
		return b.ReadCloser.Read(p)
	}
	if b.rate > 0 {
		allowed := b.grace + time.Duration(float64(b.n)/b.rate*float64(time.Second))
		// A recorder in tests has no connection: no deadline, nothing to pace.
		_ = b.rc.SetReadDeadline(b.start.Add(allowed))
	}
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		b.eof = true
		// The body is in: what the handler does next (the commit) must not
		// be cut short by a deadline meant for the upload. The server sets
		// its own deadline again before the next request.
		if b.rate > 0 {
			_ = b.rc.SetReadDeadline(time.Time{})
		}
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.fail = true
		return n, errTooSlow
	case err != nil:
		b.fail = true
	}
	return n, err
}

// Context keys of what admit read.
const (
	bodyKey  = "web.body"
	inputKey = "web.input"
)

// admit reads a write's body, decodes it into a T and checks it (check may
// be nil) before the write may hold anything scarce: a slot (shed) or an
// Idempotency-Key. A slow upload then holds only its own connection, and
// a body that would be refused is refused without waiting for the writer.
// The handler takes what admit decoded with input.
func admit[T any](check func(*T) error) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			body, err := readBody(c)
			if err != nil {
				return err
			}
			in := new(T)
			if err := decode(body, in); err != nil {
				return err
			}
			if check != nil {
				if err := check(in); err != nil {
					return err
				}
			}
			c.Set(bodyKey, body)
			c.Set(inputKey, in)
			return next(c)
		}
	}
}

// input is the body admit decoded or, on a route without admit, the body
// read and decoded now.
func input[T any](c echo.Context) (*T, error) {
	if in, ok := c.Get(inputKey).(*T); ok {
		return in, nil
	}
	in := new(T)
	return in, bind(c, in)
}

// admittedBody is the raw body admit read, or nil when it did not run.
func admittedBody(c echo.Context) []byte {
	b, _ := c.Get(bodyKey).([]byte)
	return b
}
