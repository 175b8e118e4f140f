package engine_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// The early-report buffer: the device reports on a new outer leg (ALERT,
// ANSWERED) as soon as it has placed the call, which may be before the
// answer to the dial's Connect has reached ivrd. Those reports must reach
// the session that the answer starts.

// holdingPBX is the device's own PBX with hooks that run once the device
// has carried out a dial or a hang-up, before the engine hears back: a
// test holds the command there while the device's reports come in.
type holdingPBX struct {
	engine.PBX
	afterDial   func(to string, leg engine.Leg, st engine.LegStatus)
	afterHangup func(leg engine.Leg)
}

func (h *holdingPBX) Dial(ctx context.Context, menu int, prompt, to, trunk string) (engine.Leg, engine.LegStatus, error) {
	leg, st, err := h.PBX.Dial(ctx, menu, prompt, to, trunk)
	if err == nil && h.afterDial != nil {
		h.afterDial(to, leg, st)
	}
	return leg, st, err
}

func (h *holdingPBX) Hangup(ctx context.Context, leg engine.Leg) error {
	err := h.PBX.Hangup(ctx, leg)
	if h.afterHangup != nil {
		h.afterHangup(leg)
	}
	return err
}

// earlyFlows: "main" thanks the callee and hangs up; "quick" hangs up at
// once, without a prompt (so that nothing needs the clock to move).
var earlyFlows = map[string]string{
	"main": `
local f = {}
function f.incoming(call) call:hangup() end
function f.answered(call)
  call:play("user_thanks")
  call:hangup()
end
return f`,
	"quick": `
local f = {}
function f.incoming(call) call:hangup() end
function f.answered(call) call:hangup() end
return f`,
}

// placed is a dial the device has carried out, held before it returns.
type placed struct {
	leg engine.Leg
	st  engine.LegStatus
}

// earlyRig is a rig whose callees answer only when the test says, with
// the PBX wrapped in h (whose hooks the caller sets before dialling).
func earlyRig(t *testing.T, h *holdingPBX, numbers ...string) *rig {
	t.Helper()
	pol := map[string]omsim.Policy{}
	for _, n := range numbers {
		pol[n] = omsim.Policy{Answer: omsim.AnswerManual}
	}
	return newRig(t, earlyFlows, rigOptions{
		trace: true,
		sim:   func(c *omsim.Config) { c.Numbers = pol },
		device: func(d *engine.Device) {
			h.PBX = d.PBX
			d.PBX = h
		},
	})
}

// waitReport waits, on real time, until the device has delivered a report
// of kind about the device call callid. The receiver answers a report only
// once the router has taken it, so the router has then seen it.
func waitReport(t *testing.T, sim *omsim.Sim, kind, callid string) {
	t.Helper()
	waitFor(t, kind+" of call "+callid, func() bool {
		for _, rep := range sim.Reports() {
			if rep.Kind == kind && rep.Result == "sent" && strings.Contains(rep.Body, `callid="`+callid+`"`) {
				return true
			}
		}
		return false
	})
}

// receive takes a value from ch, failing the test after a deadline of real
// time.
func receive[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
	}
	t.Fatalf("timed out waiting for %s", what)
	var zero T
	return zero
}

// reportTraces returns the call_id of each trace line of a report of kind
// about the device call callid ("" for a line without one).
func reportTraces(r *rig, kind, callid string) []string {
	var out []string
	for _, l := range r.logs.all() {
		// The XML follows on lines of its own.
		head, _, _ := strings.Cut(l, "\n")
		if !strings.Contains(head, "[TRACE]") || !strings.Contains(head, " report: ") || !regexp.MustCompile(` kind=`+kind+`(\s|$)`).MatchString(head) ||
			!strings.Contains(l, `callid="`+callid+`"`) {
			continue
		}
		id := ""
		if i := strings.Index(l, " call_id="); i >= 0 {
			id = strings.Fields(l[i+len(" call_id="):])[0]
		}
		out = append(out, id)
	}
	return out
}

// tracedOnce checks that a report of kind about the device call callid
// was traced exactly once, naming ivrd's call id.
func tracedOnce(t *testing.T, r *rig, kind, callid, id string) {
	t.Helper()
	if got := reportTraces(r, kind, callid); len(got) != 1 || got[0] != id {
		t.Errorf("%s of callid %s traced with call ids %q, want once with %s", kind, callid, got, id)
	}
}

// answeredCall checks that job j's only attempt was answered, that the
// callee on number heard the flow's prompt, and that the reports that came
// before the dial returned were traced, once each, with the call's id.
func answeredCall(t *testing.T, r *rig, j engine.Job, number, callid string) {
	t.Helper()
	got := r.job(j.ID)
	if got.State != engine.JobDone || outcomes(got) != engine.DialAnswered {
		t.Fatalf("job to %s: state %s, attempts %q; want done, answered (the ANSWERED that came before the dial returned was lost)",
			number, got.State, outcomes(got))
	}
	for _, kind := range []string{engine.EvAlert, engine.EvAnswered} {
		tracedOnce(t, r, kind, callid, got.Attempts[0].CallID)
	}
	calls := r.sim.CallsTo(number)
	if len(calls) != 1 {
		t.Fatalf("%d calls to %s, want 1", len(calls), number)
	}
	// The silence of the dial menu, cut off, then the flow's prompt.
	if h := heard(calls[0]); len(h) == 0 || h[len(h)-1] != "user_thanks" {
		t.Errorf("the callee heard %v, want user_thanks last", h)
	}
}

// The device reports ALERT and ANSWERED for the new outer leg before the
// answer to the dial comes back: the call's session gets both.
func TestReportsBeforeTheDialReturnsReachTheCall(t *testing.T) {
	const number = "13800000041"
	dialed := make(chan placed, 1)
	release := make(chan struct{})
	h := &holdingPBX{afterDial: func(_ string, leg engine.Leg, st engine.LegStatus) {
		dialed <- placed{leg, st}
		<-release
	}}
	r := earlyRig(t, h, number)
	j, err := r.router.Dial(engine.DialRequest{To: number, Flow: "main"})
	if err != nil {
		t.Fatal(err)
	}
	p := receive(t, "the dial", dialed)
	waitReport(t, r.sim, "ALERT", p.st.CallID)
	if err := r.sim.CallsTo(number)[0].Answer(); err != nil {
		t.Fatal(err)
	}
	waitReport(t, r.sim, "ANSWERED", p.st.CallID)
	if n := len(r.router.Sessions()); n != 0 {
		t.Fatalf("%d sessions before the dial returned, want none", n)
	}
	close(release)
	r.sim.Settle()
	r.run(10*time.Second, time.Second) // well inside the 60 s ring timeout
	answeredCall(t, r, j, number, p.st.CallID)
}

// The device gives the new call the outer id of a call that has just
// ended, whose session is still finishing (here: held inside its hang-up,
// the device's BYE queued for it). The new call's reports, which name
// the same leg with another callid, come before the dial returns: they
// reach the new call's session, not the ending one.
func TestReportsOnAnEndingCallsLegReachTheNewCall(t *testing.T) {
	const firstNum, secondNum = "13800000042", "13800000043"
	dialed := make(chan placed, 1)
	releaseDial := make(chan struct{})
	hungUp := make(chan engine.Leg, 1)
	releaseHangup := make(chan struct{})
	h := &holdingPBX{
		afterDial: func(to string, leg engine.Leg, st engine.LegStatus) {
			if to == secondNum {
				dialed <- placed{leg, st}
				<-releaseDial
			}
		},
		afterHangup: func(leg engine.Leg) {
			select {
			case hungUp <- leg: // the first hang-up only
				<-releaseHangup
			default:
			}
		},
	}
	r := earlyRig(t, h, firstNum, secondNum)

	// The first call is answered and hangs up at once; its session is
	// held after the device has released the leg.
	first, err := r.router.Dial(engine.DialRequest{To: firstNum, Flow: "quick"})
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	sessions := r.router.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("%d sessions after the first dial, want 1", len(sessions))
	}
	old := sessions[0]
	if err := r.sim.CallsTo(firstNum)[0].Answer(); err != nil {
		t.Fatal(err)
	}
	oldLeg := receive(t, "the first call's hang-up", hungUp)
	waitReport(t, r.sim, "BYE", old.CallID)

	// The second call gets the same outer id, and reports on it before
	// its dial returns.
	second, err := r.router.Dial(engine.DialRequest{To: secondNum, Flow: "main"})
	if err != nil {
		t.Fatal(err)
	}
	p := receive(t, "the second dial", dialed)
	if p.leg != oldLeg || p.st.CallID == old.CallID {
		t.Fatalf("the second call is %s (callid %s); the test needs the first call's leg %s with a new callid",
			p.leg, p.st.CallID, oldLeg)
	}
	waitReport(t, r.sim, "ALERT", p.st.CallID)
	if err := r.sim.CallsTo(secondNum)[0].Answer(); err != nil {
		t.Fatal(err)
	}
	waitReport(t, r.sim, "ANSWERED", p.st.CallID)
	if s := r.router.Sessions(); len(s) != 1 || s[0] != old {
		t.Fatalf("sessions before the second dial returned: %v; want only the ending first call", s)
	}
	close(releaseDial)
	close(releaseHangup)
	r.sim.Settle()
	r.run(10*time.Second, time.Second)

	answeredCall(t, r, second, secondNum, p.st.CallID)
	if got := r.job(first.ID); got.State != engine.JobDone || outcomes(got) != engine.DialAnswered {
		t.Errorf("first job: state %s, attempts %q; want done, answered", got.State, outcomes(got))
	}
	tracedOnce(t, r, engine.EvBye, old.CallID, old.ID)
	if len(r.router.Sessions()) != 0 {
		t.Errorf("sessions left: %v", r.router.Sessions())
	}
}
