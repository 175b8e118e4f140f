package omproto_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/omproto"
)

// omRequest is one request as the strict server read it off the wire.
type omRequest struct {
	Method, Target, Proto string
	Header                textproto.MIMEHeader
	Body                  []byte
}

// omAnswer is what the strict server does with a request.
type omAnswer struct {
	Status int    // 0 means 200
	Body   string // the answer body
	// KeepOpen answers HTTP/1.1 with a Content-Length and leaves the
	// connection open, so that a client that reuses it is caught.
	KeepOpen bool
	Hang     bool // never answer
	Drop     bool // close without answering
}

// strictOM is a stand-in for an OM's command server, written on a bare
// listener so that it sees exactly what the client sends. It refuses, and
// records as a violation that fails the test, anything the OM's server is
// known to choke on: a chunked body, no Content-Length, keep-alive, or a
// second request on one connection.
type strictOM struct {
	URL    string
	answer func(n int, req *omRequest) omAnswer

	ln   net.Listener
	done chan struct{}
	wg   sync.WaitGroup

	mu         sync.Mutex
	conns      int
	open       map[net.Conn]struct{}
	requests   []*omRequest
	violations []string
}

// newStrictOM starts a strict server on loopback; tlsConf, when set, makes
// it an https one. answer is called for the n-th request (from 1).
func newStrictOM(t *testing.T, tlsConf *tls.Config, answer func(n int, req *omRequest) omAnswer) *strictOM {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http"
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
		scheme = "https"
	}
	s := &strictOM{
		URL:    scheme + "://" + ln.Addr().String(),
		answer: answer,
		ln:     ln,
		done:   make(chan struct{}),
		open:   map[net.Conn]struct{}{},
	}
	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(func() {
		close(s.done)
		ln.Close()
		s.mu.Lock()
		for c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		for _, v := range s.violations {
			t.Errorf("strict OM server: %s", v)
		}
	})
	return s
}

// answerAlways gives the same answer to every request.
func answerAlways(a omAnswer) func(int, *omRequest) omAnswer {
	return func(int, *omRequest) omAnswer { return a }
}

func (s *strictOM) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns++
		s.open[conn] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.open, conn)
				s.mu.Unlock()
				conn.Close()
			}()
			s.serve(conn)
		}()
	}
}

func (s *strictOM) violate(conn net.Conn, format string, args ...any) {
	s.mu.Lock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
	s.mu.Unlock()
	io.WriteString(conn, "HTTP/1.0 400 Bad Request\r\nConnection: close\r\n\r\n")
}

func (s *strictOM) serve(conn net.Conn) {
	br := bufio.NewReader(conn)
	tp := textproto.NewReader(br)
	for first := true; ; first = false {
		line, err := tp.ReadLine()
		if err != nil {
			return // the client closed: what it should do after an answer
		}
		if !first {
			s.violate(conn, "second request on one connection: %q", line)
			return
		}
		parts := strings.Fields(line)
		if len(parts) != 3 {
			s.violate(conn, "bad request line %q", line)
			return
		}
		req := &omRequest{Method: parts[0], Target: parts[1], Proto: parts[2]}
		if req.Header, err = tp.ReadMIMEHeader(); err != nil {
			s.violate(conn, "bad header: %v", err)
			return
		}
		switch {
		case req.Method != "POST":
			s.violate(conn, "method %s, want POST", req.Method)
			return
		case req.Proto != "HTTP/1.0":
			s.violate(conn, "protocol %s, want HTTP/1.0", req.Proto)
			return
		case req.Header.Get("Transfer-Encoding") != "":
			s.violate(conn, "Transfer-Encoding %q", req.Header.Get("Transfer-Encoding"))
			return
		case !strings.EqualFold(req.Header.Get("Connection"), "close"):
			s.violate(conn, "Connection %q, want close", req.Header.Get("Connection"))
			return
		case req.Header.Get("Host") == "":
			s.violate(conn, "no Host")
			return
		}
		n, err := strconv.Atoi(req.Header.Get("Content-Length"))
		if err != nil || n < 0 {
			s.violate(conn, "Content-Length %q", req.Header.Get("Content-Length"))
			return
		}
		req.Body = make([]byte, n)
		if _, err := io.ReadFull(br, req.Body); err != nil {
			s.violate(conn, "body shorter than its Content-Length: %v", err)
			return
		}
		s.mu.Lock()
		s.requests = append(s.requests, req)
		count := len(s.requests)
		s.mu.Unlock()

		a := s.answer(count, req)
		status := a.Status
		if status == 0 {
			status = 200
		}
		switch {
		case a.Hang:
			<-s.done
			return
		case a.Drop:
			return
		case a.KeepOpen:
			fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s",
				status, strictStatusText(status), len(a.Body), a.Body)
		default:
			// As the OM answers: HTTP/1.0, no length, body until close.
			fmt.Fprintf(conn, "HTTP/1.0 %d %s\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n%s",
				status, strictStatusText(status), a.Body)
			return
		}
	}
}

func strictStatusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 401:
		return "Unauthorized"
	}
	return "Status"
}

// Requests returns the requests read so far.
func (s *strictOM) Requests() []*omRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*omRequest(nil), s.requests...)
}

// Conns returns how many connections were accepted.
func (s *strictOM) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// pollUntil waits until cond holds, failing the test after a deadline.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

const clientDecl = `<?xml version="1.0" encoding="utf-8" ?>` + "\n"

func TestClientCommands(t *testing.T) {
	api27 := 27
	ctx := context.Background()
	tests := []struct {
		name    string
		answer  string
		call    func(c *omproto.Client) (any, error)
		wantXML string // the request body after the XML declaration
		want    any    // the call's result
	}{
		{
			name: "DeviceInfo",
			answer: `<?xml version="1.0" encoding="utf-8"?><DeviceInfo><manufacturer>New Rock</manufacturer>` +
				`<model>OM50</model><version>2.1.5.112</version><mac>00:0e:a9:00:00:01</mac>` +
				`<devices><ext id="200" lineid="Phone 1"/><line id="02161204000" lineid="Line 1"/><group id="1"/></devices></DeviceInfo>`,
			call:    func(c *omproto.Client) (any, error) { return c.DeviceInfo(ctx) },
			wantXML: `<Control attribute="Query"><DeviceInfo/></Control>`,
			want: &omproto.DeviceInfo{
				Manufacturer: "New Rock", Model: "OM50", Version: "2.1.5.112", MAC: "00:0e:a9:00:00:01",
				Exts:   []omproto.Ref{{Kind: omproto.KindExt, ID: "200", LineID: "Phone 1"}},
				Lines:  []omproto.Ref{{Kind: omproto.KindLine, ID: "02161204000", LineID: "Line 1"}},
				Groups: []omproto.Ref{{Kind: omproto.KindGroup, ID: "1"}},
			},
		},
		{
			name: "Query ext",
			answer: `<Status><ext id="208"><lineid>Phone 1</lineid><group id="1"/><staffid>1304081</staffid>` +
				`<record>on</record><api>7</api><state>active</state>` +
				`<outer id="8" from="208" to="13012345678" trunk="02161208234" callid="28680"><state>talk</state></outer></ext></Status>`,
			call:    func(c *omproto.Client) (any, error) { return c.Query(ctx, omproto.KindExt, "208") },
			wantXML: `<Control attribute="Query"><ext id="208"/></Control>`,
			want: &omproto.Status{Exts: []omproto.ExtStatus{{
				ID: "208", LineID: "Phone 1", Groups: []string{"1"}, StaffID: "1304081", Record: "on", API: "7", State: "active",
				Calls: []omproto.Call{{Kind: omproto.KindOuter, ID: "8", From: "208", To: "13012345678",
					Trunk: "02161208234", CallID: "28680", State: "talk"}},
			}}},
		},
		{
			name:    "Query all visitors, empty answer",
			call:    func(c *omproto.Client) (any, error) { return c.Query(ctx, omproto.KindVisitor, "") },
			wantXML: `<Control attribute="Query"><visitor/></Control>`,
			want:    &omproto.Status{},
		},
		{
			name: "AssignMenu",
			answer: `<Status><menu id="1"><voicefile>welcome</voicefile><repeat>3</repeat><infolength>5</infolength>` +
				`<exit>#</exit></menu></Status>`,
			call: func(c *omproto.Client) (any, error) {
				return c.AssignMenu(ctx, omproto.AssignMenu{ID: "1", VoiceFile: "welcome", Repeat: 3, InfoLength: 5, Exit: "#"})
			},
			wantXML: `<Control attribute="Assign"><menu id="1"><voicefile>welcome</voicefile><repeat>3</repeat>` +
				`<infolength>5</infolength><exit>#</exit></menu></Control>`,
			want: &omproto.Status{Menus: []omproto.MenuStatus{{ID: "1", VoiceFile: "welcome", Repeat: 3, InfoLength: 5, Exit: "#"}}},
		},
		{
			name: "AssignGroup, empty answer",
			call: func(c *omproto.Client) (any, error) {
				return c.AssignGroup(ctx, omproto.AssignGroup{ID: "1", VoiceFile: "NewMorning", Distribution: "sequential", Exts: []string{"211", "212"}})
			},
			wantXML: `<Control attribute="Assign"><group id="1"><voicefile>NewMorning</voicefile>` +
				`<distribution>sequential</distribution><ext>211</ext><ext>212</ext></group></Control>`,
			want: &omproto.Status{},
		},
		{
			name:   "AssignExt",
			answer: `<Status><ext id="201"><lineid>Phone 1</lineid><api>27</api></ext></Status>`,
			call: func(c *omproto.Client) (any, error) {
				return c.AssignExt(ctx, omproto.AssignExt{LineID: "Phone 1", ID: "201", API: &api27})
			},
			wantXML: `<Control attribute="Assign"><ext lineid="Phone 1"><id>201</id><api>27</api></ext></Control>`,
			want:    &omproto.Status{Exts: []omproto.ExtStatus{{ID: "201", LineID: "Phone 1", API: "27"}}},
		},
		{
			name:    "Hold",
			call:    func(c *omproto.Client) (any, error) { return nil, c.Hold(ctx, "200") },
			wantXML: `<Control attribute="Hold"><ext id="200"/></Control>`,
		},
		{
			name:    "Unhold",
			call:    func(c *omproto.Client) (any, error) { return nil, c.Unhold(ctx, "200") },
			wantXML: `<Control attribute="Unhold"><ext id="200"/></Control>`,
		},
		{
			name:    "Mute",
			call:    func(c *omproto.Client) (any, error) { return nil, c.Mute(ctx, "200") },
			wantXML: `<Control attribute="Mute"><ext id="200"/></Control>`,
		},
		{
			name:    "Unmute",
			call:    func(c *omproto.Client) (any, error) { return nil, c.Unmute(ctx, "200") },
			wantXML: `<Control attribute="Unmute"><ext id="200"/></Control>`,
		},
		{
			name:    "Monitor",
			call:    func(c *omproto.Client) (any, error) { return nil, c.Monitor(ctx, "201", "200") },
			wantXML: `<Control attribute="Monitor"><ext id="201"/><ext id="200"/></Control>`,
		},
		{
			name:    "Talk",
			call:    func(c *omproto.Client) (any, error) { return nil, c.Talk(ctx, "201", "200") },
			wantXML: `<Control attribute="Talk"><ext id="201"/><ext id="200"/></Control>`,
		},
		{
			name:    "Listen",
			call:    func(c *omproto.Client) (any, error) { return nil, c.Listen(ctx, "201", "200") },
			wantXML: `<Control attribute="Listen"><ext id="201"/><ext id="200"/></Control>`,
		},
		{
			name:    "Bargein",
			call:    func(c *omproto.Client) (any, error) { return nil, c.Bargein(ctx, "201", "200") },
			wantXML: `<Control attribute="Bargein"><ext id="201"/><ext id="200"/></Control>`,
		},
		{
			name: "Clear",
			call: func(c *omproto.Client) (any, error) {
				return nil, c.Clear(ctx, omproto.Ref{Kind: omproto.KindVisitor, ID: "14"})
			},
			wantXML: `<Control attribute="Clear"><visitor id="14"/></Control>`,
		},
		{
			name: "Connect visitor to menu, empty answer",
			call: func(c *omproto.Client) (any, error) {
				ev, err := c.Connect(ctx, omproto.Connect{
					From: omproto.Ref{Kind: omproto.KindVisitor, ID: "14"}, To: omproto.Ref{Kind: omproto.KindMenu, ID: "1"},
					VoiceFile: "user_a+user_b",
				})
				return ev, err
			},
			wantXML: `<Transfer attribute="Connect"><visitor id="14"/><menu id="1"/><voicefile>user_a+user_b</voicefile></Transfer>`,
			want:    (*omproto.Event)(nil),
		},
		{
			name:   "Connect menu to outside number, TRANSIENT",
			answer: `<Event attribute="TRANSIENT"><outer id="7" from="1" to="13012345678" trunk="02161208234" callid="4711"/><menu id="1"/></Event>`,
			call: func(c *omproto.Client) (any, error) {
				return c.Connect(ctx, omproto.Connect{
					From: omproto.Ref{Kind: omproto.KindMenu, ID: "1"}, To: omproto.Ref{Kind: omproto.KindOuter, To: "13012345678"},
				})
			},
			wantXML: `<Transfer attribute="Connect"><menu id="1"/><outer to="13012345678"/></Transfer>`,
			want: &omproto.Event{
				Name:    omproto.EventTransient,
				Calls:   []omproto.Call{{Kind: omproto.KindOuter, ID: "7", From: "1", To: "13012345678", Trunk: "02161208234", CallID: "4711"}},
				Objects: []omproto.Ref{{Kind: omproto.KindMenu, ID: "1"}},
			},
		},
		{
			name: "Connect with trunk",
			call: func(c *omproto.Client) (any, error) {
				return c.Connect(ctx, omproto.Connect{
					From: omproto.Ref{Kind: omproto.KindExt, ID: "208"}, Trunk: "50017",
					To: omproto.Ref{Kind: omproto.KindOuter, To: "9,13012345678"},
				})
			},
			wantXML: `<Transfer attribute="Connect"><ext id="208"/><trunk id="50017"/><outer to="9,13012345678"/></Transfer>`,
			want:    (*omproto.Event)(nil),
		},
		{
			name: "Queue",
			call: func(c *omproto.Client) (any, error) {
				return nil, c.Queue(ctx, omproto.Ref{Kind: omproto.KindVisitor, ID: "1"}, omproto.Ref{Kind: omproto.KindGroup, ID: "1"})
			},
			wantXML: `<Transfer attribute="Queue"><visitor id="1"/><group id="1"/></Transfer>`,
		},
		{
			name:    "Accept",
			call:    func(c *omproto.Client) (any, error) { return nil, c.Accept(ctx, "31") },
			wantXML: `<Notify attribute="Accept"><visitor id="31"/></Notify>`,
		},
		{
			name:    "VoiceFiles",
			answer:  string(omproto.EncodeVoiceFiles([]string{"welcome", "user_welcome160431"})),
			call:    func(c *omproto.Client) (any, error) { return c.VoiceFiles(ctx) },
			wantXML: `<Manage attribute="Query"><voicefile/></Manage>`,
			want:    []string{"welcome", "user_welcome160431"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStrictOM(t, nil, answerAlways(omAnswer{Body: tt.answer}))
			c, err := omproto.NewClient(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.call(c)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			if got, want := string(reqs[0].Body), clientDecl+tt.wantXML; got != want {
				t.Errorf("sent body\n%s\nwant\n%s", got, want)
			}
			cmd, auth, err := omproto.DecodeCommand(reqs[0].Body)
			if err != nil {
				t.Fatalf("the sent body does not decode: %v", err)
			}
			if auth != nil {
				t.Errorf("got an <Auth> %+v in an unsigned command", auth)
			}
			if _, unknown := cmd.(omproto.UnknownCommand); unknown {
				t.Errorf("the sent command decodes as unknown: %#v", cmd)
			}
		})
	}
}

func TestClientWire(t *testing.T) {
	srv := newStrictOM(t, nil, answerAlways(omAnswer{}))
	c, err := omproto.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hold(context.Background(), "200"); err != nil {
		t.Fatal(err)
	}
	req := srv.Requests()[0]
	host := strings.TrimPrefix(srv.URL, "http://")
	checks := []struct{ what, got, want string }{
		{"method", req.Method, "POST"},
		{"target", req.Target, "/xml"},
		{"protocol", req.Proto, "HTTP/1.0"},
		{"Host", req.Header.Get("Host"), host},
		{"Content-Type", req.Header.Get("Content-Type"), "text/xml; charset=utf-8"},
		{"Content-Length", req.Header.Get("Content-Length"), strconv.Itoa(len(req.Body))},
		{"Connection", req.Header.Get("Connection"), "close"},
		{"Transfer-Encoding", req.Header.Get("Transfer-Encoding"), ""},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %q, want %q", ck.what, ck.got, ck.want)
		}
	}
}

func TestClientNewConnectionEachRequest(t *testing.T) {
	for _, keepOpen := range []bool{false, true} {
		t.Run(fmt.Sprintf("server keeps connection open=%v", keepOpen), func(t *testing.T) {
			srv := newStrictOM(t, nil, answerAlways(omAnswer{KeepOpen: keepOpen}))
			c, err := omproto.NewClient(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			const n = 5
			for i := range n {
				if err := c.Mute(context.Background(), strconv.Itoa(200+i)); err != nil {
					t.Fatalf("command %d: %v", i, err)
				}
			}
			if got := len(srv.Requests()); got != n {
				t.Errorf("got %d requests, want %d", got, n)
			}
			if got := srv.Conns(); got != n {
				t.Errorf("got %d connections, want %d (one per request)", got, n)
			}
		})
	}
}

func TestClientPathPrefix(t *testing.T) {
	tests := []struct{ suffix, wantTarget string }{
		{"", "/xml"},
		{"/", "/xml"},
		{"/om", "/om/xml"},
		{"/om/", "/om/xml"},
		{"/omapi/v1", "/omapi/v1/xml"},
	}
	for _, tt := range tests {
		t.Run(tt.suffix, func(t *testing.T) {
			srv := newStrictOM(t, nil, answerAlways(omAnswer{}))
			c, err := omproto.NewClient(srv.URL + tt.suffix)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Accept(context.Background(), "31"); err != nil {
				t.Fatal(err)
			}
			if got := srv.Requests()[0].Target; got != tt.wantTarget {
				t.Errorf("got target %q, want %q", got, tt.wantTarget)
			}
		})
	}
}

func TestClientSignature(t *testing.T) {
	const (
		secret = "123456"
		stamp  = 1543150543
		nonce  = "55BB5523"
		sig    = "5807b047e203d03d7d9ee290791dc8db" // omapi.md §1
	)
	if got := omproto.Signature(secret, nonce, strconv.Itoa(stamp)); got != sig {
		t.Fatalf("Signature of the omapi.md vector: got %s, want %s", got, sig)
	}

	// verifying answers as a signing OM does: 401 unless the signature
	// checks out with its secret.
	verifying := func(now func() time.Time) func(int, *omRequest) omAnswer {
		return func(_ int, req *omRequest) omAnswer {
			_, auth, err := omproto.DecodeCommand(req.Body)
			if err != nil || auth.Verify(secret, now(), time.Minute) != nil {
				return omAnswer{Status: 401, Body: "Unauthorized"}
			}
			return omAnswer{}
		}
	}

	t.Run("vector", func(t *testing.T) {
		at := time.Unix(stamp, 0)
		srv := newStrictOM(t, nil, verifying(func() time.Time { return at }))
		c := &omproto.Client{
			BaseURL: srv.URL, Secret: secret,
			Now:   func() time.Time { return at },
			Nonce: func() string { return nonce },
		}
		if err := c.Hold(context.Background(), "200"); err != nil {
			t.Fatalf("got %v, want the signed command accepted", err)
		}
		want := clientDecl + `<Auth><Timestamp>1543150543</Timestamp><nonce>55BB5523</nonce>` +
			`<Signature>5807b047e203d03d7d9ee290791dc8db</Signature></Auth>` + "\n" +
			`<Control attribute="Hold"><ext id="200"/></Control>`
		if got := string(srv.Requests()[0].Body); got != want {
			t.Errorf("sent\n%s\nwant\n%s", got, want)
		}
	})

	t.Run("fresh nonce and clock", func(t *testing.T) {
		srv := newStrictOM(t, nil, verifying(time.Now))
		c := &omproto.Client{BaseURL: srv.URL, Secret: secret}
		for range 2 {
			if _, err := c.Query(context.Background(), omproto.KindExt, "200"); err != nil {
				t.Fatalf("got %v, want the signed query accepted", err)
			}
		}
		var nonces []string
		for _, req := range srv.Requests() {
			_, auth, err := omproto.DecodeCommand(req.Body)
			if err != nil || auth == nil {
				t.Fatalf("request %q: no signature (%v)", req.Body, err)
			}
			nonces = append(nonces, auth.Nonce)
		}
		if nonces[0] == nonces[1] {
			t.Errorf("got the nonce %q twice, want a fresh one per command", nonces[0])
		}
	})

	t.Run("wrong secret", func(t *testing.T) {
		srv := newStrictOM(t, nil, verifying(time.Now))
		c := &omproto.Client{BaseURL: srv.URL, Secret: "654321"}
		err := c.Clear(context.Background(), omproto.Ref{Kind: omproto.KindOuter, ID: "7"})
		if !errors.Is(err, omproto.ErrUnauthorized) {
			t.Errorf("got %v, want ErrUnauthorized", err)
		}
	})
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	connect := func(c *omproto.Client) error {
		_, err := c.Connect(ctx, omproto.Connect{
			From: omproto.Ref{Kind: omproto.KindExt, ID: "208"}, To: omproto.Ref{Kind: omproto.KindOuter, To: "13012345678"},
		})
		return err
	}
	query := func(c *omproto.Client) error {
		_, err := c.Query(ctx, omproto.KindExt, "6604000")
		return err
	}
	tests := []struct {
		name       string
		answer     omAnswer
		maxResp    int64
		call       func(c *omproto.Client) error
		wantPrefix string
		check      func(t *testing.T, err error)
	}{
		{
			name:       "401",
			answer:     omAnswer{Status: 401, Body: "Unauthorized"},
			call:       query,
			wantPrefix: "Control Query: ",
			check: func(t *testing.T, err error) {
				if !errors.Is(err, omproto.ErrUnauthorized) {
					t.Errorf("got %v, want ErrUnauthorized", err)
				}
			},
		},
		{
			name:       "404",
			answer:     omAnswer{Status: 404},
			call:       connect,
			wantPrefix: "Transfer Connect: ",
			check: func(t *testing.T, err error) {
				var se *omproto.StatusError
				if !errors.As(err, &se) || se.StatusCode != 404 {
					t.Errorf("got %v, want a *StatusError 404", err)
				}
			},
		},
		{
			name:       "FAILED with err child",
			answer:     omAnswer{Body: `<Event attribute="FAILED"><ext id="208"/><outer to="13012345678"/><err><code>5</code><reason>no free trunk</reason></err></Event>`},
			call:       connect,
			wantPrefix: "Transfer Connect: ",
			check:      wantOMError(5, "no free trunk"),
		},
		{
			name:       "FAILED with attributes",
			answer:     omAnswer{Body: `<Event attribute="FAILED"><ext id="208"/><outer to="13012345678" code="3" reason="called extension offline"/></Event>`},
			call:       connect,
			wantPrefix: "Transfer Connect: ",
			check:      wantOMError(3, "called extension offline"),
		},
		{
			name:       "FAILED without code",
			answer:     omAnswer{Body: `<Event attribute="FAILED"><visitor id="14"/></Event>`},
			call:       func(c *omproto.Client) error { return c.Accept(ctx, "14") },
			wantPrefix: "Notify Accept: ",
			check:      wantOMError(omproto.CodeFailed, ""),
		},
		{
			name:       "comment: can't find",
			answer:     omAnswer{Body: `<!-- Error, can't find extension:6604000 -->`},
			call:       query,
			wantPrefix: "Control Query: ",
			check: func(t *testing.T, err error) {
				if !errors.Is(err, omproto.ErrNotFound) {
					t.Errorf("got %v, want ErrNotFound", err)
				}
				if !strings.Contains(err.Error(), "can't find extension:6604000") {
					t.Errorf("got %q, want the device's comment in it", err)
				}
			},
		},
		{
			name:       "comment: Empty Waiting List",
			answer:     omAnswer{Body: clientDecl + `<!-- Empty Waiting List -->`},
			call:       func(c *omproto.Client) error { return c.Clear(ctx, omproto.Ref{Kind: omproto.KindMenu, ID: "1"}) },
			wantPrefix: "Control Clear: ",
			check: func(t *testing.T, err error) {
				if !errors.Is(err, omproto.ErrEmptyWaitingList) {
					t.Errorf("got %v, want ErrEmptyWaitingList", err)
				}
			},
		},
		{
			name:       "malformed answer",
			answer:     omAnswer{Body: `<Status><ext id="1"></Status>`},
			call:       query,
			wantPrefix: "Control Query: ",
			check: func(t *testing.T, err error) {
				var se *omproto.SyntaxError
				if !errors.As(err, &se) {
					t.Errorf("got %v, want a *SyntaxError", err)
				}
			},
		},
		{
			name:       "DeviceInfo answered with Status",
			answer:     omAnswer{Body: `<Status/>`},
			call:       func(c *omproto.Client) error { _, err := c.DeviceInfo(ctx); return err },
			wantPrefix: "Control Query: ",
			check: func(t *testing.T, err error) {
				var de *omproto.DecodeError
				if !errors.As(err, &de) {
					t.Errorf("got %v, want a *DecodeError", err)
				}
			},
		},
		{
			name:       "Query answered with an event",
			answer:     omAnswer{Body: `<Event attribute="BUSY"><ext id="1"/></Event>`},
			call:       query,
			wantPrefix: "Control Query: ",
			check: func(t *testing.T, err error) {
				var de *omproto.DecodeError
				if !errors.As(err, &de) {
					t.Errorf("got %v, want a *DecodeError", err)
				}
			},
		},
		{
			name:       "answer too large",
			answer:     omAnswer{Body: `<Status>` + strings.Repeat(`<ext id="1"/>`, 100) + `</Status>`},
			maxResp:    512,
			call:       query,
			wantPrefix: "Control Query: ",
			check: func(t *testing.T, err error) {
				if !strings.Contains(err.Error(), "larger than 512 bytes") {
					t.Errorf("got %v, want a size error", err)
				}
			},
		},
		{
			name:       "dropped connection",
			answer:     omAnswer{Drop: true},
			call:       connect,
			wantPrefix: "Transfer Connect: ",
			check: func(t *testing.T, err error) {
				if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
					t.Errorf("got %v, want an EOF", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStrictOM(t, nil, answerAlways(tt.answer))
			c := &omproto.Client{BaseURL: srv.URL, MaxResponse: tt.maxResp, RetryBackoff: time.Millisecond}
			err := tt.call(c)
			if err == nil {
				t.Fatal("got no error")
			}
			if !strings.HasPrefix(err.Error(), tt.wantPrefix) {
				t.Errorf("got %q, want it prefixed %q", err, tt.wantPrefix)
			}
			tt.check(t, err)
		})
	}
}

func wantOMError(code int, reason string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var oe *omproto.Error
		if !errors.As(err, &oe) {
			t.Fatalf("got %v, want an *omproto.Error", err)
		}
		if oe.Code != code || oe.Reason != reason {
			t.Errorf("got code %d reason %q, want code %d reason %q", oe.Code, oe.Reason, code, reason)
		}
	}
}

func TestClientTimeouts(t *testing.T) {
	connect := func(ctx context.Context, c *omproto.Client) error {
		_, err := c.Connect(ctx, omproto.Connect{
			From: omproto.Ref{Kind: omproto.KindVisitor, ID: "1"}, To: omproto.Ref{Kind: omproto.KindMenu, ID: "1"},
		})
		return err
	}
	deviceInfo := func(ctx context.Context, c *omproto.Client) error {
		_, err := c.DeviceInfo(ctx)
		return err
	}
	tests := []struct {
		name       string
		timeout    time.Duration
		ctxTimeout time.Duration
		call       func(ctx context.Context, c *omproto.Client) error
		want       error
		notWant    error
	}{
		{"context deadline, Connect", time.Minute, 100 * time.Millisecond, connect, context.DeadlineExceeded, nil},
		{"context deadline, query", time.Minute, 100 * time.Millisecond, deviceInfo, context.DeadlineExceeded, nil},
		{"client Timeout", 100 * time.Millisecond, time.Minute, connect, os.ErrDeadlineExceeded, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStrictOM(t, nil, answerAlways(omAnswer{Hang: true}))
			c := &omproto.Client{BaseURL: srv.URL, Timeout: tt.timeout}
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctxTimeout)
			defer cancel()
			start := time.Now()
			err := tt.call(ctx, c)
			elapsed := time.Since(start)
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if tt.notWant != nil && errors.Is(err, tt.notWant) {
				t.Errorf("got %v, want it not to be %v", err, tt.notWant)
			}
			if elapsed > 2*time.Second {
				t.Errorf("took %v, want about 100ms", elapsed)
			}
			if got := len(srv.Requests()); got != 1 {
				t.Errorf("got %d requests, want 1", got)
			}
		})
	}

	t.Run("cancel", func(t *testing.T) {
		srv := newStrictOM(t, nil, answerAlways(omAnswer{Hang: true}))
		c := &omproto.Client{BaseURL: srv.URL}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- connect(ctx, c) }()
		pollUntil(t, "the request to arrive", func() bool { return len(srv.Requests()) == 1 })
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want context.Canceled", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Connect did not return after cancel")
		}
	})

	t.Run("backoff ends with the context", func(t *testing.T) {
		srv := newStrictOM(t, nil, answerAlways(omAnswer{Status: 503}))
		c := &omproto.Client{BaseURL: srv.URL, RetryBackoff: time.Hour}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := deviceInfo(ctx, c)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want context.DeadlineExceeded", err)
		}
		var se *omproto.StatusError
		if !errors.As(err, &se) || se.StatusCode != 503 {
			t.Errorf("got %v, want it to carry the last 503", err)
		}
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("took %v, want about 100ms", elapsed)
		}
	})
}

func TestClientRetries(t *testing.T) {
	const deviceInfo = `<DeviceInfo><model>OM20</model></DeviceInfo>`
	fail := func(failures int, how omAnswer) func(int, *omRequest) omAnswer {
		return func(n int, _ *omRequest) omAnswer {
			if n <= failures {
				return how
			}
			return omAnswer{Body: deviceInfo}
		}
	}
	queryCall := func(c *omproto.Client) error { _, err := c.DeviceInfo(context.Background()); return err }
	tests := []struct {
		name         string
		retries      int
		answer       func(int, *omRequest) omAnswer
		call         func(c *omproto.Client) error
		wantAttempts int
		wantErr      bool
	}{
		{"query, 503 twice", 0, fail(2, omAnswer{Status: 503}), queryCall, 3, false},
		{"query, dropped twice", 0, fail(2, omAnswer{Drop: true}), queryCall, 3, false},
		{"query, 503 three times", 0, fail(3, omAnswer{Status: 502}), queryCall, 3, true},
		{"query, four retries", 4, fail(4, omAnswer{Status: 500}), queryCall, 5, false},
		{"query, retries off", -1, fail(1, omAnswer{Status: 503}), queryCall, 1, true},
		{"query, 401 is final", 0, fail(1, omAnswer{Status: 401}), queryCall, 1, true},
		{"query, 400 is final", 0, fail(1, omAnswer{Status: 400}), queryCall, 1, true},
		{"query, not found is final", 0, fail(1, omAnswer{Body: `<!-- Error, can't find ext:1 -->`}),
			func(c *omproto.Client) error {
				_, err := c.Query(context.Background(), omproto.KindExt, "1")
				return err
			}, 1, true},
		{"voice files, dropped once", 0, fail(1, omAnswer{Drop: true}),
			func(c *omproto.Client) error { _, err := c.VoiceFiles(context.Background()); return err }, 2, false},
		{"Connect, 503", 5, fail(1, omAnswer{Status: 503}),
			func(c *omproto.Client) error {
				_, err := c.Connect(context.Background(), omproto.Connect{
					From: omproto.Ref{Kind: omproto.KindMenu, ID: "1"}, To: omproto.Ref{Kind: omproto.KindOuter, To: "13012345678"}})
				return err
			}, 1, true},
		{"Connect, dropped", 5, fail(1, omAnswer{Drop: true}),
			func(c *omproto.Client) error {
				_, err := c.Connect(context.Background(), omproto.Connect{
					From: omproto.Ref{Kind: omproto.KindVisitor, ID: "1"}, To: omproto.Ref{Kind: omproto.KindExt, ID: "200"}})
				return err
			}, 1, true},
		{"Clear, 503", 5, fail(1, omAnswer{Status: 503}),
			func(c *omproto.Client) error {
				return c.Clear(context.Background(), omproto.Ref{Kind: omproto.KindVisitor, ID: "1"})
			}, 1, true},
		{"AssignMenu, 503", 5, fail(1, omAnswer{Status: 503}),
			func(c *omproto.Client) error {
				_, err := c.AssignMenu(context.Background(), omproto.AssignMenu{ID: "1", VoiceFile: "welcome"})
				return err
			}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStrictOM(t, nil, tt.answer)
			c := &omproto.Client{BaseURL: srv.URL, QueryRetries: tt.retries, RetryBackoff: time.Millisecond}
			err := tt.call(c)
			if (err != nil) != tt.wantErr {
				t.Errorf("got error %v, want error %v", err, tt.wantErr)
			}
			if got := len(srv.Requests()); got != tt.wantAttempts {
				t.Errorf("got %d attempts, want %d", got, tt.wantAttempts)
			}
		})
	}
}

// traceTag is a context key of TestClientTrace.
type traceTag struct{}

// The trace hook sees each body, and the context the command was sent
// with (a tracer tags its lines from it).
func TestClientTrace(t *testing.T) {
	const answer = `<Event attribute="TRANSIENT"><outer id="9"/></Event>`
	srv := newStrictOM(t, nil, answerAlways(omAnswer{Body: answer}))
	var got []string
	c := &omproto.Client{BaseURL: srv.URL, Trace: func(ctx context.Context, dir string, body []byte) {
		tag, _ := ctx.Value(traceTag{}).(string)
		got = append(got, tag+" "+dir+" "+string(body))
	}}
	cmd := omproto.Connect{From: omproto.Ref{Kind: omproto.KindExt, ID: "200"}, To: omproto.Ref{Kind: omproto.KindOuter, To: "1"}}
	ctx := context.WithValue(context.Background(), traceTag{}, "call-7")
	if _, err := c.Connect(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"call-7 " + omproto.TraceRequest + " " + string(omproto.EncodeCommand(cmd, nil)),
		"call-7 " + omproto.TraceResponse + " " + answer,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("traced %q, want %q", got, want)
	}
}

func TestClientHTTPS(t *testing.T) {
	serverConf, roots := selfSignedTLS(t)
	srv := newStrictOM(t, serverConf, answerAlways(omAnswer{Body: `<DeviceInfo><model>OM500</model></DeviceInfo>`}))
	if !strings.HasPrefix(srv.URL, "https://") {
		t.Fatalf("got URL %s, want https", srv.URL)
	}

	t.Run("trusted", func(t *testing.T) {
		c, err := omproto.NewClient(srv.URL + "/om")
		if err != nil {
			t.Fatal(err)
		}
		c.TLSConfig = &tls.Config{RootCAs: roots}
		di, err := c.DeviceInfo(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if di.Model != "OM500" {
			t.Errorf("got model %q, want OM500", di.Model)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		c := &omproto.Client{BaseURL: srv.URL, QueryRetries: -1}
		_, err := c.DeviceInfo(context.Background())
		var ue x509.UnknownAuthorityError
		if !errors.As(err, &ue) {
			t.Errorf("got %v, want x509.UnknownAuthorityError", err)
		}
	})
}

// selfSignedTLS makes a server configuration with a certificate for
// 127.0.0.1 and the pool that trusts it.
func selfSignedTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "om test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, roots
}

func TestNewClient(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string // a part of the error naming what is wrong; "" for none
	}{
		{"http://192.168.1.10", ""},
		{"http://om.example:9080/om", ""},
		{"HTTPS://om.example:8443/", ""},
		{"http://[::1]:9080", ""},
		{"", "want http://"},
		{"192.168.1.10:9080", "want http://"},
		{"om.example/xml", "want http://"},
		{"http:om.example", "want http://"},
		{"ftp://om.example", `scheme "ftp"`},
		{"http://", "no host"},
		{"http://:9080", "no host"},
		{"http://om.example:0", `port "0"`},
		{"http://om.example:99999", `port "99999"`},
		{"http://admin:pw@om.example", "user info"},
		{"http://om.example/?x=1", "query"},
		{"http://om.example/#top", "fragment"},
		{"http://om example", "base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := omproto.NewClient(tt.url)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tt.wantErr == "" && c.BaseURL != tt.url:
				t.Errorf("got BaseURL %q, want %q", c.BaseURL, tt.url)
			case tt.wantErr != "" && err == nil:
				t.Errorf("got no error, want one about %s", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("got error %q, want it to name %q", err, tt.wantErr)
			}
		})
	}

	t.Run("zero Client", func(t *testing.T) {
		var c omproto.Client
		if err := c.Hold(context.Background(), "200"); err == nil || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("got %v, want a base URL error", err)
		}
	})
	t.Run("nil command", func(t *testing.T) {
		c := &omproto.Client{BaseURL: "http://127.0.0.1:1"}
		if _, err := c.Do(context.Background(), nil); err == nil {
			t.Error("got no error for a nil command")
		}
	})
}

func BenchmarkClientConnect(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				tp := textproto.NewReader(br)
				if _, err := tp.ReadLine(); err != nil {
					return
				}
				h, err := tp.ReadMIMEHeader()
				if err != nil {
					return
				}
				n, _ := strconv.Atoi(h.Get("Content-Length"))
				if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
					return
				}
				io.WriteString(conn, "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n")
			}()
		}
	}()
	c := &omproto.Client{BaseURL: "http://" + ln.Addr().String()}
	cmd := omproto.Connect{From: omproto.Ref{Kind: omproto.KindVisitor, ID: "14"}, To: omproto.Ref{Kind: omproto.KindMenu, ID: "3"}, VoiceFile: "user_a+user_b"}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Connect(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
}
