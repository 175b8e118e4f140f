package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/omproto/omsim"
)

// checkConfig writes an ivrd.toml for a device at url with the flows in
// dir and returns its path.
func checkConfig(t *testing.T, url, dir, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ivrd.toml")
	writeFile(t, path, "flows = \""+dir+"\"\n\n[[device]]\nname = \"om1\"\nurl = \""+url+"\"\n"+extra)
	return path
}

func runCheck(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out := &syncBuffer{}
	m := &Main{Stdout: out, Stderr: out}
	err := m.Run(context.Background(), append([]string{"check"}, args...))
	return out.String(), err
}

// TestCheckShippedFlows: the shipped flows compile and name only voice
// files a default device holds.
func TestCheckShippedFlows(t *testing.T) {
	sim := startSim(t, omsim.DefaultConfig())
	out, err := runCheck(t, "-config", checkConfig(t, sim.URL(), repoFlows, ""))
	if err != nil {
		t.Fatalf("check failed: %v\n%s", err, out)
	}
	for _, want := range []string{"ok    ../../flows/main.lua", "ok    route[0]", "every voice file the flows name is there", "All good."} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not mention %q:\n%s", want, out)
		}
	}
}

// TestCheckFindsProblems: a voice file the device lacks (file:line), a
// flow that does not compile, a route to a missing flow, and the digit
// files of a flow that says digits are all reported, and check fails.
func TestCheckFindsProblems(t *testing.T) {
	sim := startSim(t, omsim.DefaultConfig())
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.lua"), `local flow = {}
function flow.incoming(call)
  call:play("user_welcome")
  local key = call:gather{ prompt = "user_menu", invalid_prompt = "user_no_such_prompt" }
  call:say_digits(key)
end
return flow
`)
	writeFile(t, filepath.Join(dir, "broken.lua"), "local flow = {}\nfunction flow.incoming(call)\n  call:play(\nend\nreturn flow\n")
	cfg := checkConfig(t, sim.URL(), dir, `digit_files = ["d0","d1","d2","d3","d4","d5","d6","d7","d8","user_digit_9"]

[[route]]
to = "8*"
flow = "vip"

[[route]]
flow = "main"
`)
	out, err := runCheck(t, "-config", cfg)
	if !errors.Is(err, errCheckFailed) {
		t.Fatalf("check returned %v, want errCheckFailed\n%s", err, out)
	}
	for _, want := range []string{
		filepath.Join(dir, "main.lua") + `:4: voice file "user_no_such_prompt" is not on device om1`,
		filepath.Join(dir, "broken.lua") + ":4:",
		`route[0].flow: no flow "vip"`,
		`device om1: digit_files[0]: voice file "d0" is not on the device`,
		"ok    route[1]",
		"12 problem(s).",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not mention %q:\n%s", want, out)
		}
	}
	for _, notWant := range []string{`"user_welcome" is not`, `"user_menu" is not`, `"user_digit_9" is not`} {
		if strings.Contains(out, notWant) {
			t.Errorf("output mentions %q:\n%s", notWant, out)
		}
	}
}

// TestCheckWithoutConfig compiles the flows only.
func TestCheckWithoutConfig(t *testing.T) {
	out, err := runCheck(t, "-flows", repoFlows)
	if err != nil {
		t.Fatalf("check failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "routes and the devices' voice files not checked") {
		t.Errorf("output does not say what was not checked:\n%s", out)
	}
}

// TestCheckDeviceDown reports a device that does not answer.
func TestCheckDeviceDown(t *testing.T) {
	out, err := runCheck(t, "-config", checkConfig(t, "http://127.0.0.1:1", repoFlows, "command_timeout = \"1s\"\n"))
	if !errors.Is(err, errCheckFailed) || !strings.Contains(out, "device om1: cannot list its voice files") {
		t.Errorf("got %v:\n%s", err, out)
	}
}
