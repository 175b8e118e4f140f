package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// crashPBX passes commands to the device and crashes the router right
// after command number at (counting from 1) has been answered — a crash
// between a command and its journal entry.
type crashPBX struct {
	engine.PBX
	at    int64
	n     atomic.Int64
	crash func()
}

func (c *crashPBX) after(err error) error {
	if c.n.Add(1) == c.at && c.crash != nil {
		c.crash()
	}
	return err
}

func (c *crashPBX) Play(ctx context.Context, leg engine.Leg, menu int, prompt string) error {
	return c.after(c.PBX.Play(ctx, leg, menu, prompt))
}
func (c *crashPBX) Transfer(ctx context.Context, leg engine.Leg, t engine.Target) error {
	return c.after(c.PBX.Transfer(ctx, leg, t))
}
func (c *crashPBX) Hangup(ctx context.Context, leg engine.Leg) error {
	return c.after(c.PBX.Hangup(ctx, leg))
}

// callCommands are the call commands the device received: Connect, Clear,
// Queue (not the menu assignments and queries a restart makes).
func callCommands(sim *omsim.Sim) []string {
	var out []string
	for _, c := range sim.Commands() {
		if c.Verb == omproto.VerbConnect || c.Verb == omproto.VerbClear || c.Verb == omproto.VerbQueue {
			body := c.Body
			if i := strings.Index(body, "?>"); i >= 0 {
				body = strings.TrimSpace(body[i+2:])
			}
			// Menu ids alternate per prompt and restart from the first
			// after a restart; the prompt and the target are what count.
			for id := 41; id <= 50; id++ {
				body = strings.ReplaceAll(body, fmt.Sprintf(`<menu id="%d"/>`, id), "<menu/>")
			}
			out = append(out, body)
		}
	}
	return out
}

// recoveryScript drives the hotel flow: 3 for a room, 1208#, read back,
// dialled out. It returns the caller.
func recoveryScript(r *rig, between func(step string)) *omsim.Call {
	call := r.call("13800000001")
	between("called")
	r.advance(time.Second)
	r.press(call, "3")
	between("pressed 3")
	r.advance(time.Second)
	r.press(call, "1208#")
	between("pressed room")
	r.advance(12 * time.Second)
	between("read back")
	r.advance(5 * time.Second)
	return call
}

type outcome struct {
	state, connected string
	outbound         int
	commands         []string
}

func finalOutcome(r *rig, call *omsim.Call) outcome {
	r.sim.Settle()
	return outcome{state: call.State(), connected: call.Info().Connected,
		outbound: len(r.sim.CallsTo("81208")), commands: callCommands(r.sim)}
}

func TestRecoveryAtEveryJournalStep(t *testing.T) {
	base := hotel(t, rigOptions{})
	want := finalOutcome(base, recoveryScript(base, func(string) {}))
	if want.state != "talking" || want.outbound != 1 {
		t.Fatalf("baseline: %+v", want)
	}
	steps := 0
	for _, h := range mustHistory(t, base) {
		steps = h.Steps
	}
	if steps < 4 {
		t.Fatalf("baseline journaled %d steps; the test needs the journal", steps)
	}
	for n := 1; n <= steps; n++ {
		t.Run(fmt.Sprintf("after step %d", n), func(t *testing.T) {
			r, hit := crashAfterStep(t, n)
			crashed := false
			call := recoveryScript(r, func(string) {
				if !crashed && hit() {
					crashed = true
					r.router.Close()
					if got := r.restart(); got != 1 {
						t.Fatalf("recovered %d calls, want 1", got)
					}
				}
			})
			if !crashed {
				t.Fatalf("the crash after step %d never happened", n)
			}
			got := finalOutcome(r, call)
			checkRecovered(t, got, want)
		})
	}
}

func TestRecoveryBetweenCommandAndJournal(t *testing.T) {
	base := hotel(t, rigOptions{})
	want := finalOutcome(base, recoveryScript(base, func(string) {}))
	commands := len(want.commands)
	for k := 1; k <= commands; k++ {
		t.Run(fmt.Sprintf("after command %d", k), func(t *testing.T) {
			var rt atomic.Pointer[engine.Router]
			var hit atomic.Bool
			cp := &crashPBX{at: int64(k), crash: func() { hit.Store(true); rt.Load().Crash() }}
			r := hotel(t, rigOptions{device: func(d *engine.Device) {
				cp.PBX = d.PBX
				d.PBX = cp
			}})
			rt.Store(r.router)
			crashed := false
			call := recoveryScript(r, func(string) {
				if !crashed && hit.Load() {
					crashed = true
					r.router.Close()
					r.restart()
				}
			})
			if !crashed {
				t.Fatalf("the crash after command %d never happened", k)
			}
			checkRecovered(t, finalOutcome(r, call), want)
		})
	}
}

// checkRecovered: the call ends where the uninterrupted one did, and the
// device saw the same commands, save at most one re-issued.
func checkRecovered(t *testing.T, got, want outcome) {
	t.Helper()
	if got.state != want.state || got.connected != want.connected || got.outbound != want.outbound {
		t.Fatalf("recovered call ended %s/%s with %d outbound legs; uninterrupted: %s/%s with %d",
			got.state, got.connected, got.outbound, want.state, want.connected, want.outbound)
	}
	if reflect.DeepEqual(got.commands, want.commands) {
		return
	}
	// One command may have been sent again: the step that was under way.
	for i := range got.commands {
		trimmed := append(append([]string(nil), got.commands[:i]...), got.commands[i+1:]...)
		if reflect.DeepEqual(trimmed, want.commands) {
			return
		}
	}
	t.Fatalf("commands after recovery:\n%s\nuninterrupted:\n%s", strings.Join(got.commands, "\n"), strings.Join(want.commands, "\n"))
}

func mustHistory(t *testing.T, r *rig) []engine.HistoryEntry {
	t.Helper()
	r.router.Wait()
	var out []engine.HistoryEntry
	for _, l := range r.logs.all() {
		if i := strings.Index(l, "call_id="); i >= 0 && strings.Contains(l, "call ended") {
			id := strings.Fields(l[i+len("call_id="):])[0]
			h, err := r.store.History(id)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, h)
		}
	}
	return out
}

// crashAfterStep builds a hotel rig whose router crashes after journal
// step n, and returns it with a func that reports whether it crashed.
func crashAfterStep(t *testing.T, n int) (*rig, func() bool) {
	return crashingRig(t, n, map[string]string{"main": hotelFlow})
}

// crashingRig builds a rig on flows whose router crashes right after
// journal step n of a call (as a process killed then would), and returns
// it with a func that reports whether the crash has happened.
func crashingRig(t *testing.T, n int, flows map[string]string) (*rig, func() bool) {
	var rt atomic.Pointer[engine.Router]
	var hit atomic.Bool
	r := newRig(t, flows, rigOptions{config: func(c *engine.Config) {
		c.AfterStep = func(_ string, steps int) {
			if steps == n && hit.CompareAndSwap(false, true) {
				rt.Load().Crash()
			}
		}
	}})
	rt.Store(r.router)
	return r, hit.Load
}

// crashedAfterChoosingARoom: a hotel call presses 3, ivrd crashes right
// after journaling that choice, and the crashed router is closed.
func crashedAfterChoosingARoom(t *testing.T) (*rig, *omsim.Call) {
	t.Helper()
	r, crashed := crashAfterStep(t, 1)
	call := r.call("13800000001")
	r.advance(time.Second)
	r.press(call, "3")
	if !crashed() {
		t.Fatal("no crash")
	}
	r.router.Close()
	return r, call
}

func TestRecoveryKeepsTheFlowVersion(t *testing.T) {
	r, call := crashedAfterChoosingARoom(t)
	// The flow is edited while ivrd is down: 3 now goes to the operator.
	edited := strings.Replace(hotelFlow, `if key == "3" then`, `if key == "3" then return call:transfer{ ext = "200" } end
  if key == "x" then`, 1)
	r.cfg.Flows = compileFlows(t, map[string]string{"main": edited})
	if n := r.restart(); n != 1 {
		t.Fatalf("recovered %d calls", n)
	}
	r.advance(time.Second)
	r.press(call, "1208#")
	r.advance(15 * time.Second)
	if got := len(r.sim.CallsTo("81208")); got != 1 || call.Info().Connected == "ext 200" {
		t.Fatalf("the recovered call ran the edited flow: %+v, %d calls to 81208", call.Info(), got)
	}
	// A new call runs the edited version.
	fresh := r.call("13800000002")
	r.press(fresh, "3")
	r.advance(2 * time.Second)
	if fresh.Info().Connected != "ext 200" {
		t.Fatalf("a new call did not run the edited flow: %+v", fresh.Info())
	}
}

func TestRecoveryDivergenceGoesToFallback(t *testing.T) {
	r, call := crashedAfterChoosingARoom(t)
	// The journal now holds a step the flow will not ask for.
	live, err := r.store.LiveCalls()
	if err != nil || len(live) != 1 {
		t.Fatalf("live calls %v, %v", live, err)
	}
	if err := r.store.Append(live[0].ID, engine.Step{Kind: "transfer", Args: json.RawMessage(`{"Ext":"209"}`), Result: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	r.restart()
	r.advance(2 * time.Second)
	if info := call.Info(); info.Connected != "ext 200" {
		t.Fatalf("diverged call = %+v, want the fallback", info)
	}
	if !r.logged("[ERROR]", "diverged from its journal", "call_id="+live[0].ID) {
		t.Fatalf("no divergence line: %v", r.logs.all())
	}
}

func TestRecoveryOfACallThatEnded(t *testing.T) {
	r, call := crashedAfterChoosingARoom(t)
	// The caller hangs up while ivrd is down; the device reuses nothing yet.
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	live, _ := r.store.LiveCalls()
	r.restart()
	r.router.Wait()
	h, err := r.store.History(live[0].ID)
	if err != nil || h.Outcome != engine.OutcomeCallerHangup {
		t.Fatalf("history = %+v, %v; want the call ended by the caller", h, err)
	}
	if left, _ := r.store.LiveCalls(); len(left) != 0 {
		t.Fatalf("live calls left: %v", left)
	}
}

func TestRecoveryDoesNotRepeatStoreWrites(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local n = ivr.store.incr("calls")
  ivr.store.append("log", { n = n, at = ivr.now() })
  local key = call:gather{ prompt = "user_welcome", timeout = 5 }
  ivr.store.put("choice", key)
  call:transfer{ ext = "201" }
end
return f`
	for _, n := range []int{1, 2, 3, 4} {
		t.Run(fmt.Sprintf("after step %d", n), func(t *testing.T) {
			r, hit := crashingRig(t, n, map[string]string{"main": flow})
			call := r.call("1")
			if !hit() {
				r.advance(time.Second)
				r.press(call, "7")
			}
			if !hit() {
				t.Fatalf("no crash after step %d", n)
			}
			r.router.Close()
			r.restart()
			r.advance(time.Second)
			if len(heard(call)) == 0 || call.State() == "ended" {
				t.Fatalf("call after recovery: %+v", call.Info())
			}
			if call.State() != "talking" {
				r.press(call, "7")
				r.advance(2 * time.Second)
			}
			r.router.Wait()
			for key, want := range map[string]string{"calls": "1", "choice": `"7"`} {
				if v, _, _ := r.store.Get("main", key); string(v) != want {
					t.Fatalf("store %s = %s, want %s (a write was repeated or lost)", key, v, want)
				}
			}
			if v, _, _ := r.store.Get("main", "log"); strings.Count(string(v), `"n"`) != 1 {
				t.Fatalf("log = %s, want one entry", v)
			}
		})
	}
}

func TestRecoveryKeepsTheSleepDeadline(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  call:play("user_welcome")
  call:sleep(60)
  call:transfer{ ext = "201" }
end
return f`
	r, hit := crashingRig(t, 2, map[string]string{"main": flow}) // play, then the sleep's deadline
	call := r.call("1")
	r.advance(2 * time.Second) // the prompt ends at 2 s; the sleep runs to 62 s
	if !hit() {
		t.Fatal("no crash after the sleep began")
	}
	r.router.Close()
	r.advance(30 * time.Second) // ivrd is down for 30 s
	r.restart()
	r.advance(29 * time.Second) // 61 s: still sleeping
	if call.Info().Connected == "ext 201" || call.State() == "ringing" {
		t.Fatalf("the sleep ended early: %+v", call.Info())
	}
	r.advance(1 * time.Second) // 62 s: the original deadline
	r.advance(1 * time.Second) // the extension answers
	if call.Info().Connected != "ext 201" {
		t.Fatalf("the sleep did not end at its original deadline: %+v", call.Info())
	}
}

// commandsSince are the call commands the device received after index i.
func commandsSince(sim *omsim.Sim, i int) []string {
	var out []string
	for _, c := range sim.Commands()[i:] {
		if c.Verb == omproto.VerbConnect || c.Verb == omproto.VerbClear {
			out = append(out, c.Body)
		}
	}
	return out
}

// A recovered call whose journal runs out inside a method (here, sleep's
// wait) checks the device before acting, and leaves alone a new caller who
// got the same device id while ivrd was down.
func TestRecoveryChecksTheCallMidMethod(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  call:play("user_welcome")
  call:sleep(60)
  call:transfer{ ext = "201" }
end
return f`
	r, crashed := crashingRig(t, 2, map[string]string{"main": flow}) // play, sleep's deadline
	call := r.call("13800000001")
	r.advance(2 * time.Second)
	if !crashed() {
		t.Fatal("no crash")
	}
	r.router.Close()
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	stranger := r.call("13900000009") // gets the same visitor id
	oldID := ""
	if live, _ := r.store.LiveCalls(); len(live) == 1 {
		oldID = live[0].ID
	}
	r.restart()
	r.advance(3 * time.Second)
	// The recovered call found its id taken by another caller and ended;
	// the new caller was taken as a call of its own, from the top of the
	// flow — not parked by the old call's sleep.
	if got := heard(stranger); len(got) == 0 || got[0] != "user_welcome" {
		t.Fatalf("the new caller heard %v; want its own call from the first prompt", got)
	}
	r.advance(70 * time.Second)
	if h, err := r.store.History(oldID); err != nil || h.Outcome != engine.OutcomeCallerHangup {
		t.Fatalf("the recovered call: %+v, %v; want ended by the caller", h, err)
	}
	if info := stranger.Info(); info.Connected != "ext 201" {
		t.Fatalf("the new caller = %+v, want its flow to its end (ext 201)", info)
	}
}

// A fallback done before a crash during ended is not done again.
func TestRecoveryDoesNotRepeatTheFallback(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  call:play("user_welcome")
  error("boom")
end
function f.ended(call, summary)
  ivr.store.put("outcome", summary.outcome)
end
return f`
	// Steps: play, fallback, ended's duration, then the put.
	r, crashed := crashingRig(t, 3, map[string]string{"main": flow})
	call := r.call("1")
	r.advance(3 * time.Second)
	if !crashed() {
		t.Fatal("no crash")
	}
	r.router.Close()
	r.advance(2 * time.Second)
	before := len(r.sim.Commands())
	r.restart()
	r.advance(2 * time.Second)
	r.router.Wait()
	if cmds := commandsSince(r.sim, before); len(cmds) != 0 {
		t.Fatalf("commands sent again after recovery: %v", cmds)
	}
	if info := call.Info(); info.Connected != "ext 200" || info.State != "talking" {
		t.Fatalf("call = %+v, want still with the fallback extension", info)
	}
	if v, _, _ := r.store.Get("main", "outcome"); string(v) != `"fallback"` {
		t.Fatalf("ended saw outcome %s", v)
	}
}

// A recovered call the device shows elsewhere (here: handed to the operator
// by the OM's own timeout while ivrd was down) has left the IVR: no prompt
// pulls it back.
func TestRecoveryOfACallThatLeftTheIVR(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  ivr.store.incr("calls")
  call:play("user_welcome")
  call:transfer{ ext = "201" }
end
return f`
	r, crashed := crashingRig(t, 1, map[string]string{"main": flow})
	call := r.call("1")
	if !crashed() {
		t.Fatal("no crash")
	}
	r.router.Close()
	r.advance(7 * time.Second) // API_RESPONSE_TO: the OM hands the call to ext 200
	if call.Info().Connected != "ext 200" {
		t.Fatalf("the device did not hand the call on: %+v", call.Info())
	}
	before := len(r.sim.Commands())
	r.restart()
	r.advance(2 * time.Second)
	r.router.Wait()
	if cmds := commandsSince(r.sim, before); len(cmds) != 0 {
		t.Fatalf("commands sent to a call that had left: %v", cmds)
	}
	if call.Info().Connected != "ext 200" {
		t.Fatalf("call = %+v", call.Info())
	}
}

// A call whose INCOMING came while ivrd was down is taken at restart, while
// the device still waits for a command.
func TestRecoveryTakesCallsThatWaited(t *testing.T) {
	r := hotel(t, rigOptions{})
	r.router.Crash()
	r.router.Close()
	call := r.call("13800000001") // its INCOMING reaches nobody
	r.advance(2 * time.Second)
	r.restart()
	r.advance(time.Second)
	r.press(call, "1")
	r.advance(time.Second)
	if info := call.Info(); info.Connected != "ext 201" {
		t.Fatalf("call = %+v, want taken at restart and put through to ext 201", info)
	}
}

// Two calls in the state file on one device id: the older one ended
// without its BYE reaching ivrd; it goes to history, the newer carries on.
func TestRecoveryOfTwoCallsOnOneID(t *testing.T) {
	r, call := crashedAfterChoosingARoom(t)
	live, _ := r.store.LiveCalls()
	stale := live[0]
	stale.ID, stale.From, stale.Started = "stale-call", "13700000000", stale.Started.Add(-time.Hour)
	if err := r.store.StartCall(stale, nil); err != nil {
		t.Fatal(err)
	}
	if n := r.restart(); n != 2 {
		t.Fatalf("recovered %d calls, want 2", n)
	}
	r.advance(time.Second)
	r.press(call, "1208#")
	r.advance(15 * time.Second)
	if len(r.sim.CallsTo("81208")) != 1 {
		t.Fatalf("the newer call did not carry on: %+v", call.Info())
	}
	h, err := r.store.History("stale-call")
	if err != nil || h.Outcome != engine.OutcomeCallerHangup {
		t.Fatalf("the older call: %+v, %v", h, err)
	}
}
