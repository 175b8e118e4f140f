package omproto

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client defaults. A zero field of Client means the matching default.
const (
	// DefaultTimeout bounds one request: dial, send and the whole answer.
	DefaultTimeout = 5 * time.Second
	// DefaultQueryRetries is how many more times a query is tried after a
	// transport error or a 5xx answer.
	DefaultQueryRetries = 2
	// DefaultRetryBackoff is the wait before the first retry; it doubles
	// for each further one.
	DefaultRetryBackoff = 100 * time.Millisecond
	// DefaultMaxResponse bounds the size of an answer body. The largest
	// answers are DeviceInfo and Status listings of a big device.
	DefaultMaxResponse = 1 << 20
)

// Trace directions, the first argument of Client.Trace.
const (
	TraceRequest  = "request"
	TraceResponse = "response"
)

// Client sends commands to one OM device. It keeps the device's HTTP/1.0
// habits (omapi.md §1): every request goes on a new TCP connection, as
// HTTP/1.0 with a fixed Content-Length and Connection: close, and the
// answer is read to its Content-Length or to the end of the connection.
//
// Set the fields before first use and leave them alone after; a Client is
// then safe for concurrent use. The zero value of every field but BaseURL
// is usable.
type Client struct {
	// BaseURL is the device's web server, scheme://host[:port][/prefix]
	// with scheme http or https; commands go to POST {BaseURL}/xml.
	BaseURL string
	// Secret is the command signing secret. When set, every command
	// carries an <Auth> signature; "" sends unsigned commands (the device
	// then relies on its IP allow-list).
	Secret string
	// Timeout bounds each request, dial to end of answer; the context's
	// deadline applies too, whichever is sooner. Zero means
	// DefaultTimeout. When Timeout rather than the context runs out, the
	// error satisfies errors.Is(err, os.ErrDeadlineExceeded).
	Timeout time.Duration
	// QueryRetries is how many more attempts a query (Query, Query
	// DeviceInfo, Manage Query) gets after a transport error (refused,
	// reset, closed without an answer, or Timeout run out) or a 5xx
	// answer; never once the context is done. Zero means
	// DefaultQueryRetries; negative means none. Other commands are never
	// retried: the device may have acted on them.
	QueryRetries int
	// RetryBackoff is the wait before the first retry, doubled before each
	// further one; the wait ends early when the context does. Zero means
	// DefaultRetryBackoff.
	RetryBackoff time.Duration
	// MaxResponse bounds the answer body in bytes. Zero means
	// DefaultMaxResponse.
	MaxResponse int64
	// TLSConfig is used for https base URLs; nil means the system roots.
	// ServerName defaults to the base URL's host.
	TLSConfig *tls.Config
	// Now gives the signature timestamp; nil means time.Now.
	Now func() time.Time
	// Nonce gives each signature's nonce; nil means NewNonce.
	Nonce func() string
	// Trace, when set, is called with each request body (TraceRequest)
	// just before it is sent and each answer body (TraceResponse) as
	// read, for trace logging. ctx is the context the command was sent
	// with, so that a tracer can tag its lines with what the caller put
	// there (the engine's call id). It is called on the sending goroutine
	// and must not modify or keep the slice.
	Trace func(ctx context.Context, dir string, body []byte)
}

// StatusError is an HTTP status from the device other than 2xx or 401
// (which is ErrUnauthorized).
type StatusError struct {
	StatusCode int
	Status     string // as sent, e.g. "503 Service Unavailable"
}

func (e *StatusError) Error() string {
	return "omproto: device answered HTTP " + e.Status
}

// NewClient returns a Client for the device at baseURL, after checking that
// it is an http or https URL with a host and nothing the OM API cannot use.
func NewClient(baseURL string) (*Client, error) {
	if _, err := parseBaseURL(baseURL); err != nil {
		return nil, err
	}
	return &Client{BaseURL: baseURL}, nil
}

// endpoint is where a Client's commands go.
type endpoint struct {
	tls  bool
	addr string // host:port to dial
	host string // Host header and TLS server name
	path string // request target, e.g. /om/xml
}

func parseBaseURL(raw string) (*endpoint, error) {
	if !strings.Contains(raw, "://") {
		return nil, fmt.Errorf("omproto: base URL %q: want http://host[:port][/prefix] or https://…", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("omproto: base URL: %w", err)
	}
	ep := &endpoint{}
	switch strings.ToLower(u.Scheme) {
	case "http":
	case "https":
		ep.tls = true
	default:
		return nil, fmt.Errorf("omproto: base URL %q: scheme %q is not http or https", raw, u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("omproto: base URL %q: no host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("omproto: base URL %q: user info is not used by the OM API", raw)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("omproto: base URL %q: query or fragment is not allowed", raw)
	}
	port := u.Port()
	switch {
	case port == "" && ep.tls:
		port = "443"
	case port == "":
		port = "80"
	default:
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("omproto: base URL %q: port %q is not in 1–65535", raw, port)
		}
	}
	ep.addr = net.JoinHostPort(u.Hostname(), port)
	ep.host = u.Host
	ep.path = strings.TrimSuffix(u.EscapedPath(), "/") + "/xml"
	return ep, nil
}

// Do sends a command and returns the device's answer. A FAILED answer is an
// *Error, a comment naming an unknown object ErrNotFound, "Empty Waiting
// List" ErrEmptyWaitingList, a 401 ErrUnauthorized, another non-2xx status
// a *StatusError; the Response is nil whenever the error is not. Errors are
// prefixed with the command's root and verb ("Transfer Connect: …").
func (c *Client) Do(ctx context.Context, cmd Command) (*Response, error) {
	if cmd == nil {
		return nil, errors.New("omproto: nil command")
	}
	resp, err := c.do(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", cmd.Root(), cmd.Verb(), err)
	}
	return resp, nil
}

func (c *Client) do(ctx context.Context, cmd Command) (*Response, error) {
	ep, err := parseBaseURL(c.BaseURL)
	if err != nil {
		return nil, err
	}
	attempts := 1
	if strings.EqualFold(cmd.Verb(), VerbQuery) {
		attempts += c.queryRetries()
	}
	backoff := c.RetryBackoff
	if backoff <= 0 {
		backoff = DefaultRetryBackoff
	}
	for attempt := 1; ; attempt++ {
		status, body, err := c.exchange(ctx, ep, c.encode(cmd))
		if err == nil {
			var resp *Response
			if resp, err = c.answer(status, body); err == nil {
				return resp, nil
			}
		}
		if attempt >= attempts || !retryable(err) || ctx.Err() != nil {
			return nil, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w while waiting to retry; the last attempt: %w", ctx.Err(), err)
		case <-t.C:
		}
		backoff *= 2
	}
}

func (c *Client) queryRetries() int {
	switch {
	case c.QueryRetries < 0:
		return 0
	case c.QueryRetries == 0:
		return DefaultQueryRetries
	}
	return c.QueryRetries
}

// retryable reports whether a query may be tried again after err: a
// transport failure or a 5xx status, not a refusal or a bad answer.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= 500
	}
	var te *transportError
	return errors.As(err, &te)
}

// transportError is a failure to exchange a request and an answer.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// encode builds the request body, signed afresh for each attempt.
func (c *Client) encode(cmd Command) []byte {
	if c.Secret == "" {
		return EncodeCommand(cmd, nil)
	}
	now, nonce := time.Now, NewNonce
	if c.Now != nil {
		now = c.Now
	}
	if c.Nonce != nil {
		nonce = c.Nonce
	}
	return EncodeCommand(cmd, Sign(c.Secret, nonce(), now()))
}

func (c *Client) maxResponse() int64 {
	if c.MaxResponse <= 0 {
		return DefaultMaxResponse
	}
	return c.MaxResponse
}

// answer turns a status and body into a Response or an error.
func (c *Client) answer(status int, body []byte) (*Response, error) {
	if limit := c.maxResponse(); int64(len(body)) > limit {
		return nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	switch {
	case status == http.StatusUnauthorized:
		return nil, ErrUnauthorized
	case status < 200 || status > 299:
		return nil, &StatusError{StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status)}
	}
	resp, err := DecodeResponse(body)
	if err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	if err := resp.Err(); err != nil {
		if resp.Comment != "" {
			return nil, fmt.Errorf("%w (%s)", err, resp.Comment)
		}
		return nil, err
	}
	return resp, nil
}

// exchange sends one request on a new connection and reads the answer.
func (c *Client) exchange(ctx context.Context, ep *endpoint, body []byte) (status int, respBody []byte, err error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	ctxDeadline := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxDeadline = d, true
	}
	defer func() {
		if err == nil {
			return
		}
		// Report the context's end as such, even when the connection's
		// deadline (set to the context's) fired a moment before it.
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w: %w", cerr, err)
		} else if ctxDeadline && isTimeout(err) {
			err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
		}
		err = &transportError{err}
	}()

	if c.Trace != nil {
		c.Trace(ctx, TraceRequest, body)
	}
	conn, err := c.dial(ctx, ep, deadline)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return 0, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var req bytes.Buffer
	req.Grow(160 + len(body))
	fmt.Fprintf(&req, "POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		ep.path, ep.host, len(body))
	req.Write(body)
	_, werr := conn.Write(req.Bytes())

	// A device that refuses early (401) may answer before reading all of
	// the request, so a failed write still looks for an answer.
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		if werr != nil {
			return 0, nil, werr
		}
		return 0, nil, fmt.Errorf("reading answer: %w", err)
	}
	defer resp.Body.Close()
	// One byte over the limit is read so that answer can tell.
	respBody, err = io.ReadAll(io.LimitReader(resp.Body, c.maxResponse()+1))
	if err != nil {
		return 0, nil, fmt.Errorf("reading answer: %w", err)
	}
	if c.Trace != nil {
		c.Trace(ctx, TraceResponse, respBody)
	}
	return resp.StatusCode, respBody, nil
}

func (c *Client) dial(ctx context.Context, ep *endpoint, deadline time.Time) (net.Conn, error) {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nd := &net.Dialer{}
	if !ep.tls {
		return nd.DialContext(dctx, "tcp", ep.addr)
	}
	td := &tls.Dialer{NetDialer: nd, Config: c.TLSConfig}
	return td.DialContext(dctx, "tcp", ep.addr)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// DeviceInfo asks for the device's model, version and objects.
func (c *Client) DeviceInfo(ctx context.Context) (*DeviceInfo, error) {
	cmd := QueryDeviceInfo{}
	resp, err := c.Do(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if resp.DeviceInfo == nil {
		return nil, fmt.Errorf("%s %s: %w", cmd.Root(), cmd.Verb(), unexpected(resp, "DeviceInfo"))
	}
	return resp.DeviceInfo, nil
}

// Query asks for the state of the object of kind and id; an empty id lists
// every object of that kind. An id that is not live is ErrNotFound. An
// empty answer reads as an empty Status.
func (c *Client) Query(ctx context.Context, kind Kind, id string) (*Status, error) {
	return c.status(ctx, Query{Kind: kind, ID: id})
}

// AssignMenu sets a voice menu and returns the device's Status answer (an
// empty Status for an empty answer).
func (c *Client) AssignMenu(ctx context.Context, m AssignMenu) (*Status, error) {
	return c.status(ctx, m)
}

// AssignGroup sets an extension group and returns the device's Status
// answer (an empty Status for an empty answer).
func (c *Client) AssignGroup(ctx context.Context, g AssignGroup) (*Status, error) {
	return c.status(ctx, g)
}

// AssignExt sets an extension's configuration and returns the device's
// Status answer (an empty Status for an empty answer).
func (c *Client) AssignExt(ctx context.Context, e AssignExt) (*Status, error) {
	return c.status(ctx, e)
}

func (c *Client) status(ctx context.Context, cmd Command) (*Status, error) {
	resp, err := c.Do(ctx, cmd)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.Status != nil:
		return resp.Status, nil
	case resp.Empty():
		return &Status{}, nil
	}
	return nil, fmt.Errorf("%s %s: %w", cmd.Root(), cmd.Verb(), unexpected(resp, "Status"))
}

// unexpected describes an answer of the wrong kind.
func unexpected(resp *Response, want string) error {
	got := "an empty body"
	switch {
	case resp.DeviceInfo != nil:
		got = "<DeviceInfo>"
	case resp.Status != nil:
		got = "<Status>"
	case resp.Event != nil:
		got = fmt.Sprintf("<Event attribute=%q>", resp.Event.Name)
	case resp.Other != nil:
		got = "<" + resp.Other.Name + ">"
	case resp.Comment != "":
		got = fmt.Sprintf("the comment %q", resp.Comment)
	}
	return &DecodeError{Field: want, Msg: "answer is " + got + ", not <" + want + ">"}
}

// Hold puts the call of extension ext on hold.
func (c *Client) Hold(ctx context.Context, ext string) error {
	return c.exec(ctx, ExtControl{Action: VerbHold, Ext: ext})
}

// Unhold takes the call of extension ext off hold.
func (c *Client) Unhold(ctx context.Context, ext string) error {
	return c.exec(ctx, ExtControl{Action: VerbUnhold, Ext: ext})
}

// Mute mutes extension ext.
func (c *Client) Mute(ctx context.Context, ext string) error {
	return c.exec(ctx, ExtControl{Action: VerbMute, Ext: ext})
}

// Unmute unmutes extension ext.
func (c *Client) Unmute(ctx context.Context, ext string) error {
	return c.exec(ctx, ExtControl{Action: VerbUnmute, Ext: ext})
}

// Monitor has extension first monitor the call of extension second.
func (c *Client) Monitor(ctx context.Context, first, second string) error {
	return c.exec(ctx, Supervise{Action: VerbMonitor, First: first, Second: second})
}

// Talk has extension first talk to extension second in its call.
func (c *Client) Talk(ctx context.Context, first, second string) error {
	return c.exec(ctx, Supervise{Action: VerbTalk, First: first, Second: second})
}

// Listen has extension first listen to the call of extension second.
func (c *Client) Listen(ctx context.Context, first, second string) error {
	return c.exec(ctx, Supervise{Action: VerbListen, First: first, Second: second})
}

// Bargein has extension first barge into the call of extension second.
func (c *Client) Bargein(ctx context.Context, first, second string) error {
	return c.exec(ctx, Supervise{Action: VerbBargein, First: first, Second: second})
}

// Clear hangs up the call of target (a visitor, outer or ext), or rejects
// an INVITE.
func (c *Client) Clear(ctx context.Context, target Ref) error {
	return c.exec(ctx, Clear{Target: target})
}

// Connect sets up or transfers a call. It returns the TRANSIENT event when
// the device answered one (a new outside leg), or nil for an empty answer;
// a FAILED answer is an *Error.
func (c *Client) Connect(ctx context.Context, cmd Connect) (*Event, error) {
	resp, err := c.Do(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return resp.Event, nil
}

// Queue puts call in the queue of to, a group or an extension.
func (c *Client) Queue(ctx context.Context, call, to Ref) error {
	return c.exec(ctx, Queue{Call: call, To: to})
}

// Accept answers the INVITE of a visitor.
func (c *Client) Accept(ctx context.Context, visitor string) error {
	return c.exec(ctx, Accept{Visitor: visitor})
}

// VoiceFiles lists the names of the device's voice files.
func (c *Client) VoiceFiles(ctx context.Context) ([]string, error) {
	resp, err := c.Do(ctx, QueryVoiceFiles{})
	if err != nil {
		return nil, err
	}
	return resp.VoiceFiles(), nil
}

// exec sends a command whose answer carries nothing but success or failure.
func (c *Client) exec(ctx context.Context, cmd Command) error {
	_, err := c.Do(ctx, cmd)
	return err
}
