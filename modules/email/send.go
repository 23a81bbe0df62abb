package email

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
	"golang.org/x/net/idna"
	"golang.org/x/text/language"
)

// sendTimeout bounds the dial and each SMTP command of one send.
const sendTimeout = 10 * time.Second

// MessageID is the Message-ID of the email m asks for, angle brackets
// included: one per (event or order, template, recipient), as the email
// is. It is the same on every attempt, so a message sent twice (a crash
// after the server accepted it but before it was recorded) is
// recognisable as one, while two refunds of an order are two messages.
func MessageID(m Message) string {
	sum := sha256.Sum256([]byte(m.key() + "\x00" + m.Template + "\x00" + m.To))
	return "<" + hex.EncodeToString(sum[:])[:32] + "." + m.Template + "@shopbus>"
}

// errPermanent marks a failure no retry can fix.
var errPermanent = errors.New("permanent")

// buildMsg renders the job into a message, dated now.
func (s *Service) buildMsg(j jobRow, now time.Time) (*gomail.Msg, error) {
	reader := s.lang
	if j.Locale != "" {
		// Checkout stores only tags that parse; one that does not (from
		// elsewhere) reads as the shop's language.
		if tag, err := language.Parse(j.Locale); err == nil {
			reader = tag
		}
	}
	t, ok := s.templates.lookup(j.Template, reader)
	if !ok {
		return nil, fmt.Errorf("%w: %w: %q", errPermanent, ErrUnknownTemplate, j.Template)
	}
	r, err := t.render([]byte(j.Data), readerLanguage(reader, t.lang))
	if err != nil {
		return nil, fmt.Errorf("%w: render %s: %w", errPermanent, j.Template, err)
	}
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.From(s.cfg.From); err != nil {
		return nil, fmt.Errorf("%w: from: %w", errPermanent, err)
	}
	to, err := mailable(j.Recipient)
	if err != nil {
		return nil, fmt.Errorf("%w: to: %w", errPermanent, err)
	}
	if err := m.To(to); err != nil {
		return nil, fmt.Errorf("%w: to: %w", errPermanent, err)
	}
	m.Subject(r.subject)
	m.SetGenHeader(gomail.HeaderContentLang, t.lang)
	m.SetMessageIDWithValue(strings.Trim(j.MessageID, "<>"))
	m.SetDateWithValue(now)
	m.SetBodyString(gomail.TypeTextPlain, r.text)
	m.AddAlternativeString(gomail.TypeTextHTML, r.html)
	return m, nil
}

// mailable returns addr as a server without the SMTPUTF8 extension takes
// it: an internationalised domain in its punycode (IDNA) form. A local part
// beyond ASCII has no such form; checkout refuses it, so only an address
// from elsewhere (the config, an older order) can have one.
func mailable(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", fmt.Errorf("%q is not an address", addr)
	}
	local, domain := addr[:at], addr[at+1:]
	if strings.ContainsFunc(local, func(r rune) bool { return r > unicode.MaxASCII }) {
		return "", fmt.Errorf("%q: no mail server without SMTPUTF8 takes a local part beyond ASCII", addr)
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("%q: domain: %w", addr, err)
	}
	return local + "@" + ascii, nil
}

// refused reports whether err is the server's permanent refusal (a 5xx
// reply, RFC 5321 section 4.2.1): sending the same message again gets the
// same answer, so the job fails at once with the reply rather than being
// retried toward its attempt limit. A 4xx reply, or no reply, is retried.
func refused(err error) bool {
	var se *gomail.SendError
	return errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600
}

func newClient(cfg Config) (*gomail.Client, error) {
	host, p, err := net.SplitHostPort(cfg.SMTPAddr)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		return nil, fmt.Errorf("%w: smtp_addr %q: want host:port", ErrInvalidConfig, cfg.SMTPAddr)
	}
	// No NOOP before each send (send checks a connection idle for long)
	// and no RSET after it: a server that accepted a message is ready for
	// the next MAIL (RFC 5321 4.1.1.4), so either is a round trip per email.
	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(sendTimeout), gomail.WithTLSPolicy(gomail.NoTLS),
		gomail.WithoutNoop(), gomail.WithoutRset()}
	switch cfg.SMTPTLS {
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "tls":
		opts = append(opts, gomail.WithSSL())
	}
	if cfg.SMTPTLS == "starttls" || cfg.SMTPTLS == "tls" {
		tc, err := smtpTLSConfig(host, cfg.SMTPCAFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, gomail.WithTLSConfig(tc))
	}
	if cfg.SMTPUsername != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.SMTPUsername), gomail.WithPassword(cfg.SMTPPassword))
	}
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: smtp: %w", ErrInvalidConfig, err)
	}
	return c, nil
}

// smtpTLSConfig verifies the server's certificate for host against the
// system's roots, and the CA in caFile too when one is named.
func smtpTLSConfig(host, caFile string) (*tls.Config, error) {
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%w: smtp_ca_file: %w", ErrInvalidConfig, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: smtp_ca_file %s holds no PEM certificate", ErrInvalidConfig, caFile)
	}
	tc.RootCAs = pool
	return tc, nil
}

// session is one SMTP connection, kept open between sends: a dial (and
// TLS handshake) per email would cost more than the email.
type session struct {
	s    *Service
	conn *smtp.Client
	used time.Time // the end of its last send
}

// send hands m over to the SMTP server, or writes it to an .eml file, and
// returns once the message is accepted. A kept connection idle for more
// than checkAfter is checked with NOOP first (one busy with mail needs no
// such round trip); one the server has dropped meanwhile is replaced,
// once, whether the NOOP or the MAIL command finds it gone: nothing of the
// message was sent then.
func (ss *session) send(ctx context.Context, m *gomail.Msg, messageID string) error {
	s := ss.s
	if s.client == nil {
		return writeEML(s.cfg.Dir, messageID, m)
	}
	if ss.conn != nil && time.Since(ss.used) > checkAfter {
		if err := ss.conn.Noop(); err != nil {
			ss.close()
		}
	}
	for fresh := false; ; fresh = true {
		if ss.conn == nil {
			dialCtx, cancel := context.WithTimeout(ctx, sendTimeout)
			conn, err := s.client.DialToSMTPClientWithContext(dialCtx)
			cancel()
			if err != nil {
				return dialError(s.cfg.SMTPAddr, err)
			}
			ss.conn, fresh = conn, true
		}
		err := s.client.SendWithSMTPClient(ss.conn, m)
		// Once the server accepted the data the message is sent, whatever
		// went wrong after it.
		if err == nil || m.IsDelivered() {
			return nil
		}
		ss.close()
		if refused(err) {
			return fmt.Errorf("%w: send: %w", errPermanent, err)
		}
		var se *gomail.SendError
		if fresh || !errors.As(err, &se) || (se.Reason != gomail.ErrConnCheck && se.Reason != gomail.ErrSMTPMailFrom) {
			return fmt.Errorf("send: %w", err)
		}
	}
}

// dialError says why a connection could not be opened. A 5xx reply while
// opening it (a wrong password's 535, a refused sender host) is the
// server's final word, so it is permanent; a refused connection or an
// untrusted certificate may be fixed, and is retried.
func dialError(addr string, err error) error {
	var reply *textproto.Error
	if errors.As(err, &reply) && reply.Code >= 500 && reply.Code < 600 {
		return fmt.Errorf("%w: dial %s: %w", errPermanent, addr, err)
	}
	return fmt.Errorf("dial %s: %w", addr, err)
}

// checkAfter is how long a kept connection may rest before a send checks
// it with NOOP.
const checkAfter = time.Second

// close ends the SMTP session, if one is open.
func (ss *session) close() {
	if ss.conn == nil {
		return
	}
	if err := ss.s.client.CloseWithSMTPClient(ss.conn); err != nil {
		ss.s.log.Debug("email: close smtp connection", "err", err)
	}
	ss.conn = nil
}

// writeEML writes m to dir atomically, under a name derived from its
// Message-ID, so a re-send replaces the file rather than adding one.
func writeEML(dir, messageID string, m *gomail.Msg) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	if _, err := m.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, emlName(messageID)))
}

// tmpPrefix starts the name of an .eml file being written; os.CreateTemp
// ends it with digits.
const tmpPrefix = ".tmp-"

// removePartialEML deletes what writeEML left in dir when the process died
// mid-write: a temporary file is never a sent message (the rename is what
// sends it), and its job is still queued, so it will be written again.
func removePartialEML(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		digits, ok := strings.CutPrefix(e.Name(), tmpPrefix)
		if !ok || !e.Type().IsRegular() || digits == "" || strings.Trim(digits, "0123456789") != "" {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// emlName is the Message-ID's local part, which holds only [0-9a-z_.].
func emlName(messageID string) string {
	local, _, _ := strings.Cut(strings.Trim(messageID, "<>"), "@")
	return local + ".eml"
}
