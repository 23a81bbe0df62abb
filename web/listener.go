package web

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/shopbus/shopbus/config"
)

// fdReserve is what the connection bound leaves of the open-file limit
// for everything else the process opens: database files and pools, SMTP
// and webhook connections, NATS, logs, the metrics listener.
const fdReserve = 512

// LimitListener bounds the connections l hands to the server, as cfg's
// http section says: at most MaxConnections in all and
// MaxConnectionsPerAddress from one peer address (trusted proxies are
// counted in the total only). A connection past a bound is closed at
// once, with a reset, so a flood costs an accept and nothing more, and the
// listen queue keeps moving for everyone else; the refusals are logged at
// most every 10 s. A connection that sends nothing for FirstByteTimeout is
// closed. MaxConnections is lowered, with a warning, to fit the process's
// open-file limit: the server must never meet "too many open files".
func LimitListener(l net.Listener, cfg config.HTTP, log *slog.Logger) net.Listener {
	ll := &limitListener{Listener: l, max: cfg.MaxConnections, perAddr: cfg.MaxConnectionsPerAddress,
		firstByte: cfg.FirstByteTimeout, log: log, byAddr: map[netip.Addr]int{}}
	for _, cidr := range cfg.TrustedProxies {
		if p, err := netip.ParsePrefix(cidr); err == nil { // Validate checked them
			ll.proxies = append(ll.proxies, p.Masked())
		}
	}
	if files, ok := openFileLimit(); ok {
		fit := max(int(min(files, 1<<30))-fdReserve, 64)
		switch {
		case ll.max == 0: // no bound asked for, but past this one accept fails
			ll.max = fit
		case ll.max > fit:
			log.Warn("web: http.max_connections lowered to fit the open-file limit",
				"max_connections", fit, "configured", cfg.MaxConnections, "open_file_limit", files)
			ll.max = fit
		}
	}
	return ll
}

type limitListener struct {
	net.Listener
	max, perAddr int
	firstByte    time.Duration
	proxies      []netip.Prefix
	log          *slog.Logger

	mu      sync.Mutex
	open    int
	byAddr  map[netip.Addr]int
	refused int // since the last warning
	warned  time.Time
}

// Accept returns the next connection within the bounds, closing those
// past them.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := peerAddr(c)
		if !l.admit(addr) {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset: nothing of it lingers here
			}
			_ = c.Close()
			continue
		}
		lc := &limitedConn{Conn: c, l: l, addr: addr}
		if l.firstByte > 0 {
			lc.silentUntil = time.Now().Add(l.firstByte)
			_ = c.SetReadDeadline(lc.silentUntil)
		}
		return lc, nil
	}
}

// admit counts a new connection from addr, or reports false (and counts
// the refusal) when a bound is reached.
func (l *limitListener) admit(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	counted := l.perAddr > 0 && addr.IsValid() && !l.trusted(addr)
	if (l.max > 0 && l.open >= l.max) || (counted && l.byAddr[addr] >= l.perAddr) {
		l.refused++
		if now := time.Now(); now.Sub(l.warned) >= 10*time.Second {
			l.log.Warn("web: connections refused at the connection limits", "refused", l.refused, "open", l.open,
				"max_connections", l.max, "from_last_refused", addr.String(), "its_open", l.byAddr[addr],
				"max_connections_per_address", l.perAddr)
			l.refused, l.warned = 0, now
		}
		return false
	}
	l.open++
	if counted {
		l.byAddr[addr]++
	}
	return true
}

func (l *limitListener) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if n, ok := l.byAddr[addr]; ok {
		if n <= 1 {
			delete(l.byAddr, addr)
		} else {
			l.byAddr[addr] = n - 1
		}
	}
}

func (l *limitListener) trusted(addr netip.Addr) bool {
	for _, p := range l.proxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// peerAddr is the address a connection counts against: IPv4 as it is,
// IPv6 by its /64 (see addressKey).
func peerAddr(c net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// limitedConn is a connection inside the bounds: Close gives its place
// back, once. Until its first byte arrives, no read deadline the server
// sets reaches past silentUntil.
type limitedConn struct {
	net.Conn
	l    *limitListener
	addr netip.Addr
	once sync.Once

	mu          sync.Mutex
	silentUntil time.Time // zero once the client has spoken
	deadline    time.Time // the deadline the server asked for
}

func (c *limitedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.mu.Lock()
		if !c.silentUntil.IsZero() {
			c.silentUntil = time.Time{}
			_ = c.Conn.SetReadDeadline(c.deadline)
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *limitedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	if s := c.silentUntil; !s.IsZero() && (t.IsZero() || t.After(s)) {
		t = s
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *limitedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// CloseWrite lets the server end its side gracefully, as on a bare TCP
// connection.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr) })
	return err
}
