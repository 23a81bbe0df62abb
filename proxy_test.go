package main

import (
	"net/http"
	"testing"
)

// TestHTTPSBehindAProxy: behind a reverse proxy that terminates TLS, the
// dashboard's cookies are Secure and HSTS is sent when the proxy says
// X-Forwarded-Proto: https, and only if it is one of http.trusted_proxies;
// a client that says so itself, over plain HTTP, changes nothing.
func TestHTTPSBehindAProxy(t *testing.T) {
	tests := []struct {
		name    string
		trusted []string
		proto   string
		secure  bool
	}{
		{"trusted proxy says https", []string{"127.0.0.1/32"}, "https", true},
		{"trusted proxy says http", []string{"127.0.0.1/32"}, "http", false},
		{"untrusted client says https", nil, "https", false},
		{"a proxy elsewhere is not this client", []string{"10.0.0.0/8"}, "https", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, "")
			cfg.Mail.Dir = t.TempDir()
			cfg.HTTP.TrustedProxies = tt.trusted
			s := startShop(t, cfg, nil)
			req, _ := http.NewRequest(http.MethodGet, s.url+"/dashboard/login", nil)
			req.Header.Set("X-Forwarded-Proto", tt.proto)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var found bool
			for _, c := range resp.Cookies() {
				if c.Name == "shopbus_login" {
					found = true
					if c.Secure != tt.secure {
						t.Errorf("login cookie Secure = %v, want %v", c.Secure, tt.secure)
					}
				}
			}
			if !found {
				t.Fatalf("GET /dashboard/login set no login cookie: %v", resp.Header)
			}
			if hsts := resp.Header.Get("Strict-Transport-Security"); (hsts != "") != tt.secure {
				t.Errorf("Strict-Transport-Security = %q, want it %v", hsts, map[bool]string{true: "sent", false: "absent"}[tt.secure])
			}
		})
	}
}
