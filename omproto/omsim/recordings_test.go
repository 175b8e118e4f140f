package omsim_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// getRecording fetches a recording path over HTTP with a web account
// (user "" sends none) and returns the status and body.
func getRecording(t *testing.T, base, path, user, pass string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", base+omsim.RecorderPrefix+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// recordedCall talks 10 s (from the answer of the INCOMING) between a caller and extension 201 and returns
// the Recording its Cdr names.
func recordedCall(h *harness) string {
	h.t.Helper()
	_, v := h.incoming("13800000001")
	h.connect(v.Ref(), ext("201"), "")
	h.expect("RING visitor:1 ext:201")
	h.advance(time.Second)
	h.expect("ANSWER visitor:1 ext:201", "BUSY ext:201")
	h.advance(9 * time.Second)
	if err := h.sim.HangUpExt("201"); err != nil {
		h.t.Fatal(err)
	}
	reps := h.expect("BYE visitor:1 ext:201", "Cdr IN 13800000001>60001 dur=10", "IDLE ext:201")
	c := reps[1].Cdr
	if c.Recording == "" || c.RecCodec != "PCMU" {
		h.t.Fatalf("Cdr %+v names no PCMU recording", c)
	}
	return c.Recording
}

// A call of an extension that records names its recording in the OM's
// path style; the web server serves it, a WAV as long as the call, to the
// web account only; it survives a reboot; the fault switches make it
// missing or refuse the account.
func TestRecordingServed(t *testing.T) {
	h := newHarness(t, func(c *omsim.Config) {
		c.Record = []string{"201"}
		c.WebUser, c.WebPassword = "rec", "s3cret"
	})
	for ext, want := range map[string]string{"201": "on", "202": ""} {
		st, err := h.client.Query(h.ctx, omproto.KindExt, ext)
		if err != nil || len(st.Exts) != 1 || st.Exts[0].Record != want {
			t.Fatalf("Query ext %s: %+v, %v; want record %q", ext, st, err, want)
		}
	}
	path := recordedCall(h)
	if !regexp.MustCompile(`^20260309/13800000001_60001_20260309_17500[0-9]_[0-9A-F]{4}_cg\.wav$`).MatchString(path) {
		t.Fatalf("recording path %q is not in the OM's style", path)
	}
	status, hdr, body := getRecording(t, h.sim.URL(), path, "rec", "s3cret")
	want, ok := h.sim.Recording(path)
	if status != 200 || !ok || !bytes.Equal(body, want) || hdr.Get("Content-Type") != "audio/wav" {
		t.Fatalf("GET %s: %d %q, %d bytes (device holds %d)", path, status, hdr.Get("Content-Type"), len(body), len(want))
	}
	if string(body[:4]) != "RIFF" || string(body[8:12]) != "WAVE" || binary.LittleEndian.Uint16(body[20:]) != 7 {
		t.Fatalf("not a µ-law WAV: % x", body[:24])
	}
	if n := binary.LittleEndian.Uint32(body[54:]); n != 10*8000 {
		t.Fatalf("data holds %d samples, want 10 s at 8 kHz", n)
	}
	if int(binary.LittleEndian.Uint32(body[4:])) != len(body)-8 {
		t.Fatalf("RIFF size %d for %d bytes", binary.LittleEndian.Uint32(body[4:]), len(body))
	}

	for _, c := range []struct{ name, user, pass string }{{"no account", "", ""}, {"wrong password", "rec", "nope"}, {"wrong user", "admin", "s3cret"}} {
		status, hdr, _ := getRecording(t, h.sim.URL(), path, c.user, c.pass)
		if status != 401 || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: %d %q, want 401 asking for Basic", c.name, status, hdr.Get("WWW-Authenticate"))
		}
	}
	for _, p := range []string{"20260309/nothing.wav", "../" + path, "%2e%2e/etc/passwd"} {
		if status, _, _ := getRecording(t, h.sim.URL(), p, "rec", "s3cret"); status != 404 {
			t.Errorf("GET %s: %d, want 404", p, status)
		}
	}

	var listed struct{ Recordings []string }
	apiJSON(t, "GET", h.sim.URL()+"/sim/recordings", "", http.StatusOK, &listed)
	if len(listed.Recordings) != 1 || listed.Recordings[0] != path {
		t.Fatalf("GET /sim/recordings = %+v", listed)
	}

	h.sim.SetFaults(omsim.Faults{RecordingsMissing: true})
	if status, _, _ := getRecording(t, h.sim.URL(), path, "rec", "s3cret"); status != 404 {
		t.Errorf("missing fault: %d, want 404", status)
	}
	h.sim.SetFaults(omsim.Faults{RecordingsUnauthorized: true})
	if status, _, _ := getRecording(t, h.sim.URL(), path, "rec", "s3cret"); status != 401 {
		t.Errorf("unauthorized fault: %d, want 401", status)
	}
	h.sim.SetFaults(omsim.Faults{})
	h.sim.Reboot()
	h.expect("BOOTUP")
	if status, _, got := getRecording(t, h.sim.URL(), path, "rec", "s3cret"); status != 200 || !bytes.Equal(got, want) {
		t.Errorf("after reboot: %d, %d bytes", status, len(got))
	}
}

// Calls of extensions that do not record, and calls never answered, name
// no recording.
func TestRecordingOnlyForRecordedAnsweredCalls(t *testing.T) {
	h := newHarness(t, func(c *omsim.Config) { c.Record = []string{"202"} })
	_, v := h.incoming("13800000001")
	h.connect(v.Ref(), ext("201"), "")
	h.expect("RING visitor:1 ext:201")
	h.advance(time.Second)
	h.expect("ANSWER visitor:1 ext:201", "BUSY ext:201")
	h.advance(2 * time.Second)
	if err := h.sim.HangUpExt("201"); err != nil {
		t.Fatal(err)
	}
	reps := h.expect("BYE visitor:1 ext:201", "Cdr IN 13800000001>60001 dur=3", "IDLE ext:201")
	if c := reps[1].Cdr; c.Recording != "" {
		t.Fatalf("unrecorded extension's Cdr names %q", c.Recording)
	}
	if got := h.sim.Recordings(); len(got) != 0 {
		t.Fatalf("device holds %v", got)
	}
}

// With RecordDir, recordings are files a new simulator process on the
// same folder still serves.
func TestRecordingSurvivesProcessRestart(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, func(c *omsim.Config) {
		c.Record = []string{"201"}
		c.RecordDir = dir
	})
	path := recordedCall(h)
	want, _ := h.sim.Recording(path)
	if err := h.sim.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := omsim.DefaultConfig()
	cfg.RecordDir = dir
	sim, err := omsim.New(cfg, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	status, _, got := getRecording(t, sim.URL(), path, omsim.DefaultWebUser, omsim.DefaultWebPassword)
	if status != 200 || len(want) == 0 || !bytes.Equal(got, want) {
		t.Fatalf("after restart: %d, %d bytes, want %d", status, len(got), len(want))
	}
	if l := sim.Recordings(); len(l) != 1 || l[0] != path {
		t.Fatalf("Recordings() = %v", l)
	}
}
