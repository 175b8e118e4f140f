package engine_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// The fault suite: the engine on the simulator with its fault switches on,
// over real loopback HTTP. Each test checks that calls end as a flow
// author would expect, that nothing waits for ever, and (where the test
// owns every goroutine it starts) that nothing is left running.

// verifyNoLeaks checks, after every cleanup registered later has run (the
// router, the simulator and the report listener closing), that no
// goroutine started since the call is left.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{goleak.IgnoreCurrent()}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// waitReal waits, on real time, until cond holds.
func waitReal(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// faultFlow gathers a key while the device is well, then plays and
// transfers while it is not, logging what each call returned.
const faultFlow = `
local f = {}
function f.incoming(call)
  local key = call:gather{ prompt = "user_welcome", timeout = 5 }
  ivr.log.info("gathered", { key = tostring(key) })
  local res, why = call:play("user_bye")
  ivr.log.info("play under fault", { res = tostring(res), why = tostring(why) })
  local ok, why2 = call:transfer{ ext = "201" }
  ivr.log.info("transfer under fault", { ok = tostring(ok), why = tostring(why2) })
end
function f.ended(call, summary)
  ivr.log.info("flow ended", { outcome = summary.outcome })
end
return f`

// TestDeviceFaultsMidCall: the OM stops answering properly in the middle
// of a call — it refuses connections, answers after the command timeout,
// answers 500, or answers garbage. call:play and call:transfer return
// nil, "failed" (which the flow can handle), the call ends, nothing waits
// for ever and no goroutine is left.
func TestDeviceFaultsMidCall(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault omsim.Faults
	}{
		{"unreachable", omsim.Faults{RefuseConnections: true}},
		{"slower than the command timeout", omsim.Faults{CommandDelay: 400 * time.Millisecond}},
		{"500", omsim.Faults{CommandStatus: 500}},
		{"garbage", omsim.Faults{CommandGarbage: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			verifyNoLeaks(t)
			r := newRig(t, map[string]string{"main": faultFlow}, rigOptions{
				device: func(d *engine.Device) { d.CommandTimeout = 100 * time.Millisecond },
			})
			call := r.call("13800000001")
			r.sim.SetFaults(c.fault)
			r.press(call, "1")
			done := make(chan struct{})
			go func() { r.router.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("the session did not end; logs:\n%s", strings.Join(r.logs.all(), ""))
			}
			for _, want := range [][]string{
				{"gathered", "key=1"},
				{"play under fault", "res=nil", "why=failed"},
				{"transfer under fault", "ok=nil", "why=failed"},
				{"flow ended"},
			} {
				if !logged(r.logs, want...) {
					t.Errorf("no log line with %q; logs:\n%s", want, strings.Join(r.logs.all(), ""))
				}
			}
			if n := r.router.Live(); n != 0 {
				t.Errorf("%d sessions live after the call ended", n)
			}
			// The device is well again: the next call is served.
			r.sim.SetFaults(omsim.Faults{})
			next := r.call("13800000002")
			r.press(next, "1")
			for i := 0; i < 30 && r.router.Live() > 0; i++ {
				r.advance(time.Second)
				r.sim.Settle()
			}
			r.router.Wait()
			if !logged(r.logs, "play under fault", "res=done") || !logged(r.logs, "transfer under fault", "ok=true") {
				t.Errorf("the call after the fault was not served; logs:\n%s", strings.Join(r.logs.all(), ""))
			}
			if got := next.Info().Connected; got != "ext 201" {
				t.Errorf("the call after the fault is connected to %q, want ext 201", got)
			}
		})
	}
}

// reportFlow: a menu with a retry, so that lost keys and prompts end in a
// timeout and a second try rather than a wait. What each caller got is
// logged with the caller's number.
const reportFlow = `
local f = {}
function f.incoming(call)
  local key, why = call:gather{ prompt = "user_welcome", timeout = 3, tries = 2, valid = "[1-3]" }
  ivr.log.info("menu result", { caller = call.from, key = tostring(key), why = tostring(why) })
  if key then call:play("user_thanks") end
end
return f`

var resultLine = regexp.MustCompile(`menu result: `)

// field returns a log line's value of key (hclog's key=value).
func field(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	return strings.Fields(line[i+len(key)+2:])[0]
}

// reportRun places n calls, the even ones pressing a key once the welcome
// has played, with faults on the report side, and advances the clock
// until every session is over (or two minutes have passed). It returns
// what each caller got (the flow's "menu result" line) and how many
// sessions each caller had.
func reportRun(t *testing.T, n int, faults omsim.Faults) (results map[string]string, sessions map[string]int, r *rig) {
	t.Helper()
	r = newRig(t, map[string]string{"main": reportFlow}, rigOptions{})
	r.sim.SetFaults(faults)
	calls := make([]*omsim.Call, n)
	for i := range calls {
		c, err := r.sim.PlaceCall(fmt.Sprintf("1380000%04d", i), "60001")
		if err != nil {
			t.Fatal(err)
		}
		calls[i] = c
	}
	r.sim.Settle()
	r.advance(2500 * time.Millisecond) // the welcome (2 s) has played
	r.sim.Settle()
	for i := 0; i < n; i += 2 {
		if calls[i].State() != "ended" {
			_ = calls[i].Press(string(rune('1' + i%3)))
		}
	}
	r.sim.Settle()
	for step := 0; step < 120 && r.router.Live() > 0; step++ {
		r.advance(time.Second)
		r.sim.Settle()
	}
	results, sessions = map[string]string{}, map[string]int{}
	for _, l := range r.logs.all() {
		if m := resultLine.FindStringSubmatch(l); m != nil {
			results[field(l, "caller")] = "key=" + field(l, "key") + " why=" + field(l, "why")
		}
		if strings.Contains(l, "call started") {
			if i := strings.Index(l, "from="); i >= 0 {
				sessions[strings.Fields(l[i+len("from="):])[0]]++
			}
		}
	}
	return results, sessions, r
}

// TestReportFaults: reports duplicated or reordered leave every call as it
// would be without the fault — the key pressed, or a timeout after the
// retry — with one session per call and none left live.
func TestReportFaults(t *testing.T) {
	n := 40
	if testing.Short() {
		n = 10
	}
	want, _, _ := reportRun(t, n, omsim.Faults{})
	if len(want) != n {
		t.Fatalf("without faults, %d calls gave a result, want %d", len(want), n)
	}
	for _, c := range []struct {
		name   string
		faults omsim.Faults
		needs  string
	}{
		{"duplicated", omsim.Faults{DuplicateRate: 1}, ""},
		{"reordered", omsim.Faults{ReorderReports: 1 << 20}, ""},
		{"duplicated and reordered", omsim.Faults{DuplicateRate: 0.5, ReorderReports: 1 << 20}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.needs != "" {
				t.Skip(c.needs)
			}
			got, sessions, r := reportRun(t, n, c.faults)
			if live := r.router.Live(); live != 0 {
				t.Errorf("%d sessions still live", live)
			}
			for from, w := range want {
				if got[from] != w {
					t.Errorf("caller %s: %q, without the fault %q", from, got[from], w)
				}
				if sessions[from] != 1 {
					t.Errorf("caller %s: %d sessions, want 1", from, sessions[from])
				}
			}
		})
	}
}

// TestLostReportsEndEveryCall: a third of the reports lost (keys, prompt
// ends, hang-ups …): every call still ends — by its timers, when a command
// finds the call gone, or by the liveness guards — and no session is left
// live.
func TestLostReportsEndEveryCall(t *testing.T) {
	n := 30
	if testing.Short() {
		n = 10
	}
	_, _, r := reportRun(t, n, omsim.Faults{DropRate: 0.3})
	// A lost hang-up is found by the device's reconcile (2 minutes of
	// quiet), a lost prompt end by max_prompt (10 minutes) — a call may
	// lose the end of both its tries.
	for i := 0; i < 45 && r.router.Live() > 0; i++ {
		r.advance(time.Minute)
		r.sim.Settle()
	}
	if live := r.router.Live(); live != 0 {
		var states []string
		for _, s := range r.router.Sessions() {
			states = append(states, s.ID+": "+s.State())
		}
		t.Fatalf("%d sessions still live 47 minutes after the calls began: %v", live, states)
	}
}

// TestLostByeIsReconciled: the caller hangs up during a long wait and the
// BYE is lost. The engine must find out by asking the device about a call
// that has been quiet for long (Query), not hold the session until the
// flow's own timer — here an hour — runs out.
func TestLostByeIsReconciled(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local key, why = call:gather{ prompt = "user_welcome", timeout = 3600 }
  ivr.log.info("gather returned", { key = tostring(key), why = tostring(why) })
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	c := r.call("13800000001")
	r.advance(3 * time.Second)
	r.sim.Settle()
	r.sim.SetFaults(omsim.Faults{DropReports: 1})
	if err := c.HangUp(); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	for i := 0; i < 15 && r.router.Live() > 0; i++ {
		r.advance(time.Minute)
		r.sim.Settle()
	}
	if n := r.router.Live(); n != 0 {
		t.Fatalf("%d sessions live 15 minutes after the caller hung up", n)
	}
	h := mustHistory(t, r)
	if len(h) != 1 || h[0].Outcome != engine.OutcomeCallerHangup {
		t.Fatalf("history %+v, want one call ended by the caller", h)
	}
}
