package web

import (
	"net"
	"net/netip"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// schemeExtractor says whether a request came over HTTPS: its own TLS, or
// X-Forwarded-Proto from a trusted proxy only, so a client cannot claim
// HTTPS over plain HTTP. The dashboard's cookies are Secure and HSTS is
// sent exactly when this says https (echo's own default would believe any
// private address).
func schemeExtractor(trustedProxies []string) echo.SchemeExtractor {
	if len(trustedProxies) == 0 {
		return echo.ExtractSchemeDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, cidr := range trustedProxies {
		_, n, _ := net.ParseCIDR(netip.MustParsePrefix(cidr).String())
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractSchemeFromHeaders(opts...)
}

// hstsMaxAge is how long a browser that saw shopbus over HTTPS refuses it
// over plain HTTP: a year, as browsers' preload lists ask, for this host
// only (the shop's other subdomains are not shopbus's to decide).
const hstsMaxAge = 365 * 24 * 60 * 60

// secureHeaders are echo's default security headers, plus HSTS on the
// responses to HTTPS requests (schemeExtractor).
func secureHeaders() echo.MiddlewareFunc {
	cfg := middleware.DefaultSecureConfig
	cfg.HSTSMaxAge, cfg.HSTSExcludeSubdomains = hstsMaxAge, true
	return middleware.SecureWithConfig(cfg)
}
