package engine_test

import (
	"fmt"
	"reflect"
	"regexp"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// The sandbox suite: hostile flows, each run among ordinary calls. The
// hostile call must be stopped and handed to the fallback (ext 200, which
// the rig configures), its error logged with its call id, and the ordinary
// calls must complete exactly as they do with no hostile call at all.

// hostileFrom is the caller the routes send to the hostile flow; every
// other caller gets the ordinary flow.
const hostileFrom = "13900000666"

var ordinaryFrom = []string{"13800000001", "13800000002", "13800000003"}

// ordinaryFlow is a menu: key n transfers to ext 20n, a target computed
// with the string library, so a call whose string functions were tampered
// with would go elsewhere (or to the fallback).
const ordinaryFlow = `
local flow = {}
function flow.incoming(call)
  local key, why = call:gather{ prompt = "user_welcome", timeout = 5, valid = "[1-8]" }
  if not key then return end
  local ext = ("2"):rep(1) .. string.format("%02d", tonumber(key))
  assert(ext:upper() == ext and string.find(ext, "^2%d%d$") and #string.gsub(ext, "%d", "x") == 3,
         "the string library is not intact")
  call.vars.choice = key
  call:transfer{ ext = ext }
end
function flow.ended(call, summary)
  ivr.log.info("ordinary ended", { outcome = summary.outcome, target = summary.target or "" })
end
return flow
`

// sandboxLimits are the suite's budgets: small, so that a stopped flow is
// stopped fast, and far above what the ordinary flow needs.
func sandboxLimits() engine.Limits {
	return engine.Limits{
		StepInstructions: 200_000,
		CallInstructions: 20_000_000,
		// The wall-clock bounds are backstops, far out of the way: the
		// instruction budgets stop hostile flows the same way on a loaded
		// machine as on an idle one, so the suite does not depend on speed.
		StepCPU: 30 * time.Second,
		CallCPU: 60 * time.Second,
	}
}

// heapNow is the heap the watchdog measures, after a collection.
func heapNow() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// callSummary is what a caller experienced.
type callSummary struct {
	State, Connected, Keys string
	Heard                  []string
}

func summarize(c *omsim.Call) callSummary {
	in := c.Info()
	return callSummary{State: in.State, Connected: in.Connected, Keys: in.Keys, Heard: heard(c)}
}

type scenario struct {
	hostile   string // the hostile flow's source; "" places no hostile call
	flows     map[string]string
	routes    []engine.Route // before the hostile and the ordinary routes
	limits    func(*engine.Limits)
	heapLimit uint64
	// drive is how long (virtual seconds, one at a time) the hostile call
	// may take to reach the fallback after the ordinary calls are done.
	drive int
}

type scenarioResult struct {
	r         *rig
	ordinary  []callSummary
	endedLogs []string // the outcome and target the ordinary calls' ended saw
	hostile   *omsim.Call
	hostileID string        // ivrd's call id of the hostile call
	elapsed   time.Duration // real time from placing the calls to the hostile call's end
}

// runScenario places the hostile call (if any) and two ordinary calls at
// once, a third ordinary call after the hostile one has run, then lets
// the ordinary callers press 1, 2 and 3 once the prompt has played.
func runScenario(t *testing.T, sc scenario) scenarioResult {
	t.Helper()
	flows := map[string]string{"main": ordinaryFlow}
	if sc.hostile != "" {
		flows["hostile"] = sc.hostile
	}
	for name, src := range sc.flows {
		flows[name] = src
	}
	lim := sandboxLimits()
	if sc.limits != nil {
		sc.limits(&lim)
	}
	r := newRig(t, flows, rigOptions{config: func(c *engine.Config) {
		c.Routes = append(append([]engine.Route(nil), sc.routes...),
			engine.Route{From: hostileFrom, Flow: "hostile"}, engine.Route{Flow: "main"})
		c.Limits = lim
		c.HeapLimit = sc.heapLimit
	}})
	place := func(from string) *omsim.Call {
		c, err := r.sim.PlaceCall(from, "60001")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	res := scenarioResult{r: r}
	start := time.Now()
	var calls []*omsim.Call
	if sc.hostile != "" {
		res.hostile = place(hostileFrom)
	}
	calls = append(calls, place(ordinaryFrom[0]), place(ordinaryFrom[1]))
	r.sim.Settle()
	calls = append(calls, r.call(ordinaryFrom[2]))
	r.advance(2 * time.Second)
	for i, c := range calls {
		r.press(c, fmt.Sprint(i+1))
	}
	r.advance(time.Second)
	for _, c := range calls {
		res.ordinary = append(res.ordinary, summarize(c))
	}
	if h := res.hostile; h != nil {
		for i := 0; i < sc.drive && h.Info().Connected != "ext 200"; i++ {
			r.advance(time.Second)
		}
		res.elapsed = time.Since(start)
		r.advance(time.Second)
		res.hostileID = callID(t, r, hostileFrom)
	}
	for _, l := range r.logs.all() {
		if strings.Contains(l, "ordinary ended") {
			res.endedLogs = append(res.endedLogs, outcomeRE.FindString(l)+" "+targetRE.FindString(l))
		}
	}
	sort.Strings(res.endedLogs)
	return res
}

var (
	callIDRE  = regexp.MustCompile(`call_id=(\S+)`)
	outcomeRE = regexp.MustCompile(`outcome=\S+`)
	targetRE  = regexp.MustCompile(`target="[^"]*"`)
)

// callID finds ivrd's id for the call from a number in the "call started"
// log line.
func callID(t *testing.T, r *rig, from string) string {
	t.Helper()
	for _, l := range r.logs.all() {
		if strings.Contains(l, "call started") && strings.Contains(l, "from="+from) {
			if m := callIDRE.FindStringSubmatch(l); m != nil {
				return m[1]
			}
		}
	}
	t.Fatalf("no call started line for %s", from)
	return ""
}

// errorLine returns the ERROR line naming the call id and containing every
// part, or "".
func errorLine(r *rig, id string, parts ...string) string {
	for _, l := range r.logs.all() {
		if !strings.Contains(l, "[ERROR]") || !strings.Contains(l, "call_id="+id+" ") {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && (strings.Contains(l, p) || strings.Contains(l, strings.ReplaceAll(p, `"`, `\"`)))
		}
		if ok {
			return l
		}
	}
	return ""
}

func errorLines(r *rig) []string {
	var out []string
	for _, l := range r.logs.all() {
		if strings.Contains(l, "[ERROR]") {
			out = append(out, l)
		}
	}
	return out
}

// baseline is what the ordinary calls experience with no hostile call.
func baseline(t *testing.T) scenarioResult {
	t.Helper()
	b := runScenario(t, scenario{})
	for i, s := range b.ordinary {
		if want := fmt.Sprintf("ext 20%d", i+1); s.State != "talking" || s.Connected != want {
			t.Fatalf("baseline: ordinary call %d = %+v, want talking to %s", i, s, want)
		}
	}
	if len(b.endedLogs) != len(ordinaryFrom) {
		t.Fatalf("baseline: %d ordinary calls ended, want %d", len(b.endedLogs), len(ordinaryFrom))
	}
	if errs := errorLines(b.r); len(errs) > 0 {
		t.Fatalf("baseline logged errors: %v", errs)
	}
	return b
}

// checkHostile asserts the contract for a hostile call: fallback, an
// ERROR line with its id and the reason, the ordinary calls unchanged.
func checkHostile(t *testing.T, base, got scenarioResult, want ...string) string {
	t.Helper()
	r := got.r
	if in := got.hostile.Info(); in.Connected != "ext 200" || in.State != "talking" {
		t.Errorf("the hostile call is %s, connected to %q; want talking to the fallback ext 200", in.State, in.Connected)
	}
	line := errorLine(r, got.hostileID, append([]string{"flow failed; handing the call to the fallback"}, want...)...)
	if line == "" {
		t.Errorf("no ERROR line with call_id=%s and %q; errors: %v", got.hostileID, want, errorLines(r))
	}
	if !r.logged("call ended", "call_id="+got.hostileID, "outcome=fallback") {
		t.Errorf("the hostile call did not end with outcome=fallback")
	}
	if r.logged("session panicked") {
		t.Errorf("a session panicked: %v", errorLines(r))
	}
	if !reflect.DeepEqual(got.ordinary, base.ordinary) {
		t.Errorf("ordinary calls = %+v\nwant (no hostile call) %+v", got.ordinary, base.ordinary)
	}
	if !reflect.DeepEqual(got.endedLogs, base.endedLogs) {
		t.Errorf("ordinary calls ended %q\nwant %q", got.endedLogs, base.endedLogs)
	}
	for _, l := range errorLines(r) {
		if !strings.Contains(l, "call_id="+got.hostileID+" ") {
			t.Errorf("an error was logged for another call: %s", l)
		}
	}
	return line
}

var usedRE = regexp.MustCompile(`used (\d+) instructions, (\S+)\)`)

type hostileCase struct {
	name   string
	flow   string // the body of incoming(call), or a whole flow when it starts with "--flow"
	want   []string
	limits func(*engine.Limits)
	drive  int
}

func (hc hostileCase) source() string {
	if strings.HasPrefix(hc.flow, "--flow") {
		return hc.flow
	}
	return "local flow = {}\nfunction flow.incoming(call)\n" + hc.flow + "\nend\nreturn flow\n"
}

// A stopped flow's error names the budget that stopped it. Cases whose
// instructions are expensive (errors raised and caught, pattern steps) may
// meet the wall-clock bound first on a slow machine or under -race.
const (
	stopped           = "flow stopped: "
	outOfInstructions = "flow stopped: the flow ran out of its instruction budget"
)

var hostileCases = []hostileCase{
	// Runaway code.
	{name: "endless loop", flow: `while true do end`, want: []string{outOfInstructions}},
	{name: "endless loop at the top level", flow: "--flow\nlocal flow = {}\nwhile true do end\nreturn flow\n",
		want: []string{outOfInstructions}},
	{name: "endless tail calls", flow: `local function f() return f() end return f()`, want: []string{outOfInstructions}},
	{name: "endless recursion", flow: `local function f() return 1 + f() end return f()`, want: []string{"stack overflow"}},
	{name: "endless recursion through a metamethod",
		flow: `local t = setmetatable({}, { __index = function(t, k) return t[k] end }) return t.x`,
		want: []string{"stack overflow"}},
	{name: "endless recursion under pcall, retried forever",
		flow: `local function f() return 1 + f() end while true do pcall(f) end`, want: []string{stopped, "(budgets: "}},
	{name: "endless recursion through __concat",
		flow: `local t = setmetatable({}, { __concat = function(a, b) return a .. b end }) return t .. "x"`,
		want: []string{"stack overflow"}},
	{name: "recursion doubling its arguments", flow: `local function f(...) return 1 + f(..., ...) end return f(1)`,
		want: []string{"overflow"}},
	{name: "pcall around an endless loop, in an endless loop",
		flow: `while true do pcall(function() while true do end end) end`, want: []string{outOfInstructions}},
	{name: "pcall swallowing the stop, then carrying on",
		flow: `local ok, err = pcall(function() while true do end end)
		       ivr.log.info("swallowed", { err = tostring(err) })
		       call:transfer{ ext = "209" }`,
		want: []string{outOfInstructions}},
	{name: "xpcall whose handler loops, then carrying on",
		flow: `xpcall(function() while true do end end, function(e) while true do end end)
		       call:transfer{ ext = "209" }`,
		want: []string{outOfInstructions}},
	{name: "errors swallowed in a loop",
		flow: `local n = 0 while true do local ok = pcall(error, "again") n = n + 1 end`, want: []string{stopped, "(budgets: "}},
	{name: "an error object whose __tostring loops",
		flow: `error(setmetatable({}, { __tostring = function() while true do end end }))`,
		want: []string{"flow failed"}},

	// Memory.
	{name: "a table that grows without bound", flow: `local t = {} while true do t[#t+1] = {} end`,
		want: []string{stopped}},
	{name: "a string that doubles forever", flow: `local s = "x" while true do s = s .. s end`,
		want: []string{stopped}},
	{name: "string.rep beyond the cap", flow: `local s = string.rep("x", 2^21)`, want: []string{"string.rep:", "exceeds the limit"}},
	{name: "string.rep beyond the cap, as a method", flow: `local s = ("ab"):rep(2^20)`, want: []string{"string.rep:"}},
	{name: "string.rep with a huge count", flow: `local s = ("x"):rep(2^53)`, want: []string{"string.rep:"}},
	{name: "string.format with a huge width", flow: `local s = string.format("%099999999d", 1)`,
		want: []string{"string.format:", "width or precision"}},
	{name: "string.format with a huge precision", flow: `local s = string.format("%.5000f", 1)`,
		want: []string{"string.format:", "width or precision"}},
	{name: "string.format with a width from the arguments", flow: `local s = string.format("%*d", 999999, 1)`,
		want: []string{"string.format: invalid option '%*'"}},
	{name: "string.format amplifying its arguments",
		flow: `local big = string.rep("x", 2^20) local t = {} for i = 1, 2000 do t[i] = big end
		       local s = string.format(string.rep("%s", 2000), unpack(t))`,
		want: []string{"string.format:", "limit"}},
	{name: "table.concat of one big string many times",
		flow: `local big = string.rep("x", 2^20) local t = {} for i = 1, 4096 do t[i] = big end local s = table.concat(t)`,
		want: []string{"table.concat:", "limit"}},
	{name: "table.concat with a big separator",
		flow: `local t = {} for i = 1, 4096 do t[i] = "" end local s = table.concat(t, string.rep("x", 2^20))`,
		want: []string{"table.concat:", "limit"}},
	{name: "string.gsub amplifying its subject",
		flow: `local s = string.gsub(string.rep("x", 2^20), "x", string.rep("y", 1024))`,
		want: []string{"string.gsub:", "limit"}},
	{name: "string.gsub doubling its subject",
		flow: `local s = string.rep("x", 2^18) while true do s = string.gsub(s, "^", s) end`,
		want: []string{"string.gsub:", "limit"}},
	{name: "unpack of a huge range", flow: `return unpack({}, 1, 1e8)`, want: []string{"registry overflow"}},
	{name: "string.byte of a whole big string", flow: `return string.byte(string.rep("x", 2^20), 1, -1)`,
		want: []string{"registry overflow"}},

	// Work hidden inside library functions.
	{name: "a pattern that backtracks catastrophically",
		flow: `return string.find(string.rep("a", 100000), "a-a-b")`, want: []string{stopped, "(budgets: "}},
	{name: "a greedy pattern over a long subject",
		flow: `return string.find(string.rep("a", 2^20), "a*a*b")`, want: []string{stopped}},
	{name: "gmatch with a pattern that backtracks",
		flow: `for w in string.gmatch(string.rep("a", 100000), "a-a-b") do end`, want: []string{stopped, "(budgets: "}},
	{name: "gsub over every character, forever",
		flow: `local s = string.rep("x", 2^20) while true do s = string.gsub(s, ".", "y") end`,
		want: []string{stopped, "(budgets: "}},
	{name: "a sort comparator that loops",
		flow: `local t = {3, 2, 1} table.sort(t, function(a, b) while true do end end)`, want: []string{stopped, "(budgets: "}},

	// Reaching out of the sandbox.
	{name: "os.execute", flow: `os.execute("touch /tmp/ivrd-pwned")`, want: []string{"flows/hostile.lua:3:", "(nil) with key 'execute'"}},
	{name: "io.open", flow: `io.open("/etc/passwd")`, want: []string{"flows/hostile.lua:3:", "(nil) with key 'open'"}},
	{name: "debug.getinfo", flow: `debug.getinfo(1)`, want: []string{"flows/hostile.lua:3:", "(nil) with key 'getinfo'"}},
	{name: "load", flow: `load(function() return nil end)`, want: []string{"flows/hostile.lua:3:", "attempt to call a non-function object"}},
	{name: "loadstring", flow: `loadstring("return 1")()`, want: []string{"flows/hostile.lua:3:", "attempt to call a non-function object"}},
	{name: "dofile", flow: `dofile("/etc/passwd")`, want: []string{"flows/hostile.lua:3:", "attempt to call a non-function object"}},
	{name: "loadfile", flow: `loadfile("/etc/passwd")`, want: []string{"flows/hostile.lua:3:", "attempt to call a non-function object"}},
	{name: "require of a file path", flow: `require("/etc/passwd")`, want: []string{"flows/hostile.lua:3:", `no module "/etc/passwd"`}},
	{name: "require of a relative path", flow: `require("../../etc/passwd")`, want: []string{`no module "../../etc/passwd"`}},
	{name: "require os", flow: `local os = require("os") os.exit(1)`, want: []string{`no module "os"`}},
	{name: "require debug", flow: `local d = require("debug")`, want: []string{`no module "debug"`}},
	{name: "collectgarbage", flow: `collectgarbage("stop")`, want: []string{"attempt to call a non-function object"}},
	{name: "string.dump", flow: `string.dump(function() end)`, want: []string{"attempt to call a non-function object"}},
	{name: "coroutines", flow: `coroutine.wrap(function() end)()`, want: []string{"(nil) with key 'wrap'"}},
	{name: "package.loadlib", flow: `package.loadlib("libc.so.6", "system")`, want: []string{"(nil) with key 'loadlib'"}},
	{name: "getfenv", flow: `getfenv(0).os = nil`, want: []string{"attempt to call a non-function object"}},

	// Tampering with what other calls use.
	{name: "getmetatable string tricks",
		flow: `local mt = getmetatable("")
		       mt.__index.rep = function() return "666" end
		       mt.__index.format = function() return "66" end
		       string.upper = nil
		       string.find = function() return nil end
		       mt.__index = nil
		       return ("x"):upper()`,
		want: []string{"flows/hostile.lua:9:", "(string) with key 'upper'"}},
	{name: "globals replaced", flow: `_G.pcall = nil; _G.string = nil; _G.ivr = nil; setmetatable(_G, { __index = function() error("gone") end }) return tostring(nosuch)`,
		want: []string{"gone"}},

	// call.vars.
	{name: "call.vars growing past the cap",
		flow: `call:play("user_welcome") -- parked in a menu while it sleeps
		       local i = 0
		       while true do
		         i = i + 1
		         call.vars["k" .. i] = string.rep("x", 1000)
		         call:sleep(1)
		       end`,
		limits: func(l *engine.Limits) { l.MaxVars = 4096 },
		want:   []string{"call.vars: encoded size passes the limit of 4096 bytes"}, drive: 10},
	{name: "call.vars growing past the cap, the error swallowed",
		flow: `call:play("user_welcome") -- parked in a menu while it sleeps
		       local i = 0
		       while true do
		         i = i + 1
		         call.vars["k" .. i] = string.rep("x", 1000)
		         pcall(call.sleep, call, 1)
		       end`,
		limits: func(l *engine.Limits) { l.MaxVars = 4096 },
		// Stopped by a budget (which one depends on the machine: encoding
		// call.vars at each blocking call is not counted in instructions),
		// and the step knows which.
		want: []string{"flow stopped: ", "(budgets: "}, drive: 10},
	{name: "call.vars holding itself", flow: `call.vars.me = call.vars call:sleep(1)`,
		want: []string{"call.vars: ", "cycle"}},
	{name: "call.vars holding a function", flow: `call.vars.f = print call:sleep(1)`,
		want: []string{"call.vars: ", "function"}},
}

func TestSandboxHostileFlows(t *testing.T) {
	base := baseline(t)
	for _, hc := range hostileCases {
		t.Run(hc.name, func(t *testing.T) {
			drive := hc.drive
			if drive == 0 {
				drive = 3
			}
			got := runScenario(t, scenario{
				hostile: hc.source(), limits: hc.limits, drive: drive,
				// As in the daemon, the watchdog is on; the margin is
				// above what the ordinary calls and the other cases need.
				heapLimit: heapNow() + 64<<20,
			})
			line := checkHostile(t, base, got, hc.want...)
			if t.Failed() {
				return
			}
			// Flows that catch the stop and try to carry on log "swallowed"
			// or call ext 209: neither may happen.
			if st, _ := got.r.sim.ExtState("209"); st != "idle" || got.r.logged("call_id="+got.hostileID, "swallowed") {
				t.Errorf("the hostile flow ran on after it was stopped (ext 209 %s)", st)
			}
			stop := ""
			if m := usedRE.FindStringSubmatch(line); m != nil {
				stop = fmt.Sprintf(", %s instructions, %s of Lua", m[1], m[2])
			}
			t.Logf("stopped after %s of real time%s: %s", got.elapsed.Round(time.Millisecond), stop, reason(line))
		})
	}
}

// reason is the error value of a log line.
func reason(line string) string {
	if i := strings.Index(line, "error="); i >= 0 {
		return strings.TrimSpace(line[i+len("error="):])
	}
	return strings.TrimSpace(line)
}

// hoardingFlow keeps a megabyte more at every turn of its loop.
const hoardingFlow = `
local flow = {}
function flow.incoming(call)
  local keep = {}
  while true do keep[#keep + 1] = string.rep("x", 2^20) end
end
return flow`

// The heap watchdog: a flow that allocates faster than its instruction
// budget could notice (here the budgets are huge) is stopped when the
// process heap passes its limit, and the ordinary calls around it are not.
func TestSandboxHeapWatchdog(t *testing.T) {
	base := baseline(t)
	got := runScenario(t, scenario{
		hostile: hoardingFlow,
		limits: func(l *engine.Limits) {
			l.StepInstructions = 1 << 40
			l.CallInstructions = 1 << 40
			l.StepCPU = 5 * time.Minute
			l.CallCPU = 5 * time.Minute
		},
		heapLimit: heapNow() + 200<<20,
		drive:     3,
	})
	line := checkHostile(t, base, got, "flow stopped: the process heap passed its limit")
	t.Logf("stopped after %s: %s", got.elapsed.Round(time.Millisecond), reason(line))
}

// Once the hostile call is stopped, what it held is garbage the heap
// metric still counts, maybe for minutes: the watchdog must not take that
// for a flow allocating and stop the steps of ordinary calls — here calls
// whose first step computes long enough for the watchdog to see it.
func TestSandboxHeapWatchdogSparesLaterCalls(t *testing.T) {
	base := baseline(t)
	// About 0.1 s of searching in assembly, the same with or without -race.
	slow := strings.Replace(ordinaryFlow, "function flow.incoming(call)\n",
		"function flow.incoming(call)\n  local big = string.rep(\"a\", 2^20)\n"+
			"  for i = 1, 3000 do string.find(big, \"b\", 1, true) end\n", 1)
	got := runScenario(t, scenario{
		hostile: hoardingFlow,
		flows:   map[string]string{"slow": slow},
		routes:  []engine.Route{{From: "1370*", Flow: "slow"}},
		limits: func(l *engine.Limits) {
			l.StepInstructions = 1 << 40
			l.CallInstructions = 1 << 40
			l.StepCPU = 5 * time.Minute
			l.CallCPU = 5 * time.Minute
		},
		heapLimit: heapNow() + 200<<20,
		drive:     3,
	})
	checkHostile(t, base, got, "the process heap passed its limit")
	r := got.r
	var calls []*omsim.Call
	start := time.Now()
	for i := 0; i < 3; i++ {
		c, err := r.sim.PlaceCall(fmt.Sprintf("1370000000%d", i), "60001")
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, c)
	}
	r.sim.Settle()
	t.Logf("three slow first steps took %s", time.Since(start).Round(time.Millisecond))
	r.advance(2 * time.Second)
	for i, c := range calls {
		r.press(c, fmt.Sprint(i+4))
	}
	r.advance(time.Second)
	for i, c := range calls {
		if want := fmt.Sprintf("ext 20%d", i+4); c.Info().Connected != want {
			t.Errorf("later call %d = %+v, want %s; errors: %v", i, c.Info(), want, errorLines(r))
		}
	}
}

// The per-call budget: each step is well within the step budget, but the
// steps together are not.
func TestSandboxCallBudgetAcrossSteps(t *testing.T) {
	const flow = `
local flow = {}
function flow.incoming(call)
  call:play("user_welcome") -- the call sits in a menu while it sleeps
  local round = 0
  while true do
    round = round + 1
    for i = 1, 100000 do end
    ivr.log.info("round", { n = round })
    call:sleep(1)
  end
end
return flow`
	base := baseline(t)
	for _, c := range []struct {
		name   string
		limits func(*engine.Limits)
		want   string
	}{
		{"instructions", func(l *engine.Limits) {
			l.StepInstructions = 500_000
			l.CallInstructions = 1_450_000
		}, outOfInstructions},
		{"wall clock", func(l *engine.Limits) {
			l.StepInstructions = 1 << 40
			l.CallInstructions = 1 << 40
			l.StepCPU = 30 * time.Second
			l.CallCPU = time.Second
		}, "flow stopped: a step ran past its time bound"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := runScenario(t, scenario{hostile: flow, limits: c.limits, drive: 3000})
			line := checkHostile(t, base, got, c.want)
			rounds := 0
			for _, l := range got.r.logs.all() {
				if strings.Contains(l, "round:") && strings.Contains(l, "call_id="+got.hostileID) {
					rounds++
				}
			}
			if rounds < 2 {
				t.Errorf("the call was stopped after %d rounds; the per-call budget should have let several run", rounds)
			}
			if c.name == "instructions" && rounds != 14 {
				t.Errorf("%d rounds of 100000 instructions ran within 1450000, want 14", rounds)
			}
			t.Logf("%d rounds, then: %s", rounds, reason(line))
		})
	}
}

// ended runs after the call has left the flow: an error or a runaway loop
// there is logged, and changes nothing about the call.
func TestSandboxErrorInEnded(t *testing.T) {
	for _, c := range []struct{ name, ended, want string }{
		{"error", `error("boom in ended")`, ""},
		{"endless loop", `while true do end`, outOfInstructions},
		{"blocking call", `call:sleep(1)`, "call:sleep cannot be used in ended()"},
	} {
		t.Run(c.name, func(t *testing.T) {
			flow := strings.Replace(ordinaryFlow, `ivr.log.info("ordinary ended", { outcome = summary.outcome, target = summary.target or "" })`,
				`ivr.log.info("ordinary ended", { outcome = summary.outcome, target = summary.target or "" })
  `+c.ended, 1)
			r := newRig(t, map[string]string{"main": flow}, rigOptions{config: func(cfg *engine.Config) { cfg.Limits = sandboxLimits() }})
			call := r.call(ordinaryFrom[0])
			r.advance(2 * time.Second)
			r.press(call, "1")
			r.advance(time.Second)
			if in := call.Info(); in.State != "talking" || in.Connected != "ext 201" {
				t.Fatalf("call = %s to %q, want talking to ext 201", in.State, in.Connected)
			}
			id := callID(t, r, ordinaryFrom[0])
			want := c.want
			if c.name == "error" {
				line := strings.Count(flow[:strings.Index(flow, c.ended)], "\n") + 1
				want = fmt.Sprintf("flows/main.lua:%d: boom in ended", line)
			}
			if errorLine(r, id, "ended handler failed", want) == "" {
				t.Fatalf("no ERROR line for ended with %q: %v", want, errorLines(r))
			}
			if !r.logged("call ended", "call_id="+id, "outcome=transferred", `target="ext 201"`) {
				t.Fatalf("the call's outcome changed: %v", r.logs.all())
			}
			if r.logged("session panicked") {
				t.Fatal("the session panicked")
			}
		})
	}
}

// The globals a flow sees are exactly what design.md allows: base without
// file and dynamic loading, table, string, math without random, require
// of embedded modules, and ivrd's own ivr and print.
func TestSandboxGlobals(t *testing.T) {
	const flow = `
local flow = {}
local function names(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = tostring(k) end
  table.sort(out)
  return table.concat(out, " ")
end
function flow.incoming(call)
  ivr.log.info("globals", { g = names(_G), string = names(string), table = names(table), math = names(math),
                            strmeta = names(getmetatable("")), strindex = tostring(getmetatable("").__index == string) })
end
return flow`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	r.call("1")
	want := map[string]string{
		"g": "_G _GOPHER_LUA_VERSION _VERSION assert error getmetatable ipairs ivr math next pairs pcall print " +
			"rawequal rawget rawset require select setmetatable string table tonumber tostring type unpack xpcall",
		"string":   "__index byte char find format gfind gmatch gsub len lower match rep reverse sub upper",
		"table":    "concat getn insert maxn remove sort",
		"math":     "abs acos asin atan atan2 ceil cos cosh deg exp floor fmod frexp huge ldexp log log10 max min mod modf pi pow rad sin sinh sqrt tan tanh",
		"strmeta":  "__index byte char find format gfind gmatch gsub len lower match rep reverse sub upper",
		"strindex": "true",
	}
	var line string
	for _, l := range r.logs.all() {
		if strings.Contains(l, "globals:") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no globals line: %v", r.logs.all())
	}
	for field, names := range want {
		re := regexp.MustCompile(` ` + field + `=("([^"]*)"|(\S*))`)
		m := re.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("%s: missing from %s", field, line)
			continue
		}
		got := m[2] + m[3]
		if got != names {
			t.Errorf("%s:\n got %s\nwant %s", field, got, names)
		}
	}
	for _, banned := range []string{"os", "io", "debug", "coroutine", "channel", "package", "dofile", "loadfile",
		"load", "loadstring", "collectgarbage", "getfenv", "setfenv", "module", "newproxy", "_printregs"} {
		if strings.Contains(" "+want["g"]+" ", " "+banned+" ") {
			t.Errorf("%s is in the allowed set", banned)
		}
	}
	for _, banned := range []string{"random", "randomseed"} {
		if strings.Contains(" "+want["math"]+" ", " "+banned+" ") {
			t.Errorf("math.%s is in the allowed set", banned)
		}
	}
	if strings.Contains(" "+want["string"]+" ", " dump ") {
		t.Error("string.dump is in the allowed set")
	}
}

// What the capped and budgeted library functions still do for a flow
// within the limits: the same as plain Lua 5.1.
func TestSandboxLibraryWithinLimits(t *testing.T) {
	const flow = `
local flow = {}
local checks = {}
local function eq(name, got, want)
  if got ~= want then checks[#checks + 1] = name .. ": got " .. tostring(got) .. ", want " .. tostring(want) end
end
function flow.incoming(call)
  eq("rep", string.rep("ab", 3), "ababab")
  eq("rep 0", string.rep("ab", 0), "")
  eq("rep -1", string.rep("ab", -1), "")
  eq("rep at the cap", #string.rep("x", 2^20), 2^20)
  eq("format", string.format("%5.2f|%-4d|%s|%q|%x|%%", 3.14159, 42, "hi", "a\"b", 255), " 3.14|42  |hi|\"a\\\"b\"|ff|%")
  eq("format width 99", #string.format("%99d", 1), 99)
  eq("format no args", string.format("plain"), "plain")
  eq("concat", table.concat({1, "b", 3}, ", "), "1, b, 3")
  eq("concat range", table.concat({"a", "b", "c", "d"}, "", 2, 3), "bc")
  eq("concat empty", table.concat({}), "")
  eq("find", select(2, string.find("hello world", "o w")), 7)
  eq("find plain", string.find("a.b", ".", 1, true), 2)
  eq("find init", string.find("abcabc", "b", 3), 5)
  eq("find captures", select(3, string.find("key=val", "(%w+)=(%w+)")), "key")
  eq("find anchored", string.find("xab", "^ab"), nil)
  eq("find empty", string.find("abc", ""), 1)
  eq("match", string.match("  trim me  ", "^%s*(.-)%s*$"), "trim me")
  eq("match position", string.match("hello", "()ll()"), 3)
  eq("match init", string.match("abab", "a", 2), "a")
  eq("match none", string.match("abc", "x"), nil)
  eq("match balanced", string.match("f(a(b)c) d", "%b()"), "(a(b)c)")
  eq("match back reference", string.match("say 'hi' now", "(['\"])(.-)%1"), "'")
  eq("match frontier-free set", string.match("2026-11-25", "^(%d+)-(%d+)-(%d+)$"), "2026")
  local n = 0
  for k, v in string.gmatch("a=1, b=2, c=3", "(%w+)=(%w+)") do n = n + tonumber(v) end
  eq("gmatch", n, 6)
  local words = {}
  for w in string.gmatch("one two  three", "%a+") do words[#words + 1] = w end
  eq("gmatch words", table.concat(words, ","), "one,two,three")
  eq("gsub", (string.gsub("hello world", "o", "0")), "hell0 w0rld")
  eq("gsub count", select(2, string.gsub("hello world", "o", "0")), 2)
  eq("gsub limit", (string.gsub("aaa", "a", "b", 2)), "bba")
  eq("gsub captures", (string.gsub("hello world", "(%w+)", "<%1>")), "<hello> <world>")
  eq("gsub %0", (string.gsub("abc", "%w", "%0%0")), "aabbcc")
  eq("gsub %%", (string.gsub("50", "%d+", "%0%%")), "50%")
  eq("gsub table", (string.gsub("$name is $age", "%$(%w+)", { name = "Ann", age = 7 })), "Ann is 7")
  eq("gsub function", (string.gsub("1 2 3", "%d", function(d) return d * 2 end)), "2 4 6")
  eq("gsub function nil", (string.gsub("a b", "%a", function() return nil end)), "a b")
  eq("gsub empty pattern", (string.gsub("ab", "", "-")), "-a-b-")
  eq("gsub anchored", (string.gsub("aaa", "^a", "b")), "baa")
  eq("gsub position capture", (string.gsub("ab", "()", "%1")), "1a2b3")
  eq("gsub escapes as Lua 5.1", (string.gsub("a", "a", "%x")), "x")
  eq("gmatch anchored", select(2, string.gsub("aaa", "^a", "")), 1)
  eq("find past the end", string.find("abc", "b", 10), nil)
  eq("find negative init", string.find("abcabc", "a", -3), 4)
  eq("format %5s", string.format("%5s|%-5s|", "ab", "cd"), "   ab|cd   |")
  eq("format %c %i %o %e %g", string.format("%c %o %.1e %g", 65, 8, 1234.5, 0.5), "A 10 1.2e+03 0.5")
  eq("upper via metatable", ("abc"):upper(), "ABC")
  eq("unpack", select("#", unpack({1, 2, 3})), 3)
  eq("byte", select("#", string.byte(string.rep("x", 1000), 1, -1)), 1000)
  local ok, err = pcall(string.find, "abc", "[a")
  eq("bad pattern raises", ok, false)
  ok, err = pcall(string.format, "%d", "x")
  eq("format keeps gopher-lua's leniency", ok, true)
  ivr.log.info("library", { failures = #checks, first = checks[1] or "" })
end
return flow`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{config: func(c *engine.Config) { c.Limits = sandboxLimits() }})
	r.call("1")
	if !r.logged("library:", "failures=0") {
		t.Fatalf("library checks failed: %v", r.logs.all())
	}
}

// The API's functions are shared by every call, its tables are not: a
// flow that rewrites ivr or call changes nothing for another call.
func TestAPITablesArePerCall(t *testing.T) {
	const flow = `local f = {}
function f.incoming(call)
  if call.from == "1" then
    ivr.log.info = nil
    ivr.store.get = nil
    ivr.json.encode = function() return "hijacked" end
    ivr.now = nil
    call.play = function() error("hijacked") end
    print = nil
    ivr.log.warn("rewritten")
    call:sleep(3600)
    return
  end
  local played = call:play("user_welcome")
  print("printed")
  ivr.log.info("second", { json = ivr.json.encode({ a = 1 }), played = played, now = type(ivr.now()),
                           get = type(ivr.store.get) })
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	r.call("1")
	r.advance(time.Second)
	r.call("2")
	r.advance(10 * time.Second)
	var rewritten, printed, second string
	for _, l := range r.logs.all() {
		switch {
		case strings.Contains(l, "rewritten"):
			rewritten = l
		case strings.Contains(l, "printed"):
			printed = l
		case strings.Contains(l, "second"):
			second = l
		}
	}
	if rewritten == "" || printed == "" {
		t.Fatalf("rewritten %q, printed %q: %v", rewritten, printed, r.logs.all())
	}
	for _, want := range []string{`json="{\"a\":1}"`, "played=done", "now=number", "get=function"} {
		if !strings.Contains(second, want) {
			t.Errorf("second call's line %q lacks %s", second, want)
		}
	}
}
