package api

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of the wrong-token limit (Options.MaxAuthFailures).
const (
	// DefaultMaxAuthFailures is how many wrong tokens one address may
	// send in AuthFailureWindow before its token attempts are refused.
	DefaultMaxAuthFailures = 20
	// AuthFailureWindow is the window the failures are counted in; a
	// refused address may try again when its window ends.
	AuthFailureWindow = time.Minute
	// maxAuthAddrs bounds the addresses tracked at once, so that a flood
	// from many addresses cannot grow the map without bound.
	maxAuthAddrs = 10000
)

// authLimiter counts wrong tokens (bearer or console sign-in) per source
// address. Admin tokens are long enough that guessing is hopeless; the
// limit keeps a guesser from costing the daemon a log line and a digest
// per attempt, and makes the attempt visible as one line.
type authLimiter struct {
	max int
	now func() time.Time

	mu sync.Mutex
	by map[string]*authWindow
}

type authWindow struct {
	start time.Time
	fails int
}

func newAuthLimiter(max int, now func() time.Time) *authLimiter {
	return &authLimiter{max: max, now: now, by: map[string]*authWindow{}}
}

// remoteHost is the address a request's failures count against: its
// source IP, without the port.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// refused reports whether host has used up its wrong tokens, and how long
// until it may try again. A refused address's tokens are not checked at
// all, right or wrong, so that the answer tells a guesser nothing.
func (l *authLimiter) refused(host string) (time.Duration, bool) {
	if l.max < 0 {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.by[host]
	if w == nil {
		return 0, false
	}
	left := AuthFailureWindow - l.now().Sub(w.start)
	if left <= 0 {
		delete(l.by, host)
		return 0, false
	}
	return left, w.fails >= l.max
}

// failed counts a wrong token from host. It returns true for the failure
// that uses up the address's allowance: the one worth a log line saying
// that the address is now refused.
func (l *authLimiter) failed(host string) bool {
	if l.max < 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.by[host]
	if w == nil || now.Sub(w.start) >= AuthFailureWindow {
		if w == nil && len(l.by) >= maxAuthAddrs {
			l.sweep(now)
			if len(l.by) >= maxAuthAddrs {
				return false // too many addresses at once: count none new
			}
		}
		w = &authWindow{start: now}
		l.by[host] = w
	}
	w.fails++
	return w.fails == l.max
}

// sweep drops the windows that have ended. l.mu is held.
func (l *authLimiter) sweep(now time.Time) {
	for host, w := range l.by {
		if now.Sub(w.start) >= AuthFailureWindow {
			delete(l.by, host)
		}
	}
}

// wrongToken counts a wrong token from host, and says so once when it
// uses up the address's allowance.
func (s *Server) wrongToken(host string) {
	if s.limit.failed(host) {
		s.log.Warn("refusing token attempts from this address until its window ends: too many wrong tokens",
			"remote", host, "failures", s.opt.MaxAuthFailures, "window", AuthFailureWindow)
	}
}

// tooMany answers a refused address: 429, with Retry-After in whole
// seconds.
func tooMany(w http.ResponseWriter, left time.Duration) {
	secs := int((left + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeJSON(w, http.StatusTooManyRequests, &Error{Msg: "too many wrong tokens from this address; try again in " + strconv.Itoa(secs) + " s"})
}
