package engine_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// wakeFlow confirms a wake-up with 1; anything else counts the attempt as
// not done. Its failed handler keeps the reason in the store.
const wakeFlow = `
local f = {}
function f.incoming(call) call:hangup() end
function f.answered(call)
  local k = call:gather{ prompt = "user_welcome", timeout = 5 }
  if k ~= "1" then return "retry" end
  call.vars.confirmed = true
  call:play("user_thanks")
end
function f.failed(job, reason)
  ivr.store.put("failed:" .. job.to, { reason = reason, attempts = job.attempts, room = job.vars.room })
end
function f.ended(call, summary)
  ivr.store.put("ended:" .. call.id, { outcome = summary.outcome, confirmed = call.vars.confirmed == true })
end
return f
`

func outboundRig(t *testing.T, numbers map[string]omsim.Policy, dial engine.DialLimits) *rig {
	t.Helper()
	return newRig(t, map[string]string{"main": wakeFlow}, rigOptions{
		sim:    func(c *omsim.Config) { c.Numbers = numbers },
		config: func(c *engine.Config) { c.Dial = dial },
	})
}

// run moves virtual time on in steps, settling after each.
func (r *rig) run(total, step time.Duration) {
	for t := time.Duration(0); t < total; t += step {
		r.advance(step)
		r.sim.Settle()
	}
}

func (r *rig) job(id string) engine.Job {
	r.t.Helper()
	j, err := r.router.Job(id)
	if err != nil {
		r.t.Fatal(err)
	}
	return j
}

func outcomes(j engine.Job) string {
	var out []string
	for _, a := range j.Attempts {
		out = append(out, a.Outcome)
	}
	return strings.Join(out, ",")
}

func TestDialAnsweredAndConfirmed(t *testing.T) {
	r := outboundRig(t, map[string]omsim.Policy{
		"13800000001": {Answer: omsim.AnswerAfter, Delay: 3 * time.Second, Keys: "1", KeysDelay: 3 * time.Second},
	}, engine.DialLimits{})
	j, err := r.router.Dial(engine.DialRequest{To: "13800000001", Flow: "main", Vars: json.RawMessage(`{"room":"1203"}`)})
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.run(20*time.Second, time.Second)
	got := r.job(j.ID)
	if got.State != engine.JobDone || outcomes(got) != "answered" {
		t.Fatalf("job: state %s, attempts %s; want done, answered", got.State, outcomes(got))
	}
	calls := r.sim.CallsTo("13800000001")
	if len(calls) != 1 {
		t.Fatalf("%d calls placed, want 1", len(calls))
	}
	if h := strings.Join(heard(calls[0]), " "); !strings.Contains(h, "user_welcome") || !strings.Contains(h, "user_thanks") {
		t.Errorf("the callee heard %q", h)
	}
	h, err := r.store.History(got.Attempts[0].CallID)
	if err != nil {
		t.Fatal(err)
	}
	if h.DialOutcome != engine.DialAnswered || h.Direction != "out" || h.Job != j.ID {
		t.Errorf("history: %+v", h)
	}
	v, ok, _ := r.store.Get("main", "ended:"+h.ID)
	if !ok || !strings.Contains(string(v), `"confirmed":true`) {
		t.Errorf("ended saw %s", v)
	}
}

func TestDialRetriesBusyThenGivesUp(t *testing.T) {
	r := outboundRig(t, map[string]omsim.Policy{"13800000002": {Answer: omsim.AnswerBusy}}, engine.DialLimits{})
	j, err := r.router.Dial(engine.DialRequest{To: "13800000002", Flow: "main", Vars: json.RawMessage(`{"room":"808"}`),
		Retry: engine.RetryPolicy{Attempts: 3, Delay: engine.Duration(2 * time.Minute), Backoff: 2}})
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.run(10*time.Minute, 10*time.Second)
	got := r.job(j.ID)
	if got.State != engine.JobFailed || outcomes(got) != "busy,busy,busy" {
		t.Fatalf("job: state %s, attempts %s; want failed after busy,busy,busy", got.State, outcomes(got))
	}
	// 2 minutes before the second attempt, 4 before the third.
	if d := got.Attempts[1].Started.Sub(got.Attempts[0].Started); d < 2*time.Minute || d > 2*time.Minute+15*time.Second {
		t.Errorf("second attempt %s after the first, want about 2m", d)
	}
	if d := got.Attempts[2].Started.Sub(got.Attempts[1].Started); d < 4*time.Minute || d > 4*time.Minute+15*time.Second {
		t.Errorf("third attempt %s after the second, want about 4m", d)
	}
	v, ok, _ := r.store.Get("main", "failed:13800000002")
	if !ok || !strings.Contains(string(v), `"reason":"busy"`) || !strings.Contains(string(v), `"attempts":3`) || !strings.Contains(string(v), `"room":"808"`) {
		t.Errorf("failed handler stored %s", v)
	}
	if !r.job(j.ID).Notified {
		t.Error("the job is not marked notified after its failed handler")
	}
}

func TestDialNoAnswerRetriesThenAnswered(t *testing.T) {
	r := outboundRig(t, map[string]omsim.Policy{"13800000003": {Answer: omsim.AnswerNoAnswer}}, engine.DialLimits{})
	j, err := r.router.Dial(engine.DialRequest{To: "13800000003", Flow: "main",
		Retry: engine.RetryPolicy{Attempts: 2, Delay: engine.Duration(time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.run(40*time.Second, 5*time.Second)
	if got := r.job(j.ID); outcomes(got) != "no_answer" || got.State != engine.JobScheduled {
		t.Fatalf("after the first attempt: state %s, attempts %s", got.State, outcomes(got))
	}
	// The callee is back for the second attempt and confirms.
	if err := r.sim.SetNumberPolicy("13800000003", omsim.Policy{Answer: omsim.AnswerAfter, Keys: "1", KeysDelay: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	r.run(2*time.Minute, 5*time.Second)
	if got := r.job(j.ID); got.State != engine.JobDone || outcomes(got) != "no_answer,answered" {
		t.Fatalf("state %s, attempts %s; want done after no_answer,answered", got.State, outcomes(got))
	}
}
