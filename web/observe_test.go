package web_test

import (
	"strings"
	"testing"

	"github.com/shopbus/shopbus/web/webtest"
)

// TestRequestsCountedByRoute: requests are counted under their route's
// pattern, never their raw path: a scanner's random paths must not become
// series.
func TestRequestsCountedByRoute(t *testing.T) {
	t.Parallel()
	s := webtest.New(t, webtest.Options{})
	s.Run(t,
		webtest.Scenario{Name: "an order", Key: admin, URL: "/v1/orders", Body: newOrder("ord-m1", "m@example.com", "MUG", 1), Status: 201},
		webtest.Scenario{Name: "its view", Key: admin, URL: "/v1/orders/ord-m1", Status: 200},
		webtest.Scenario{Name: "a scanner", URL: "/no/such/path/12345", Status: 404},
	)
	for _, tc := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"method": "POST", "route": "/v1/orders", "status": "201"}, 1},
		{map[string]string{"method": "GET", "route": "/v1/orders/:id", "status": "200"}, 1},
		{map[string]string{"method": "GET", "status": "404"}, 1},
	} {
		if got := s.Metric(t, "shopbus_http_requests_total", tc.labels); got != tc.want {
			t.Errorf("shopbus_http_requests_total%v = %v, want %v", tc.labels, got, tc.want)
		}
	}
	for _, m := range s.MetricFamilies(t)["shopbus_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && (strings.Contains(l.GetValue(), "12345") || strings.Contains(l.GetValue(), "ord-m1")) {
				t.Errorf("a raw path became a route label: %v", m)
			}
		}
	}
}
