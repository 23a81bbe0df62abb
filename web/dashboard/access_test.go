package dashboard_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestNoSessionGoesToLogin: every page and form sends a browser without a
// session, or with a made-up one, to the login page, and a form changes
// nothing.
func TestNoSessionGoesToLogin(t *testing.T) {
	s := newShop(t)
	s.place("ord-1", "ada@example.com")
	for _, tc := range []struct {
		name   string
		cookie string
	}{
		{"no cookie", ""},
		{"a made-up session", "shopbus_dashboard=bm90LWEtc2Vzc2lvbg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := s.browser()
			if tc.cookie != "" {
				u, _ := url.Parse(s.url + "/dashboard/")
				name, value, _ := strings.Cut(tc.cookie, "=")
				b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/dashboard"}})
			}
			for _, path := range []string{"/dashboard/orders", "/dashboard/orders/ord-1", "/dashboard/flow", "/dashboard/dlq",
				"/dashboard/rules", "/dashboard/inventory", "/dashboard/live"} {
				if p := b.get(path); !toLogin(p) {
					t.Errorf("GET %s: %d to %q, want a redirect to the login page", path, p.status, p.header.Get("Location"))
				}
			}
			if p := b.get("/dashboard/orders/ord-1"); p.header.Get("Location") != "/dashboard/login?next=%2Fdashboard%2Forders%2Ford-1" {
				t.Errorf("the login page is not told where to return: %q", p.header.Get("Location"))
			}
			forms := map[string]url.Values{
				"/dashboard/dlq/redrive": {"target": {"shipping"}, "csrf": {"x"}},
				"/dashboard/rules/test":  {"event": {`{}`}, "csrf": {"x"}},
				"/dashboard/logout":      {"csrf": {"x"}},
			}
			for path, form := range forms {
				if p := b.post(path, form); !toLogin(p) {
					t.Errorf("POST %s: %d to %q, want a redirect to the login page", path, p.status, p.header.Get("Location"))
				}
			}
			if len(s.dead("shipping")) != 1 {
				t.Error("a redrive without a session moved the dead letter")
			}
		})
	}
}

// TestLoginRefusesKeys: a wrong key, a key without admin and a login form
// that did not come from the dashboard open no session.
func TestLoginRefusesKeys(t *testing.T) {
	s := newShop(t)
	key := func(k string) func(*shop) string { return func(*shop) string { return k } }
	admin := func(s *shop) string { return s.admin } // even the right key needs the form's token
	for _, tc := range []struct {
		name       string
		key        func(*shop) string
		token      func(*browser) string
		wantStatus int
		wantText   string
	}{
		{"unknown key", key("sb_live_not_a_key_at_all"), (*browser).loginToken, http.StatusUnauthorized, "unknown, expired or revoked"},
		{"no key", key(""), (*browser).loginToken, http.StatusUnauthorized, "unknown, expired or revoked"},
		{"a key without admin", func(s *shop) string { return s.reader }, (*browser).loginToken, http.StatusForbidden, "lacks the admin scope"},
		{"no login token", admin, func(*browser) string { return "" }, http.StatusForbidden, "did not come from this site"},
		{"a wrong login token", admin, func(b *browser) string { b.loginToken(); return "forged" }, http.StatusForbidden, "did not come from this site"},
		// Double submit alone would take a cookie planted by, say, a sibling
		// subdomain together with the same value in the form.
		{"a login token the client chose", admin, func(b *browser) string { return b.plantLoginCookie("chosen-by-the-client") }, http.StatusForbidden, "did not come from this site"},
		{"a login token already used", admin, func(b *browser) string {
			tok := b.loginToken()
			if p := b.post("/dashboard/login", url.Values{"csrf": {tok}, "key": {"sb_live_wrong"}}); p.status != http.StatusUnauthorized {
				b.t.Fatalf("first use: %d", p.status)
			}
			return b.plantLoginCookie(tok)
		}, http.StatusForbidden, "did not come from this site"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := s.browser()
			p := b.post("/dashboard/login", url.Values{"csrf": {tc.token(b)}, "key": {tc.key(s)}})
			if p.status != tc.wantStatus || !strings.Contains(p.body, tc.wantText) {
				t.Errorf("login: %d, want %d saying %q: %s", p.status, tc.wantStatus, tc.wantText, p.body)
			}
			if n := s.sessions(); n != 0 {
				t.Errorf("%d sessions opened, want none", n)
			}
			if p := b.get("/dashboard/orders"); !toLogin(p) {
				t.Errorf("after a refused login GET /dashboard/orders = %d, want a redirect to the login page", p.status)
			}
		})
	}
}

// loginToken loads the login form and returns its token.
func (b *browser) loginToken() string { return b.csrf("/dashboard/login") }

// plantLoginCookie sets the browser's login cookie to tok, as a page able
// to write the site's cookies could, and returns tok.
func (b *browser) plantLoginCookie(tok string) string {
	u, err := url.Parse(b.shop.url + "/dashboard/login")
	if err != nil {
		b.t.Fatal(err)
	}
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "shopbus_login", Value: tok, Path: "/dashboard"}})
	return tok
}

// TestSession: a login opens a session kept in a strict cookie, stored
// server-side only as a hash; logging out or revoking the key ends it.
func TestSession(t *testing.T) {
	s := newShop(t)
	b := s.browser()
	p := b.login(s.admin)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/orders" {
		t.Fatalf("login: %d to %q, want 303 to the orders", p.status, p.header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == "shopbus_dashboard" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/dashboard" || session.Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/dashboard, not Secure over plain HTTP", session)
	}
	sum := sha256.Sum256([]byte(session.Value))
	var stored struct{ IDHash, KeyName, KeyRef string }
	if err := s.db.Raw(`SELECT id_hash, key_name, key_ref FROM dashboard_sessions`).Scan(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if stored.IDHash != hex.EncodeToString(sum[:]) || stored.KeyName != "ops" || strings.Contains(stored.KeyRef, s.admin) {
		t.Errorf("stored session %+v: want the hash of the cookie's id, the key's name, and no key", stored)
	}
	if p := b.get("/dashboard/orders"); p.status != http.StatusOK || !strings.Contains(p.body, "<h1>Orders</h1>") {
		t.Fatalf("GET /dashboard/orders with a session: %d", p.status)
	}

	// Logging out needs the form's token and deletes the session.
	p = b.post("/dashboard/logout", url.Values{"csrf": {b.csrf("/dashboard/orders")}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/login" || s.sessions() != 0 {
		t.Errorf("logout: %d to %q with %d sessions left, want 303 to the login page and none", p.status, p.header.Get("Location"), s.sessions())
	}
	if p := b.get("/dashboard/orders"); !toLogin(p) {
		t.Errorf("after logout GET /dashboard/orders = %d, want a redirect to the login page", p.status)
	}

	// Revoking the key ends its sessions at the next request.
	b = s.loggedIn()
	if err := s.keys.Revoke(context.Background(), "ops"); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/dashboard/orders"); !toLogin(p) || s.sessions() != 0 {
		t.Errorf("after revoking the key GET /dashboard/orders = %d with %d sessions, want the login page and none", p.status, s.sessions())
	}
}

func TestSessionCookieSecureOverTLS(t *testing.T) {
	s := startShop(t, httptest.NewTLSServer)
	p := s.browser().login(s.admin)
	if p.status != http.StatusSeeOther {
		t.Fatalf("login over TLS: %d: %s", p.status, p.body)
	}
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == "shopbus_dashboard" && !c.Secure {
			t.Errorf("session cookie %+v over TLS is not Secure", c)
		}
	}
}

// TestForgedFormsAreRefused: a logged-in browser's form without its
// session's token, or with another one, is refused with 403 and changes
// nothing; with the token it works.
func TestForgedFormsAreRefused(t *testing.T) {
	s := newShop(t)
	s.place("ord-1", "ada@example.com")
	b := s.loggedIn()
	other := s.loggedIn() // a second session: its token is not b's
	otherToken := other.csrf("/dashboard/dlq")
	deadID := s.dead("shipping")[0].ID

	forms := map[string]url.Values{
		"/dashboard/dlq/redrive": {"id": {itoa(deadID)}, "back": {"/dashboard/dlq"}},
		"/dashboard/logout":      {},
		"/dashboard/rules/test":  {"event": {`{"source":"shopbus.checkout"}`}},
	}
	for _, token := range []struct{ name, value string }{{"no", ""}, {"a wrong", "not-the-token"}, {"another session's", otherToken}} {
		for path, form := range forms {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if token.value != "" {
				f.Set("csrf", token.value)
			}
			if p := b.post(path, f); p.status != http.StatusForbidden {
				t.Errorf("POST %s with %s token: %d, want 403", path, token.name, p.status)
			}
		}
	}
	if len(s.dead("shipping")) != 1 || s.sessions() != 2 {
		t.Fatalf("forged forms changed the database: %d dead letters (want 1), %d sessions (want 2)", len(s.dead("shipping")), s.sessions())
	}
	if p := b.get("/dashboard/orders"); p.status != http.StatusOK {
		t.Errorf("the session ended after forged forms: %d", p.status)
	}

	f := url.Values{"id": {itoa(deadID)}, "back": {"/dashboard/orders/ord-1"}, "csrf": {b.csrf("/dashboard/dlq")}}
	if p := b.post("/dashboard/dlq/redrive", f); p.status != http.StatusSeeOther || p.header.Get("Location") != "/dashboard/orders/ord-1?redriven=1" {
		t.Errorf("redrive with the token: %d to %q, want 303 back to the order", p.status, p.header.Get("Location"))
	}
}
