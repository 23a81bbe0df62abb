package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/shopbus/shopbus/database"
	"github.com/shopbus/shopbus/web"
)

// Migrations create the dashboard's table.
var Migrations = []database.Migration{{
	ID: "dashboard-0001",
	SQL: []string{
		// A session row holds the hash of its id, never the id the cookie
		// carries, and the key's KeyRef, never the key.
		`CREATE TABLE dashboard_sessions (
			id_hash TEXT PRIMARY KEY,
			key_name TEXT NOT NULL,
			key_ref TEXT NOT NULL,
			csrf TEXT NOT NULL,
			created_at TIMESTAMP NOT NULL,
			expires_at TIMESTAMP NOT NULL
		)`,
		`CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at)`,
	},
}, {
	// The login form's token was checked only against the browser's cookie,
	// a value the client can choose. The server now keeps (the hash of)
	// each token it hands out, until used or expired.
	ID: "dashboard-0002",
	SQL: []string{
		`CREATE TABLE dashboard_login_tokens (
			token_hash TEXT PRIMARY KEY,
			expires_at TIMESTAMP NOT NULL
		)`,
		`CREATE INDEX dashboard_login_tokens_expiry ON dashboard_login_tokens (expires_at)`,
	},
}}

// loginTokenTTL is how long a login form may wait to be submitted.
const loginTokenTTL = time.Hour

type loginTokenRow struct {
	TokenHash string `gorm:"primaryKey"`
	ExpiresAt time.Time
}

func (loginTokenRow) TableName() string { return "dashboard_login_tokens" }

// issueLoginToken returns a new login form token, remembered by the server
// until it is used or expires.
func (d *Dashboard) issueLoginToken(c echo.Context) (string, error) {
	tok := token()
	now := time.Now().UTC()
	db := d.DB.WithContext(c.Request().Context())
	// Swept as tokens are issued, so no worker is needed.
	if err := db.Where("expires_at <= ?", now).Delete(&loginTokenRow{}).Error; err != nil {
		return "", err
	}
	if err := db.Create(&loginTokenRow{TokenHash: hashID(tok), ExpiresAt: now.Add(loginTokenTTL)}).Error; err != nil {
		return "", err
	}
	return tok, nil
}

// useLoginToken reports whether tok is a live token this server issued,
// and spends it: each login form is good for one submission.
func (d *Dashboard) useLoginToken(c echo.Context, tok string) (bool, error) {
	if tok == "" {
		return false, nil
	}
	res := d.DB.WithContext(c.Request().Context()).Where("token_hash = ? AND expires_at > ?", hashID(tok), time.Now().UTC()).
		Delete(&loginTokenRow{})
	return res.RowsAffected == 1, res.Error
}

const (
	sessionCookie = "shopbus_dashboard"
	// loginCookie carries the login form's token, for a browser that has
	// no session yet.
	loginCookie = "shopbus_login"
	cookiePath  = "/dashboard"
	// sessionTTL is how long a login lasts: a working day, then the key
	// is asked for again.
	sessionTTL = 12 * time.Hour
)

type sessionRow struct {
	IDHash    string `gorm:"primaryKey"`
	KeyName   string
	KeyRef    string
	CSRF      string `gorm:"column:csrf"`
	CreatedAt time.Time
	ExpiresAt time.Time
}

func (sessionRow) TableName() string { return "dashboard_sessions" }

// session is a logged-in browser.
type session struct {
	KeyName string
	// CSRF is the token every form of the session carries.
	CSRF   string
	idHash string
}

// errNoSession means the request has no live session: no cookie, an
// unknown or expired one, or one whose key was revoked or lost admin.
var errNoSession = errors.New("dashboard: no session")

// token returns 256 random bits, URL-safe.
func token() string { return base64.RawURLEncoding.EncodeToString(randomBytes(32)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails; it crashes the program instead
	return b
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// sameToken compares a submitted token with the expected one in constant
// time; an empty expectation matches nothing.
func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's
// page sends it) and Secure when the request came over HTTPS: TLS of its
// own, or a trusted proxy's X-Forwarded-Proto (the gateway's
// SchemeExtractor). A negative age deletes it.
func cookie(c echo.Context, name, value string, age time.Duration) *http.Cookie {
	maxAge := int(age.Seconds())
	if age < 0 {
		value, maxAge = "", -1
	}
	return &http.Cookie{Name: name, Value: value, Path: cookiePath, MaxAge: maxAge,
		HttpOnly: true, Secure: c.Scheme() == "https", SameSite: http.SameSiteStrictMode}
}

// startSession opens a session for the key known by keyRef and gives the
// browser its cookie.
func (d *Dashboard) startSession(c echo.Context, p web.Principal, keyRef string) error {
	id := token()
	now := time.Now().UTC()
	db := d.DB.WithContext(c.Request().Context())
	// Expired sessions are swept when someone logs in, so no worker is needed.
	if err := db.Where("expires_at <= ?", now).Delete(&sessionRow{}).Error; err != nil {
		return err
	}
	row := sessionRow{IDHash: hashID(id), KeyName: p.Name, KeyRef: keyRef, CSRF: token(), CreatedAt: now, ExpiresAt: now.Add(sessionTTL)}
	if err := db.Create(&row).Error; err != nil {
		return err
	}
	c.SetCookie(cookie(c, sessionCookie, id, sessionTTL))
	return nil
}

// load finds the request's session and checks that its key is still live
// and still admin, so revoking the key ends the session at once.
func (d *Dashboard) load(c echo.Context) (session, error) {
	ck, err := c.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return session{}, errNoSession
	}
	ctx := c.Request().Context()
	var row sessionRow
	err = d.DB.WithContext(ctx).Where("id_hash = ? AND expires_at > ?", hashID(ck.Value), time.Now().UTC()).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return session{}, errNoSession
	}
	if err != nil {
		return session{}, err
	}
	p, err := d.Keys.AuthenticateRef(ctx, row.KeyRef)
	if errors.Is(err, web.ErrUnauthorized) || (err == nil && !p.Can(web.ScopeAdmin)) {
		return session{}, errors.Join(errNoSession, d.endSession(c, row.IDHash))
	}
	if err != nil {
		return session{}, err
	}
	return session{KeyName: row.KeyName, CSRF: row.CSRF, idHash: row.IDHash}, nil
}

// endSession deletes the session and the browser's cookie.
func (d *Dashboard) endSession(c echo.Context, idHash string) error {
	c.SetCookie(cookie(c, sessionCookie, "", -1))
	return d.DB.WithContext(c.Request().Context()).Where("id_hash = ?", idHash).Delete(&sessionRow{}).Error
}

const sessionKey = "dashboard.session"

// requireSession sends a browser without a live session to the login
// page, which brings it back here after.
func (d *Dashboard) requireSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s, err := d.load(c)
		if errors.Is(err, errNoSession) {
			to := "/dashboard/login"
			if c.Request().Method == http.MethodGet && c.Path() != "/dashboard/live" {
				to += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
			}
			return c.Redirect(http.StatusSeeOther, to)
		}
		if err != nil {
			return err
		}
		c.Set(sessionKey, s)
		return next(c)
	}
}

// current is the session requireSession found.
func current(c echo.Context) (session, bool) {
	s, ok := c.Get(sessionKey).(session)
	return s, ok
}

// requireCSRF refuses a form that does not carry its session's token: a
// page on another site cannot know it, so it cannot make the browser act.
func (d *Dashboard) requireCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s, _ := current(c)
		if !sameToken(c.FormValue("csrf"), s.CSRF) {
			return echo.NewHTTPError(http.StatusForbidden, "The form lacks this session's security token. Reload the page and try again.")
		}
		return next(c)
	}
}

// localPath returns raw if it is a path of the dashboard, else fallback:
// a redirect target taken from a form or a link never leaves the site.
func localPath(raw, fallback string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.Contains(raw, `\`) ||
		strings.HasPrefix(raw, "//") || !strings.HasPrefix(u.Path, "/dashboard/") || strings.Contains(u.Path, "/..") {
		return fallback
	}
	return u.RequestURI()
}
