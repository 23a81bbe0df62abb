package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/shopbus/shopbus/database"
)

// TLS is the `http.tls:` section: HTTPS on http.addr, with certificates
// from an ACME CA (Domains) or from files (CertFile and KeyFile). Neither:
// plain HTTP, as behind a reverse proxy that terminates TLS.
type TLS struct {
	// Domains are the names certificates are obtained for, through ACME
	// (Let's Encrypt unless DirectoryURL names another CA), and renewed
	// before they expire. A request for another name gets no certificate.
	Domains []string `yaml:"domains"`
	// Email is given to the CA, which writes to it about the certificates
	// (expiry it could not renew, revocations). Optional.
	Email string `yaml:"email"`
	// DirectoryURL is the ACME CA's directory. Empty: Let's Encrypt.
	DirectoryURL string `yaml:"directory_url"`
	// CacheDir keeps the ACME account key and the certificates between
	// starts, so a restart does not ask the CA again. Empty: certs/ beside
	// the SQLite database (data/certs on PostgreSQL).
	CacheDir string `yaml:"cache_dir"`
	// RedirectAddr serves plain HTTP: ACME's HTTP-01 challenges, and a
	// permanent redirect to HTTPS for everything else. Empty: ":80" with
	// TLS on; "off" serves nothing there (ACME then proves the names with
	// TLS-ALPN-01 on http.addr, which must be port 443 for that).
	RedirectAddr string `yaml:"redirect_addr"`
	// CertFile and KeyFile are a certificate chain and its key in PEM, read
	// again whenever either file changes, so a renewed certificate is used
	// without a restart.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// RedirectOff is RedirectAddr's value that serves no plain HTTP.
const RedirectOff = "off"

// On reports whether http.addr serves HTTPS.
func (t TLS) On() bool { return len(t.Domains) > 0 || t.CertFile != "" || t.KeyFile != "" }

// ACME reports whether certificates come from an ACME CA.
func (t TLS) ACME() bool { return len(t.Domains) > 0 }

// SetDefaults redirects from :80 when TLS is on. The cache folder's default
// depends on the database, so Config.SetDefaults fills it.
func (t *TLS) SetDefaults() {
	if t.On() && t.RedirectAddr == "" {
		t.RedirectAddr = ":80"
	}
}

// setCacheDefault puts ACME's cache beside the SQLite database, in the
// folder the owner already keeps and backs up.
func (t *TLS) setCacheDefault(db database.Config) {
	if t.CacheDir != "" || !t.ACME() {
		return
	}
	if db.Driver == database.Postgres {
		t.CacheDir = filepath.Join("data", "certs")
		return
	}
	t.CacheDir = filepath.Join(filepath.Dir(db.DSN), "certs")
}

// Validate refuses both ways at once, half a key pair, names a CA would
// refuse, and addresses that do not parse.
func (t TLS) Validate() error {
	var errs []error
	if t.ACME() && (t.CertFile != "" || t.KeyFile != "") {
		errs = append(errs, errors.New("http.tls: domains (ACME) and cert_file/key_file exclude each other; choose one"))
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("http.tls: cert_file and key_file go together"))
	}
	for i, d := range t.Domains {
		// autocert asks for names with at least one dot and no port,
		// scheme or wildcard; say so now rather than at the first visit.
		if d == "" || strings.ContainsAny(d, ":/*@ ") || !strings.Contains(strings.Trim(d, "."), ".") || net.ParseIP(d) != nil {
			errs = append(errs, fmt.Errorf("http.tls.domains[%d]: %q is not a host name such as shop.example.com", i, d))
		}
	}
	if t.Email != "" {
		if _, err := mail.ParseAddress(t.Email); err != nil {
			errs = append(errs, fmt.Errorf("http.tls.email %q: %w", t.Email, err))
		}
	}
	if t.DirectoryURL != "" {
		if u, err := url.Parse(t.DirectoryURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("http.tls.directory_url %q is not an http(s) URL", t.DirectoryURL))
		}
	}
	if t.RedirectAddr != "" && t.RedirectAddr != RedirectOff {
		if _, _, err := net.SplitHostPort(t.RedirectAddr); err != nil {
			errs = append(errs, fmt.Errorf("http.tls.redirect_addr %q: want host:port, :80, or off", t.RedirectAddr))
		}
	}
	return errors.Join(errs...)
}
