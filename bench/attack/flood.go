//go:build linux

package attack

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FloodResult is what one flooding process got: connections the server
// served (a 200 to GET /healthz, then held open idle), and those it
// refused or dropped.
type FloodResult struct {
	Served  int `json:"served"`
	Refused int `json:"refused"`
}

// flood opens n connections to base from the address from, 200 at a time,
// asks GET /healthz on each and keeps those answered open, as the
// reproduction of issue 17 did (19,990 idle keep-alive connections). It
// returns the open connections for the caller to close.
func flood(base string, n int, from net.IP) (FloodResult, []net.Conn) {
	u, err := url.Parse(base)
	if err != nil {
		return FloodResult{Refused: n}, nil
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 10 * time.Second}
	req := "GET /healthz HTTP/1.1\r\nHost: " + u.Host + "\r\n\r\n"
	var mu sync.Mutex
	var res FloodResult
	var held []net.Conn
	sem := make(chan struct{}, 200)
	var wg sync.WaitGroup
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := d.Dial("tcp", u.Host)
			ok := err == nil
			if ok {
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				_, err = io.WriteString(c, req)
				var resp *http.Response
				if err == nil {
					resp, err = http.ReadResponse(bufio.NewReader(c), nil)
				}
				ok = err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				_ = c.SetDeadline(time.Time{})
				if !ok {
					c.Close()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				res.Served++
				held = append(held, c)
			} else {
				res.Refused++
			}
		})
	}
	wg.Wait()
	return res, held
}

// ChildEnv, set in a process's environment, makes RunChild flood: its
// value is "base n from", as StartFlood sets it.
const ChildEnv = "SHOPBUS_ATTACK_FLOOD"

// IsChild reports whether this process was started by StartFlood.
func IsChild() bool { return os.Getenv(ChildEnv) != "" }

// RunChild is the body of a flooding process started by StartFlood: it
// floods as ChildEnv says, writes its FloodResult as one JSON line on
// stdout, holds the connections until stdin closes, then closes them.
// A process floods in children because each may open only so many files
// (the hard limit), and the flood must reach past any one's.
func RunChild() error {
	f := strings.Fields(os.Getenv(ChildEnv))
	if len(f) != 3 {
		return fmt.Errorf("%s=%q: want \"base n from\"", ChildEnv, os.Getenv(ChildEnv))
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return err
	}
	res, held := flood(f[0], n, net.ParseIP(f[2]))
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range held {
		c.Close()
	}
	return nil
}

// Flood is a flood under way in child processes.
type Flood struct {
	FloodResult
	// CPU is the processor time the flooding processes used, once Stop
	// has returned.
	CPU    time.Duration
	cmds   []*exec.Cmd
	stdins []io.Closer
}

// StartFlood starts children processes running argv (a program that calls
// RunChild when IsChild), which together open n connections to base from
// the address from, and returns once every child has made its
// connections. Stop ends the flood.
func StartFlood(ctx context.Context, argv []string, base string, n, children int, from net.IP) (*Flood, error) {
	f := &Flood{}
	results := make(chan error, children)
	var mu sync.Mutex
	for i := range children {
		share := n / children
		if i < n%children {
			share++
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s", ChildEnv, base, share, from))
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, errors.Join(err, f.Stop())
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, errors.Join(err, f.Stop())
		}
		if err := cmd.Start(); err != nil {
			return nil, errors.Join(err, f.Stop())
		}
		// The attacker shares this machine's cores with the server, where a
		// real one would not: at the lowest priority it takes only what the
		// server and the well-behaved client leave.
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, 19)
		f.cmds, f.stdins = append(f.cmds, cmd), append(f.stdins, stdin)
		go func() {
			// The child's last line is its result; a test binary may print
			// other lines before it.
			var line string
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "{") {
					line = sc.Text()
					break
				}
			}
			var r FloodResult
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				results <- fmt.Errorf("flood child: no result (%q): %w", line, err)
				return
			}
			mu.Lock()
			f.Served += r.Served
			f.Refused += r.Refused
			mu.Unlock()
			results <- nil
			_, _ = io.Copy(io.Discard, stdout)
		}()
	}
	var errs []error
	for range children {
		errs = append(errs, <-results)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(err, f.Stop())
	}
	return f, nil
}

// Stop closes the children's stdin, so they close their connections and
// exit, and waits for them.
func (f *Flood) Stop() error {
	for _, in := range f.stdins {
		in.Close()
	}
	var errs []error
	for _, cmd := range f.cmds {
		if err := cmd.Wait(); err != nil {
			errs = append(errs, err)
		}
		if st := cmd.ProcessState; st != nil {
			f.CPU += st.UserTime() + st.SystemTime()
		}
	}
	return errors.Join(errs...)
}
