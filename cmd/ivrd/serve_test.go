package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/omproto/omsim"
)

// repoFlows is the shipped flows folder, seen from this package's folder
// (where go test runs).
const repoFlows = "../../flows"

// fastSim returns a simulator config on which calls go quickly: short voice
// files, extensions answering at once.
func fastSim() omsim.Config {
	cfg := omsim.DefaultConfig()
	cfg.FileDuration = 100 * time.Millisecond
	cfg.VoiceFiles["silence"] = 100 * time.Millisecond
	cfg.ExtPolicies = map[string]omsim.Policy{}
	for _, x := range cfg.Exts {
		cfg.ExtPolicies[x] = omsim.Policy{Answer: omsim.AnswerAfter, Delay: 50 * time.Millisecond}
	}
	return cfg
}

// stack is the daemon in-process against a simulator on real time.
type stack struct {
	srv  *Server
	sim  *omsim.Sim
	logs *syncBuffer
}

// startStack runs a Server for the flows in dir against a simulator; edit
// changes the configuration before the server opens.
func startStack(t *testing.T, dir string, edit func(*Config)) *stack {
	t.Helper()
	return openStack(t, dir, edit, false)
}

// openStack is startStack; with phone set, the simulator is also the
// server's in-process phone (Server.Phone), as under "ivrd demo".
func openStack(t *testing.T, dir string, edit func(*Config), phone bool) *stack {
	t.Helper()
	return openStackSim(t, dir, fastSim(), edit, phone)
}

// openStackSim is openStack against a simulator configured as simCfg.
func openStackSim(t *testing.T, dir string, simCfg omsim.Config, edit func(*Config), phone bool) *stack {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simCfg.ReportURL = "http://" + ln.Addr().String() + "/om/om1"
	sim := startSim(t, simCfg)

	cfg := DefaultConfig()
	cfg.Flows = dir
	cfg.State = filepath.Join(t.TempDir(), "ivrd.db")
	cfg.Devices = []DeviceConfig{{Name: "om1", URL: sim.URL(), Fallback: "200"}}
	if edit != nil {
		edit(&cfg)
	}
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	level := hclog.Debug
	if cfg.LogLevel == "trace" {
		level = hclog.Trace // the XML of every command and report
	}
	srv := NewServer(cfg, hclog.New(&hclog.LoggerOptions{Output: logs, Level: level}))
	srv.Listener = ln
	if phone {
		srv.Phone = sim
	}
	if err := srv.Open(context.Background()); err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if testing.Verbose() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &stack{srv: srv, sim: sim, logs: logs}
}

// waitCall polls the call until cond holds, failing after a deadline.
func waitCall(t *testing.T, c *omsim.Call, what string, cond func(omsim.CallInfo) bool) omsim.CallInfo {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		in := c.Info()
		if cond(in) {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; call is %+v", what, in)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func heardFile(in omsim.CallInfo, file string) bool {
	for _, h := range in.Heard {
		if h.File == file {
			return true
		}
	}
	return false
}

// TestServeMainFlow sends a call through the shipped flows/main.lua: after
// the welcome and the menu, key 2 leads to the restaurant, extension 202.
func TestServeMainFlow(t *testing.T) {
	st := startStack(t, repoFlows, nil)
	call, err := st.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the menu", func(in omsim.CallInfo) bool { return heardFile(in, "user_menu") })
	if err := call.Press("2"); err != nil {
		t.Fatal(err)
	}
	in := waitCall(t, call, "a transfer to ext 202", func(in omsim.CallInfo) bool { return in.Connected == "ext 202" })
	if got := in.Heard[0].File; got != "user_welcome" {
		t.Errorf("first file heard: got %q, want user_welcome", got)
	}
	waitCall(t, call, "the restaurant to answer", func(in omsim.CallInfo) bool { return in.State == "talking" })
}

const flowTo = `
local flow = {}
function flow.incoming(call)
  call:play("user_welcome")
  call:transfer{ ext = "%s" }
end
return flow
`

// TestServeReload changes a flow and reloads the folder as SIGHUP does:
// the next call runs the new version; a version that does not compile is
// refused, with file:line, and the previous one goes on serving.
func TestServeReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "main.lua")
	writeFile(t, file, strings.Replace(flowTo, "%s", "201", 1))
	st := startStack(t, dir, nil)

	callTo := func(want string) {
		t.Helper()
		call, err := st.sim.PlaceCall("13800000001", "60001")
		if err != nil {
			t.Fatal(err)
		}
		waitCall(t, call, "a transfer to "+want, func(in omsim.CallInfo) bool { return in.Connected == want })
		call.HangUp()
	}
	callTo("ext 201")

	writeFile(t, file, strings.Replace(flowTo, "%s", "203", 1))
	if err := st.srv.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	callTo("ext 203")

	writeFile(t, file, "local flow = {}\nfunction flow.incoming(call)\n  call:play(\nend\nreturn flow\n")
	err := st.srv.Reload()
	if err == nil || !strings.Contains(err.Error(), "main.lua:4:") {
		t.Fatalf("reload of a broken flow: got %v, want an error naming main.lua:4", err)
	}
	callTo("ext 203")
	if !strings.Contains(st.logs.String(), "flows rescanned") {
		t.Errorf("the reload was not logged:\n%s", st.logs.String())
	}
}

// TestServeOpenFails checks that the daemon does not start on a flow that
// does not compile (naming file:line) or on a route to a missing flow.
func TestServeOpenFails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		route string
		want  string
	}{
		{"syntax error", map[string]string{"main.lua": "local flow = {\nreturn flow\n"}, "main", "main.lua:2:"},
		{"no handlers", map[string]string{"main.lua": "return {}\n"}, "main", "main.lua: the flow must return"},
		{"missing flow", map[string]string{"main.lua": strings.Replace(flowTo, "%s", "201", 1)}, "vip", "route[0].flow: no flow \"vip\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, src := range tc.files {
				writeFile(t, filepath.Join(dir, name), src)
			}
			cfg := DefaultConfig()
			cfg.Listen = "127.0.0.1:0"
			cfg.Flows = dir
			cfg.State = filepath.Join(t.TempDir(), "ivrd.db")
			cfg.Devices = []DeviceConfig{{Name: "om1", URL: "http://127.0.0.1:9"}}
			cfg.Routes = []RouteConfig{{Flow: tc.route}}
			cfg.fill()
			srv := NewServer(cfg, nil)
			err := srv.Open(context.Background())
			if err == nil {
				srv.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestServeCommand runs "ivrd serve -config" in-process: the configuration
// file and the flags are read, a call goes through, the XML is traced at
// trace level, and cancelling the context stops it cleanly.
func TestServeCommand(t *testing.T) {
	listen := freeAddr(t)
	simCfg := fastSim()
	simCfg.ReportURL = "http://" + listen + "/om/front"
	sim := startSim(t, simCfg)

	path := filepath.Join(t.TempDir(), "ivrd.toml")
	writeFile(t, path, `
listen = "127.0.0.1:1"   # overridden by -listen
log_level = "info"       # overridden by -log-level
state = "`+filepath.Join(t.TempDir(), "ivrd.db")+`"

[[device]]
name = "front"
url = "`+sim.URL()+`"
menus = [45, 50]

[[route]]
device = "front"
to = "6000*"
flow = "main"
`)
	logs := &syncBuffer{}
	m := &Main{Stdout: logs, Stderr: logs}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, []string{"serve", "-config", path, "-listen", listen, "-flows", repoFlows, "-log-level", "trace"})
	}()
	waitFor(t, "the daemon to serve", func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v\n%s", err, logs)
		default:
		}
		return strings.Contains(logs.String(), "serving")
	})

	call, err := sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the menu", func(in omsim.CallInfo) bool { return heardFile(in, "user_menu") })
	call.Press("0")
	waitCall(t, call, "the operator", func(in omsim.CallInfo) bool { return in.Connected == "ext 200" })

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	out := logs.String()
	for _, want := range []string{
		"[TRACE] ivrd.om: command: device=front", // the XML traced on the "om" logger
		`<menu id="45">`,                         // the first menu of the configured range
		`call started`,
		`stopping`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not mention %q:\n%s", want, out)
		}
	}
}

// TestServeRejectsReports checks that a device's allow list is applied and
// a rejected report is logged as a warning.
func TestServeRejectsReports(t *testing.T) {
	st := startStack(t, repoFlows, func(c *Config) { c.Devices[0].Allow = []string{"192.0.2.1"} })
	waitFor(t, "the rejected BOOTUP", func() bool {
		return strings.Contains(st.logs.String(), "[WARN]  om: report rejected: device=om1")
	})
	if !strings.Contains(st.logs.String(), "status=403") {
		t.Errorf("the rejection does not give the status:\n%s", st.logs.String())
	}
}

func TestServeCommandNeedsConfig(t *testing.T) {
	m := &Main{Stdout: &syncBuffer{}, Stderr: &syncBuffer{}}
	err := m.Run(context.Background(), []string{"serve", "-config", filepath.Join(t.TempDir(), "nope.toml")})
	if err == nil || !os.IsNotExist(unwrapAll(err)) || !strings.Contains(err.Error(), "[[device]]") {
		t.Errorf("got %v, want a not-found error with a hint", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}
