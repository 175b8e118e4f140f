package omproto_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/omproto"
)

// Reports as the OM sends them (omapi.md §1, §5).
const (
	reportIncoming = `<?xml version="1.0" encoding="utf-8" ?>` + "\n" +
		`<Event attribute="INCOMING"><trunk id="02161204000"/>` + "\n" +
		`  <visitor id="31" from="13012345678" to="02161204000" callid="36895"/></Event>`
	reportDTMF = `<Event attribute="DTMF"><visitor id="46" from="13012345678" to="02161204000" callid="49164">` +
		`<menu id="1"/><info>123#</info></visitor></Event>`
	reportEndOfAnn = `<Event attribute="EndOfAnn"><visitor id="46" from="13012345678" to="02161204000"/><menu id="3"/></Event>`
	reportBye      = `<Event attribute="BYE"><visitor id="42" from="13012345678" to="02161208234" callid="16426"/><ext id="200"/></Event>`
	reportBootup   = `<Event attribute="BOOTUP"></Event>`
	reportCdr      = `<Cdr id="5720170309175055-0"><callid>32858</callid><TimeStart>20170309175037</TimeStart>` +
		`<Type>LO</Type><Route>IC</Route><CPN>200</CPN><CDPN>212</CDPN><TimeEnd>20170309175055</TimeEnd>` +
		`<Duration>13</Duration><TrunkNumber></TrunkNumber>` +
		`<Recording>20170309/200_212_20170309_175042_805A_cg.wav</Recording><RecCodec>PCMU</RecCodec></Cdr>`
	// reportSigned is the signed capture of omapi.md §1, secret 123456.
	reportSigned = `<Event attribute="IDLE"><ext id="230"/></Event>` + "\n" +
		`<Auth><nonce>55BB5523</nonce><timestamp>1543150543</timestamp>` + "\n" +
		`<signature>5807b047e203d03d7d9ee290791dc8db</signature></Auth>`
	signedAt = 1543150543
)

// receiverRig serves a Receiver on loopback HTTP and records what it
// delivers and rejects.
type receiverRig struct {
	rv   *omproto.Receiver
	srv  *httptest.Server
	addr string // host:port

	mu      sync.Mutex
	reports []*omproto.Report
	rejects []rejection
}

type rejection struct {
	status int
	err    error
}

// newReceiverRig serves rv (its Handler and OnReject are set here).
func newReceiverRig(t *testing.T, rv *omproto.Receiver) *receiverRig {
	t.Helper()
	rig := &receiverRig{rv: rv}
	rv.Handler = func(r *omproto.Report) {
		rig.mu.Lock()
		rig.reports = append(rig.reports, r)
		rig.mu.Unlock()
	}
	rv.OnReject = func(_ *http.Request, status int, err error) {
		rig.mu.Lock()
		rig.rejects = append(rig.rejects, rejection{status, err})
		rig.mu.Unlock()
	}
	rig.srv = httptest.NewServer(rv)
	t.Cleanup(rig.srv.Close)
	rig.addr = strings.TrimPrefix(rig.srv.URL, "http://")
	return rig
}

func (rig *receiverRig) delivered() []*omproto.Report {
	rig.mu.Lock()
	defer rig.mu.Unlock()
	return append([]*omproto.Report(nil), rig.reports...)
}

func (rig *receiverRig) rejected() []rejection {
	rig.mu.Lock()
	defer rig.mu.Unlock()
	return append([]rejection(nil), rig.rejects...)
}

// sendAsOM sends one report the way an OM does: a new connection, an
// HTTP/1.0 request with the XML in the body (GET by default) and a
// Content-Length, then the answer read until the connection closes.
func sendAsOM(t testing.TB, addr, method, body string) (status int, answer string) {
	t.Helper()
	status, answer, err := sendRawReport(addr, method, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, answer
}

func sendRawReport(addr, method, body string) (int, string, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return 0, "", err
	}
	_, err = fmt.Fprintf(conn, "%s /omapi/report HTTP/1.0\r\nHost: %s\r\nContent-Type: text/xml\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		method, addr, len(body), body)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, string(b), nil
}

func TestReceiver(t *testing.T) {
	at := func(sec int64) func() time.Time {
		return func() time.Time { return time.Unix(sec, 0) }
	}
	tests := []struct {
		name       string
		rv         *omproto.Receiver // nil: the zero Receiver
		method     string
		body       string
		wantStatus int
		wantStats  omproto.ReceiverStats
		wantErr    error // what OnReject is given, for errors.Is
		check      func(t *testing.T, r *omproto.Report)
	}{
		{
			name: "GET INCOMING", method: "GET", body: reportIncoming,
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
			check: func(t *testing.T, r *omproto.Report) {
				ev := r.Event
				if ev.Name != omproto.EventIncoming || ev.Trunk() != "02161204000" {
					t.Errorf("got %s on trunk %q, want INCOMING on 02161204000", ev.Name, ev.Trunk())
				}
				want := omproto.Call{Kind: omproto.KindVisitor, ID: "31", From: "13012345678", To: "02161204000", CallID: "36895"}
				if c := ev.Call(); c == nil || c.ID != want.ID || c.From != want.From || c.CallID != want.CallID {
					t.Errorf("got call %+v, want %+v", c, want)
				}
			},
		},
		{
			name: "POST DTMF", method: "POST", body: reportDTMF,
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
			check: func(t *testing.T, r *omproto.Report) {
				ev := r.Event
				if ev.Name != omproto.EventDTMF || ev.Info != "123#" || ev.Menu() != "1" || ev.Call().ID != "46" {
					t.Errorf("got %s info %q menu %q call %+v, want DTMF 123# in menu 1 from visitor 46", ev.Name, ev.Info, ev.Menu(), ev.Call())
				}
			},
		},
		{
			name: "EndOfAnn", method: "GET", body: reportEndOfAnn,
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
			check: func(t *testing.T, r *omproto.Report) {
				if r.Kind() != omproto.EventEndOfAnn || r.Event.Menu() != "3" {
					t.Errorf("got %s menu %q, want EndOfAnn menu 3", r.Kind(), r.Event.Menu())
				}
			},
		},
		{
			name: "BYE", method: "GET", body: reportBye,
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
			check: func(t *testing.T, r *omproto.Report) {
				if r.Kind() != omproto.EventBye || r.Event.Ext() != "200" || r.Event.Call().CallID != "16426" {
					t.Errorf("got %s ext %q, want BYE ext 200 callid 16426", r.Kind(), r.Event.Ext())
				}
			},
		},
		{
			name: "BOOTUP", method: "GET", body: reportBootup,
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
			check: func(t *testing.T, r *omproto.Report) {
				if r.Kind() != omproto.EventBootup {
					t.Errorf("got %q, want BOOTUP", r.Kind())
				}
			},
		},
		{
			name: "Cdr", method: "GET", body: reportCdr,
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
			check: func(t *testing.T, r *omproto.Report) {
				c := r.Cdr
				if c == nil {
					t.Fatalf("got %q, want a Cdr", r.Kind())
				}
				if c.ID != "5720170309175055-0" || c.CallID != "32858" || c.Duration != 13 || c.Type != "LO" ||
					c.Recording != "20170309/200_212_20170309_175042_805A_cg.wav" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "unknown event", method: "GET", body: `<Event attribute="SOMETHING_NEW"><ext id="1"/><gizmo x="1"/></Event>`,
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
			check: func(t *testing.T, r *omproto.Report) {
				if r.Kind() != "SOMETHING_NEW" || len(r.Event.Extra) != 1 {
					t.Errorf("got %q with extra %v, want SOMETHING_NEW with the gizmo", r.Kind(), r.Event.Extra)
				}
			},
		},
		{
			name: "unknown root", method: "POST", body: `<Alarm level="2"><text>fan</text></Alarm>`,
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
			check: func(t *testing.T, r *omproto.Report) {
				if r.Other == nil || r.Other.Name != "Alarm" {
					t.Errorf("got %+v, want the Alarm element in Other", r)
				}
			},
		},
		{
			name: "signed capture, in time", method: "GET", body: reportSigned,
			rv:         &omproto.Receiver{Secret: "123456", Now: at(signedAt)},
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
			check: func(t *testing.T, r *omproto.Report) {
				if r.Kind() != omproto.EventIdle || r.Event.Ext() != "230" || r.Auth == nil {
					t.Errorf("got %q ext %q auth %v, want a signed IDLE of ext 230", r.Kind(), r.Event.Ext(), r.Auth)
				}
			},
		},
		{
			name: "signed capture, window edge", method: "GET", body: reportSigned,
			rv:         &omproto.Receiver{Secret: "123456", Now: at(signedAt + 300)},
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
		},
		{
			name: "signed capture, an hour late", method: "GET", body: reportSigned,
			rv:         &omproto.Receiver{Secret: "123456", Now: at(signedAt + 3600)},
			wantStatus: 401, wantStats: omproto.ReceiverStats{Unauthorized: 1}, wantErr: omproto.ErrStaleSignature,
		},
		{
			name: "signed capture, an hour early", method: "GET", body: reportSigned,
			rv:         &omproto.Receiver{Secret: "123456", Now: at(signedAt - 3600)},
			wantStatus: 401, wantStats: omproto.ReceiverStats{Unauthorized: 1}, wantErr: omproto.ErrStaleSignature,
		},
		{
			name: "signed capture, wider window", method: "GET", body: reportSigned,
			rv:         &omproto.Receiver{Secret: "123456", Now: at(signedAt + 3600), Window: 2 * time.Hour},
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
		},
		{
			name: "signed capture, freshness off", method: "GET", body: reportSigned,
			rv:         &omproto.Receiver{Secret: "123456", Now: at(signedAt + 86400), Window: -1},
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
		},
		{
			name: "signed capture, wrong secret", method: "GET", body: reportSigned,
			rv:         &omproto.Receiver{Secret: "654321", Now: at(signedAt)},
			wantStatus: 401, wantStats: omproto.ReceiverStats{Unauthorized: 1}, wantErr: omproto.ErrBadSignature,
		},
		{
			name: "signed capture, tampered signature", method: "GET", body: strings.Replace(reportSigned, "5807b047", "5807b048", 1),
			rv:         &omproto.Receiver{Secret: "123456", Now: at(signedAt)},
			wantStatus: 401, wantStats: omproto.ReceiverStats{Unauthorized: 1}, wantErr: omproto.ErrBadSignature,
		},
		{
			name: "unsigned, secret set", method: "GET", body: reportBye,
			rv:         &omproto.Receiver{Secret: "123456"},
			wantStatus: 401, wantStats: omproto.ReceiverStats{Unauthorized: 1}, wantErr: omproto.ErrMissingSignature,
		},
		{
			name: "signed, no secret set", method: "GET", body: reportSigned,
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
		},
		{
			name: "source allowed", method: "GET", body: reportBye,
			rv:         &omproto.Receiver{Allow: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("127.0.0.1/32")}},
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
		},
		{
			name: "source forbidden", method: "GET", body: reportBye,
			rv:         &omproto.Receiver{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			wantStatus: 403, wantStats: omproto.ReceiverStats{Forbidden: 1},
		},
		{
			name: "PUT", method: "PUT", body: reportBye,
			wantStatus: 405, wantStats: omproto.ReceiverStats{Method: 1},
		},
		{
			name: "DELETE", method: "DELETE", body: "",
			wantStatus: 405, wantStats: omproto.ReceiverStats{Method: 1},
		},
		{
			name: "too large", method: "GET", body: reportCdr,
			rv:         &omproto.Receiver{MaxBody: 64},
			wantStatus: 413, wantStats: omproto.ReceiverStats{TooLarge: 1},
		},
		{
			name: "exactly the limit", method: "GET", body: reportBootup,
			rv:         &omproto.Receiver{MaxBody: int64(len(reportBootup))},
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
		},
		{
			name: "malformed", method: "GET", body: `<Event attribute="BYE"><visitor id="1"></Event>`,
			wantStatus: 400, wantStats: omproto.ReceiverStats{Malformed: 1},
			wantErr: new(omproto.SyntaxError),
		},
		{
			name: "empty body", method: "GET", body: "",
			wantStatus: 400, wantStats: omproto.ReceiverStats{Malformed: 1}, wantErr: omproto.ErrEmpty,
		},
		{
			name: "comment only", method: "POST", body: `<?xml version="1.0"?><!-- nothing -->`,
			wantStatus: 400, wantStats: omproto.ReceiverStats{Malformed: 1}, wantErr: omproto.ErrEmpty,
		},
		{
			// A garbled field does not lose the call record.
			name: "Cdr with a bad duration", method: "GET", body: `<Cdr id="1"><Duration>soon</Duration></Cdr>`,
			wantStatus: 200, wantStats: omproto.ReceiverStats{Accepted: 1},
			check: func(t *testing.T, r *omproto.Report) {
				if r.Cdr == nil || r.Cdr.Duration != omproto.DurationUnknown || r.Cdr.DurationText != "soon" {
					t.Errorf("got Cdr %+v, want Duration unknown with the text kept", r.Cdr)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rv := tt.rv
			if rv == nil {
				rv = &omproto.Receiver{}
			}
			rig := newReceiverRig(t, rv)
			status, answer := sendAsOM(t, rig.addr, tt.method, tt.body)
			if status != tt.wantStatus {
				t.Errorf("got status %d, want %d", status, tt.wantStatus)
			}
			// Delivery happens before the answer, so it is visible now.
			reports, rejects := rig.delivered(), rig.rejected()
			if got := rig.rv.Stats(); got != tt.wantStats {
				t.Errorf("got stats %+v, want %+v", got, tt.wantStats)
			}
			if tt.wantStatus != 200 {
				if len(reports) != 0 {
					t.Errorf("got %d reports delivered, want none", len(reports))
				}
				if len(rejects) != 1 || rejects[0].status != tt.wantStatus {
					t.Fatalf("got rejections %+v, want one with status %d", rejects, tt.wantStatus)
				}
				if tt.wantErr != nil && !rejectErrMatches(rejects[0].err, tt.wantErr) {
					t.Errorf("got rejection error %v, want %T %v", rejects[0].err, tt.wantErr, tt.wantErr)
				}
				return
			}
			if answer != "" {
				t.Errorf("got answer body %q, want it empty", answer)
			}
			if len(rejects) != 0 {
				t.Errorf("got rejections %+v, want none", rejects)
			}
			if len(reports) != 1 {
				t.Fatalf("got %d reports delivered, want 1", len(reports))
			}
			if tt.check != nil {
				tt.check(t, reports[0])
			}
		})
	}
}

// rejectErrMatches reports whether err is want (a sentinel) or, when want is a
// pointer to an error type, holds an error of that type.
func rejectErrMatches(err, want error) bool {
	switch want.(type) {
	case *omproto.SyntaxError:
		var se *omproto.SyntaxError
		return errors.As(err, &se)
	case *omproto.DecodeError:
		var de *omproto.DecodeError
		return errors.As(err, &de)
	}
	return errors.Is(err, want)
}

func TestReceiverMethodNotAllowedHeader(t *testing.T) {
	rig := newReceiverRig(t, &omproto.Receiver{})
	req, err := http.NewRequest("PUT", rig.srv.URL, strings.NewReader(reportBye))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, POST" {
		t.Errorf("got %d with Allow %q, want 405 with Allow \"GET, POST\"", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// A device on a long connection, or any ordinary HTTP client, is served
// too: several POSTs on one kept-alive connection, and a chunked body.
func TestReceiverStandardClient(t *testing.T) {
	rig := newReceiverRig(t, &omproto.Receiver{MaxBody: 1024})
	bodies := []string{reportIncoming, reportDTMF, reportEndOfAnn, reportBye, reportCdr}
	for _, body := range bodies {
		resp, err := rig.srv.Client().Post(rig.srv.URL+"/omapi/report", "text/xml", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("got %d, want 200", resp.StatusCode)
		}
	}
	var kinds []string
	for _, r := range rig.delivered() {
		kinds = append(kinds, r.Kind())
	}
	want := []string{omproto.EventIncoming, omproto.EventDTMF, omproto.EventEndOfAnn, omproto.EventBye, "Cdr"}
	if strings.Join(kinds, ",") != strings.Join(want, ",") {
		t.Errorf("got %v delivered, want %v", kinds, want)
	}

	t.Run("chunked over the limit", func(t *testing.T) {
		// A reader of unknown length makes net/http send it chunked, so the
		// limit is found while reading rather than from Content-Length.
		body := io.MultiReader(strings.NewReader(`<Event attribute="BYE">`), strings.NewReader(strings.Repeat(`<ext id="1"/>`, 200)+`</Event>`))
		resp, err := rig.srv.Client().Post(rig.srv.URL, "text/xml", body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("got %d, want 413", resp.StatusCode)
		}
		if got := rig.rv.Stats().TooLarge; got != 1 {
			t.Errorf("got TooLarge %d, want 1", got)
		}
	})
}

// The Handler runs before the answer is written: while it has not
// returned, the sender has no answer.
func TestReceiverHandlerBeforeAnswer(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	rv := &omproto.Receiver{Handler: func(*omproto.Report) {
		close(entered)
		<-release
	}}
	srv := httptest.NewServer(rv)
	defer srv.Close()
	done := make(chan int, 1)
	go func() {
		status, _, err := sendRawReport(strings.TrimPrefix(srv.URL, "http://"), "GET", reportBye)
		if err != nil {
			t.Error(err)
		}
		done <- status
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("Handler not called")
	}
	select {
	case status := <-done:
		t.Fatalf("got an answer %d while the Handler was still running", status)
	default:
	}
	close(release)
	select {
	case status := <-done:
		if status != 200 {
			t.Errorf("got %d, want 200", status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer after the Handler returned")
	}
}

func TestReceiverSourceAddress(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		remote     string
		forwarded  string
		wantStatus int
	}{
		{"10.1.2.3:5000", "", 200},
		{"[::ffff:10.1.2.3]:5000", "", 200},
		{"[fd00::1]:5000", "", 200},
		{"192.168.1.5:5000", "", 403},
		{"192.168.1.5:5000", "10.1.2.3", 403}, // forwarding headers are not trusted
		{"[::ffff:192.168.1.5]:5000", "", 403},
		{"not an address", "", 403},
		{"", "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.remote, func(t *testing.T) {
			delivered := 0
			rv := &omproto.Receiver{Allow: allow, Handler: func(*omproto.Report) { delivered++ }}
			req := httptest.NewRequest("GET", "/omapi/report", strings.NewReader(reportBootup))
			req.RemoteAddr = tt.remote
			if tt.forwarded != "" {
				req.Header.Set("X-Forwarded-For", tt.forwarded)
				req.Header.Set("X-Real-IP", tt.forwarded)
			}
			rec := httptest.NewRecorder()
			rv.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("got %d, want %d", rec.Code, tt.wantStatus)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.wantStatus == 200]; delivered != want {
				t.Errorf("got %d deliveries, want %d", delivered, want)
			}
		})
	}
}

func TestReceiverStats(t *testing.T) {
	rig := newReceiverRig(t, &omproto.Receiver{MaxBody: 512, Secret: "123456", Now: func() time.Time { return time.Unix(signedAt, 0) }})
	sends := []struct{ method, body string }{
		{"GET", reportSigned},
		{"POST", reportSigned},
		{"GET", reportSigned},
		{"PUT", reportSigned},
		{"GET", strings.Repeat(" ", 600) + reportSigned},
		{"GET", reportBye},
		{"GET", "<Event"},
		{"GET", ""},
	}
	for _, s := range sends {
		sendAsOM(t, rig.addr, s.method, s.body)
	}
	want := omproto.ReceiverStats{Accepted: 3, Method: 1, TooLarge: 1, Unauthorized: 1, Malformed: 2}
	if got := rig.rv.Stats(); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := len(rig.delivered()); got != 3 {
		t.Errorf("got %d delivered, want 3", got)
	}
}

// BenchmarkReceiverLoopback measures reports per second over loopback
// HTTP, one connection per report as the OM sends them.
func BenchmarkReceiverLoopback(b *testing.B) {
	rv := &omproto.Receiver{Handler: func(*omproto.Report) {}}
	srv := httptest.NewServer(rv)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	send := func(b *testing.B) {
		status, _, err := sendRawReport(addr, "GET", reportDTMF)
		if err != nil {
			b.Fatal(err)
		}
		if status != 200 {
			b.Fatalf("got %d, want 200", status)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			send(b)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				status, _, err := sendRawReport(addr, "GET", reportDTMF)
				if err != nil || status != 200 {
					b.Errorf("got %d, %v; want 200", status, err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	})
}
