package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
)

// browser is a request as the console's page sends it: the session
// cookie, and for changes the CSRF header and the page's Origin.
type browser struct {
	cookie, csrf, origin, referer, auth string
}

func (b browser) do(t *testing.T, srv *httptest.Server, method, path, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if b.cookie != "" {
		req.Header.Set("Cookie", api.SessionCookie+"="+b.cookie)
	}
	if b.csrf != "" {
		req.Header.Set(api.HeaderCSRF, b.csrf)
	}
	if b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	if b.referer != "" {
		req.Header.Set("Referer", b.referer)
	}
	if b.auth != "" {
		req.Header.Set("Authorization", b.auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(data)
}

// signIn signs a browser in and returns its cookie and CSRF token.
func signIn(t *testing.T, srv *httptest.Server) browser {
	t.Helper()
	code, h, body := browser{origin: srv.URL}.do(t, srv, "POST", "/api/v1/session", `{"token":"`+token+`"}`)
	if code != 200 {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	var info api.SessionInfo
	if err := json.Unmarshal([]byte(body), &info); err != nil || info.CSRF == "" {
		t.Fatalf("sign-in answer %s: %v", body, err)
	}
	c := sessionCookie(t, h)
	return browser{cookie: c.Value, csrf: info.CSRF, origin: srv.URL}
}

func sessionCookie(t *testing.T, h http.Header) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == api.SessionCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", api.SessionCookie, h.Values("Set-Cookie"))
	return nil
}

func TestConsoleServed(t *testing.T) {
	srv := newServer(t, newFake(), nil)
	for _, c := range []struct{ path, ctype, has string }{
		{"/", "text/html", `<script src="/console/app.js"`},
		{"/console/app.js", "text/javascript", "/api/v1/calls/stream"},
		{"/console/style.css", "text/css", "ol.timeline"},
	} {
		code, h, body := browser{}.do(t, srv, "GET", c.path, "")
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), c.ctype) || !strings.Contains(body, c.has) {
			t.Errorf("GET %s: %d %q, body has %q: %v", c.path, code, h.Get("Content-Type"), c.has, strings.Contains(body, c.has))
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", c.path, csp)
		}
	}
	for _, p := range []string{"/console/", "/console/nothing.js", "/index.html/x"} {
		if code, _, _ := (browser{}).do(t, srv, "GET", p, ""); code != 404 {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
}

// TestConsoleSignIn: the admin token, posted once, buys an HttpOnly,
// SameSite=Strict cookie (Secure over TLS) and a CSRF token; a wrong
// token or another site's page buys nothing.
func TestConsoleSignIn(t *testing.T) {
	srv := newServer(t, newFake(), nil)
	for _, c := range []struct {
		name, body, origin string
		want               int
	}{
		{"wrong token", `{"token":"not-the-token-at-all"}`, srv.URL, 401},
		{"no token", `{}`, srv.URL, 401},
		{"unknown field", `{"token":"` + token + `","user":"x"}`, srv.URL, 400},
		{"cross-origin page", `{"token":"` + token + `"}`, "http://evil.example", 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, h, body := browser{origin: c.origin}.do(t, srv, "POST", "/api/v1/session", c.body)
			if code != c.want || len(h.Values("Set-Cookie")) != 0 {
				t.Fatalf("%d %s, cookies %v; want %d and none", code, body, h.Values("Set-Cookie"), c.want)
			}
		})
	}

	code, h, body := browser{origin: srv.URL}.do(t, srv, "POST", "/api/v1/session", `{"token":"`+token+`"}`)
	if code != 200 {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	ck := sessionCookie(t, h)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/" || len(ck.Value) < 32 {
		t.Fatalf("cookie over plain HTTP: %+v", ck)
	}
	var info api.SessionInfo
	json.Unmarshal([]byte(body), &info)
	// A reloaded page gets the same CSRF token back with its cookie.
	var again api.SessionInfo
	code, _, body = browser{cookie: ck.Value}.do(t, srv, "GET", "/api/v1/session", "")
	if json.Unmarshal([]byte(body), &again); code != 200 || again.CSRF != info.CSRF {
		t.Fatalf("GET /api/v1/session: %d %s, want csrf %s", code, body, info.CSRF)
	}
	if code, _, _ := (browser{}).do(t, srv, "GET", "/api/v1/session", ""); code != 401 {
		t.Fatalf("GET /api/v1/session without a cookie: %d", code)
	}

	// Behind a TLS proxy that says so, and over TLS itself: Secure.
	code, h, _ = browser{}.do(t, srv, "POST", "/api/v1/session", `{"token":"`+token+`"}`)
	if code != 200 || sessionCookie(t, h).Secure {
		t.Fatalf("curl-like sign-in (no Origin): %d, secure %v", code, sessionCookie(t, h).Secure)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/session", strings.NewReader(`{"token":"`+token+`"}`))
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !sessionCookie(t, resp.Header).Secure {
		t.Fatal("cookie behind an https proxy is not Secure")
	}
	s, err := api.New(newFake(), api.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	tls := httptest.NewTLSServer(s)
	defer tls.Close()
	code, h, body = browser{origin: tls.URL}.do(t, tls, "POST", "/api/v1/session", `{"token":"`+token+`"}`)
	if code != 200 || !sessionCookie(t, h).Secure {
		t.Fatalf("sign-in over TLS: %d %s, cookie %+v", code, body, sessionCookie(t, h))
	}
}

// TestConsoleCookieRules: each rule of cookie authentication, over real
// loopback HTTP; bearer clients are unaffected.
func TestConsoleCookieRules(t *testing.T) {
	fake := newFake()
	srv := newServer(t, fake, nil)
	b := signIn(t, srv)
	other := signIn(t, srv) // another browser: its CSRF token is not b's
	reloads := func() int {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return fake.reloads
	}
	for _, c := range []struct {
		name         string
		req          browser
		method, path string
		want         int
		reaches      bool // the backend was asked
	}{
		{"no cookie: read", browser{}, "GET", "/api/v1/flows", 401, false},
		{"no cookie: change", browser{origin: srv.URL, csrf: b.csrf}, "POST", "/api/v1/flows/reload", 401, false},
		{"unknown session", browser{cookie: strings.Repeat("ab", 32)}, "GET", "/api/v1/flows", 401, false},
		{"cookie: read needs no CSRF", browser{cookie: b.cookie}, "GET", "/api/v1/flows", 200, false},
		{"cookie: the stream's parameters are checked", browser{cookie: b.cookie}, "GET", "/api/v1/calls/stream?interval=1ms", 400, false},
		{"no CSRF", browser{cookie: b.cookie, origin: srv.URL}, "POST", "/api/v1/flows/reload", 403, false},
		{"wrong CSRF", browser{cookie: b.cookie, origin: srv.URL, csrf: "00" + b.csrf[2:]}, "POST", "/api/v1/flows/reload", 403, false},
		{"another session's CSRF", browser{cookie: b.cookie, origin: srv.URL, csrf: other.csrf}, "POST", "/api/v1/flows/reload", 403, false},
		{"cross-origin", browser{cookie: b.cookie, origin: "http://evil.example", csrf: b.csrf}, "POST", "/api/v1/flows/reload", 403, false},
		{"cross-origin, same host another port", browser{cookie: b.cookie, origin: "http://127.0.0.1:1", csrf: b.csrf}, "POST", "/api/v1/flows/reload", 403, false},
		{"no Origin, cross-site Referer", browser{cookie: b.cookie, referer: "http://evil.example/x", csrf: b.csrf}, "POST", "/api/v1/flows/reload", 403, false},
		{"neither Origin nor Referer", browser{cookie: b.cookie, csrf: b.csrf}, "POST", "/api/v1/flows/reload", 403, false},
		{"cancel a job without CSRF", browser{cookie: b.cookie, origin: srv.URL}, "DELETE", "/api/v1/jobs/job-1", 403, false},
		{"same origin with CSRF", browser{cookie: b.cookie, origin: srv.URL, csrf: b.csrf}, "POST", "/api/v1/flows/reload", 200, true},
		{"same-origin Referer with CSRF", browser{cookie: b.cookie, referer: srv.URL + "/#/flows", csrf: b.csrf}, "POST", "/api/v1/flows/reload", 200, true},
		{"bearer: no CSRF, no Origin", browser{auth: "Bearer " + token}, "POST", "/api/v1/flows/reload", 200, true},
		{"bearer wins over a cookie and a foreign Origin", browser{auth: "Bearer " + token, cookie: b.cookie, origin: "http://evil.example"}, "POST", "/api/v1/flows/reload", 200, true},
		{"a wrong bearer is not rescued by a cookie", browser{auth: "Bearer wrong-wrong-wrong", cookie: b.cookie, csrf: b.csrf, origin: srv.URL}, "POST", "/api/v1/flows/reload", 401, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := reloads()
			code, _, body := c.req.do(t, srv, c.method, c.path, "")
			if code != c.want {
				t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, code, body, c.want)
			}
			if c.path == "/api/v1/flows/reload" && (reloads() > before) != c.reaches {
				t.Fatalf("the backend reloaded: %v, want %v", reloads() > before, c.reaches)
			}
			if code >= 400 {
				var e api.Error
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Msg == "" {
					t.Fatalf("error answer %q is not a JSON error", body)
				}
			}
		})
	}

	// Sign-out is a change like any other, then the cookie is dead.
	if code, _, _ := (browser{cookie: b.cookie, origin: srv.URL}).do(t, srv, "DELETE", "/api/v1/session", ""); code != 403 {
		t.Fatalf("sign-out without CSRF: %d, want 403", code)
	}
	code, h, _ := b.do(t, srv, "DELETE", "/api/v1/session", "")
	if ck := sessionCookie(t, h); code != 204 || ck.MaxAge >= 0 {
		t.Fatalf("sign-out: %d, cookie %+v", code, ck)
	}
	if code, _, _ := (browser{cookie: b.cookie}).do(t, srv, "GET", "/api/v1/flows", ""); code != 401 {
		t.Fatalf("after sign-out: %d, want 401", code)
	}
	if code, _, _ := (browser{cookie: other.cookie}).do(t, srv, "GET", "/api/v1/flows", ""); code != 200 {
		t.Fatalf("the other browser after b signed out: %d, want 200", code)
	}
}

func TestConsoleSessionExpires(t *testing.T) {
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	srv := newServer(t, newFake(), func(o *api.Options) {
		o.SessionTTL = time.Hour
		o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	})
	b := signIn(t, srv)
	clock.Add(int64(59 * time.Minute))
	if code, _, _ := (browser{cookie: b.cookie}).do(t, srv, "GET", "/api/v1/flows", ""); code != 200 {
		t.Fatalf("within the hour: %d", code)
	}
	clock.Add(int64(2 * time.Minute))
	if code, _, body := (browser{cookie: b.cookie}).do(t, srv, "GET", "/api/v1/flows", ""); code != 401 || !strings.Contains(body, "sign in again") {
		t.Fatalf("after the hour: %d %s, want 401", code, body)
	}
}

// With a state file, a console session outlives a restart of the daemon
// (a new server on the same file); signing out, expiry, a shortened TTL
// and a changed admin token end it, and the file holds no cookie.
func TestConsoleSessionSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ivrd.db")
	store, err := engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	edit := func(tok string, ttl time.Duration) func(*api.Options) {
		return func(o *api.Options) {
			o.Token, o.Sessions, o.SessionTTL = tok, store, ttl
			o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
		}
	}
	flows := func(srv *httptest.Server, b browser) int {
		code, _, _ := (browser{cookie: b.cookie}).do(t, srv, "GET", "/api/v1/flows", "")
		return code
	}
	first := newServer(t, newFake(), edit(token, 3*time.Hour))
	a, b, c := signIn(t, first), signIn(t, first), signIn(t, first)
	if code, _, _ := b.do(t, first, "DELETE", "/api/v1/session", ""); code != http.StatusNoContent {
		t.Fatalf("sign out: %d", code)
	}
	// The file holds digests: no cookie, and not the admin token.
	store.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{a.cookie, b.cookie, c.cookie, token} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("the state file holds a cookie or the token (%.8s…)", secret)
		}
	}
	if store, err = engine.OpenBolt(path, engine.BoltOptions{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if kept, bad, err := store.LoadConsoleSessions(); err != nil || len(kept) != 2 || len(bad) != 0 {
		t.Fatalf("kept sessions: %d (%d bad), %v; want the two not signed out", len(kept), len(bad), err)
	}

	second := newServer(t, newFake(), edit(token, 3*time.Hour)) // the daemon restarted
	if code := flows(second, a); code != 200 {
		t.Fatalf("a session after the restart: %d, want 200", code)
	}
	if code, _, body := a.do(t, second, "GET", "/api/v1/session", ""); code != 200 || !strings.Contains(body, a.csrf) {
		t.Fatalf("session info after the restart: %d %s", code, body)
	}
	if code := flows(second, b); code != 401 {
		t.Fatalf("a session signed out before the restart: %d, want 401", code)
	}

	// Two hours on, a restart with a one-hour TTL ends the sessions older
	// than that, though they were given three.
	clock.Add(int64(2 * time.Hour))
	third := newServer(t, newFake(), edit(token, time.Hour))
	if code := flows(third, a); code != 401 {
		t.Fatalf("a session past the shortened TTL: %d, want 401", code)
	}
	if kept, _, _ := store.LoadConsoleSessions(); len(kept) != 0 {
		t.Fatalf("sessions past the TTL still kept: %d", len(kept))
	}

	// A changed admin token drops every session kept under the old one,
	// and going back to the old token does not bring them back.
	d := signIn(t, newServer(t, newFake(), edit(token, time.Hour)))
	newServer(t, newFake(), edit("another-token-for-tests", time.Hour))
	if kept, _, _ := store.LoadConsoleSessions(); len(kept) != 0 {
		t.Fatalf("sessions kept after the token changed: %d", len(kept))
	}
	back := newServer(t, newFake(), edit(token, time.Hour))
	if code := flows(back, d); code != 401 {
		t.Fatalf("a session from before the token changed, after going back to it: %d, want 401", code)
	}
}

// refusingSessions is a state file that takes sessions but refuses to
// remove them.
type refusingSessions struct{ *engine.BoltStore }

func (refusingSessions) DeleteConsoleSessions(...[]byte) error { return errors.New("disk full") }

// A sign-out the state file does not take is refused (503), and the
// session goes on: answering 204 would let it come back at the next start.
func TestConsoleSignOutNotKept(t *testing.T) {
	store, err := engine.OpenBolt(filepath.Join(t.TempDir(), "ivrd.db"), engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := newServer(t, newFake(), func(o *api.Options) { o.Sessions = refusingSessions{store} })
	a := signIn(t, srv)
	if code, _, body := a.do(t, srv, "DELETE", "/api/v1/session", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "try again") {
		t.Fatalf("sign out: %d %s, want 503", code, body)
	}
	if code, _, _ := (browser{cookie: a.cookie}).do(t, srv, "GET", "/api/v1/flows", ""); code != 200 {
		t.Fatalf("the session after a refused sign-out: %d, want 200", code)
	}
}

// A session record that does not read is dropped; the others stay.
func TestConsoleSessionBadRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ivrd.db")
	store, err := engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	a := signIn(t, newServer(t, newFake(), func(o *api.Options) { o.Sessions = store }))
	store.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("console_sessions")).Put([]byte("not-a-session"), []byte("{"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if store, err = engine.OpenBolt(path, engine.BoltOptions{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, bad, err := store.LoadConsoleSessions(); err != nil || len(bad) != 1 {
		t.Fatalf("the bad record: %d, %v", len(bad), err)
	}
	srv := newServer(t, newFake(), func(o *api.Options) { o.Sessions = store })
	if code, _, _ := (browser{cookie: a.cookie}).do(t, srv, "GET", "/api/v1/flows", ""); code != 200 {
		t.Fatalf("the good session: %d, want 200", code)
	}
	if kept, bad, err := store.LoadConsoleSessions(); err != nil || len(kept) != 1 || len(bad) != 0 {
		t.Fatalf("after the start: %d kept, %d bad, %v; want the bad one gone", len(kept), len(bad), err)
	}
}

// readEvent reads the next "calls" event of a stream.
func readEvent(t *testing.T, rd *bufio.Reader) api.LivePage {
	t.Helper()
	var event, data string
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "" && event == "calls":
			var p api.LivePage
			if err := json.Unmarshal([]byte(data), &p); err != nil {
				t.Fatalf("event data %s: %v", data, err)
			}
			return p
		}
	}
}

// TestLiveCallStream: pages of the live calls, newest first, sent again
// when they change, filtered by number; the stream ends when the server
// openLiveStream opens GET /api/v1/calls/stream?query with the token,
// checks that it is an event stream, and closes it when the test ends.
func openLiveStream(t *testing.T, srv *httptest.Server, query string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/calls/stream?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp, bufio.NewReader(resp.Body)
}

// closes.
func TestLiveCallStream(t *testing.T) {
	fake := newFake()
	started := now.Add(-time.Minute)
	fake.setLive(
		api.Call{ID: "a", Live: true, From: "13800000001", To: "60001", Started: started,
			Activity: &engine.Activity{Kind: engine.ActivityPlaying, Detail: "user_welcome", Since: started}},
		api.Call{ID: "b", Live: true, From: "13900000002", To: "60001", Started: started.Add(time.Second)},
		api.Call{ID: "c", Live: true, From: "13800000003", To: "60002", Started: started.Add(2 * time.Second)},
	)
	srv := newServer(t, fake, nil)
	open := func(query string) (*http.Response, *bufio.Reader) {
		return openLiveStream(t, srv, "interval=250ms&"+query)
	}
	ids := func(p api.LivePage) string {
		var out []string
		for _, c := range p.Calls {
			out = append(out, c.ID)
		}
		return strings.Join(out, " ")
	}

	_, rd := open("limit=2")
	p := readEvent(t, rd)
	if p.Total != 3 || p.Offset != 0 || ids(p) != "c b" || !p.At.Equal(now) {
		t.Fatalf("first page: %+v", p)
	}
	_, rd2 := open("limit=2&offset=2")
	if p := readEvent(t, rd2); p.Total != 3 || ids(p) != "a" || p.Calls[0].Activity == nil || p.Calls[0].Activity.Detail != "user_welcome" {
		t.Fatalf("second page: %+v", p)
	}
	_, rd3 := open("number=138")
	if p := readEvent(t, rd3); p.Total != 2 || ids(p) != "c a" {
		t.Fatalf("calls with 138: %+v", p)
	}

	// A new call: the first page is sent again.
	fake.setLive(append(fake.liveCalls(), api.Call{ID: "d", Live: true, From: "13700000004", To: "60001", Started: now})...)
	if p := readEvent(t, rd); p.Total != 4 || ids(p) != "d c" {
		t.Fatalf("after a new call: %+v", p)
	}

	var e api.Error
	if got := do(t, srv, "GET", "/api/v1/calls/stream?limit=5000", "", &e); got != 400 || e.Field != "limit" {
		t.Fatalf("limit 5000: %d %+v", got, e)
	}
	if got := doAuth(t, srv, "GET", "/api/v1/calls/stream", "", "", &e); got != 401 {
		t.Fatalf("stream without a token: %d", got)
	}
}

// TestLiveCallStreamEndsOnClose: Server.Close ends open streams, so that
// the listener's shutdown does not wait for them.
func TestLiveCallStreamEndsOnClose(t *testing.T) {
	s, err := api.New(newFake(), api.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	resp, rd := openLiveStream(t, srv, "interval=250ms")
	defer resp.Body.Close() // before srv.Close, which waits for the stream
	readEvent(t, rd)
	s.Close()
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(resp.Body); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stream ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream is still open after Close")
	}
}

func TestHistorySearch(t *testing.T) {
	fake := newFake()
	srv := newServer(t, fake, nil)
	var list api.CallList
	if got := do(t, srv, "GET", "/api/v1/history?number=138&since=2026-11-25T08:00:00Z&until=2026-11-25T10:00:00%2B01:00&limit=20&before=00ff00ff00ff00ff61", "", &list); got != 200 || len(list.Calls) != 1 {
		t.Fatalf("search: %d %+v", got, list)
	}
	fake.mu.Lock()
	q := fake.searches[len(fake.searches)-1]
	fake.mu.Unlock()
	want := engine.HistoryQuery{Number: "138", Since: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC),
		Until: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), Before: "00ff00ff00ff00ff61", Limit: 20}
	if q.Number != want.Number || !q.Since.Equal(want.Since) || !q.Until.Equal(want.Until) || q.Before != want.Before || q.Limit != want.Limit {
		t.Fatalf("backend asked %+v, want %+v", q, want)
	}
	for _, c := range []struct{ query, field string }{
		{"since=yesterday", "since"},
		{"until=2026-11-25", "until"},
		{"since=2026-11-25T10:00:00Z&until=2026-11-25T09:00:00Z", "until"},
		{"before=not-a-cursor", "before"},
	} {
		var e api.Error
		if got := do(t, srv, "GET", "/api/v1/history?"+c.query, "", &e); got != 400 || e.Field != c.field {
			t.Errorf("%s: %d %+v, want 400 naming %s", c.query, got, e, c.field)
		}
	}
}

// TestCallLiveWithPath: GET /api/v1/calls/{id} of a live call gives its
// activity and its path so far.
func TestCallLiveWithPath(t *testing.T) {
	fake := newFake()
	since := now.Add(-2 * time.Second)
	fake.setLive(api.Call{ID: "call-live", Live: true, From: "13800000001", Started: now.Add(-time.Minute),
		Activity: &engine.Activity{Kind: engine.ActivityWaitingKeys, Since: since},
		Path:     []engine.PathEntry{{At: since, Kind: "prompt", Value: "user_welcome"}}})
	srv := newServer(t, fake, nil)
	var c api.Call
	if got := do(t, srv, "GET", "/api/v1/calls/call-live", "", &c); got != 200 || !c.Live || c.Activity == nil ||
		c.Activity.Kind != engine.ActivityWaitingKeys || len(c.Path) != 1 {
		t.Fatalf("live call: %d %+v", got, c)
	}
}

// TestLiveCallStreamOutlivesTimeouts: a stream lasts longer than the
// listener's read and write timeouts (a minute on the daemon), as the
// console keeps one open for as long as the page is.
func TestLiveCallStreamOutlivesTimeouts(t *testing.T) {
	fake := newFake()
	s, err := api.New(fake, api.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	srv.Start()
	defer srv.Close()
	resp, rd := openLiveStream(t, srv, "interval=250ms")
	defer resp.Body.Close() // before srv.Close, which waits for the stream
	readEvent(t, rd)
	time.Sleep(time.Second)
	fake.setLive()
	if p := readEvent(t, rd); p.Total != 0 {
		t.Fatalf("after a second: %+v", p)
	}
}

// TestLiveCallStreamEndsWithTheSession: a console's stream closes when its
// session ends (here by signing out in another tab); a bearer's does not
// depend on any session.
func TestLiveCallStreamEndsWithTheSession(t *testing.T) {
	srv := newServer(t, newFake(), nil)
	b := signIn(t, srv)
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/calls/stream?interval=250ms", nil)
	req.Header.Set("Cookie", api.SessionCookie+"="+b.cookie)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream with the cookie: %d", resp.StatusCode)
	}
	readEvent(t, bufio.NewReader(resp.Body))
	if code, _, _ := b.do(t, srv, "DELETE", "/api/v1/session", ""); code != 204 {
		t.Fatalf("sign-out: %d", code)
	}
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, resp.Body); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream is still open after its session ended")
	}
}

// TestLiveCallStreamKeepAlive: a stream that looks at the calls once a
// minute still sends its keep-alive comments on their own clock, so a
// proxy that closes idle connections does not cut it between two looks.
func TestLiveCallStreamKeepAlive(t *testing.T) {
	srv := newServer(t, newFake(), func(o *api.Options) { o.StreamKeepAlive = 100 * time.Millisecond })
	_, rd := openLiveStream(t, srv, "interval=1m")
	readEvent(t, rd) // the first page
	done := make(chan string, 1)
	go func() {
		for {
			line, err := rd.ReadString('\n')
			if err != nil || strings.HasPrefix(line, ":") {
				done <- line
				return
			}
		}
	}()
	select {
	case line := <-done:
		if line != ": nothing new\n" {
			t.Fatalf("read %q, want a keep-alive comment", line)
		}
	case <-time.After(30 * time.Second): // a hang detector: the keep-alive is due in 0.1 s, the next look in 60 s
		t.Fatal("no keep-alive within 30 s on a stream looking once a minute")
	}
}
