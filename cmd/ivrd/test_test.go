package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/internal/scenario"
)

// exampleNames are the use cases under examples/, each a flow, its README
// and its scenarios.
var exampleNames = []string{"menu", "survey", "verify", "wakeup"}

// TestExamples runs every scenario of every example, each as a subtest, so
// that CI names the one that breaks.
func TestExamples(t *testing.T) {
	for _, name := range exampleNames {
		dir := filepath.Join("..", "..", "examples", name)
		if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
			t.Errorf("examples/%s has no README.md: %v", name, err)
		}
		suite, err := scenario.Load(dir)
		if err != nil {
			t.Fatalf("examples/%s does not load:\n%v", name, err)
		}
		if len(suite.Scenarios) < 3 {
			t.Errorf("examples/%s has %d scenarios; an example shows at least three cases", name, len(suite.Scenarios))
		}
		for _, sc := range suite.Scenarios {
			t.Run(name+"/"+sc.Name, func(t *testing.T) {
				t.Parallel()
				res := suite.RunScenario(context.Background(), sc)
				if !res.Passed() {
					var b strings.Builder
					res.WriteFailures(&b, "    ")
					b.WriteString("\n")
					res.WriteTranscript(&b, "    ")
					t.Errorf("%s:\n%s", res.Title(), b.String())
				}
			})
		}
	}
}

// runTest runs "ivrd test args…" and returns its output.
func runTest(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut}
	err := m.Run(context.Background(), append([]string{"test"}, args...))
	return out.String() + errOut.String(), err
}

func TestTestCommandFindsTheSuitesUnderAFolder(t *testing.T) {
	out, err := runTest(t, filepath.Join("..", "..", "examples"))
	if err != nil {
		t.Fatalf("ivrd test examples: %v\n%s", err, out)
	}
	for _, name := range exampleNames {
		want := "ok   " + filepath.Join("..", "..", "examples", name) + ": "
		if !strings.Contains(out, want) {
			t.Errorf("no %q line in:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "PASS: ") || !strings.Contains(out, " in 4 folders, ") {
		t.Errorf("no summary of 4 folders in:\n%s", out)
	}
	if strings.Contains(out, "--- ") {
		t.Errorf("a passing run printed transcripts without -v:\n%s", out)
	}
}

// testFlow is a small menu for the command's own tests.
const testFlow = `
local flow = {}
function flow.incoming(call)
  call:play("user_welcome")
  local key = call:gather{ prompt = "user_menu", valid = "[12]", tries = 2,
                           invalid_prompt = "user_invalid" }
  if key == "1" then return call:transfer{ ext = "201" } end
  call:play("user_bye")
end
return flow
`

func TestTestCommandReportsAFailureWithTheCallPath(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.lua"), testFlow)
	writeFile(t, filepath.Join(dir, "menu.scenario.toml"), `
[[scenario]]
name = "reception"
[[scenario.call]]
steps = [{ after = "user_menu", press = "1" }]
expect = { target = "ext 201" }

[[scenario]]
name = "expects reception but presses 2"
[[scenario.call]]
steps = [{ after = "user_menu", press = "2" }]
[scenario.call.expect]
heard = ["user_welcome", "user_menu"]
target = "ext 201"
`)
	out, err := runTest(t, dir)
	if !errors.Is(err, errTestFailed) {
		t.Fatalf("err = %v, want errTestFailed\n%s", err, out)
	}
	for _, want := range []string{
		"--- FAIL " + filepath.Join(dir, "menu.scenario.toml") + ":8 expects reception but presses 2",
		"call 1 (13800000001 → 60001): heard: want [user_welcome, user_menu], got [user_welcome, user_menu, user_bye]",
		"call 1 (13800000001 → 60001): target: want ext 201, got none (outcome hangup)",
		"0:04.0  presses   2",
		"0:04.0  hears     user_bye",
		"outcome   hangup",
		"path      prompt user_welcome · prompt user_menu · keys 2 · prompt user_bye · hangup",
		"FAIL " + dir + ": 1 of 2 scenarios passed",
		"FAIL: 1 of 2 scenarios failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "reception (") && strings.Contains(out, "--- FAIL "+filepath.Join(dir, "menu.scenario.toml")+":2") {
		t.Errorf("the passing scenario is reported as failed:\n%s", out)
	}

	out, err = runTest(t, "-run", "^reception$", dir)
	if err != nil {
		t.Fatalf("-run ^reception$: %v\n%s", err, out)
	}
	if !strings.Contains(out, "1 scenario passed") {
		t.Errorf("-run did not pick one scenario:\n%s", out)
	}
	out, err = runTest(t, "-v", "-run", "^reception$", dir)
	if err != nil || !strings.Contains(out, "--- ok   ") || !strings.Contains(out, "transfers the call to ext 201") {
		t.Errorf("-v printed no transcript (err %v):\n%s", err, out)
	}
	if strings.Contains(out, "the simulated OM's log") {
		t.Errorf("-v printed the device's log without -trace:\n%s", out)
	}
	out, err = runTest(t, "-v", "-trace", "-run", "^reception$", dir)
	if err != nil || !strings.Contains(out, "the simulated OM's log") ||
		!strings.Contains(out, `<Transfer attribute="Connect"><visitor id="1"/><ext id="201"/></Transfer>`) {
		t.Errorf("-trace printed no device log with the transfer command (err %v):\n%s", err, out)
	}
}

func TestTestCommandNamesFileLineAndFieldOfBadScenarios(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "flows", "main.lua"), testFlow)
	writeFile(t, filepath.Join(dir, "scenarios", "bad.toml"), `[[scenario]]
name = "a"
[[scenario.call]]
steps = [
  { after = "user_menu", press = "1x" },
]
expect = { outcome = "done" }

[[scenario]]
name = "b"
[[scenario.call]]
at = "soon"
expect = { outcome = "hangup" }
`)
	out, err := runTest(t, dir)
	if !errors.Is(err, errTestFailed) {
		t.Fatalf("err = %v, want errTestFailed\n%s", err, out)
	}
	file := filepath.Join(dir, "scenarios", "bad.toml")
	for _, want := range []string{
		"FAIL " + dir + ": the suite does not load",
		file + `:5: scenario "a": call[0].steps[0].press: "x" is not a DTMF key`,
		file + `:7: scenario "a": call[0].expect.outcome: "done" is not one of transferred, hangup, caller_hangup, fallback, failed`,
		file + `:12: scenario "b": call[0].at: "soon" is not a duration`,
		"FAIL: 1 folder did not load",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestTestCommandReportsAFlowThatDoesNotCompile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.lua"), "local flow = {}\nfunction flow.incoming(call)\n  call:play(\nend\nreturn flow\n")
	writeFile(t, filepath.Join(dir, "x.scenario.toml"), "[[scenario]]\n[[scenario.call]]\nexpect = { outcome = \"hangup\" }\n")
	out, err := runTest(t, dir)
	if !errors.Is(err, errTestFailed) {
		t.Fatalf("err = %v, want errTestFailed\n%s", err, out)
	}
	if want := filepath.Join(dir, "main.lua") + ":4:"; !strings.Contains(out, want) {
		t.Errorf("output lacks the flow's file:line %q:\n%s", want, out)
	}
}

func TestTestCommandWithoutScenarios(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.lua"), testFlow)
	out, err := runTest(t, dir)
	if err == nil || !strings.Contains(err.Error(), "no scenario files") {
		t.Fatalf("err = %v, want one saying there are no scenario files\n%s", err, out)
	}
}
