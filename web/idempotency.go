package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database"
)

// HeaderIdempotencyKey names the request header that makes a POST safe to
// retry; HeaderIdempotentReplayed marks a response answered from the store.
const (
	HeaderIdempotencyKey     = "Idempotency-Key"
	HeaderIdempotentReplayed = "Idempotent-Replayed"
)

// IdempotencyTTL is how long a key is remembered, as at Stripe. After it a
// key is new again.
const IdempotencyTTL = 24 * time.Hour

// maxIdempotencyKey is the longest key accepted, as at Stripe.
const maxIdempotencyKey = 255

// IdempotencyMigrations create the table of idempotency keys. A key belongs
// to the API key that sent it, named in api_key by its KeyRef: the primary
// key is what stops two requests with one key from both running.
var IdempotencyMigrations = []database.Migration{{
	ID: "web-idempotency-0001",
	SQL: []string{
		`CREATE TABLE web_idempotency_keys (
			api_key TEXT NOT NULL,
			idempotency_key TEXT NOT NULL,
			method TEXT NOT NULL,
			path TEXT NOT NULL,
			fingerprint TEXT NOT NULL,
			status INTEGER NOT NULL DEFAULT 0,
			content_type TEXT NOT NULL DEFAULT '',
			location TEXT NOT NULL DEFAULT '',
			body TEXT NOT NULL DEFAULT '',
			created_at TIMESTAMP NOT NULL,
			PRIMARY KEY (api_key, idempotency_key)
		)`,
		`CREATE INDEX web_idempotency_keys_created_at ON web_idempotency_keys (created_at)`,
	},
}, {
	// api_key held the key's name, which a new key inherits once the old
	// one is revoked, and with it the old key's responses. It now holds the
	// key's KeyRef. Records of a live key move to its ref; those of revoked
	// keys go, as nobody can send them again.
	ID: "web-idempotency-0002",
	SQL: []string{
		`DELETE FROM web_idempotency_keys
			WHERE api_key NOT IN (SELECT name FROM web_api_keys WHERE revoked_at IS NULL)`,
		`UPDATE web_idempotency_keys
			SET api_key = (SELECT hash FROM web_api_keys k WHERE k.name = web_idempotency_keys.api_key AND k.revoked_at IS NULL)`,
	},
}}

// idempotencyRecord is one key: in progress while Status is 0, then the
// response to replay.
type idempotencyRecord struct {
	APIKey         string `gorm:"primaryKey"`
	IdempotencyKey string `gorm:"primaryKey"`
	Method         string
	Path           string
	Fingerprint    string
	Status         int
	ContentType    string
	Location       string
	Body           string
	CreatedAt      time.Time
}

func (idempotencyRecord) TableName() string { return "web_idempotency_keys" }

// Idempotent makes a route safe to retry with Stripe's semantics. A request
// without an Idempotency-Key header passes through. The first request with a
// key runs the handler and its response is stored; a later request with the
// same key and the same method, path and body gets that response again,
// marked Idempotent-Replayed, without the handler running. The same key with
// a different request is refused with 422, and while the first request is
// still running with 409.
//
// A key belongs to the API key that sent it (the key itself, not its name),
// so it must run after authenticate. Method and path are part of the fingerprint rather than of
// the key's scope: reusing a key on another order's state, say, is a client
// bug that is refused, as at Stripe, not a fresh request.
func (s *Server) Idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		values := c.Request().Header.Values(HeaderIdempotencyKey)
		if len(values) == 0 {
			return next(c)
		}
		key, err := checkIdempotencyKey(values)
		if err != nil {
			return err
		}
		p, _ := c.Get("principal").(Principal)
		apiKey := p.Ref
		if apiKey == "" {
			return errors.New("web: Idempotent runs without an authenticated API key; install it after authenticate")
		}
		// On the write routes admit has read the body already, before any
		// slot was taken; elsewhere it is read here (bounded by BodyLimit)
		// and the handler reads it again.
		req := c.Request()
		body := admittedBody(c)
		if body == nil {
			var err error
			if body, err = readBody(c); err != nil {
				return err
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
		}

		rec := idempotencyRecord{
			APIKey:         apiKey,
			IdempotencyKey: key,
			Method:         req.Method,
			Path:           req.URL.Path,
			Fingerprint:    fingerprint(req.Method, req.URL.Path, body),
			CreatedAt:      time.Now().UTC(),
		}
		prior, claimed, err := s.claimIdempotencyKey(req.Context(), rec)
		if err != nil {
			return err
		}
		if !claimed {
			return replay(c, prior, rec.Fingerprint)
		}
		return s.runOnce(c, next, rec)
	}
}

// idempotencyHeader refuses a malformed Idempotency-Key header with 400
// before the body is read: the header alone decides it.
func idempotencyHeader(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if values := c.Request().Header.Values(HeaderIdempotencyKey); len(values) > 0 {
			if _, err := checkIdempotencyKey(values); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// checkIdempotencyKey accepts one key of 1-255 printable ASCII characters.
func checkIdempotencyKey(values []string) (string, error) {
	if len(values) != 1 {
		return "", echo.NewHTTPError(http.StatusBadRequest, "send one Idempotency-Key header, not several")
	}
	key := values[0]
	if len(key) == 0 || len(key) > maxIdempotencyKey {
		return "", echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("Idempotency-Key must be 1-%d characters", maxIdempotencyKey))
	}
	for i := range len(key) {
		if key[i] < ' ' || key[i] > '~' {
			return "", echo.NewHTTPError(http.StatusBadRequest, "Idempotency-Key must be printable ASCII")
		}
	}
	return key, nil
}

// fingerprint identifies a request by method, path and body. The lengths
// keep one field's bytes from passing for another's.
func fingerprint(method, path string, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s %d:%s\n", len(method), method, len(path), path)
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// claimIdempotencyKey records rec as in progress and reports claimed, or,
// when the key is taken, returns the record that holds it. An expired record
// is deleted and the claim tried again.
func (s *Server) claimIdempotencyKey(ctx context.Context, rec idempotencyRecord) (prior idempotencyRecord, claimed bool, err error) {
	db := s.DB.WithContext(ctx)
	cutoff := rec.CreatedAt.Add(-IdempotencyTTL)
	// A few tries: between our failed insert and our read, the holder may
	// fail and let go, or an expired record be deleted by a concurrent request.
	for range 3 {
		err := db.Create(&rec).Error
		if err == nil {
			return idempotencyRecord{}, true, nil
		}
		if !errors.Is(err, gorm.ErrDuplicatedKey) {
			return idempotencyRecord{}, false, fmt.Errorf("claim idempotency key: %w", err)
		}
		err = db.Where("api_key = ? AND idempotency_key = ?", rec.APIKey, rec.IdempotencyKey).Take(&prior).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			continue
		}
		if err != nil {
			return idempotencyRecord{}, false, fmt.Errorf("read idempotency key: %w", err)
		}
		if !prior.CreatedAt.Before(cutoff) {
			return prior, false, nil
		}
		// Expired: forget it. The condition on created_at leaves alone a
		// fresh claim a concurrent request may have made meanwhile.
		err = db.Where("api_key = ? AND idempotency_key = ? AND created_at < ?", rec.APIKey, rec.IdempotencyKey, cutoff).
			Delete(&idempotencyRecord{}).Error
		if err != nil {
			return idempotencyRecord{}, false, fmt.Errorf("expire idempotency key: %w", err)
		}
	}
	return idempotencyRecord{}, false, echo.NewHTTPError(http.StatusConflict, "a request with this Idempotency-Key is in progress; retry later")
}

// replay answers with the stored response of a completed request.
func replay(c echo.Context, prior idempotencyRecord, fp string) error {
	if prior.Fingerprint != fp {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "Idempotency-Key reused with a different request")
	}
	if prior.Status == 0 {
		return echo.NewHTTPError(http.StatusConflict, "a request with this Idempotency-Key is in progress; retry later")
	}
	h := c.Response().Header()
	if prior.ContentType != "" {
		h.Set(echo.HeaderContentType, prior.ContentType)
	}
	if prior.Location != "" {
		h.Set(echo.HeaderLocation, prior.Location)
	}
	h.Set(HeaderIdempotentReplayed, "true")
	c.Response().WriteHeader(prior.Status)
	_, err := io.WriteString(c.Response(), prior.Body)
	return err
}

// runOnce runs the handler for a claimed key and stores its response, as
// Stripe does, once the request was accepted for work: a business answer
// such as 409 is stored and replayed, but a request refused before any work
// (400, 413, 415, 422: the client must change it anyway) leaves nothing
// behind, so bad input writes no row anywhere.
//
// A 5xx (or a panic) is not stored: the key is released so the client may
// retry with it. Stripe stores 500s because its side effects can be partial;
// here a handler does its writes in one transaction, so a 5xx means nothing
// was written and a retry is safe, and storing it would only replay an
// outage for 24 hours.
//
// If the process dies while the handler runs, the key stays in progress
// (409) until it expires: whether the handler's transaction committed is
// unknown, and running it twice is what the key exists to prevent.
func (s *Server) runOnce(c echo.Context, next echo.HandlerFunc, rec idempotencyRecord) error {
	// The handler's work may have committed even if the client has gone, so
	// what follows must not be cancelled with the request.
	ctx := context.WithoutCancel(c.Request().Context())
	claim := func() *gorm.DB {
		return s.DB.WithContext(ctx).Model(&idempotencyRecord{}).
			Where("api_key = ? AND idempotency_key = ? AND status = 0", rec.APIKey, rec.IdempotencyKey)
	}

	resp := c.Response()
	tee := &teeWriter{ResponseWriter: resp.Writer}
	resp.Writer = tee
	keep := false
	defer func() {
		resp.Writer = tee.ResponseWriter
		if keep {
			return
		}
		if err := claim().Delete(&idempotencyRecord{}).Error; err != nil {
			s.log.Error("web: release idempotency key", "request_id", resp.Header().Get(echo.HeaderXRequestID), "err", err)
		}
	}()

	if err := next(c); err != nil {
		c.Error(err)
	}
	if !resp.Committed || tee.status >= 500 || refused(tee.status) {
		return nil
	}
	keep = true
	err := claim().Updates(map[string]any{
		"status":       tee.status,
		"content_type": resp.Header().Get(echo.HeaderContentType),
		"location":     resp.Header().Get(echo.HeaderLocation),
		"body":         tee.body.String(),
	}).Error
	if err != nil {
		// The client has its answer; releasing the key could run the
		// handler twice, so the key stays in progress until it expires.
		s.log.Error("web: store idempotent response", "request_id", resp.Header().Get(echo.HeaderXRequestID), "err", err)
	}
	return nil
}

// teeWriter passes a response through and keeps a copy of its status and
// body.
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *teeWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *teeWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// PurgeIdempotencyKeys deletes the keys that expired before now and returns
// how many. Expired keys are already ignored; this only reclaims the space.
func (s *Server) PurgeIdempotencyKeys(ctx context.Context, now time.Time) (int64, error) {
	res := s.DB.WithContext(ctx).Where("created_at < ?", now.UTC().Add(-IdempotencyTTL)).Delete(&idempotencyRecord{})
	if res.Error != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// refused reports statuses that mean the request was turned away before any
// work was done.
func refused(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return true
	}
	return false
}
