package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// TestServeRejectsHostileReports: while ordinary calls run through the
// daemon, reports that are oversized, malformed, unsigned, signed too long
// ago, or sent from an address outside the device's allow list are each
// answered with their status and start nothing; the ordinary calls are
// unaffected.
func TestServeRejectsHostileReports(t *testing.T) {
	const secret = "report-secret"
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.lua"), `
local f = {}
function f.incoming(call)
  call:play("user_welcome")
  call:play("user_thanks")
end
return f`)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reportURL := "http://" + ln.Addr().String() + "/om/om1"
	simCfg := fastSim()
	simCfg.ReportURL = reportURL
	simCfg.ReportSecret = secret
	sim := startSim(t, simCfg)
	cfg := DefaultConfig()
	cfg.Flows = dir
	cfg.State = filepath.Join(t.TempDir(), "ivrd.db")
	cfg.Devices = []DeviceConfig{{Name: "om1", URL: sim.URL(), Allow: []string{"127.0.0.1"}, ReportSecret: secret}}
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv := NewServer(cfg, hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}))
	srv.Listener = ln
	if err := srv.Open(context.Background()); err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	// A forged INCOMING for a visitor the device does not have: accepted,
	// it would start a session that sends commands for visitor 900.
	forged := func(auth *omproto.Auth) []byte {
		r := &omproto.Report{Event: &omproto.Event{Name: "INCOMING", Calls: []omproto.Call{
			{Kind: omproto.KindVisitor, ID: "900", From: "13999999999", To: "60001", CallID: "forged"}}}, Auth: auth}
		return r.Encode()
	}
	fromOther := &http.Client{Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
	}}
	hostile := []struct {
		name   string
		body   func() []byte
		client *http.Client
		want   int
	}{
		{"oversized", func() []byte {
			return append(forged(omproto.Sign(secret, omproto.NewNonce(), time.Now())), bytes.Repeat([]byte(" "), 70<<10)...)
		}, http.DefaultClient, http.StatusRequestEntityTooLarge},
		{"malformed", func() []byte { return []byte(`<Event attribute="INCOMING"><visitor id="900"`) }, http.DefaultClient, http.StatusBadRequest},
		{"unsigned", func() []byte { return forged(nil) }, http.DefaultClient, http.StatusUnauthorized},
		{"signed an hour ago", func() []byte {
			return forged(omproto.Sign(secret, omproto.NewNonce(), time.Now().Add(-time.Hour)))
		}, http.DefaultClient, http.StatusUnauthorized},
		{"signed with another secret", func() []byte {
			return forged(omproto.Sign("guess", omproto.NewNonce(), time.Now()))
		}, http.DefaultClient, http.StatusUnauthorized},
		{"from outside the allow list", func() []byte {
			return forged(omproto.Sign(secret, omproto.NewNonce(), time.Now()))
		}, fromOther, http.StatusForbidden},
	}

	const ordinary, rounds = 20, 10
	calls := make([]*omsim.Call, ordinary)
	for i := range calls {
		c, err := sim.PlaceCall(fmt.Sprintf("138%08d", i), "60001")
		if err != nil {
			t.Fatal(err)
		}
		calls[i] = c
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for _, h := range hostile {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				resp, err := h.client.Post(reportURL, "text/xml", bytes.NewReader(h.body()))
				if err != nil {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("%s: %v", h.name, err))
					mu.Unlock()
					return
				}
				resp.Body.Close()
				if resp.StatusCode != h.want {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("%s: status %d, want %d", h.name, resp.StatusCode, h.want))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
	for i, c := range calls {
		in := waitCall(t, c, fmt.Sprintf("call %d to end", i), func(in omsim.CallInfo) bool { return in.State == "ended" })
		if len(in.Heard) != 2 || in.Heard[1].File != "user_thanks" || !in.Heard[1].Completed {
			t.Errorf("call %d heard %+v, want the welcome and the thank-you", i, in.Heard)
		}
	}
	for _, c := range sim.Commands() {
		if strings.Contains(c.Body, `id="900"`) {
			t.Errorf("a forged report reached the engine: it sent %s", c.Body)
		}
	}
	if strings.Contains(logs.String(), "13999999999") {
		t.Errorf("a forged call was started:\n%s", logs.String())
	}
}
