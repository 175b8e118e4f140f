package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

const (
	recUser     = "recorder"
	recPassword = "pw-4f1c9e2d77" // must never show in a log or an answer
)

// recRig is the daemon against a simulated OM whose extension 202
// records its calls, with a state file that outlives restarts of the
// daemon (reopen).
type recRig struct {
	t      *testing.T
	sim    *omsim.Sim
	cfg    Config
	report string // the report listener's address, kept across restarts
	srv    *Server
	base   string
	logs   *syncBuffer
	// adminWriteTimeout is the daemon's Server.AdminWriteTimeout at the
	// next open.
	adminWriteTimeout time.Duration
}

func newRecRig(t *testing.T, edit func(*Config)) *recRig {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simCfg := fastSim()
	simCfg.ReportURL = "http://" + ln.Addr().String() + "/om/om1"
	simCfg.Record = []string{"202"}
	simCfg.WebUser, simCfg.WebPassword = recUser, recPassword
	sim := startSim(t, simCfg)

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.lua"), adminMainFlow)
	cfg := DefaultConfig()
	cfg.Flows = dir
	cfg.State = filepath.Join(t.TempDir(), "ivrd.db")
	cfg.Admin.Listen, cfg.Admin.Token = "127.0.0.1:0", adminToken
	cfg.Devices = []DeviceConfig{{Name: "om1", URL: sim.URL(), Fallback: "200", ExtQuery: "off",
		WebUser: recUser, WebPassword: recPassword}}
	if edit != nil {
		edit(&cfg)
	}
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g := &recRig{t: t, sim: sim, cfg: cfg, report: ln.Addr().String(), logs: &syncBuffer{}}
	g.open(ln)
	t.Cleanup(func() {
		g.close()
		if testing.Verbose() {
			t.Logf("server log:\n%s", g.logs.String())
		}
		if strings.Contains(g.logs.String(), recPassword) {
			t.Errorf("the web password is in the log")
		}
	})
	return g
}

// open starts the daemon on ln (nil: a new listener on the same address).
func (g *recRig) open(ln net.Listener) {
	g.t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", g.report); err != nil {
			g.t.Fatal(err)
		}
	}
	srv := NewServer(g.cfg, hclog.New(&hclog.LoggerOptions{Output: g.logs, Level: hclog.Debug}))
	srv.Listener = ln
	srv.AdminWriteTimeout = g.adminWriteTimeout
	if err := srv.Open(context.Background()); err != nil {
		ln.Close()
		g.t.Fatal(err)
	}
	g.srv, g.base = srv, "http://"+srv.AdminAddr()
}

func (g *recRig) close() {
	if g.srv != nil {
		if err := g.srv.Close(); err != nil {
			g.t.Errorf("close: %v", err)
		}
		g.srv = nil
	}
}

// get sends an admin request and returns the status, headers and body.
func (g *recRig) do(method, path string, hdr ...string) (int, http.Header, []byte) {
	g.t.Helper()
	req, err := http.NewRequest(method, g.base+path, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if bytes.Contains(body, []byte(recPassword)) {
		g.t.Fatalf("%s %s shows the web password", method, path)
	}
	return resp.StatusCode, resp.Header, body
}

// list returns the recordings the admin API lists for a query.
func (g *recRig) list(query string) []engine.Recording {
	g.t.Helper()
	status, _, body := g.do("GET", "/api/v1/recordings"+query)
	var l api.RecordingList
	if status != 200 || json.Unmarshal(body, &l) != nil {
		g.t.Fatalf("GET /api/v1/recordings%s: %d %s", query, status, body)
	}
	return l.Recordings
}

// waitRecording polls the only recording until cond holds.
func (g *recRig) waitRecording(what string, cond func(engine.Recording) bool) engine.Recording {
	g.t.Helper()
	var last []engine.Recording
	deadline := time.Now().Add(10 * time.Second)
	for {
		last = g.list("")
		if len(last) == 1 && cond(last[0]) {
			return last[0]
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("timed out waiting for %s; recordings are %+v", what, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recordedCall makes 200 call 202, which records, and hangs up; before
// the hang-up, down runs (nil: nothing).
func (g *recRig) recordedCall(down func()) {
	g.t.Helper()
	client, err := omproto.NewClient(g.sim.URL())
	if err != nil {
		g.t.Fatal(err)
	}
	if _, err := client.Connect(context.Background(), omproto.Connect{
		From: omproto.Ref{Kind: omproto.KindExt, ID: "200"}, To: omproto.Ref{Kind: omproto.KindExt, ID: "202"}}); err != nil {
		g.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st, _ := g.sim.ExtState("202"); st != "busy"; st, _ = g.sim.ExtState("202") {
		if time.Now().After(deadline) {
			g.t.Fatal("202 never answered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if down != nil {
		down()
	}
	if err := g.sim.HangUpExt("200"); err != nil {
		g.t.Fatal(err)
	}
}

// events waits until the event log holds n events of a kind (it is
// written behind the recording's state) and returns them.
func (g *recRig) events(kind string, n int) []engine.CallEvent {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := g.srv.events.After(0, 10000)
		if err != nil {
			g.t.Fatal(err)
		}
		var out []engine.CallEvent
		for _, e := range evs {
			if e.Kind == kind {
				out = append(out, e)
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metric waits until one series of /metrics satisfies ok (the fetcher
// counts an attempt just after recording its outcome) and returns its
// value ("" when absent).
func (g *recRig) metric(series string, ok func(v string) bool) string {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, body := g.do("GET", "/metrics")
		v := ""
		for _, line := range strings.Split(string(body), "\n") {
			if val, found := strings.CutPrefix(line, series+" "); found {
				v = val
			}
		}
		if ok(v) || time.Now().After(deadline) {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// is is a metric condition: the value is want.
func is(want string) func(string) bool { return func(v string) bool { return v == want } }

// logged waits until the log holds s, and reports whether it does.
func (g *recRig) logged(s string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(g.logs.String(), s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// A recorded call's file is fetched with the web account, kept under the
// device's folder and served byte for byte as the device has it, with
// ranges; the call record shows it; an event and a metric tell of it.
func TestRecordingFetchedAndServed(t *testing.T) {
	g := newRecRig(t, nil)
	g.recordedCall(nil)
	rec := g.waitRecording("the fetch", func(r engine.Recording) bool { return r.State == engine.RecordingFetched })
	want, ok := g.sim.Recording(rec.Path)
	if !ok || len(want) < 8000 {
		t.Fatalf("the device holds %d bytes for %s", len(want), rec.Path)
	}
	sum := sha256.Sum256(want)
	if rec.Device != "om1" || rec.CPN != "200" || rec.CDPN != "202" || rec.Size != int64(len(want)) ||
		rec.SHA256 != hex.EncodeToString(sum[:]) || rec.Attempts != 1 || rec.File != "om1/"+rec.Path {
		t.Fatalf("recording = %+v", rec)
	}
	onDisk, err := os.ReadFile(filepath.Join(filepath.Dir(g.cfg.State), "recordings", "om1", filepath.FromSlash(rec.Path)))
	if err != nil || !bytes.Equal(onDisk, want) {
		t.Fatalf("the file beside the state file: %v, %d bytes", err, len(onDisk))
	}

	status, hdr, body := g.do("GET", "/api/v1/recordings/"+rec.ID+"/audio")
	if status != 200 || hdr.Get("Content-Type") != "audio/wav" || !bytes.Equal(body, want) {
		t.Fatalf("audio: %d %q, %d bytes, want %d identical", status, hdr.Get("Content-Type"), len(body), len(want))
	}
	status, hdr, body = g.do("GET", "/api/v1/recordings/"+rec.ID+"/audio", "Range", "bytes=100-199")
	if status != 206 || !bytes.Equal(body, want[100:200]) || hdr.Get("Content-Range") != fmt.Sprintf("bytes 100-199/%d", len(want)) {
		t.Fatalf("range: %d %q, %d bytes", status, hdr.Get("Content-Range"), len(body))
	}
	var one engine.Recording
	status, _, body = g.do("GET", "/api/v1/recordings/"+rec.ID)
	if status != 200 || json.Unmarshal(body, &one) != nil || one.ID != rec.ID || one.SHA256 != rec.SHA256 {
		t.Fatalf("metadata: %d %s", status, body)
	}

	var cdrs api.CdrList
	status, _, body = g.do("GET", "/api/v1/cdrs")
	if status != 200 || json.Unmarshal(body, &cdrs) != nil || len(cdrs.Cdrs) != 1 {
		t.Fatalf("cdrs: %d %s", status, body)
	}
	if c := cdrs.Cdrs[0]; c.Recording != rec.Path || c.RecordingID != rec.ID || c.RecordingState != engine.RecordingFetched {
		t.Fatalf("the call record shows %+v", c)
	}
	if l := g.list("?ext=202&state=fetched"); len(l) != 1 {
		t.Fatalf("ext=202&state=fetched lists %d", len(l))
	}
	if l := g.list("?state=failed"); len(l) != 0 {
		t.Fatalf("state=failed lists %d", len(l))
	}
	if l := g.list("?until=2000-01-01T00:00:00Z"); len(l) != 0 {
		t.Fatalf("until 2000 lists %d", len(l))
	}
	if evs := g.events(engine.KindRecordingReady, 1); len(evs) != 1 || evs[0].Device != "om1" || !bytes.Contains(evs[0].Data, []byte(rec.ID)) {
		t.Fatalf("recording.ready events: %+v", evs)
	}
	if v := g.metric(`ivrd_recording_fetches_total{outcome="fetched"}`, is("1")); v != "1" {
		t.Fatalf("fetched metric = %q", v)
	}
}

// A recording larger than the socket buffers hold, read by a client that
// waits longer than the admin listener's write timeout before reading,
// still arrives whole: its download gets time by its size.
func TestRecordingAudioToASlowReader(t *testing.T) {
	g := newRecRig(t, nil)
	g.close()
	g.adminWriteTimeout = 100 * time.Millisecond
	g.open(nil)
	g.recordedCall(nil)
	rec := g.waitRecording("the fetch", func(r engine.Recording) bool { return r.State == engine.RecordingFetched })
	big := bytes.Repeat([]byte{0xff}, 32<<20) // about 70 minutes of G.711
	if err := os.WriteFile(filepath.Join(filepath.Dir(g.cfg.State), "recordings", filepath.FromSlash(rec.File)), big, 0o640); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("GET", g.base+"/api/v1/recordings/"+rec.ID+"/audio", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(500 * time.Millisecond) // the slow reader: five write timeouts without reading
	n, err := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || err != nil || n != int64(len(big)) {
		t.Fatalf("audio to a slow reader: %d, %d of %d bytes, %v", resp.StatusCode, n, len(big), err)
	}
}

// The device is down when the record arrives: the fetch fails and waits
// for its backoff (an hour here), and the device's BOOTUP makes it due at
// once.
func TestRecordingFetchedAfterDeviceRestart(t *testing.T) {
	g := newRecRig(t, func(c *Config) { c.Recordings.FirstBackoff = "1h"; c.Recordings.MaxBackoff = "2h" })
	g.recordedCall(func() { g.sim.SetFaults(omsim.Faults{RefuseConnections: true}) })
	rec := g.waitRecording("the failed attempt", func(r engine.Recording) bool { return r.Attempts == 1 })
	if rec.State != engine.RecordingPending || rec.LastError == "" || time.Until(rec.NextAttempt) < 30*time.Minute {
		t.Fatalf("after a failed attempt: %+v", rec)
	}
	if status, _, _ := g.do("GET", "/api/v1/recordings/"+rec.ID+"/audio"); status != 409 {
		t.Fatalf("audio while pending: %d, want 409", status)
	}
	if v := g.metric(`ivrd_recording_fetches_total{outcome="retry"}`, is("1")); v != "1" {
		t.Fatalf("retry metric = %q", v)
	}
	if !g.logged("recording not fetched; will retry") {
		t.Fatal("the failed attempt is not logged")
	}

	g.sim.SetFaults(omsim.Faults{})
	g.sim.Reboot()
	rec = g.waitRecording("the fetch after BOOTUP", func(r engine.Recording) bool { return r.State == engine.RecordingFetched })
	want, _ := g.sim.Recording(rec.Path)
	if _, _, body := g.do("GET", "/api/v1/recordings/"+rec.ID+"/audio"); rec.Attempts != 2 || !bytes.Equal(body, want) {
		t.Fatalf("after BOOTUP: %+v, %d bytes served", rec, len(body))
	}
}

// A fetch still pending when ivrd stops is done by the next start.
func TestRecordingResumedAfterIvrdRestart(t *testing.T) {
	g := newRecRig(t, func(c *Config) { c.Recordings.FirstBackoff = "100ms"; c.Recordings.MaxBackoff = "100ms" })
	g.recordedCall(func() { g.sim.SetFaults(omsim.Faults{RecordingsMissing: true}) })
	g.waitRecording("a failed attempt", func(r engine.Recording) bool { return r.Attempts >= 1 })
	g.close()
	g.sim.SetFaults(omsim.Faults{})
	g.open(nil)
	rec := g.waitRecording("the fetch after the restart", func(r engine.Recording) bool { return r.State == engine.RecordingFetched })
	if want, _ := g.sim.Recording(rec.Path); rec.Size != int64(len(want)) {
		t.Fatalf("fetched %d bytes, the device holds %d", rec.Size, len(want))
	}
}

// A refused web account fails the recording at once, reported in the log,
// the event log, the metrics and the API; once the account works again,
// the retry endpoint fetches it.
func TestRecordingRefusedAccountThenRetry(t *testing.T) {
	g := newRecRig(t, nil)
	g.sim.SetFaults(omsim.Faults{RecordingsUnauthorized: true})
	g.recordedCall(nil)
	rec := g.waitRecording("the failure", func(r engine.Recording) bool { return r.State == engine.RecordingFailed })
	if rec.Attempts != 1 || !strings.Contains(rec.LastError, "401") || !strings.Contains(rec.LastError, "web_user") {
		t.Fatalf("failed recording = %+v", rec)
	}
	if evs := g.events(engine.KindRecordingFailed, 1); len(evs) != 1 {
		t.Fatalf("recording.failed events: %+v", evs)
	}
	if v := g.metric(`ivrd_recording_fetches_total{outcome="failed"}`, is("1")); v != "1" {
		t.Fatalf("failed metric = %q", v)
	}
	if !g.logged("POST /api/v1/recordings/" + rec.ID + "/retry") {
		t.Fatalf("no actionable log line:\n%s", g.logs.String())
	}
	if status, _, _ := g.do("GET", "/api/v1/recordings/"+rec.ID+"/audio"); status != 409 {
		t.Fatalf("audio of a failed recording: %d, want 409", status)
	}
	if l := g.list("?state=failed"); len(l) != 1 {
		t.Fatalf("state=failed lists %d", len(l))
	}

	g.sim.SetFaults(omsim.Faults{})
	if status, _, body := g.do("POST", "/api/v1/recordings/"+rec.ID+"/retry"); status != 202 {
		t.Fatalf("retry: %d %s", status, body)
	}
	rec = g.waitRecording("the fetch after the retry", func(r engine.Recording) bool { return r.State == engine.RecordingFetched })
	if status, _, body := g.do("POST", "/api/v1/recordings/"+rec.ID+"/retry"); status != 409 {
		t.Fatalf("retry of a fetched recording: %d %s", status, body)
	}
	for _, c := range []struct {
		path string
		want int
	}{
		{"/api/v1/recordings/0123456789abcdef", 404},
		{"/api/v1/recordings/0123456789abcdef/audio", 404},
		{"/api/v1/recordings/nothex/audio", 400},
		{"/api/v1/recordings?state=lost", 400},
		{"/api/v1/recordings?since=yesterday", 400},
	} {
		if status, _, body := g.do("GET", c.path); status != c.want {
			t.Errorf("GET %s: %d %s, want %d", c.path, status, body, c.want)
		}
	}
}

// postCdr sends the daemon a call record as the device would, over HTTP.
func (g *recRig) postCdr(id, recording, timeEnd string) {
	g.t.Helper()
	body := fmt.Sprintf(`<Cdr id="%s"><callid>9%s</callid><TimeStart>%s</TimeStart><Type>LO</Type><Route>IC</Route>`+
		`<CPN>200</CPN><CDPN>202</CDPN><TimeEnd>%s</TimeEnd><Duration>5</Duration><Recording>%s</Recording><RecCodec>PCMU</RecCodec></Cdr>`,
		id, id, timeEnd, timeEnd, recording)
	resp, err := http.Post("http://"+g.srv.Addr()+"/om/om1", "text/xml", strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		g.t.Fatalf("report: %d", resp.StatusCode)
	}
}

// A path that could leave the recordings folder, or that no OM writes, is
// refused without asking the device, and nothing is written outside the
// folder.
func TestRecordingHostilePathRefused(t *testing.T) {
	g := newRecRig(t, nil)
	hostile := []string{"../../escape.wav", "/etc/passwd", "20260101/../../../escape.wav", "20260101/.hidden.wav",
		"a\\..\\b.wav", "a//b.wav", "x y.wav", "20260101/%2e%2e/escape.wav"}
	now := time.Now().UTC().Format("20060102150405")
	for i, p := range hostile {
		g.postCdr(fmt.Sprintf("hostile-%d", i), strings.NewReplacer("&", "&amp;", "<", "&lt;").Replace(p), now)
	}
	deadline := time.Now().Add(10 * time.Second)
	var l []engine.Recording
	for {
		l = g.list("?state=failed")
		if len(l) == len(hostile) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(l) != len(hostile) {
		t.Fatalf("%d of %d hostile paths failed: %+v", len(l), len(hostile), g.list(""))
	}
	for _, r := range l {
		if r.Attempts != 1 || !strings.Contains(r.LastError, "not a recording path") || r.File != "" {
			t.Errorf("%q: %+v", r.Path, r)
		}
	}
	if strings.Contains(g.logs.String(), "recording fetched") {
		t.Fatal("a hostile path was fetched")
	}
	// Paged as the call records are: three at a time, none twice.
	seen, cursor := map[string]bool{}, ""
	for page := 0; ; page++ {
		status, _, body := g.do("GET", "/api/v1/recordings?limit=3"+cursor)
		var l api.RecordingList
		if status != 200 || json.Unmarshal(body, &l) != nil || len(l.Recordings) > 3 || page > 3 {
			t.Fatalf("page %d: %d %s", page, status, body)
		}
		for _, r := range l.Recordings {
			if seen[r.ID] {
				t.Fatalf("%s listed twice", r.ID)
			}
			seen[r.ID] = true
		}
		if l.Next == "" {
			break
		}
		cursor = "&before=" + l.Next
	}
	if len(seen) != len(hostile) {
		t.Fatalf("the pages held %d of %d", len(seen), len(hostile))
	}
	root := filepath.Dir(g.cfg.State)
	if _, err := os.Stat(filepath.Join(root, "escape.wav")); err == nil {
		t.Fatal("a file was written outside the recordings folder")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(root), "escape.wav")); err == nil {
		t.Fatal("a file was written outside the recordings folder")
	}
}

// A device without a web account: its recordings are listed as not
// fetched, with the reason, not dropped.
func TestRecordingWithoutWebAccount(t *testing.T) {
	g := newRecRig(t, func(c *Config) { c.Devices[0].WebUser, c.Devices[0].WebPassword = "", "" })
	g.recordedCall(nil)
	rec := g.waitRecording("the failure", func(r engine.Recording) bool { return r.State == engine.RecordingFailed })
	if !strings.Contains(rec.LastError, "not fetched: no web account") || !strings.Contains(rec.LastError, "web_user") {
		t.Fatalf("recording = %+v", rec)
	}
	// At start the missing account is only information (most sites record
	// nothing); the recording it loses is an error an operator sees.
	if !g.logged("[ERROR] recordings: recording not fetched") {
		t.Errorf("the lost recording is not logged as an error:\n%s", g.logs.String())
	}
	for _, l := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(l, "[WARN]") && strings.Contains(l, "no web account") {
			t.Errorf("the missing account is a warning at start: %s", l)
		}
	}
}

// Retention removes a recording whose call ended longer ago than
// recordings.max_age: its file and its record.
func TestRecordingRetention(t *testing.T) {
	// The device's clock reads 14 hours ahead of ivrd's zone for it, so
	// the call "ended" 14 hours ago.
	g := newRecRig(t, func(c *Config) { c.Recordings.MaxAge = "10h"; c.Devices[0].TZ = "Pacific/Kiritimati" })
	g.recordedCall(nil)
	rec := g.waitRecording("the fetch", func(r engine.Recording) bool { return r.State == engine.RecordingFetched })
	file := filepath.Join(filepath.Dir(g.cfg.State), "recordings", filepath.FromSlash(rec.File))
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	g.srv.recs.Prune()
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("the file is still there: %v", err)
	}
	if l := g.list(""); len(l) != 0 {
		t.Fatalf("still listed: %+v", l)
	}
	if status, _, _ := g.do("GET", "/api/v1/recordings/"+rec.ID); status != 404 {
		t.Fatalf("GET the removed recording: %d, want 404", status)
	}
}

// A file over recordings.max_size fails at once, and nothing of it stays
// in the folder.
func TestRecordingOverSizeCap(t *testing.T) {
	g := newRecRig(t, func(c *Config) { c.Recordings.MaxSize = "1KiB" })
	g.recordedCall(nil)
	rec := g.waitRecording("the failure", func(r engine.Recording) bool { return r.State == engine.RecordingFailed })
	if rec.Attempts != 1 || !strings.Contains(rec.LastError, "max_size") {
		t.Fatalf("recording = %+v", rec)
	}
	dir := filepath.Join(filepath.Dir(g.cfg.State), "recordings")
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("left in the folder: %s", p)
		}
		return nil
	})
}

// A device the admin listener's checks found down and then answering
// again has its pending fetches made due at once, without a BOOTUP.
func TestRecordingFetchedWhenDeviceAnswersAgain(t *testing.T) {
	g := newRecRig(t, func(c *Config) { c.Recordings.FirstBackoff = "1h"; c.Recordings.MaxBackoff = "2h" })
	g.recordedCall(func() { g.sim.SetFaults(omsim.Faults{RefuseConnections: true}) })
	g.waitRecording("the failed attempt", func(r engine.Recording) bool { return r.Attempts == 1 })
	g.srv.watch.check("om1", 0) // finds it down
	g.sim.SetFaults(omsim.Faults{})
	g.srv.watch.check("om1", 0) // finds it answering again
	rec := g.waitRecording("the fetch", func(r engine.Recording) bool { return r.State == engine.RecordingFetched })
	if rec.Attempts != 2 {
		t.Fatalf("recording = %+v", rec)
	}
	for _, r := range g.sim.Reports() {
		if r.Kind == "BOOTUP" && r.Time.After(rec.Queued) {
			t.Fatal("the device booted: the test proves nothing")
		}
	}
}

// A recording the device keeps answering 404 for is retried, then given
// up once give_up has passed since its record arrived.
func TestRecordingGivenUp(t *testing.T) {
	g := newRecRig(t, func(c *Config) {
		c.Recordings.FirstBackoff, c.Recordings.MaxBackoff, c.Recordings.GiveUp = "50ms", "100ms", "400ms"
	})
	g.sim.SetFaults(omsim.Faults{RecordingsMissing: true})
	g.recordedCall(nil)
	rec := g.waitRecording("giving up", func(r engine.Recording) bool { return r.State == engine.RecordingFailed })
	if rec.Attempts < 2 || !strings.Contains(rec.LastError, "HTTP 404") || !rec.NextAttempt.IsZero() {
		t.Fatalf("recording = %+v", rec)
	}
	if !g.logged("giving up after 400ms") {
		t.Fatalf("the give-up is not logged:\n%s", g.logs.String())
	}
	if n := g.metric(`ivrd_recording_fetches_total{outcome="retry"}`, func(v string) bool { return v != "" && v != "0" }); n == "" || n == "0" {
		t.Fatalf("retry metric = %q", n)
	}
}

// A wrong web_password fails the recording with a 401 that names the
// account (never the password); once the configuration is fixed and ivrd
// restarted, the retry endpoint fetches it.
func TestRecordingWrongPasswordFixed(t *testing.T) {
	const wrong = "wrong-pw-93b1"
	g := newRecRig(t, func(c *Config) { c.Devices[0].WebPassword = wrong })
	g.recordedCall(nil)
	rec := g.waitRecording("the failure", func(r engine.Recording) bool { return r.State == engine.RecordingFailed })
	if !strings.Contains(rec.LastError, `refused the web account "recorder" (HTTP 401)`) {
		t.Fatalf("recording = %+v", rec)
	}
	g.close()
	if strings.Contains(g.logs.String(), wrong) {
		t.Fatal("the configured password is in the log")
	}
	g.cfg.Devices[0].WebPassword = recPassword
	g.open(nil)
	if status, _, body := g.do("POST", "/api/v1/recordings/"+rec.ID+"/retry"); status != 202 {
		t.Fatalf("retry: %d %s", status, body)
	}
	g.waitRecording("the fetch", func(r engine.Recording) bool { return r.State == engine.RecordingFetched })
}

// TestConsoleRecordingInBrowser: the console's Call records page plays a
// fetched recording from the admin API — the browser's audio element
// loads it through the session cookie and reads its length.
func TestConsoleRecordingInBrowser(t *testing.T) {
	g := newRecRig(t, nil)
	g.recordedCall(nil)
	rec := g.waitRecording("the fetch", func(r engine.Recording) bool { return r.State == engine.RecordingFetched })

	b := openBrowser(t)
	b.signIn(g.base)
	b.click(`#nav a[data-page="cdrs"]`)
	b.waitText("#cdr-rows", "202")
	sel := `#cdr-rows [data-recording="` + rec.ID + `"] audio`
	if err := b.s.Execute(nil, `const a = document.querySelector(arguments[0]); a.preload = "metadata"; a.load()`, sel); err != nil {
		t.Fatal(err)
	}
	var secs float64
	poll(t, "the recording's length in the page", func() bool {
		if err := b.s.Execute(&secs, `const a = document.querySelector(arguments[0]); return isFinite(a.duration) ? a.duration : 0`, sel); err != nil {
			t.Fatal(err)
		}
		return secs > 0
	})
	want := float64(rec.Size-44) / 8000 // µ-law, 8 kHz: one byte a sample after the 44-byte header
	if secs < want-0.5 || secs > want+0.5 {
		t.Errorf("the page's audio lasts %.2f s, want about %.2f s", secs, want)
	}
	b.screenshot("cdrs-recording")
}
