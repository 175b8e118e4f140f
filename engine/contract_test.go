package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

func (r *rig) logged(parts ...string) bool {
	for _, l := range r.logs.all() {
		ok := true
		for _, p := range parts {
			// hclog quotes values holding quotes: accept either form.
			ok = ok && (strings.Contains(l, p) || strings.Contains(l, strings.ReplaceAll(p, `"`, `\"`)))
		}
		if ok {
			return true
		}
	}
	return false
}

func TestNoRouteGoesToFallback(t *testing.T) {
	r := newRig(t, map[string]string{"main": menuFlow}, rigOptions{config: func(c *engine.Config) {
		c.Routes = []engine.Route{{To: "7*", Flow: "main"}}
	}})
	call := r.call("1")
	r.advance(2 * time.Second)
	if info := call.Info(); info.Connected != "ext 200" || info.State != "talking" {
		t.Fatalf("call = %+v, want the fallback extension 200", info)
	}
	if !r.logged("no route for the call") {
		t.Fatal("no log line for the unrouted call")
	}
}

func TestFlowErrorGoesToFallbackAndEndedRunsOnce(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  call:play("user_welcome")
  local x = nil
  return x.boom
end
function f.ended(call, summary)
  ivr.log.info("ended ran", { outcome = summary.outcome, target = summary.target, n = #summary.path })
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	call := r.call("1")
	r.advance(4 * time.Second)
	if info := call.Info(); info.Connected != "ext 200" {
		t.Fatalf("call = %+v, want the fallback", info)
	}
	if !r.logged("[ERROR]", "flow failed", "flows/main.lua:6:", "call_id=") {
		t.Fatalf("no error line with file:line and call id: %v", r.logs.all())
	}
	n := 0
	for _, l := range r.logs.all() {
		if strings.Contains(l, "ended ran") {
			n++
			if !strings.Contains(l, "outcome=fallback") || !strings.Contains(l, `target="ext 200"`) {
				t.Fatalf("ended summary = %s", l)
			}
		}
	}
	if n != 1 {
		t.Fatalf("ended ran %d times, want once", n)
	}
}

func TestInviteIsAcceptedFirst(t *testing.T) {
	r := newRig(t, map[string]string{"main": menuFlow}, rigOptions{sim: func(c *omsim.Config) { c.ControlBeforeAnswer = true }})
	call := r.call("1")
	r.advance(time.Second)
	r.press(call, "1")
	r.advance(time.Second)
	if info := call.Info(); info.Connected != "ext 201" {
		t.Fatalf("call = %+v", info)
	}
	accepts, sessions := 0, 0
	for _, c := range r.sim.Commands() {
		if c.Verb == "Accept" {
			accepts++
		}
	}
	for _, l := range r.logs.all() {
		if strings.Contains(l, "call started") {
			sessions++
		}
	}
	if accepts != 1 || sessions != 1 {
		t.Fatalf("%d Accept commands, %d sessions; want one each (INVITE and INCOMING are one call)", accepts, sessions)
	}
}

func TestCallMethodsAfterTransferUnwind(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  assert(call:transfer{ ext = "201" })
  ivr.log.info("after transfer")
  call:play("user_welcome") -- raises: the call has left the IVR
  ivr.log.info("not reached")
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	r.call("1")
	r.advance(2 * time.Second)
	r.router.Wait()
	if !r.logged("after transfer") || r.logged("not reached") {
		t.Fatal("the flow did not unwind at the call method after the transfer")
	}
	if r.logged("[ERROR]") {
		t.Fatalf("unwinding was logged as an error: %v", r.logs.all())
	}
	if !r.logged("call ended", "outcome=transferred") {
		t.Fatal("outcome not transferred")
	}
}

func TestHangupReturnsThenRaises(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local v, why = call:gather{ prompt = "user_welcome", timeout = 30 }
  ivr.log.info("first", { why = why })
  local ok, err = pcall(function() return call:play("user_bye") end)
  ivr.log.info("second", { raised = tostring(not ok) })
  call:play("user_bye")
  ivr.log.info("not reached")
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	call := r.call("1")
	r.advance(3 * time.Second)
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.router.Wait()
	if !r.logged("first", "why=hangup") || !r.logged("second", "raised=true") || r.logged("not reached") {
		t.Fatalf("logs: %v", r.logs.all())
	}
	if r.logged("[ERROR]") {
		t.Fatal("a caller hang-up was logged as an error")
	}
}

func TestOptionErrorsNameOptionAndLine(t *testing.T) {
	cases := []struct {
		code, want string
	}{
		{`call:gather{ prompt = "user_welcome", timout = 5 }`, `flows/main.lua:4: call:gather: unknown option "timout"`},
		{`call:gather{ prompt = "user_welcome", max = "4" }`, `flows/main.lua:4: call:gather: max must be a whole number, not the string "4"`},
		{`call:gather{ prompt = "user_welcome", tries = 0 }`, `flows/main.lua:4: call:gather: tries must be within 1–20, not 0`},
		{`call:gather{ prompt = "user_welcome", valid = "[" }`, `flows/main.lua:4: call:gather: valid:`},
		{`call:gather{ prompt = "user_welcome", min = 3, max = 2 }`, `min (3) is greater than max (2)`},
		{`call:transfer{ ext = "201", group = "1" }`, `flows/main.lua:4: call:transfer: give exactly one of`},
		{`call:transfer{ extension = "201" }`, `call:transfer: unknown option "extension"`},
		{`call:play(42)`, `call:play: must be a file name or a list of file names, not a number`},
		{`call:play("a b")`, `is not a voice file name`},
		{`call:say_digits("12a")`, `call:say_digits: "a" is not a digit`},
		{`call.play("user_welcome")`, `call:play must be called with ':'`},
		{`call:sleep(-1)`, `seconds must be within 0–86400`},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			flow := "local f = {}\nfunction f.incoming(call)\n  -- line 3\n  " + c.code + "\nend\nreturn f"
			r := newRig(t, map[string]string{"main": flow}, rigOptions{})
			r.call("1")
			r.advance(time.Second)
			r.router.Wait()
			if !r.logged("[ERROR]", c.want) {
				t.Fatalf("no error line with %q in %v", c.want, r.logs.all())
			}
		})
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local code = ivr.secret("4821")
  ivr.log.info("code is " .. code, { code = code })
  print("print " .. code)
  call:say_digits(code)
  call:hangup()
end
function f.ended(call, summary)
  for _, p in ipairs(summary.path) do ivr.log.info("path", { kind = p.kind, value = p.value }) end
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	call := r.call("1")
	r.advance(10 * time.Second)
	r.router.Wait()
	want := []string{"user_digit_4", "user_digit_8", "user_digit_2", "user_digit_1"}
	if got := heard(call); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("heard %v, want %v", got, want)
	}
	for _, l := range r.logs.all() {
		if strings.Contains(l, "4821") {
			t.Fatalf("the secret reached a log line: %s", l)
		}
	}
	if !r.logged("code is [secret]") || !r.logged("print [secret]") {
		t.Fatalf("redacted lines missing: %v", r.logs.all())
	}
}

func TestExtStateAndJSON(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local v = ivr.json.decode('{"a":[1,2,{"b":true}],"s":"x"}')
  ivr.log.info("json", { out = ivr.json.encode(v), bad = select(2, ivr.json.decode("{")) ~= nil })
  ivr.log.info("state", { ext = ivr.ext_state("203"), unknown = ivr.ext_state("999") })
  call:hangup()
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	if err := r.sim.SetExtPolicy("203", omsim.Policy{Answer: omsim.AnswerOffline}); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.call("1")
	r.router.Wait()
	if !r.logged(`out="{\"a\":[1,2,{\"b\":true}],\"s\":\"x\"}"`, "bad=true") {
		t.Fatalf("json line: %v", r.logs.all())
	}
	if !r.logged("state", "ext=offline", "unknown=unknown") {
		t.Fatalf("state line: %v", r.logs.all())
	}
}

func TestTransferTargetsAndReasons(t *testing.T) {
	cases := []struct {
		target string
		sim    func(*omsim.Config)
		want   string // "true" or the reason
		conn   string
	}{
		{`{ ext = "204" }`, nil, "true", "ext 204"},
		{`{ ext = "205" }`, func(c *omsim.Config) { c.ExtPolicies = map[string]omsim.Policy{"205": {Answer: omsim.AnswerOffline}} }, "offline", ""},
		{`{ ext = "205" }`, func(c *omsim.Config) { c.ExtPolicies = map[string]omsim.Policy{"205": {Answer: omsim.AnswerBusy}} }, "busy", ""},
		{`{ ext = "999" }`, nil, "not_found", ""},
		{`{ group = "1" }`, func(c *omsim.Config) { c.Groups = map[string][]string{"1": {"206", "207"}} }, "true", "ext 206"},
		{`{ queue = "1" }`, func(c *omsim.Config) { c.Groups = map[string][]string{"1": {"207"}} }, "true", "ext 207"},
		{`{ number = "13900000000" }`, nil, "true", "outer 1"},
		{`{ number = "13900000000", trunk = "60001" }`, nil, "true", "outer 1"},
		{`{ menu = "5" }`, func(c *omsim.Config) { c.Menus = map[int]omsim.MenuSettings{5: {VoiceFile: "user_menu", Repeat: 0}} }, "true", "menu 5"},
	}
	for _, c := range cases {
		t.Run(c.target+"→"+c.want, func(t *testing.T) {
			flow := `local f = {}
function f.incoming(call)
  local ok, why = call:transfer` + c.target + `
  ivr.log.info("transfer", { result = ok and "true" or why })
  if not ok then call:hangup() end
end
return f`
			r := newRig(t, map[string]string{"main": flow}, rigOptions{sim: c.sim})
			call := r.call("1")
			r.advance(3 * time.Second)
			if !r.logged("transfer", "result="+c.want) {
				t.Fatalf("logs: %v", r.logs.all())
			}
			if c.conn != "" && call.Info().Connected != c.conn {
				t.Fatalf("call = %+v, want connected to %s", call.Info(), c.conn)
			}
		})
	}
}

// fakePBX is a PBX built from function fields, for engine unit tests that
// need a device misbehaving in ways the simulator does not.
type fakePBX struct {
	assign func(id int, m engine.MenuSettings) error
	play   func(leg engine.Leg, menu int, prompt string) error
	mu     sync.Mutex
	log    []string
}

func (f *fakePBX) record(s string) {
	f.mu.Lock()
	f.log = append(f.log, s)
	f.mu.Unlock()
}

func (f *fakePBX) AssignMenu(_ context.Context, id int, m engine.MenuSettings) error {
	f.record("assign")
	if f.assign != nil {
		return f.assign(id, m)
	}
	return nil
}
func (f *fakePBX) Play(_ context.Context, leg engine.Leg, menu int, prompt string) error {
	f.record("play " + prompt)
	if f.play != nil {
		return f.play(leg, menu, prompt)
	}
	return nil
}
func (f *fakePBX) Transfer(_ context.Context, leg engine.Leg, t engine.Target) error {
	f.record("transfer " + t.String())
	return nil
}
func (f *fakePBX) Accept(context.Context, engine.Leg) error { f.record("accept"); return nil }
func (f *fakePBX) Dial(_ context.Context, menu int, prompt, to, _ string) (engine.Leg, engine.LegStatus, error) {
	f.record(fmt.Sprintf("dial %s menu %d %s", to, menu, prompt))
	return engine.Leg{Kind: engine.LegOuter, ID: "1"}, engine.LegStatus{CallID: "c1", To: to}, nil
}
func (f *fakePBX) DialFromExt(_ context.Context, ext, number, _ string) (engine.Leg, engine.LegStatus, error) {
	f.record("dial " + number + " from ext " + ext)
	return engine.Leg{Kind: engine.LegOuter, ID: "1"}, engine.LegStatus{CallID: "c1", To: number}, nil
}
func (f *fakePBX) ConnectExts(_ context.Context, from, to string) error {
	f.record("connect ext " + from + " to ext " + to)
	return nil
}
func (f *fakePBX) Hangup(context.Context, engine.Leg) error           { f.record("hangup"); return nil }
func (f *fakePBX) Waiting(context.Context) ([]engine.Event, error)    { return nil, nil }
func (f *fakePBX) Outers(context.Context) ([]engine.LegStatus, error) { return nil, nil }
func (f *fakePBX) Query(context.Context, engine.Leg) (engine.LegStatus, error) {
	return engine.LegStatus{}, engine.ErrGone
}
func (f *fakePBX) VoiceFiles(context.Context) ([]string, error) {
	return nil, errors.New("not supported")
}

func TestDeviceErrorsFailOnlyThatCall(t *testing.T) {
	// The device refuses every menu assignment: each call's play fails
	// with a logged error and the call goes to the fallback; the router
	// keeps serving.
	pbx := &fakePBX{assign: func(int, engine.MenuSettings) error { return errors.New("device unreachable") }}
	logs := &logSink{}
	clk := clock.NewVirtual(epoch)
	const flow = `local f = {}
function f.incoming(call)
  local res, why = call:play("user_welcome")
  ivr.log.info("play", { why = why })
  error("cannot go on: " .. tostring(why))
end
return f`
	rt, err := engine.NewRouter(engine.Config{
		Devices: []*engine.Device{{Name: "om1", PBX: pbx, Fallback: "200"}},
		Routes:  []engine.Route{{Flow: "main"}},
		Flows:   compileFlows(t, map[string]string{"main": flow}),
		Clock:   clk,
		Logger:  hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
	})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(context.Background())
	defer rt.Close()
	for _, id := range []string{"1", "2"} {
		rt.Deliver(engine.Event{Device: "om1", Kind: engine.EvIncoming, Leg: engine.Leg{Kind: engine.LegVisitor, ID: id}, From: "1", To: "60001", CallID: "c" + id})
	}
	clk.Settle()
	rt.Wait()
	transfers := 0
	for _, l := range pbx.log {
		if l == "transfer ext 200" {
			transfers++
		}
	}
	if transfers != 2 {
		t.Fatalf("device log %v, want both calls at the fallback", pbx.log)
	}
	found := false
	for _, l := range logs.all() {
		found = found || (strings.Contains(l, "play:") && strings.Contains(l, "why=failed"))
	}
	if !found {
		t.Fatalf("play did not report failed: %v", logs.all())
	}
}

func TestIvrStore(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local n = ivr.store.incr("calls")
  ivr.store.put("last", { from = call.from, n = n })
  ivr.store.append("answers", { q1 = tonumber(call.from) % 5 })
  local last = ivr.store.get("last")
  ivr.log.info("store", { n = n, last_from = last.from, missing = tostring(ivr.store.get("nope")) })
  call:hangup()
end
function f.ended(call, summary)
  ivr.store.incr("ended", 1)
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	const n = 20
	for i := 0; i < n; i++ {
		if _, err := r.sim.PlaceCall(fmt.Sprintf("1380000%04d", i), "60001"); err != nil {
			t.Fatal(err)
		}
	}
	r.sim.Settle()
	r.router.Wait()
	for key, want := range map[string]string{"calls": "20", "ended": "20"} {
		v, ok, err := r.store.Get("main", key)
		if err != nil || !ok || string(v) != want {
			t.Fatalf("store %s = %q %v %v, want %s", key, v, ok, err, want)
		}
	}
	v, _, _ := r.store.Get("main", "answers")
	var answers []map[string]int
	if err := json.Unmarshal(v, &answers); err != nil || len(answers) != n {
		t.Fatalf("answers = %s (%v)", v, err)
	}
	if !r.logged("store", "missing=nil") {
		t.Fatalf("logs: %v", r.logs.all())
	}
}

func TestIvrStoreErrors(t *testing.T) {
	cases := []struct{ code, want string }{
		{`ivr.store.put("", 1)`, "ivr.store.put: the key must be a string"},
		{`ivr.store.put("k", function() end)`, "ivr.store.put: a function has no JSON form"},
		{`ivr.store.put("k", string.rep("x", 70000))`, "ivr.store.put: the value passes the limit"},
		{`ivr.store.put("k", "text") ivr.store.incr("k")`, "is not a counter"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			flow := "local f = {}\nfunction f.incoming(call)\n  " + c.code + "\nend\nreturn f"
			r := newRig(t, map[string]string{"main": flow}, rigOptions{})
			r.call("1")
			r.router.Wait()
			if !r.logged("[ERROR]", "flows/main.lua:3:", c.want) {
				t.Fatalf("no error line with %q: %v", c.want, r.logs.all())
			}
		})
	}
}

func TestHangupRightAfterAKey(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local key = call:gather{ prompt = "user_welcome" }
  local ok, why = call:transfer{ ext = "201" }
  ivr.log.info("transfer", { why = tostring(why) })
  local ok2, err = pcall(function() return call:play("user_busy") end)
  ivr.log.info("then", { raised = tostring(not ok2) })
end
return f`
	for i := 0; i < 3; i++ {
		r := newRig(t, map[string]string{"main": flow}, rigOptions{})
		call := r.call("1")
		if err := call.Press("1"); err != nil {
			t.Fatal(err)
		}
		if err := call.HangUp(); err != nil {
			t.Fatal(err)
		}
		r.sim.Settle()
		r.router.Wait()
		if !r.logged("transfer", "why=hangup") || !r.logged("then", "raised=true") {
			t.Fatalf("the flow did not see the hang-up: %v", r.logs.all())
		}
		if !r.logged("call ended", "outcome=caller_hangup") {
			t.Fatalf("outcome: %v", r.logs.all())
		}
		for _, c := range r.sim.Commands() {
			if c.Verb == omproto.VerbClear {
				t.Fatalf("ivrd cleared a call the caller had hung up: %s", c.Body)
			}
		}
	}
}

func TestSleepKeepsTheCallParked(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  call:sleep(8)
  local key = call:gather{ prompt = "user_welcome", timeout = 10 }
  call:transfer{ ext = "20" .. key }
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	call := r.call("1")
	r.advance(7 * time.Second) // past the device's 5 s API_RESPONSE_TO
	if info := call.Info(); strings.HasPrefix(info.Connected, "ext") || info.State == "ringing" {
		t.Fatalf("the sleeping call was handed on by the device: %+v", info)
	}
	if got := heard(call); len(got) == 0 || got[0] != "silence" {
		t.Fatalf("heard %v while sleeping, want the looped silence file", got)
	}
	r.advance(2 * time.Second)
	r.press(call, "3")
	r.advance(time.Second)
	if info := call.Info(); info.Connected != "ext 203" {
		t.Fatalf("call = %+v, want ext 203", info)
	}
}

func TestSecretIsRedactedInHistory(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  call:say_digits(ivr.secret("4821"))
  call:hangup()
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	r.call("1")
	r.advance(10 * time.Second)
	r.router.Wait()
	hs := mustHistory(t, r)
	if len(hs) != 1 {
		t.Fatalf("%d history entries", len(hs))
	}
	enc, _ := json.Marshal(hs[0])
	if strings.Contains(string(enc), "user_digit_4+user_digit_8") || strings.Contains(string(enc), "4821") {
		t.Fatalf("the secret reached history: %s", enc)
	}
	if !strings.Contains(string(enc), `"value":"[secret]"`) {
		t.Fatalf("no redacted prompt in history: %s", enc)
	}
}

func TestIncomingAfterAnEndedInviteCall(t *testing.T) {
	pbx := &fakePBX{}
	clk := clock.NewVirtual(epoch)
	const flow = `local f = {}
function f.incoming(call) call:transfer{ ext = "201" } end
return f`
	rt, err := engine.NewRouter(engine.Config{
		Devices: []*engine.Device{{Name: "om1", PBX: pbx}},
		Routes:  []engine.Route{{Flow: "main"}},
		Flows:   compileFlows(t, map[string]string{"main": flow}),
		Clock:   clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(context.Background())
	defer rt.Close()
	leg := engine.Leg{Kind: engine.LegVisitor, ID: "31"}
	rt.Deliver(engine.Event{Device: "om1", Kind: engine.EvInvite, Leg: leg, From: "1", To: "60001", CallID: "900"})
	clk.Settle()
	rt.Wait()
	rt.Deliver(engine.Event{Device: "om1", Kind: engine.EvIncoming, Leg: leg, From: "1", To: "60001", CallID: "900"})
	clk.Settle()
	rt.Wait()
	transfers := 0
	pbx.mu.Lock()
	for _, l := range pbx.log {
		if strings.HasPrefix(l, "transfer") {
			transfers++
		}
	}
	pbx.mu.Unlock()
	if transfers != 1 {
		t.Fatalf("device saw %v; the INCOMING after the INVITE started a second session", pbx.log)
	}
	// A later call that reuses the id is a new call.
	rt.Deliver(engine.Event{Device: "om1", Kind: engine.EvIncoming, Leg: leg, From: "2", To: "60001", CallID: "901"})
	clk.Settle()
	rt.Wait()
	if got := len(pbx.log); got < 3 {
		t.Fatalf("device saw %v; the new call was not taken", pbx.log)
	}
}

func TestTypedSecretIsRedactedInHistory(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local pin = ivr.secret(call:gather{ prompt = "user_welcome", min = 4, max = 4 })
  call:hangup()
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	call := r.call("1")
	r.advance(time.Second)
	r.press(call, "4711")
	r.router.Wait()
	enc, _ := json.Marshal(mustHistory(t, r))
	if strings.Contains(string(enc), "4711") || !strings.Contains(string(enc), "[secret]") {
		t.Fatalf("history = %s", enc)
	}
}

// TestLegIDReuse: the device reuses a visitor id at once. A new call on
// the id of a session that has its BYE but has not finished is routine
// (debug); one on the id of a session that never heard a BYE means a lost
// report (a warning). Either way the old session is ended and the new
// call gets its own.
func TestLegIDReuse(t *testing.T) {
	for _, c := range []struct {
		name  string
		bye   bool
		level string
	}{
		{"after its BYE", true, "[DEBUG]"},
		{"without a BYE", false, "[WARN]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			release := make(chan struct{})
			var plays atomic.Int32
			pbx := &fakePBX{play: func(engine.Leg, int, string) error {
				if plays.Add(1) == 1 {
					<-release // the first call stays busy in its play
				}
				return nil
			}}
			logs := &logSink{}
			rt, err := engine.NewRouter(engine.Config{
				Devices: []*engine.Device{{Name: "om1", PBX: pbx, Fallback: "200"}},
				Routes:  []engine.Route{{Flow: "main"}},
				Flows:   compileFlows(t, map[string]string{"main": "local f = {}\nfunction f.incoming(call) call:play(\"user_welcome\") end\nreturn f"}),
				Clock:   clock.NewVirtual(epoch),
				Logger:  hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
			})
			if err != nil {
				t.Fatal(err)
			}
			rt.Start(context.Background())
			defer rt.Close()
			leg := engine.Leg{Kind: engine.LegVisitor, ID: "7"}
			rt.Deliver(engine.Event{Device: "om1", Kind: engine.EvIncoming, Leg: leg, From: "1", To: "60001", CallID: "c1"})
			waitFor(t, "the first call's play", func() bool { return plays.Load() == 1 })
			if c.bye {
				rt.Deliver(engine.Event{Device: "om1", Kind: engine.EvBye, Leg: leg, CallID: "c1"})
			}
			rt.Deliver(engine.Event{Device: "om1", Kind: engine.EvIncoming, Leg: leg, From: "2", To: "60001", CallID: "c2"})
			close(release)
			waitFor(t, "the second call's play", func() bool { return plays.Load() == 2 })
			var line string
			for _, l := range logs.all() {
				if strings.Contains(l, "call id reused") {
					line = l
				}
			}
			if !strings.Contains(line, c.level) {
				t.Fatalf("reuse logged as %q, want %s", line, c.level)
			}
		})
	}
}
