package web

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// unescapeParams decodes every path parameter exactly once, the same way on
// every route. Echo routes on the raw path whenever the client's escaping
// differs from Go's canonical one (a %2F inside a segment, lower-case hex,
// an escaped ':') and then hands the parameters over still escaped, while
// on a canonically escaped path it routes on the decoded path and they
// arrive decoded. Decoding the first kind here makes /v1/inventory/A%2FB
// name "A/B" and A%252FB name "A%2FB", whatever the case of the hex. It must
// run before anything reads a parameter.
func unescapeParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().URL.RawPath == "" {
			return next(c)
		}
		values := c.ParamValues()
		for i, v := range values {
			u, err := url.PathUnescape(v)
			if err != nil { // Go's server refuses such a path before this; kept for other callers of Handler
				return echo.NewHTTPError(http.StatusBadRequest, "the path is not validly percent-encoded")
			}
			values[i] = u
		}
		c.SetParamValues(values...)
		return next(c)
	}
}
