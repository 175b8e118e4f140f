package scenario_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/internal/scenario"
)

// menuFlow is a small menu: 1 reception, 2 a counted goodbye, with a
// retry on a wrong key.
const menuFlow = `
local flow = {}
function flow.incoming(call)
  call:play("user_welcome")
  local key = call:gather{ prompt = "user_menu", valid = "[12]", tries = 2,
                           invalid_prompt = "user_invalid", noinput_prompt = "user_noinput" }
  if key == "1" then return call:transfer{ ext = "201" } end
  if key == "2" then ivr.store.incr("twos") end
  call:play("user_bye")
end
function flow.answered(call)
  local key = call:gather{ prompt = "user_wakeup", valid = "1", tries = 1, timeout = 5 }
  if key ~= "1" then return "retry" end
  ivr.store.incr("confirmed")
  call:play("user_wakeup_confirm")
end
function flow.failed(job, reason)
  ivr.store.put("failed", { to = job.to, reason = reason })
end
return flow
`

// suite writes a folder with the menu flow as main.lua and one scenario
// file, and loads it.
func suite(t *testing.T, scenarios string) *scenario.Suite {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.lua"), menuFlow)
	write(t, filepath.Join(dir, "s.scenario.toml"), scenarios)
	s, err := scenario.Load(dir)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return s
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runOne runs a suite's only scenario.
func runOne(t *testing.T, s *scenario.Suite) *scenario.Result {
	t.Helper()
	if len(s.Scenarios) != 1 {
		t.Fatalf("%d scenarios, want 1", len(s.Scenarios))
	}
	return s.RunScenario(context.Background(), s.Scenarios[0])
}

func report(r *scenario.Result) string {
	var b strings.Builder
	r.WriteFailures(&b, "")
	r.WriteTranscript(&b, "")
	return b.String()
}

func TestPassingScenario(t *testing.T) {
	s := suite(t, `
[[scenario]]
name = "wrong key, then 2"
[[scenario.call]]
steps = [
  { after = "user_menu", press = "7" },
  { after = "user_menu", press = "2" },
]
[scenario.call.expect]
heard = ["user_welcome", "user_menu", "user_invalid", "user_menu", "user_bye"]
heard_includes = ["user_welcome", "user_bye"]
not_heard = ["user_noinput"]
keys = "72"
path = ["prompt user_welcome", "prompt user_menu", "keys 7", "invalid 7", "prompt user_invalid", "prompt user_menu", "keys 2", "prompt user_bye", "hangup"]
outcome = "hangup"
[scenario.expect.store]
twos = 1
`)
	r := runOne(t, s)
	if !r.Passed() {
		t.Fatalf("failed:\n%s", report(r))
	}
	// 2 s welcome, 2 s menu, 2 s invalid, 2 s menu, 2 s goodbye.
	if r.Virtual.Seconds() != 10 {
		t.Errorf("virtual time = %s, want 10s", r.Virtual)
	}
	var verbs []string
	for _, e := range r.Parties[0].Events {
		verbs = append(verbs, e.Verb+" "+e.What)
	}
	want := []string{
		"calls 60001", "hears user_welcome", "hears user_menu", "presses 7", "ivrd invalid input 7",
		"hears user_invalid", "hears user_menu", "presses 2", "hears user_bye", "ivrd hangs up", "ended ivrd hung up",
	}
	if strings.Join(verbs, "|") != strings.Join(want, "|") {
		t.Errorf("transcript:\n got %q\nwant %q", verbs, want)
	}
}

// TestFailingExpectations checks that every kind of expectation fails when
// what happened differs, and says what was wanted and what came.
func TestFailingExpectations(t *testing.T) {
	s := suite(t, `
[[scenario]]
name = "everything wrong"
[[scenario.call]]
steps = [{ after = "user_menu", press = "2" }, { after = "user_nothing", press = "1" }]
[scenario.call.expect]
heard = ["user_welcome"]
heard_includes = ["user_menu", "user_thanks"]
not_heard = ["user_bye"]
keys = "1"
path = ["prompt user_welcome"]
target = "ext 201"
outcome = "transferred"
[scenario.expect]
store_absent = ["twos"]
jobs = 1
[scenario.expect.store]
twos = 2
`)
	r := runOne(t, s)
	if r.Passed() {
		t.Fatal("passed")
	}
	got := strings.Join(r.Failures, "\n")
	for _, want := range []string{
		"call 1 (13800000001 → 60001): step 2 (after user_nothing, press 1) did not happen:",
		"heard: want [user_welcome], got [user_welcome, user_menu, user_bye]",
		"heard_includes: want [user_menu, user_thanks] in this order, got [user_welcome, user_menu, user_bye] (user_thanks missing)",
		"not_heard: heard user_bye",
		`keys: want "1", got "2"`,
		"path: want [prompt user_welcome], got [prompt user_welcome, prompt user_menu, keys 2, prompt user_bye, hangup]",
		"target: want ext 201, got none (outcome hangup)",
		"outcome: want transferred, got hangup",
		`store "twos" (flow main): want 2, got 1`,
		`store_absent "twos" (flow main): want nothing, got 1`,
		"jobs: want 1, got 0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("failures lack %q:\n%s", want, got)
		}
	}
}

func TestOutboundJobWithRetries(t *testing.T) {
	s := suite(t, `
[[scenario]]
name = "busy, then answered without the key, then confirmed"
[[scenario.dial]]
to = "13800000009"
at = "10m"
retry = { attempts = 3, delay = "1m" }
[[scenario.callee]]
number = "13800000009"
answer = "busy"
[[scenario.callee]]
number = "13800000009"
[[scenario.callee]]
number = "13800000009"
steps = [{ hearing = "user_wakeup", wait = "1s", press = "1" }]
[scenario.callee.expect]
heard = ["user_wakeup", "user_wakeup_confirm"]
outcome = "hangup"
[[scenario.expect.job]]
to = "13800000009"
state = "done"
outcomes = ["busy", "retry", "answered"]
attempted_at = ["10m"]
[scenario.expect.store]
confirmed = 1
`)
	r := runOne(t, s)
	if r.Passed() {
		t.Fatalf("attempted_at lists one attempt of three, yet it passed:\n%s", report(r))
	}
	if len(r.Failures) != 1 || !strings.Contains(r.Failures[0], "attempted_at: want [2026-11-25 09:10:00 +0000 (+10:00.0)], got [2026-11-25 09:10:00 +0000 (+10:00.0), ") {
		t.Fatalf("failures = %q", r.Failures)
	}
	if len(r.Parties) != 3 || !strings.HasPrefix(r.Parties[2].Label, "callee 13800000009, attempt 3") {
		t.Fatalf("parties: %+v", r.Parties)
	}
	if len(r.Jobs) != 1 || len(r.Jobs[0].Attempts) != 3 {
		t.Fatalf("jobs: %+v", r.Jobs)
	}
}

func TestFailedJobAndUnansweredCallee(t *testing.T) {
	s := suite(t, `
[[scenario]]
name = "no answer twice"
[[scenario.dial]]
to = "13800000008"
retry = { attempts = 2, delay = "5m" }
[[scenario.callee]]
number = "13800000008"
answer = "no_answer"
[[scenario.expect.job]]
state = "failed"
attempts = 2
outcomes = ["no_answer", "no_answer"]
outcome = "no_answer"
[scenario.expect.store]
failed = { to = "13800000008", reason = "no_answer" }
`)
	if r := runOne(t, s); !r.Passed() {
		t.Fatalf("failed:\n%s", report(r))
	}
}

func TestLimitStopsAScenarioThatDoesNotEnd(t *testing.T) {
	s := suite(t, `
limit = "20m"
[[scenario]]
name = "a callee who is never reached, retried for hours"
[[scenario.dial]]
to = "13800000007"
retry = { attempts = 10, delay = "1h" }
[[scenario.callee]]
number = "13800000007"
answer = "busy"
[scenario.expect]
jobs = 1
`)
	r := runOne(t, s)
	if r.Passed() || len(r.Failures) != 1 || !strings.Contains(r.Failures[0], "still going after 20m0s of virtual time") ||
		!strings.Contains(r.Failures[0], "is scheduled") {
		t.Fatalf("failures = %q", r.Failures)
	}
}

func TestStopEndsTheScenarioWithTheJobStillScheduled(t *testing.T) {
	s := suite(t, `
[[scenario]]
name = "stopped before the job is due"
stop = "10m"
[[scenario.dial]]
to = "13800000006"
at = "1h"
[[scenario.expect.job]]
state = "scheduled"
attempts = 0
`)
	r := runOne(t, s)
	if !r.Passed() {
		t.Fatalf("failed:\n%s", report(r))
	}
	if r.Virtual.Minutes() != 10 {
		t.Errorf("virtual time = %s, want 10m", r.Virtual)
	}
}

func TestScheduledCallsAndHangUp(t *testing.T) {
	s := suite(t, `
[[scenario]]
name = "two callers, one late, one hanging up"
[[scenario.call]]
from = "100"
steps = [{ hearing = "user_welcome", wait = "500ms", hangup = true }]
expect = { heard = ["user_welcome"], outcome = "caller_hangup" }
[[scenario.call]]
from = "101"
at = "1h"
steps = [{ after = "user_menu", press = "1" }]
expect = { target = "ext 201", outcome = "transferred" }
`)
	r := runOne(t, s)
	if !r.Passed() {
		t.Fatalf("failed:\n%s", report(r))
	}
	late := r.Parties[1].Events
	if late[0].Verb != "calls" || late[0].At.Hours() != 1 {
		t.Errorf("the late call was placed at %s, want 1h", late[0].At)
	}
	if last := late[len(late)-1]; last.Verb != "talks" || last.What != "with ext 201" {
		t.Errorf("the transferred call was not followed until answered: last event %+v", last)
	}
	if !strings.Contains(r.Parties[0].Events[1].What, "(cut off)") {
		t.Errorf("the welcome cut by the hang-up is not marked: %+v", r.Parties[0].Events)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{"syntax", "[[scenario]]\nname = \"x\n", []string{"s.scenario.toml:2: "}},
		{"unknown field", "[[scenario]]\nname = \"x\"\n[[scenario.call]]\nexpekt = {}\n", []string{
			`s.scenario.toml:4: scenario "x": call.expekt: unknown field`}},
		{"nothing expected", "[[scenario]]\nname = \"x\"\n[[scenario.call]]\n", []string{
			`s.scenario.toml:1: scenario "x": expect: the scenario expects nothing`}},
		{"nobody calls", "[[scenario]]\nname = \"x\"\n[scenario.expect]\njobs = 0\n", []string{
			`scenario "x": nobody calls`}},
		{"file table below a scenario", "[[scenario]]\nname = \"x\"\n[[scenario.call]]\nexpect = { outcome = \"hangup\" }\n[sim.ext.202]\nanswer = \"busy\"\n", []string{
			"s.scenario.toml:5: [sim.ext.202] below a [[scenario]] sets every scenario of the file: write [scenario.sim.ext.202]"}},
		{"step without action", "[[scenario]]\nname = \"x\"\n[[scenario.call]]\nsteps = [{ after = \"user_menu\" }]\nexpect = { outcome = \"hangup\" }\n", []string{
			`s.scenario.toml:4: scenario "x": call[0].steps[0]: a step presses keys`}},
		{"second call's bad from type", "[[scenario]]\nname = \"x\"\n[[scenario.call]]\nexpect = { outcome = \"hangup\" }\n[[scenario.call]]\nfrom = true\nexpect = { outcome = \"hangup\" }\n", []string{
			`s.scenario.toml:6: scenario "x": call[1].from: want a string, not a boolean`}},
		{"callee answer", "[[scenario]]\nname = \"x\"\n[[scenario.dial]]\nto = \"1\"\n[[scenario.callee]]\nnumber = \"1\"\nanswer = \"maybe\"\n[scenario.expect]\njobs = 1\n", []string{
			`s.scenario.toml:7: scenario "x": callee[0].answer: "maybe" is not one of after, busy, no_answer, fail`}},
		{"unknown flow", "flow = \"nope\"\n[[scenario]]\nname = \"x\"\n[[scenario.call]]\nexpect = { outcome = \"hangup\" }\n", []string{
			`scenario "x": flow: no flow "nope" in the folder (main)`}},
		{"start without offset", "start = 2026-11-25T21:00:00\n[[scenario]]\nname = \"x\"\n[[scenario.call]]\nexpect = { outcome = \"hangup\" }\n", []string{
			"s.scenario.toml:1: start: give the time with its UTC offset"}},
		{"wrong type", "[[scenario]]\nname = \"x\"\n[[scenario.call]]\nexpect = { heard = \"user_menu\" }\n", []string{
			`s.scenario.toml:4: scenario "x": call.expect.heard: want an array, not a string`}},
		{"duplicate names", "[[scenario]]\nname = \"x\"\n[[scenario.call]]\nexpect = { outcome = \"hangup\" }\n[[scenario]]\nname = \"x\"\n[[scenario.call]]\nexpect = { outcome = \"hangup\" }\n", []string{
			`s.scenario.toml:5: scenario "x": name: another scenario in the file has this name`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "main.lua"), menuFlow)
			write(t, filepath.Join(dir, "s.scenario.toml"), c.text)
			_, err := scenario.Load(dir)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestFindSuites(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "a", "main.lua"), menuFlow)
	write(t, filepath.Join(root, "a", "x.scenario.toml"), "")
	write(t, filepath.Join(root, "b", "flows", "main.lua"), menuFlow)
	write(t, filepath.Join(root, "b", "scenarios", "y.toml"), "")
	write(t, filepath.Join(root, "c", "main.lua"), menuFlow) // no scenarios
	write(t, filepath.Join(root, ".hidden", "z.scenario.toml"), "")
	got, err := scenario.FindSuites(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(root, "a"), filepath.Join(root, "b")}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("suites = %q, want %q", got, want)
	}
	if got, _ := scenario.FindSuites(filepath.Join(root, "a")); len(got) != 1 || got[0] != filepath.Join(root, "a") {
		t.Errorf("a suite itself: %q", got)
	}
}
