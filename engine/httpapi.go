package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// HTTPOptions say which backends ivr.http.get/post may reach.
type HTTPOptions struct {
	// Allow lists the hosts ("crm.example.com", "10.0.0.5:8080") flows may
	// call; empty allows none. A host without a port allows every port of
	// it; with a port, that port only.
	Allow []string
	// Timeout bounds each request (default DefaultHTTPTimeout); a flow's
	// own timeout option may be shorter, never longer.
	Timeout time.Duration
}

// ivr.http limits.
const (
	// DefaultHTTPTimeout bounds a request when HTTPOptions.Timeout is zero.
	DefaultHTTPTimeout = 5 * time.Second
	// MaxHTTPBody bounds the response body a flow receives; a longer one
	// is the reason "too_large".
	MaxHTTPBody = 1 << 20
	// maxHTTPRedirects is how many redirects a request follows, each to an
	// allowed host.
	maxHTTPRedirects = 5
)

func (o HTTPOptions) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultHTTPTimeout
	}
	return o.Timeout
}

// CheckHTTPAllow checks one entry of HTTPOptions.Allow: a host name or an
// address, with an optional port, and nothing else (no scheme, no path).
func CheckHTTPAllow(entry string) error {
	host, port := splitHostPort(entry)
	if host == "" || strings.ContainsAny(entry, "/?#@ \t") || strings.Contains(host, ":") && !strings.HasPrefix(entry, "[") {
		return fmt.Errorf("%q is not a host or host:port (\"crm.example.com\", \"10.0.0.5:8080\")", entry)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: the port is not a number within 1–65535", entry)
		}
	}
	return nil
}

// splitHostPort splits "host", "host:port", "[v6]" or "[v6]:port",
// lowercasing the host.
func splitHostPort(s string) (host, port string) {
	if h, p, err := net.SplitHostPort(s); err == nil {
		return strings.ToLower(h), p
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")), ""
}

// allows reports whether a URL's host is on the allow list.
func (o HTTPOptions) allows(u *url.URL) bool {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	for _, a := range o.Allow {
		ah, ap := splitHostPort(a)
		if ah == host && (ap == "" || ap == port) {
			return true
		}
	}
	return false
}

// httpTransport is shared by every ivr.http request, so connections to a
// backend are reused across calls.
var httpTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	return t
}()

// httpArgs identify an ivr.http request in the journal: what the flow
// asked, not what the configuration made of it (the timeout it got), so a
// replay under another timeout still matches. A host taken out of the
// allow-list since is refused on replay too: the flow raises again.
type httpArgs struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	Timeout float64           `json:"timeout,omitempty"` // the flow's option, seconds
	JSON    bool              `json:"json,omitempty"`
}

// httpResult is what the flow got back: a response, or the reason there is
// none (timeout, too_large, failed) with details for the log. A body that
// is not UTF-8 is kept as bytes, so a replay returns exactly what the
// request did.
type httpResult struct {
	Status  int               `json:"status,omitempty"`
	Body    string            `json:"body,omitempty"`
	Body64  []byte            `json:"body64,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Reason  string            `json:"reason,omitempty"`
	Detail  string            `json:"detail,omitempty"`
}

func (r httpResult) body() string {
	if r.Body64 != nil {
		return string(r.Body64)
	}
	return r.Body
}

// Headers a flow may not set: the transport manages them.
var managedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
}

// luaHTTP serves ivr.http.get(url [, opts]) and post(url, body [, opts])
// to the hosts the configuration allows. Each request is one journaled
// step: a replayed call gets the recorded response and the backend is not
// asked again.
func (s *Session) luaHTTP(ctx context.Context, L *lua.LState, method string) int {
	fn := "ivr.http." + strings.ToLower(method)
	args := httpArgs{Method: method}
	raw, ok := L.Get(1).(lua.LString)
	if !ok {
		L.RaiseError("%s: the URL must be a string, not %s", fn, describe(L.Get(1)))
	}
	args.URL = string(raw)
	u, err := url.Parse(args.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		L.RaiseError("%s: %q is not an http:// or https:// URL", fn, s.redact(args.URL))
	}
	opts := s.r.http
	if len(opts.Allow) == 0 {
		L.RaiseError("%s: no host is allowed (list the backends in [http] allow)", fn)
	}
	if !opts.allows(u) {
		L.RaiseError("%s: host %q is not allowed (add it to [http] allow)", fn, u.Host)
	}
	optArg := 2
	var body lua.LValue = lua.LNil
	if method == http.MethodPost {
		body, optArg = L.Get(2), 3
	}
	var timeout time.Duration
	decodeOptions(L, optArg, fn, map[string]optFunc{
		"headers": func(v lua.LValue) { args.Headers = headerOpt(L, fn, v) },
		"timeout": secondsOpt(L, fn, "timeout", &timeout),
		"json":    boolOpt(L, fn, "json", &args.JSON),
	})
	args.Timeout = timeout.Seconds()
	switch b := body.(type) {
	case *lua.LNilType:
	case lua.LString:
		if args.JSON {
			args.Body = jsonBody(L, fn, b)
		} else {
			args.Body = string(b)
		}
	default:
		if !args.JSON {
			L.RaiseError("%s: the body is a %s; pass json = true to send it as JSON, or give a string", fn, b.Type())
		}
		args.Body = jsonBody(L, fn, b)
	}
	limit := opts.timeout()
	if timeout <= 0 || timeout > limit {
		timeout = limit
	}

	var res httpResult
	s.blocking(ctx, func() {
		res, err = journaled(s, "http", args, func() (httpResult, error) {
			return s.doHTTP(ctx, args, timeout)
		})
	})
	s.raiseDiverged(err)
	if err != nil {
		L.Push(lua.LNil) // the session is stopping
		L.Push(lua.LString(ReasonFailed))
		L.Push(lua.LString("the call is ending"))
		return 3
	}
	if res.Reason != "" {
		L.Push(lua.LNil)
		L.Push(lua.LString(res.Reason))
		L.Push(lua.LString(res.Detail))
		return 3
	}
	out := L.NewTable()
	out.RawSetString("status", lua.LNumber(res.Status))
	text := res.body()
	out.RawSetString("body", lua.LString(text))
	hdr := L.NewTable()
	for k, v := range res.Headers {
		hdr.RawSetString(k, lua.LString(v))
	}
	out.RawSetString("headers", hdr)
	if args.JSON {
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil {
			if lv, err := toLua(L, v, 0); err == nil {
				out.RawSetString("json", lv)
			}
		}
	}
	L.Push(out)
	return 1
}

// jsonBody encodes a request body for json = true.
func jsonBody(L *lua.LState, fn string, v lua.LValue) string {
	var b bytes.Buffer
	if err := encodeJSON(&b, v, 0, DefaultMaxString); err != nil {
		if errors.Is(err, errTooBig) {
			err = fmt.Errorf("passes %d bytes", DefaultMaxString)
		}
		L.RaiseError("%s: the body cannot be sent as JSON: %v", fn, err)
	}
	return b.String()
}

// headerOpt reads the headers option: a table of names to string values.
func headerOpt(L *lua.LState, fn string, v lua.LValue) map[string]string {
	t, ok := v.(*lua.LTable)
	if !ok {
		L.RaiseError("%s: headers must be a table of names to values, not %s", fn, describe(v))
	}
	out := map[string]string{}
	t.ForEach(func(k, val lua.LValue) {
		name, ok := k.(lua.LString)
		if !ok || !validHeaderName(string(name)) {
			L.RaiseError("%s: headers: %s is not a header name", fn, describe(k))
		}
		canon := http.CanonicalHeaderKey(string(name))
		if managedHeaders[canon] {
			L.RaiseError("%s: headers: %s is set by ivrd", fn, canon)
		}
		var value string
		switch x := val.(type) {
		case lua.LString:
			value = string(x)
		case lua.LNumber:
			value = x.String()
		default:
			L.RaiseError("%s: headers: %s must be a string, not %s", fn, canon, describe(val))
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			L.RaiseError("%s: headers: the value of %s holds a line break", fn, canon)
		}
		out[canon] = value
	})
	return out
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// doHTTP makes the request. Failures of the request are results (a
// replay must see them too); only the session's own end is an error, so
// the step is not journaled and a recovered call asks again.
func (s *Session) doHTTP(ctx context.Context, args httpArgs, timeout time.Duration) (httpResult, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if args.Method == http.MethodPost {
		body = strings.NewReader(args.Body)
	}
	req, err := http.NewRequestWithContext(rctx, args.Method, args.URL, body)
	if err != nil {
		return s.httpFailed(args, "failed", err.Error()), nil
	}
	for k, v := range args.Headers {
		req.Header.Set(k, v)
	}
	if args.Method == http.MethodPost && req.Header.Get("Content-Type") == "" {
		if args.JSON {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		}
	}
	if args.JSON && req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "ivrd")
	}
	allow := s.r.http
	client := &http.Client{Transport: httpTransport, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if len(via) >= maxHTTPRedirects {
			return fmt.Errorf("more than %d redirects", maxHTTPRedirects)
		}
		if !allow.allows(r.URL) {
			return fmt.Errorf("redirected to %s, a host that is not allowed", r.URL.Host)
		}
		return nil
	}}
	if !s.inEnded && !s.left && !s.hungUp {
		s.setState(ActivityHTTP, req.URL.Host)
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return httpResult{}, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return s.httpFailed(args, "timeout", fmt.Sprintf("no answer within %s", timeout)), nil
		}
		return s.httpFailed(args, "failed", err.Error()), nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxHTTPBody+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return httpResult{}, ctx.Err()
	case err != nil && (errors.Is(err, context.DeadlineExceeded) || isTimeout(err)):
		return s.httpFailed(args, "timeout", fmt.Sprintf("the body did not arrive within %s", timeout)), nil
	case err != nil:
		return s.httpFailed(args, "failed", "reading the body: "+err.Error()), nil
	case len(data) > MaxHTTPBody:
		return s.httpFailed(args, "too_large", fmt.Sprintf("the body passes %d bytes", MaxHTTPBody)), nil
	}
	res := httpResult{Status: resp.StatusCode, Headers: map[string]string{}}
	if utf8.Valid(data) {
		res.Body = string(data)
	} else {
		res.Body64 = data
	}
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		res.Headers[strings.ToLower(k)] = strings.ToValidUTF8(strings.Join(resp.Header[k], ", "), "\uFFFD")
	}
	s.log.Debug("http request", "method", args.Method, "url", s.redact(args.URL), "status", resp.StatusCode, "bytes", len(data))
	return res, nil
}

func (s *Session) httpFailed(args httpArgs, reason, detail string) httpResult {
	detail = s.redact(detail)
	s.log.Warn("http request failed", "method", args.Method, "url", s.redact(args.URL), "reason", reason, "detail", detail)
	return httpResult{Reason: reason, Detail: detail}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
