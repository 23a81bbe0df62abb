// Package https serves shopbus's API over TLS, with certificates from an
// ACME CA (Let's Encrypt by default, through x/crypto's autocert: obtained
// at the first visit of each name, kept in a folder, renewed before they
// expire) or from a certificate and key file that are read again when
// they change. It also builds the plain-HTTP side: ACME's HTTP-01
// challenges, and a permanent redirect to HTTPS for everything else.
package https

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/shopbus/shopbus/config"
)

// Certs hands out the server's certificate at each TLS handshake.
type Certs struct {
	tls  *tls.Config
	acme *autocert.Manager // nil: certificate files
}

// New prepares the certificates cfg names, which must have TLS on. With
// files, it reads them now, so a missing or mismatched pair stops the
// start rather than the first client. With ACME it asks the CA nothing
// until a client's handshake names one of the domains.
func New(cfg config.TLS, log *slog.Logger) (*Certs, error) {
	c := &Certs{}
	if cfg.ACME() {
		if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("https: certificate cache: %w", err)
		}
		c.acme = &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      autocert.DirCache(cfg.CacheDir),
			HostPolicy: autocert.HostWhitelist(cfg.Domains...),
			Email:      cfg.Email,
		}
		if cfg.DirectoryURL != "" {
			c.acme.Client = &acme.Client{DirectoryURL: cfg.DirectoryURL}
		}
		c.tls = c.acme.TLSConfig()
	} else {
		f := &files{cert: cfg.CertFile, key: cfg.KeyFile, log: log}
		if err := f.load(); err != nil {
			return nil, err
		}
		c.tls = &tls.Config{GetCertificate: f.get, NextProtos: []string{"h2", "http/1.1"}}
	}
	c.tls.MinVersion = tls.VersionTLS12
	return c, nil
}

// Listener wraps ln so that every connection it accepts speaks TLS.
func (c *Certs) Listener(ln net.Listener) net.Listener { return tls.NewListener(ln, c.tls) }

// Redirect answers plain HTTP: ACME's HTTP-01 challenges when certificates
// come from ACME, and for everything else a permanent redirect (308, which
// keeps the method) to the same host and path over HTTPS on httpsPort.
func (c *Certs) Redirect(httpsPort string) http.Handler {
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			host = h
		}
		if host == "" || strings.ContainsAny(host, "/\\@") {
			http.Error(w, "shopbus answers HTTPS only; ask for https://", http.StatusBadRequest)
			return
		}
		if httpsPort != "443" {
			host = net.JoinHostPort(host, httpsPort)
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
	if c.acme == nil {
		return redirect
	}
	challenge := c.acme.HTTPHandler(redirect)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// autocert checks the Host header against the domains as it is,
		// port included: a CA validating on another port than 80 (a test
		// CA, a port forwarded to this one) would be refused the token.
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			r = r.Clone(r.Context())
			r.Host = h
		}
		challenge.ServeHTTP(w, r)
	})
}

// files serves a certificate and key from two PEM files, loading them again
// at the first handshake after either changed (a renewal by certbot or the
// owner, without a restart). A pair that does not load, such as a key
// written after its certificate, leaves the previous one in service.
type files struct {
	cert, key string
	log       *slog.Logger

	mu      sync.Mutex
	current *tls.Certificate
	certFI  os.FileInfo
	keyFI   os.FileInfo
	lastErr string
}

func (f *files) load() error {
	certFI, err1 := os.Stat(f.cert)
	keyFI, err2 := os.Stat(f.key)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("https: %w", err)
	}
	pair, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return fmt.Errorf("https: http.tls.cert_file %s and key_file %s: %w", f.cert, f.key, err)
	}
	f.current, f.certFI, f.keyFI = &pair, certFI, keyFI
	return nil
}

// changed reports whether the file at path is no longer the one fi
// describes: replaced (renamed over), rewritten or resized.
func changed(path string, fi os.FileInfo) bool {
	now, err := os.Stat(path)
	return err == nil && (!os.SameFile(now, fi) || !now.ModTime().Equal(fi.ModTime()) || now.Size() != fi.Size())
}

func (f *files) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if changed(f.cert, f.certFI) || changed(f.key, f.keyFI) {
		if err := f.load(); err != nil {
			if err.Error() != f.lastErr {
				f.lastErr = err.Error()
				f.log.Warn("https: the changed certificate files do not load; serving the previous certificate", "err", err)
			}
		} else {
			f.lastErr = ""
			f.log.Info("https: certificate reloaded", "file", f.cert, "not_after", f.current.Leaf.NotAfter)
		}
	}
	return f.current, nil
}
