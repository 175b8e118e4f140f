package omsim_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// epoch is where every virtual clock starts: a fixed date, so Cdr times are
// known.
var epoch = time.Date(2026, 3, 9, 17, 50, 0, 0, time.UTC)

// caller is the number scripted callers dial from.
const caller = "13800000001"

// received is one report as the collector got it.
type received struct {
	Method string
	Path   string
	Body   string
	Report *omproto.Report
}

// collector is the app side of the report channel: an omproto.Receiver
// behind a real loopback server, recording each report with the method it
// came by.
type collector struct {
	mu   sync.Mutex
	got  []received
	next int // first report not yet taken
	srv  *httptest.Server
	// onReport, when set, runs for each accepted report before it is
	// recorded.
	onReport func(received)
}

func newCollector(t *testing.T, clk clock.Clock, secret string) *collector {
	t.Helper()
	c := &collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Keep the body for shape checks, and hand the request to a real
		// Receiver (one per request, so that its Handler knows which
		// request the report came by).
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		rec := received{Method: r.Method, Path: r.URL.Path, Body: string(body)}
		rv := &omproto.Receiver{Secret: secret, Now: clk.Now, Handler: func(rep *omproto.Report) { rec.Report = rep }}
		rv.ServeHTTP(w, r)
		if rec.Report == nil {
			return // rejected; the Receiver answered
		}
		c.mu.Lock()
		f := c.onReport
		c.mu.Unlock()
		if f != nil {
			f(rec)
		}
		c.mu.Lock()
		c.got = append(c.got, rec)
		c.mu.Unlock()
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// all returns every report received so far.
func (c *collector) all() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.got...)
}

// take returns the reports received since the last take.
func (c *collector) take() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]received(nil), c.got[c.next:]...)
	c.next = len(c.got)
	return out
}

// harness is a simulated device on a virtual clock with a report collector
// and an omproto.Client for commands; everything is closed at cleanup.
type harness struct {
	t      *testing.T
	clk    *clock.Virtual
	sim    *omsim.Sim
	col    *collector
	client *omproto.Client
	ctx    context.Context
}

// newHarness starts a device whose configuration is the default one
// changed by edit (which may be nil), with reports going to a collector,
// and takes the BOOTUP it reports.
func newHarness(t *testing.T, edit func(*omsim.Config)) *harness {
	t.Helper()
	clk := clock.NewVirtual(epoch)
	cfg := omsim.DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	col := newCollector(t, clk, cfg.ReportSecret)
	if cfg.ReportURL == "" {
		cfg.ReportURL = col.srv.URL + "/omapi/report"
	}
	sim, err := omsim.New(cfg, clk)
	if err != nil {
		t.Fatalf("omsim.New: %v", err)
	}
	t.Cleanup(func() {
		if err := sim.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	h := &harness{
		t:   t,
		clk: clk,
		sim: sim,
		col: col,
		client: &omproto.Client{
			BaseURL:      sim.URL(),
			Secret:       cfg.CommandSecret,
			Now:          clk.Now,
			QueryRetries: -1,
			Timeout:      10 * time.Second,
		},
		ctx: ctx,
	}
	h.expect("BOOTUP")
	return h
}

// settle waits until the device is quiet and checks quiescence: every
// report generated so far has been delivered, and the collector got each
// one exactly once, in the order generated.
func (h *harness) settle() {
	h.t.Helper()
	h.sim.Settle()
	recs := h.sim.Reports()
	var sent []string
	for i, r := range recs {
		if r.Result != "sent" {
			h.t.Fatalf("after Settle report %d (%s) is %q, want sent", i, r.Kind, r.Result)
		}
		sent = append(sent, r.Kind)
	}
	var got []string
	for _, r := range h.col.all() {
		got = append(got, r.Report.Kind())
	}
	if !reflect.DeepEqual(got, sent) {
		h.t.Fatalf("after Settle the collector got %v, the device sent %v", got, sent)
	}
}

// advance moves the virtual clock on and settles.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.clk.Advance(d)
	h.settle()
}

// take settles and returns the reports received since the last take.
func (h *harness) take() []received {
	h.t.Helper()
	h.settle()
	return h.col.take()
}

// expect settles and checks the reports since the last take against want,
// each in the form describe gives; it returns them.
func (h *harness) expect(want ...string) []*omproto.Report {
	h.t.Helper()
	got := h.take()
	if !reflect.DeepEqual(describeAll(got), want) && !(len(got) == 0 && len(want) == 0) {
		h.t.Fatalf("reports:\n  got  %q\n  want %q", describeAll(got), want)
	}
	out := make([]*omproto.Report, len(got))
	for i, r := range got {
		out[i] = r.Report
	}
	return out
}

func describeAll(rs []received) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, describe(r.Report))
	}
	return out
}

// describe gives a report in a short form that names everything tests
// compare: "DTMF visitor:1 menu:1 info=12#", "FAILED outer:1 code=6",
// "Cdr OU 60001>13900000000 dur=0".
func describe(r *omproto.Report) string {
	if r.Cdr != nil {
		c := r.Cdr
		return fmt.Sprintf("Cdr %s %s>%s dur=%d", c.Type, c.CPN, c.CDPN, c.Duration)
	}
	if r.Event == nil {
		return "?" + r.Kind()
	}
	e := r.Event
	parts := []string{e.Name}
	for _, c := range e.Calls {
		parts = append(parts, string(c.Kind)+":"+c.ID)
	}
	for _, o := range e.Objects {
		parts = append(parts, string(o.Kind)+":"+o.ID)
	}
	if e.Info != "" {
		parts = append(parts, "info="+e.Info)
	}
	if e.Failure != nil {
		parts = append(parts, fmt.Sprintf("code=%d", e.Failure.Code))
	}
	return strings.Join(parts, " ")
}

// do sends a command with the harness's client.
func (h *harness) do(cmd omproto.Command) (*omproto.Response, error) {
	h.t.Helper()
	return h.client.Do(h.ctx, cmd)
}

// mustDo sends a command that must succeed.
func (h *harness) mustDo(cmd omproto.Command) *omproto.Response {
	h.t.Helper()
	resp, err := h.do(cmd)
	if err != nil {
		h.t.Fatalf("%s %s: %v", cmd.Root(), cmd.Verb(), err)
	}
	return resp
}

// connect sends a Transfer Connect that must succeed and returns the
// TRANSIENT answer, if any.
func (h *harness) connect(from omproto.Ref, to omproto.Ref, voicefile string) *omproto.Event {
	h.t.Helper()
	ev, err := h.client.Connect(h.ctx, omproto.Connect{From: from, To: to, VoiceFile: voicefile})
	if err != nil {
		h.t.Fatalf("Connect %v → %v: %v", from, to, err)
	}
	return ev
}

// failCode sends a command that must be refused with a FAILED answer and
// returns its error.
func (h *harness) failCode(cmd omproto.Command, code int) *omproto.Error {
	h.t.Helper()
	_, err := h.do(cmd)
	var oe *omproto.Error
	if !errors.As(err, &oe) {
		h.t.Fatalf("%s %s: error %v, want FAILED code %d", cmd.Root(), cmd.Verb(), err, code)
	}
	if oe.Code != code {
		h.t.Fatalf("%s %s: FAILED code %d (%s), want %d", cmd.Root(), cmd.Verb(), oe.Code, oe.Reason, code)
	}
	return oe
}

// assignMenu assigns a menu and checks the device took it.
func (h *harness) assignMenu(m omproto.AssignMenu) {
	h.t.Helper()
	st, err := h.client.AssignMenu(h.ctx, m)
	if err != nil {
		h.t.Fatalf("AssignMenu %+v: %v", m, err)
	}
	if len(st.Menus) != 1 || st.Menus[0].ID != m.ID || st.Menus[0].VoiceFile != m.VoiceFile {
		h.t.Fatalf("AssignMenu %+v answered %+v", m, st.Menus)
	}
}

// place places an incoming call and takes its INCOMING (or INVITE).
func (h *harness) place(from string) *omsim.Call {
	h.t.Helper()
	c, err := h.sim.PlaceCall(from, "")
	if err != nil {
		h.t.Fatalf("PlaceCall: %v", err)
	}
	return c
}

// incoming places a call under control after answer, checks its INCOMING
// and returns the call and its visitor.
func (h *harness) incoming(from string) (*omsim.Call, omproto.Call) {
	h.t.Helper()
	c := h.place(from)
	got := h.take()
	if len(got) != 1 || got[0].Report.Kind() != omproto.EventIncoming {
		h.t.Fatalf("after PlaceCall got %q, want one INCOMING", describeAll(got))
	}
	return c, *got[0].Report.Event.Call()
}

// state checks a scripted call's state.
func wantState(t *testing.T, c *omsim.Call, want string) {
	t.Helper()
	if got := c.State(); got != want {
		t.Fatalf("call %s state %q, want %q (%+v)", c.ID(), got, want, c.Info())
	}
}

// extState checks an extension's state.
func (h *harness) extState(id, want string) {
	h.t.Helper()
	got, err := h.sim.ExtState(id)
	if err != nil || got != want {
		h.t.Fatalf("ext %s state %q (%v), want %q", id, got, err, want)
	}
}

// Refs, for brevity.
func visitor(id string) omproto.Ref { return omproto.Ref{Kind: omproto.KindVisitor, ID: id} }
func outerID(id string) omproto.Ref { return omproto.Ref{Kind: omproto.KindOuter, ID: id} }
func dial(n string) omproto.Ref     { return omproto.Ref{Kind: omproto.KindOuter, To: n} }
func ext(id string) omproto.Ref     { return omproto.Ref{Kind: omproto.KindExt, ID: id} }
func menu(id string) omproto.Ref    { return omproto.Ref{Kind: omproto.KindMenu, ID: id} }
func group(id string) omproto.Ref   { return omproto.Ref{Kind: omproto.KindGroup, ID: id} }

// waitFor polls cond on real time until it holds, failing after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rawExchange writes req on a fresh connection to addr and reads until the
// server closes it, returning everything read. It fails if the server keeps
// the connection open.
func rawExchange(t *testing.T, addr, req string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("reading until the server closes: %v (read %q)", err, out)
	}
	return string(out)
}

// rawRequest builds a POST /xml request with a fixed Content-Length.
func rawRequest(proto, body string, headers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "POST /xml %s\r\nHost: om\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n", proto, len(body))
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

// parseResponses reads every HTTP response in raw.
func parseResponses(t *testing.T, raw string) []*http.Response {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(raw))
	var out []*http.Response
	for {
		if _, err := br.Peek(1); err != nil {
			return out
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("parsing %q: %v", raw, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, resp)
	}
}

func bodyOf(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(b)))
	return string(b)
}

// post sends body as an HTTP/1.0 command on a raw connection and returns
// the status and the answer body.
func (h *harness) post(body string) (int, string) {
	h.t.Helper()
	resps := parseResponses(h.t, rawExchange(h.t, h.sim.Addr(), rawRequest("HTTP/1.0", body)))
	if len(resps) != 1 {
		h.t.Fatalf("got %d responses, want 1", len(resps))
	}
	return resps[0].StatusCode, bodyOf(resps[0])
}

// encode is a command body as ivrd sends it, unsigned.
func encode(c omproto.Command) string { return string(omproto.EncodeCommand(c, nil)) }
