package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTLSDefaults: with TLS on, the API moves to :443, plain HTTP answers
// on :80, and ACME's cache and the backups sit beside the SQLite file.
func TestTLSDefaults(t *testing.T) {
	for k := range Env {
		t.Setenv(k, "")
	}
	c, err := Load("", []byte("database:\n  dsn: /var/lib/shopbus/shopbus.db\nmail:\n  from: shop@example.com\n  mail_dir: mail\n"+
		"http:\n  tls:\n    domains: [shop.example.com]\n"+valid))
	if err != nil {
		t.Fatal(err)
	}
	h := c.HTTP
	if h.Addr != ":443" || h.TLS.RedirectAddr != ":80" || h.TLS.CacheDir != filepath.FromSlash("/var/lib/shopbus/certs") {
		t.Errorf("addr %q, redirect %q, cache %q", h.Addr, h.TLS.RedirectAddr, h.TLS.CacheDir)
	}
	if c.Backup.Dir != filepath.FromSlash("/var/lib/shopbus/backups") || c.Backup.Keep != 28 || c.Backup.Every != 0 {
		t.Errorf("backup = %+v", c.Backup)
	}
	c, err = Load("", []byte("database:\n  dsn: x.db\nmail:\n  from: shop@example.com\n  mail_dir: mail\n"+valid))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != ":8080" || c.HTTP.TLS.On() || c.HTTP.TLS.RedirectAddr != "" {
		t.Errorf("without TLS: addr %q, redirect %q", c.HTTP.Addr, c.HTTP.TLS.RedirectAddr)
	}
}

// TestTLSAndBackupRefused: each mistake is named by its key.
func TestTLSAndBackupRefused(t *testing.T) {
	tests := []struct {
		name string
		tls  TLS
		want string
	}{
		{"both ways", TLS{Domains: []string{"shop.example.com"}, CertFile: "c.pem", KeyFile: "k.pem"}, "exclude each other"},
		{"half a pair", TLS{CertFile: "c.pem"}, "go together"},
		{"no dot", TLS{Domains: []string{"localhost"}}, "http.tls.domains[0]"},
		{"a port", TLS{Domains: []string{"shop.example.com:443"}}, "http.tls.domains[0]"},
		{"a wildcard", TLS{Domains: []string{"*.example.com"}}, "http.tls.domains[0]"},
		{"an address", TLS{Domains: []string{"192.0.2.1"}}, "http.tls.domains[0]"},
		{"email", TLS{Domains: []string{"shop.example.com"}, Email: "not an address"}, "http.tls.email"},
		{"directory", TLS{Domains: []string{"shop.example.com"}, DirectoryURL: "acme.example/dir"}, "http.tls.directory_url"},
		{"redirect", TLS{Domains: []string{"shop.example.com"}, RedirectAddr: "80"}, "http.tls.redirect_addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.tls.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error about %q", err, tt.want)
			}
		})
	}
	if err := (TLS{Domains: []string{"shop.example.com"}, RedirectAddr: RedirectOff}).Validate(); err != nil {
		t.Errorf("redirect off: %v", err)
	}
	c := Config{}
	c.Backup.Every = 30 * time.Second
	if err := c.Backup.Validate(); err == nil || !strings.Contains(err.Error(), "backup.every") {
		t.Errorf("a backup every 30s: %v", err)
	}
}
