package omproto

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"
)

// Receiver defaults. A zero field of Receiver means the matching default.
const (
	// DefaultMaxBody bounds a report body. Real reports are well under
	// 2 KiB; a Cdr is the largest.
	DefaultMaxBody = 64 << 10
	// DefaultSignatureWindow is how far a signed report's timestamp may be
	// from now, either side. The OM's own window ("数字签名有效期") has no
	// documented default.
	DefaultSignatureWindow = 300 * time.Second
)

// Receiver is the http.Handler for the reports an OM device pushes
// (omapi.md §1, §5). It accepts GET with the report in the body (the OM's
// default) and POST, checks the source address and the signature, decodes
// the report and hands it to Handler, then answers 200 with an empty body.
//
// Rejections: 403 for a source outside Allow, 405 for another method, 413
// for a body over MaxBody, 400 for a body that is malformed XML, is empty
// or holds only a comment, or cannot be read as a report, and 401 for a
// missing, bad or stale signature when Secret is set. Unknown events and
// unknown root elements are delivered, not rejected.
//
// Set the fields before first use and leave them alone after. A Receiver
// must not be copied after first use.
type Receiver struct {
	// Handler is called with each accepted report before the 200 is
	// written, so a device that waits for the answer knows the report
	// was handed over. It runs on the request's goroutine, possibly for
	// several reports at once, and must not block: the OM must never wait
	// on flow logic. Nil accepts and drops reports.
	Handler func(*Report)
	// MaxBody bounds the body in bytes; a larger one is answered 413.
	// Zero means DefaultMaxBody.
	MaxBody int64
	// Allow lists the source networks reports are accepted from, matched
	// against the connection's address (r.RemoteAddr; forwarding headers
	// are not trusted). Empty accepts any source; otherwise any other
	// source is answered 403.
	Allow []netip.Prefix
	// Secret is the report signature secret. When set, every report must
	// carry a valid, fresh <Auth> or is answered 401; "" accepts reports
	// signed or not, without checking.
	Secret string
	// Window is how far a signature's timestamp may be from Now, either
	// side. Zero means DefaultSignatureWindow; negative skips the
	// freshness check.
	Window time.Duration
	// Now gives the time signatures are checked against; nil means
	// time.Now.
	Now func() time.Time
	// OnReject, when set, is called for each rejected request with the
	// status answered and why, for the caller's log line. It runs on the
	// request's goroutine before the answer is written.
	OnReject func(r *http.Request, status int, err error)

	accepted, method, tooLarge, forbidden, unauthorized, malformed atomic.Uint64
}

// ReceiverStats counts what a Receiver did with the requests it served.
type ReceiverStats struct {
	Accepted     uint64 // 200: delivered to Handler
	Method       uint64 // 405: neither GET nor POST
	TooLarge     uint64 // 413: body over MaxBody
	Forbidden    uint64 // 403: source not in Allow
	Unauthorized uint64 // 401: signature missing, bad or stale
	Malformed    uint64 // 400: body unreadable, empty or not a report
}

// Stats returns the counts so far.
func (rv *Receiver) Stats() ReceiverStats {
	return ReceiverStats{
		Accepted:     rv.accepted.Load(),
		Method:       rv.method.Load(),
		TooLarge:     rv.tooLarge.Load(),
		Forbidden:    rv.forbidden.Load(),
		Unauthorized: rv.unauthorized.Load(),
		Malformed:    rv.malformed.Load(),
	}
}

// ServeHTTP accepts one report.
func (rv *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := rv.checkSource(r.RemoteAddr); err != nil {
		rv.reject(w, r, http.StatusForbidden, &rv.forbidden, err)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		rv.reject(w, r, http.StatusMethodNotAllowed, &rv.method, fmt.Errorf("method %s is not GET or POST", r.Method))
		return
	}
	limit := rv.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	tooLarge := fmt.Errorf("body over %d bytes", limit)
	if r.ContentLength > limit {
		rv.reject(w, r, http.StatusRequestEntityTooLarge, &rv.tooLarge, tooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		rv.reject(w, r, http.StatusBadRequest, &rv.malformed, fmt.Errorf("reading body: %w", err))
		return
	}
	if int64(len(body)) > limit {
		rv.reject(w, r, http.StatusRequestEntityTooLarge, &rv.tooLarge, tooLarge)
		return
	}
	rep, err := DecodeReport(body)
	if err != nil {
		rv.reject(w, r, http.StatusBadRequest, &rv.malformed, err)
		return
	}
	if rv.Secret != "" {
		if err := rep.Auth.Verify(rv.Secret, rv.now(), rv.window()); err != nil {
			rv.reject(w, r, http.StatusUnauthorized, &rv.unauthorized, err)
			return
		}
	}
	rv.accepted.Add(1)
	if rv.Handler != nil {
		rv.Handler(rep)
	}
	w.WriteHeader(http.StatusOK)
}

func (rv *Receiver) checkSource(remote string) error {
	if len(rv.Allow) == 0 {
		return nil
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return fmt.Errorf("source address %q unknown", remote)
	}
	addr := ap.Addr().Unmap()
	for _, p := range rv.Allow {
		if p.Contains(addr) {
			return nil
		}
	}
	return fmt.Errorf("source %s is not allowed", addr)
}

func (rv *Receiver) now() time.Time {
	if rv.Now != nil {
		return rv.Now()
	}
	return time.Now()
}

func (rv *Receiver) window() time.Duration {
	switch {
	case rv.Window < 0:
		return 0 // Auth.Verify skips the freshness check
	case rv.Window == 0:
		return DefaultSignatureWindow
	}
	return rv.Window
}

func (rv *Receiver) reject(w http.ResponseWriter, r *http.Request, status int, counter *atomic.Uint64, err error) {
	counter.Add(1)
	if rv.OnReject != nil {
		rv.OnReject(r, status, err)
	}
	// The reason goes to the caller's log, not to the sender.
	http.Error(w, http.StatusText(status), status)
}
