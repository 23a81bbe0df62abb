package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/shopbus/shopbus/modules/email/smtptest"
	"github.com/shopbus/shopbus/tlstest"
)

// shopName is the shop's domain in the HTTPS tests: a name no resolver
// knows (.test is reserved), so the test's DNS server and dialers point it
// at loopback.
const shopName = "shop.example.test"

// startDNS answers every A question with 127.0.0.1 (and every AAAA with
// nothing), over TCP as pebble's resolver asks, until the test ends.
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A: net.IPv4(127, 0, 0, 1)})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// acmeServer is a real ACME CA (Let's Encrypt's pebble) running in the
// test: its directory over HTTPS with a certificate from tlsCA, its
// validation authority checking HTTP-01 challenges on httpPort of whatever
// the DNS server at dnsAddr says a name is. It returns the directory URL
// and the pool that trusts the certificates it issues.
func acmeServer(t *testing.T, tlsCA *tlstest.CA, httpPort int, dnsAddr string, logTo io.Writer) (string, *x509.CertPool) {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // validate at once, not after a random pause
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no bad nonces thrown in for clients to retry
	logger := log.New(logTo, "pebble ", log.Ltime)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	// Port 1 for TLS-ALPN-01: nothing answers there, so the HTTP-01
	// challenge on the redirect address is the one that proves the name.
	validator := va.New(logger, httpPort, 1, false, dnsAddr, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewUnstartedServer(front.Handler())
	srv.TLS = tlsCA.Issue(t, "127.0.0.1").ServerConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	return srv.URL + wfe.DirectoryPath, roots
}

// TestHTTPSFromACME runs the built binary with http.tls.domains against a
// real ACME CA: at the first handshake shopbus obtains a certificate (the
// CA checks the HTTP-01 challenge on the redirect address), serves an order
// over HTTPS with it and HSTS, redirects plain HTTP, and keeps the
// certificate in the cache folder beside the database.
func TestHTTPSFromACME(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	var pebbleLog syncBuffer
	tlsCA := tlstest.NewCA(t)
	redirectAddr, apiAddr := smtptest.FreeAddr(t), smtptest.FreeAddr(t)
	_, redirectPort, _ := net.SplitHostPort(redirectAddr)
	var port int
	if err := json.Unmarshal([]byte(redirectPort), &port); err != nil {
		t.Fatal(err)
	}
	directory, roots := acmeServer(t, tlsCA, port, startDNS(t), &pebbleLog)

	dir := t.TempDir()
	configFile := filepath.Join(dir, "config.yaml")
	conf := string(defaultConfig)
	for old, new := range map[string]string{
		`    domains: []`:       `    domains: [` + shopName + `]`,
		`    email: ""`:         `    email: "owner@example.com"`,
		`    directory_url: ""`: `    directory_url: "` + directory + `"`,
		`    redirect_addr: ""`: `    redirect_addr: "` + redirectAddr + `"`,
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("config.yaml has no line %q", old)
		}
		conf = strings.Replace(conf, old, new, 1)
	}
	if err := os.WriteFile(configFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "data", "shopbus.db")
	var shopLog syncBuffer
	cmd := exec.Command(bin, "serve", "--config", configFile)
	cmd.Env = append(os.Environ(), "SHOPBUS_HTTP_ADDR="+apiAddr, "SHOPBUS_DATABASE_DRIVER=sqlite", "SHOPBUS_DATABASE_DSN="+dbPath,
		"SHOPBUS_MAIL_DIR="+filepath.Join(dir, "mail"), "SHOPBUS_BOOTSTRAP_API_KEY="+testKey, "SHOPBUS_RATE_LIMIT_RPS=0",
		// How an owner trusts a private ACME CA's directory: Go reads it.
		"SSL_CERT_FILE="+tlsCA.WriteCA(t, dir))
	cmd.Stdout, cmd.Stderr = &shopLog, &shopLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("shopbus:\n%s\npebble:\n%s", tail([]byte(shopLog.String()), 40), tail([]byte(pebbleLog.String()), 40))
		}
	})

	// A browser that resolves the shop's name to this machine and trusts
	// the ACME CA's root, as browsers trust Let's Encrypt's.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(addr); host == shopName {
			addr = apiAddr
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dial,
		TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	base := "https://" + shopName + ":" + strings.Split(apiAddr, ":")[1]
	waitFor(t, "shopbus to answer /readyz over HTTPS with a certificate from the CA", 90*time.Second, func() (bool, string) {
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})

	body, _ := json.Marshal(newOrder("ord-tls-1", "ada@example.com", "MUG", 1))
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/orders", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/orders over HTTPS: %d %s", resp.StatusCode, out)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if err := leaf.VerifyHostname(shopName); err != nil || leaf.Issuer.CommonName == "" || !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
		t.Errorf("served certificate for %v issued by %q: %v", leaf.DNSNames, leaf.Issuer.CommonName, err)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=31536000") {
		t.Errorf("Strict-Transport-Security = %q", hsts)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("served over %s; HTTP/2 is offered with TLS", resp.Proto)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/v1/orders/ord-tls-1", nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	if resp, err = client.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the order over HTTPS: %v %v", resp, err)
	}
	resp.Body.Close()

	// Plain HTTP on the redirect address goes to HTTPS, path and all.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ = http.NewRequest(http.MethodGet, "http://"+redirectAddr+"/dashboard/orders?state=new", nil)
	req.Host = shopName
	if resp, err = plain.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := base + "/dashboard/orders?state=new"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("plain HTTP: %d to %q, want 308 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	// Plain HTTP on the HTTPS address is refused, not served.
	if resp, err := http.Get("http://" + apiAddr + "/readyz"); err == nil && resp.StatusCode == http.StatusOK {
		t.Error("the HTTPS address answered plain HTTP")
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "certs", shopName)); err != nil {
		t.Errorf("the certificate is not cached beside the database: %v", err)
	}
	if !strings.Contains(pebbleLog.String(), "/.well-known/acme-challenge/") {
		t.Error("the CA never fetched an HTTP-01 challenge from the redirect address")
	}
}
