// Package smtptest runs a real SMTP server (emersion/go-smtp) inside a test
// and keeps every message it accepts, so tests assert on mail as a
// recipient would see it.
package smtptest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one accepted email.
type Message struct {
	From string
	To   []string
	Data string
}

// Server is an SMTP server listening on loopback.
type Server struct {
	addr  string
	opts  Options
	srv   *smtp.Server
	delay time.Duration

	mu       sync.Mutex
	msgs     []Message
	conns    int
	authFail int
	refuse   *smtp.SMTPError // answers every RCPT TO, when set
	commands map[string]int  // by verb, on connections without TLS
}

// Start serves SMTP on addr ("127.0.0.1:0" for any free port) until Close
// or the end of the test.
func Start(t testing.TB, addr string) *Server { return StartWith(t, addr, Options{}) }

// Options make a stricter server, as a provider's submission port is.
type Options struct {
	// TLS, if set, is offered with STARTTLS or, with Implicit, spoken from
	// the first byte (port 465's "SMTPS").
	TLS      *tls.Config
	Implicit bool
	// RequireTLS refuses MAIL FROM until the session speaks TLS (530).
	RequireTLS bool
	// Users, if set, makes AUTH PLAIN required before MAIL FROM, offered
	// only over TLS when TLS is set, and accepts these passwords.
	Users map[string]string
}

// StartWith serves SMTP as Start does, with opts.
func StartWith(t testing.TB, addr string, opts Options) *Server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{addr: l.Addr().String(), opts: opts, commands: map[string]int{}}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		return &session{srv: s, conn: c}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.TLSConfig = opts.TLS
	s.srv.AllowInsecureAuth = opts.TLS == nil
	if opts.TLS != nil && opts.Implicit {
		l = tls.NewListener(l, opts.TLS)
	}
	if opts.TLS == nil {
		l = countingListener{l, s}
	}
	go s.srv.Serve(l)
	t.Cleanup(s.Close)
	return s
}

// SetDelay makes the server take d to accept each message, like a slow relay.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// RefuseRecipients makes the server answer every RCPT TO with code, the
// enhanced status code and msg, as a server does that refuses a mailbox
// (550 5.1.1) or, without SMTPUTF8, an address beyond ASCII (553 5.6.7). A
// 4xx code is a temporary refusal. Code 0 accepts recipients again.
func (s *Server) RefuseRecipients(code int, enhanced smtp.EnhancedCode, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = nil
	if code != 0 {
		s.refuse = &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: msg}
	}
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// Close stops the server.
func (s *Server) Close() { _ = s.srv.Close() }

// Messages returns a copy of every message accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Connections counts the SMTP sessions clients have opened.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Commands counts the commands clients sent with this verb ("RSET",
// "MAIL"), on a server without TLS (whose traffic it reads as it comes).
func (s *Server) Commands(verb string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commands[verb]
}

// countingListener counts the commands each connection's client sends:
// the first word of every line outside a message's DATA.
type countingListener struct {
	net.Listener
	srv *Server
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, srv: l.srv}, nil
}

type countingConn struct {
	net.Conn
	srv    *Server
	line   []byte
	inData bool
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for rest := p[:n]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			c.line = append(c.line, rest...)
			break
		}
		c.line = append(c.line, rest[:i]...)
		rest = rest[i+1:]
		c.command(strings.TrimRight(string(c.line), "\r"))
		c.line = c.line[:0]
	}
	return n, err
}

// command counts line's verb, unless line is part of a message's data.
func (c *countingConn) command(line string) {
	switch {
	case c.inData:
		c.inData = line != "."
	case line != "":
		verb := strings.ToUpper(strings.Fields(line)[0])
		c.inData = verb == "DATA"
		c.srv.mu.Lock()
		c.srv.commands[verb]++
		c.srv.mu.Unlock()
	}
}

// AuthFailures counts the AUTH attempts refused.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFail
}

type session struct {
	srv    *Server
	conn   *smtp.Conn
	msg    Message
	authed bool
}

func (s *session) Reset()        { s.msg = Message{} }
func (s *session) Logout() error { return nil }

func (s *session) AuthMechanisms() []string {
	if s.srv.opts.Users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || s.srv.opts.Users == nil {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if want, ok := s.srv.opts.Users[username]; !ok || want != password {
			s.srv.mu.Lock()
			s.srv.authFail++
			s.srv.mu.Unlock()
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if _, isTLS := s.conn.TLSConnectionState(); s.srv.opts.RequireTLS && !isTLS {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	}
	if s.srv.opts.Users != nil && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.msg.From = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	refuse := s.srv.refuse
	s.srv.mu.Unlock()
	if refuse != nil {
		return refuse
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	delay := s.srv.delay
	s.srv.mu.Unlock()
	time.Sleep(delay) // a slow relay, on purpose
	s.msg.Data = string(b)
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.msg)
	s.srv.mu.Unlock()
	return nil
}

// FreeAddr returns a loopback address nothing listens on (for now), for a
// server that is "down" and comes up later.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Parsed is a received email with its headers and decoded parts.
type Parsed struct {
	Header  mail.Header
	Subject string
	Text    string
	HTML    string
}

// Parse decodes a multipart/alternative message into its text and HTML parts.
func Parse(raw string) (Parsed, error) {
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		return Parsed{}, err
	}
	p := Parsed{Header: m.Header}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		return Parsed{}, err
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return Parsed{}, err
	}
	if mediaType != "multipart/alternative" {
		return Parsed{}, errors.New("smtptest: Content-Type " + mediaType + ", want multipart/alternative")
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Parsed{}, err
		}
		b, err := io.ReadAll(part) // quoted-printable is decoded by the reader
		if err != nil {
			return Parsed{}, err
		}
		switch ct := part.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/plain"):
			p.Text = string(b)
		case strings.HasPrefix(ct, "text/html"):
			p.HTML = string(b)
		}
	}
	return p, nil
}
