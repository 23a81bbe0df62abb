package dashboard

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/shopbus/shopbus/web"
)

type loginView struct {
	Problem string
	Next    string
}

func (d *Dashboard) loginPage(c echo.Context) error {
	next := localPath(c.QueryParam("next"), "/dashboard/orders")
	if _, err := d.load(c); err == nil {
		return c.Redirect(http.StatusSeeOther, next)
	}
	return d.showLogin(c, http.StatusOK, loginView{Next: next})
}

// showLogin renders the form with a fresh token, kept in a cookie too and
// known to the server: a page on another site can neither read it nor log
// a browser in with its own key, and a token the client made up is refused.
func (d *Dashboard) showLogin(c echo.Context, status int, v loginView) error {
	tok, err := d.issueLoginToken(c)
	if err != nil {
		return err
	}
	c.SetCookie(cookie(c, loginCookie, tok, loginTokenTTL))
	return d.render(c, status, "login", view{Title: "Log in", CSRF: tok, Data: v})
}

// login checks the key as the API does (web.Keys) and opens a session for
// an admin key.
func (d *Dashboard) login(c echo.Context) error {
	ck, err := c.Cookie(loginCookie)
	if err != nil || !sameToken(c.FormValue("csrf"), ck.Value) {
		return echo.NewHTTPError(http.StatusForbidden, "The login form expired or did not come from this site. Load it again.")
	}
	if issued, err := d.useLoginToken(c, ck.Value); err != nil {
		return err
	} else if !issued {
		return echo.NewHTTPError(http.StatusForbidden, "The login form expired or did not come from this site. Load it again.")
	}
	v := loginView{Next: localPath(c.FormValue("next"), "/dashboard/orders")}
	key := strings.TrimSpace(c.FormValue("key"))
	p, err := d.Keys.Authenticate(c.Request().Context(), key)
	switch {
	case errors.Is(err, web.ErrUnauthorized):
		v.Problem = "That key is unknown, expired or revoked."
		return d.showLogin(c, http.StatusUnauthorized, v)
	case err != nil:
		return err
	case !p.Can(web.ScopeAdmin):
		v.Problem = "That key lacks the admin scope the dashboard needs."
		return d.showLogin(c, http.StatusForbidden, v)
	}
	if err := d.startSession(c, p, web.KeyRef(key)); err != nil {
		return err
	}
	c.SetCookie(cookie(c, loginCookie, "", -1))
	return c.Redirect(http.StatusSeeOther, v.Next)
}

func (d *Dashboard) logout(c echo.Context) error {
	s, _ := current(c)
	if err := d.endSession(c, s.idHash); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/dashboard/login")
}

// loginLimit bounds login attempts per client address (10 a minute, in
// bursts of 20, as the API's default for failed authentications): keys are
// far too long to guess, but nobody gets to try at full speed. c.RealIP
// believes X-Forwarded-For only from the proxies the gateway trusts.
func loginLimit() echo.MiddlewareFunc {
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
			Rate: rate.Limit(10.0 / 60), Burst: 20, ExpiresIn: 10 * time.Minute,
		}),
		IdentifierExtractor: func(c echo.Context) (string, error) { return c.RealIP(), nil },
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			c.Response().Header().Set("Retry-After", "6")
			return echo.NewHTTPError(http.StatusTooManyRequests, "Too many login attempts from this address. Wait a minute and try again.")
		},
	})
}
