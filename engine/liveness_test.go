package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// A caller hangs up during a long wait and the BYE is lost: ivrd asks the
// device once the call has been quiet for Reconcile and ends the session,
// instead of holding it until the flow's hour-long timer.
func TestLostByeEndsTheCallAfterReconcile(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local key, why = call:gather{ prompt = "user_welcome", timeout = 3600 }
  ivr.log.info("gather returned", { why = tostring(why) })
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{device: func(d *engine.Device) { d.Reconcile = time.Minute }})
	c := r.call("13800000001")
	r.run(5*time.Second, time.Second) // the prompt has played; the gather waits
	r.sim.SetFaults(omsim.Faults{DropReports: 1})
	if err := c.HangUp(); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	if r.router.Live() != 1 {
		t.Fatal("the session ended without its BYE")
	}
	r.run(3*time.Minute, 10*time.Second)
	if n := r.router.Live(); n != 0 {
		t.Fatalf("%d sessions live three minutes after a lost BYE", n)
	}
	if !strings.Contains(strings.Join(r.logs.all(), ""), "hang-up report was lost") {
		t.Error("the reconciliation is not logged")
	}
	hs, err := r.store.ListHistory(1)
	if err != nil || len(hs) != 1 || hs[0].Outcome != engine.OutcomeCallerHangup {
		t.Fatalf("history %+v, %v", hs, err)
	}
}

// A call that stays quiet but up is asked about and left alone.
func TestQuietLiveCallIsLeftAlone(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  call:sleep(600)
  call:play("user_thanks")
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{device: func(d *engine.Device) { d.Reconcile = time.Minute }})
	c := r.call("13800000001")
	r.run(11*time.Minute, 10*time.Second)
	if h := strings.Join(heard(c), " "); !strings.HasSuffix(h, "user_thanks") {
		t.Fatalf("heard %q; the sleep did not run its course", h)
	}
	queries := 0
	for _, cmd := range r.sim.Commands() {
		if cmd.Verb == "Query" && strings.Contains(cmd.Body, "visitor") {
			queries++
		}
	}
	if queries < 5 || queries > 12 {
		t.Errorf("%d liveness queries over ten quiet minutes with a one-minute reconcile", queries)
	}
}

// The EndOfAnn of a prompt is lost: after MaxPrompt the prompt is taken
// as played and the flow goes on.
func TestLostEndOfAnnIsTakenAsPlayedAfterMaxPrompt(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local res = call:play("user_welcome")
  ivr.log.info("play returned", { res = tostring(res) })
  call:play("user_thanks")
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{device: func(d *engine.Device) {
		d.Reconcile = time.Minute
		d.MaxPrompt = 2 * time.Minute
	}})
	c := r.call("13800000001")                    // the prompt plays
	r.sim.SetFaults(omsim.Faults{DropReports: 1}) // the next report: its EndOfAnn
	r.run(time.Minute, 10*time.Second)
	if h := strings.Join(heard(c), " "); strings.Contains(h, "user_thanks") {
		t.Fatalf("heard %q before MaxPrompt", h)
	}
	r.run(3*time.Minute, 10*time.Second)
	if h := strings.Join(heard(c), " "); !strings.Contains(h, "user_thanks") {
		t.Fatalf("heard %q; the flow did not go on after MaxPrompt", h)
	}
	if !strings.Contains(strings.Join(r.logs.all(), ""), "taking it as played") {
		t.Error("the lost EndOfAnn is not logged")
	}
}
