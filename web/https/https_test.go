package https_test

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopbus/shopbus/config"
	"github.com/shopbus/shopbus/tlstest"
	"github.com/shopbus/shopbus/web/https"
)

// serveTLS serves "hello" over ln wrapped by certs until the test ends.
func serveTLS(t *testing.T, certs *https.Certs) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			t.Error("a request reached the handler without TLS")
		}
		io.WriteString(w, "hello")
	})}
	go srv.Serve(certs.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// served dials addr as a client trusting ca would, for name, and returns
// the certificate the server presented.
func served(t *testing.T, ca *tlstest.CA, addr, name string) (*tls.ConnectionState, error) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: name})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	st := conn.ConnectionState()
	return &st, nil
}

// write replaces the file at path by a new one renamed over it, as certbot
// and most deployment tools do.
func write(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestCertFilesSwappedWhileServing: a renewed certificate is served from
// the next handshake on, without a restart; a half-written renewal (the
// certificate changed, its key not yet) leaves the previous one in service
// rather than failing handshakes.
func TestCertFilesSwappedWhileServing(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	first := ca.Issue(t, "shop.example.test")
	write(t, certFile, first.CertPEM)
	write(t, keyFile, first.KeyPEM)
	certs, err := https.New(config.TLS{CertFile: certFile, KeyFile: keyFile}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, certs)

	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: ca.Pool(), ServerName: "shop.example.test"},
		DisableKeepAlives: true,
	}}
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" || resp.TLS.PeerCertificates[0].SerialNumber.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatalf("first certificate not served: %q", body)
	}

	second := ca.Issue(t, "shop.example.test")
	write(t, certFile, second.CertPEM) // the key still is the first one's
	st, err := served(t, ca, addr, "shop.example.test")
	if err != nil {
		t.Fatalf("a half-written renewal broke handshakes: %v", err)
	}
	if st.PeerCertificates[0].SerialNumber.Cmp(first.Cert.SerialNumber) != 0 {
		t.Error("a certificate without its key was served")
	}
	// The key overwritten in place this time: its mtime and size change.
	if err := os.WriteFile(keyFile, second.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := served(t, ca, addr, "shop.example.test")
		if err == nil && st.PeerCertificates[0].SerialNumber.Cmp(second.Cert.SerialNumber) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate is not served: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err = client.Get("https://" + addr + "/")
	if err != nil || resp.TLS.PeerCertificates[0].SerialNumber.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("a request after the swap: %v", err)
	}
	resp.Body.Close()

	// A client that does not trust the CA is refused by its own check.
	if _, err := served(t, tlstest.NewCA(t), addr, "shop.example.test"); err == nil {
		t.Error("a client trusting another CA accepted the certificate")
	}
}

// TestCertFilesRefusedAtStart: a missing file or a key that is not the
// certificate's stops the start.
func TestCertFilesRefusedAtStart(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	a, b := ca.Issue(t, "a.example.test"), ca.Issue(t, "b.example.test")
	write(t, filepath.Join(dir, "a.pem"), a.CertPEM)
	write(t, filepath.Join(dir, "b.key"), b.KeyPEM)
	log := slog.New(slog.DiscardHandler)
	for name, cfg := range map[string]config.TLS{
		"missing":  {CertFile: filepath.Join(dir, "none.pem"), KeyFile: filepath.Join(dir, "b.key")},
		"mismatch": {CertFile: filepath.Join(dir, "a.pem"), KeyFile: filepath.Join(dir, "b.key")},
	} {
		if _, err := https.New(cfg, log); err == nil {
			t.Errorf("%s: started", name)
		}
	}
}

// TestRedirect sends plain HTTP to the same host and path over HTTPS,
// keeping the method (308), and names the port unless it is 443.
func TestRedirect(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	leaf := ca.Issue(t, "shop.example.test")
	write(t, filepath.Join(dir, "c.pem"), leaf.CertPEM)
	write(t, filepath.Join(dir, "c.key"), leaf.KeyPEM)
	certs, err := https.New(config.TLS{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "c.key")}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ port, method, target, host, want string }{
		{"443", http.MethodGet, "/dashboard/orders?state=new", "shop.example.test", "https://shop.example.test/dashboard/orders?state=new"},
		{"8443", http.MethodPost, "/v1/orders", "shop.example.test:80", "https://shop.example.test:8443/v1/orders"},
	}
	for _, c := range cases {
		t.Run(c.method+c.target, func(t *testing.T) {
			ts := httptest.NewServer(certs.Redirect(c.port))
			defer ts.Close()
			req, _ := http.NewRequest(c.method, ts.URL+c.target, strings.NewReader("{}"))
			req.Host = c.host
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != c.want {
				t.Errorf("%d to %q, want 308 to %q", resp.StatusCode, resp.Header.Get("Location"), c.want)
			}
		})
	}
}
