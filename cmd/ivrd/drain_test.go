package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// sleepyFlow keeps a call in the IVR for a while: a prompt, a sleep of %s
// seconds, then reception.
const sleepyFlow = `
local flow = {}
function flow.incoming(call)
  call:play("user_welcome")
  call:sleep(%s)
  call:transfer{ ext = "201" }
end
return flow
`

func sleepyFlows(t *testing.T, seconds string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.lua"), fmt.Sprintf(sleepyFlow, seconds))
	return dir
}

// probe GETs a path on the report listener and returns the status and
// the body without its newline.
func probe(t *testing.T, base, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, strings.TrimSpace(string(body))
}

func wantProbe(t *testing.T, base, path string, status int, body string) {
	t.Helper()
	if gotStatus, gotBody := probe(t, base, path); gotStatus != status || gotBody != body {
		t.Errorf("GET %s: got %d %q, want %d %q", path, gotStatus, gotBody, status, body)
	}
}

// liveCalls opens a closed server's state file and returns the calls it
// holds for recovery.
func liveCalls(t *testing.T, state string) []engine.CallRecord {
	t.Helper()
	st, err := engine.OpenBolt(state, engine.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.LiveCalls()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// inIVR reports whether a call is still up on one of the IVR's menus.
func inIVR(in omsim.CallInfo) bool {
	return in.State != "ended" && strings.HasPrefix(in.Connected, "menu ")
}

// startDrain runs srv.Drain in the background; the channel gets what it
// returns.
func startDrain(srv *Server) <-chan int {
	left := make(chan int, 1)
	go func() { left <- srv.Drain(context.Background()) }()
	return left
}

// TestServeDrainWaitsForLiveCall drains with a caller in the flow: /readyz
// turns 503 while /healthz stays 200, the call runs to its transfer, and
// only then does Drain return; the closed state file holds no live call.
func TestServeDrainWaitsForLiveCall(t *testing.T) {
	st := startStack(t, sleepyFlows(t, "1"), nil)
	base := st.srv.URL()
	wantProbe(t, base, "/healthz", http.StatusOK, "ok")
	wantProbe(t, base, "/readyz", http.StatusOK, "ready")

	call, err := st.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the prompt", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	start := time.Now()
	left := startDrain(st.srv)
	waitFor(t, "/readyz to answer 503", func() bool {
		status, _ := probe(t, base, "/readyz")
		return status == http.StatusServiceUnavailable
	})
	wantProbe(t, base, "/readyz", http.StatusServiceUnavailable, "draining")
	wantProbe(t, base, "/healthz", http.StatusOK, "ok")
	if in := call.Info(); !inIVR(in) {
		t.Fatalf("the call left the IVR (%s) before the test saw the drain; make the flow's sleep longer", in.Connected)
	}

	select {
	case n := <-left:
		if n != 0 {
			t.Errorf("Drain left %d live calls, want 0", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Drain did not return after the call ended")
	}
	if in := call.Info(); in.Connected != "ext 201" {
		t.Errorf("when Drain returned the call was at %q (%s), want ext 201: it must wait for the call", in.Connected, in.State)
	}
	t.Logf("drain took %s for a call with about 1 s of its flow left", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(st.logs.String(), "draining: 1 live calls; waiting up to 30s") {
		t.Errorf("the drain was not logged with its count and timeout:\n%s", st.logs)
	}

	if err := st.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if recs := liveCalls(t, st.srv.cfg.State); len(recs) != 0 {
		t.Errorf("the state file holds %d live calls after a complete drain, want 0", len(recs))
	}
}

// TestServeDrainTimeoutKeepsCall drains with a call that outlasts
// drain_timeout: Drain gives up, Close sends no command for it, and the
// call stays in the state file for the next start to recover.
func TestServeDrainTimeoutKeepsCall(t *testing.T) {
	st := startStack(t, sleepyFlows(t, "30"), func(c *Config) { c.DrainTimeout = "300ms" })
	call, err := st.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the prompt", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") && in.Heard[0].Completed })
	waitFor(t, "the call to sleep", func() bool {
		ss := st.srv.Router().Sessions()
		return len(ss) == 1 && ss[0].State() == "sleeping"
	})
	commands := len(st.sim.Commands())

	start := time.Now()
	select {
	case n := <-startDrain(st.srv):
		if n != 1 {
			t.Errorf("Drain left %d live calls, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Drain did not give up at drain_timeout")
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("Drain returned after %s, want about drain_timeout (300ms)", took)
	}
	if err := st.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(st.sim.Commands()); got != commands {
		t.Errorf("%d commands sent while stopping, want none", got-commands)
	}
	recs := liveCalls(t, st.srv.cfg.State)
	if len(recs) != 1 || recs[0].From != "13800000001" {
		t.Fatalf("the state file holds %+v, want the call for recovery", recs)
	}
	if in := call.Info(); !inIVR(in) {
		t.Errorf("the call was ended or moved on stopping: %+v", in)
	}
}

// daemonSetup starts a simulator and writes an ivrd.toml serving the
// sleepy flow with drain_timeout; it returns the config path, the listen
// address, the state file and the simulator.
func daemonSetup(t *testing.T, sleep, drainTimeout string) (config, listen, state string, sim *omsim.Sim) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "flows", "main.lua"), fmt.Sprintf(sleepyFlow, sleep))
	listen = freeAddr(t)
	simCfg := fastSim()
	simCfg.ReportURL = "http://" + listen + "/om/om1"
	sim = startSim(t, simCfg)
	state = filepath.Join(dir, "ivrd.db")
	config = filepath.Join(dir, "ivrd.toml")
	writeFile(t, config, fmt.Sprintf(`
listen = %q
flows = %q
state = %q
drain_timeout = %q

[[device]]
name = "om1"
url = %q
fallback = "200"
`, listen, filepath.Join(dir, "flows"), state, drainTimeout, sim.URL()))
	return config, listen, state, sim
}

// waitExit waits for the daemon to exit and returns its code.
func (d *daemon) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if code, ok := d.exited(); ok {
			return code
		}
		if time.Now().After(deadline) {
			t.Fatalf("ivrd did not exit within %s:\n%s", within, d.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeSIGTERMDrains runs ivrd serve as a process: SIGTERM with a call
// in the flow drains, the call reaches its transfer, then ivrd exits 0 by
// itself with nothing left in the state file.
func TestServeSIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ivrd as a process")
	}
	config, listen, state, sim := daemonSetup(t, "1", "30s")
	d := startDaemon(t, config, 0)
	waitFor(t, "ivrd to listen", func() bool { return strings.Contains(d.output(), "serving") })
	call, err := sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the prompt", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the drain", func() bool { return strings.Contains(d.output(), "draining: 1 live calls") })
	if in := call.Info(); inIVR(in) {
		if status, body := probe(t, "http://"+listen, "/readyz"); status != http.StatusServiceUnavailable || body != "draining" {
			t.Errorf("GET /readyz while draining: got %d %q, want 503 \"draining\"", status, body)
		}
	}
	if code := d.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("ivrd exited with %d:\n%s", code, d.output())
	}
	if in := call.Info(); in.Connected != "ext 201" {
		t.Errorf("the call ended at %q (%s), want ext 201 before ivrd exited\n%s", in.Connected, in.State, d.output())
	}
	if recs := liveCalls(t, state); len(recs) != 0 {
		t.Errorf("the state file holds %d live calls, want 0", len(recs))
	}
}

// TestServeSecondSIGTERMExitsAtOnce sends SIGTERM twice to ivrd serve with
// a call that would keep the drain waiting for 30 s: the second signal
// makes it exit at once, and the call stays in the state file.
func TestServeSecondSIGTERMExitsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ivrd as a process")
	}
	config, listen, state, sim := daemonSetup(t, "60", "30s")
	d := startDaemon(t, config, 0)
	waitFor(t, "ivrd to listen", func() bool { return strings.Contains(d.output(), "serving") })
	wantProbe(t, "http://"+listen, "/readyz", http.StatusOK, "ready")
	call, err := sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the prompt", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the drain", func() bool { return strings.Contains(d.output(), "draining: 1 live calls; waiting up to 30s") })
	wantProbe(t, "http://"+listen, "/readyz", http.StatusServiceUnavailable, "draining")
	wantProbe(t, "http://"+listen, "/healthz", http.StatusOK, "ok")
	if _, ok := d.exited(); ok {
		t.Fatalf("ivrd exited on the first SIGTERM with a call live:\n%s", d.output())
	}

	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.waitExit(t, 5*time.Second); code != 0 {
		t.Fatalf("ivrd exited with %d:\n%s", code, d.output())
	}
	t.Logf("exited %s after the second SIGTERM", time.Since(start).Round(time.Millisecond))
	out := d.output()
	for _, want := range []string{"second signal: stopping at once", "calls left in the state file"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not mention %q:\n%s", want, out)
		}
	}
	recs := liveCalls(t, state)
	if len(recs) != 1 {
		t.Fatalf("the state file holds %d live calls, want the one for recovery", len(recs))
	}
	if in := call.Info(); !inIVR(in) {
		t.Errorf("the call was ended or moved on exit: %+v", in)
	}
}
