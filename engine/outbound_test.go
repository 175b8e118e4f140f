package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto"
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
	if h.StdlibHash != engine.StdlibHash() {
		t.Errorf("the call journaled stdlib %q, want %q", h.StdlibHash, engine.StdlibHash())
	}
	if h.DialOutcome != engine.DialAnswered || h.Direction != "out" || h.Job != j.ID {
		t.Errorf("history: %+v", h)
	}
	v, ok, _ := r.store.Get("main", "ended:"+h.ID)
	if !ok || !strings.Contains(string(v), `"confirmed":true`) {
		t.Errorf("ended saw %s", v)
	}
	// The OM's call record, matched by its callid, as for inbound calls.
	r.run(2*time.Second, time.Second)
	if h, _ = r.store.History(got.Attempts[0].CallID); h.Cdr == nil || h.Cdr.Type != "OU" || h.Cdr.CDPN != "13800000001" {
		t.Errorf("the call's record: %+v", h.Cdr)
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

func TestDialWaitsForItsWindowAcrossTimeZones(t *testing.T) {
	r := outboundRig(t, map[string]omsim.Policy{"13800000004": {Answer: omsim.AnswerAfter, Keys: "1", KeysDelay: time.Second}}, engine.DialLimits{})
	// 09:00 UTC is 04:00 in New York: the window opens at 13:00 UTC.
	ny, err := r.router.Dial(engine.DialRequest{To: "13800000004", Flow: "main", TZ: "America/New_York", Window: "08:00-20:00"})
	if err != nil {
		t.Fatal(err)
	}
	// 14:30 UTC is 22:30 in Shanghai, after its window: the next 07:00
	// there is 23:00 UTC the same day.
	sh, err := r.router.Dial(engine.DialRequest{To: "13800000005", Flow: "main", TZ: "Asia/Shanghai", Window: "07:00-22:00",
		At: epoch.Add(5*time.Hour + 30*time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	if got := r.job(ny.ID); got.State != engine.JobScheduled || !got.Due.Equal(time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)) {
		t.Fatalf("New York job: state %s due %s; want scheduled for 13:00 UTC", got.State, got.Due)
	}
	r.clk.AdvanceTo(time.Date(2026, 11, 25, 12, 59, 0, 0, time.UTC))
	r.sim.Settle()
	if n := len(r.sim.CallsTo("13800000004")); n != 0 {
		t.Fatalf("%d calls before the window opened", n)
	}
	r.run(2*time.Minute, 10*time.Second)
	if got := r.job(ny.ID); len(r.sim.CallsTo("13800000004")) != 1 || got.State != engine.JobDone {
		t.Fatalf("New York job after 13:00 UTC: state %s, %d calls", got.State, len(r.sim.CallsTo("13800000004")))
	}
	r.clk.AdvanceTo(time.Date(2026, 11, 25, 14, 31, 0, 0, time.UTC))
	r.sim.Settle()
	if got := r.job(sh.ID); got.State != engine.JobScheduled || !got.Due.Equal(time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC)) {
		t.Fatalf("Shanghai job: state %s due %s; want scheduled for 23:00 UTC", got.State, got.Due)
	}
	if n := len(r.sim.CallsTo("13800000005")); n != 0 {
		t.Fatalf("%d calls to Shanghai at 22:31 local", n)
	}
}

func TestDialLimitsPerNumberConcurrencyAndRate(t *testing.T) {
	r := outboundRig(t, nil, engine.DialLimits{MaxConcurrent: 2, PerSecond: 1, PerNumber: 1})
	var ids []string
	for _, to := range []string{"13900000001", "13900000001", "13900000002", "13900000003", "13900000004"} {
		j, err := r.router.Dial(engine.DialRequest{To: to, Flow: "main"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	r.sim.Settle()
	r.run(3*time.Minute, time.Second)
	type span struct{ from, to time.Time }
	var spans []span
	byNumber := map[string][]span{}
	for _, id := range ids {
		j := r.job(id)
		if !j.Final() || len(j.Attempts) != 1 {
			t.Fatalf("job %s to %s: state %s, attempts %s", id, j.To, j.State, outcomes(j))
		}
		a := j.Attempts[0]
		sp := span{a.Started, a.Ended}
		spans = append(spans, sp)
		byNumber[j.To] = append(byNumber[j.To], sp)
	}
	for i, a := range spans {
		live := 1
		for j, b := range spans {
			if i != j && !b.from.After(a.from) && b.to.After(a.from) {
				live++
			}
		}
		if live > 2 {
			t.Errorf("%d attempts live at %s, the cap is 2", live, a.from)
		}
		for j, b := range spans {
			if i != j && b.from.After(a.from) && b.from.Sub(a.from) < time.Second {
				t.Errorf("two dials %s apart, the rate is 1 per second", b.from.Sub(a.from))
			}
		}
	}
	if s := byNumber["13900000001"]; len(s) != 2 || s[1].from.Before(s[0].to) && s[0].from.Before(s[1].to) {
		t.Errorf("two calls to one number overlapped: %+v", s)
	}
}

func TestCancelJob(t *testing.T) {
	r := outboundRig(t, nil, engine.DialLimits{})
	j, err := r.router.Dial(engine.DialRequest{To: "13800000006", Flow: "main", At: epoch.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.router.CancelJob(j.ID)
	if err != nil || got.State != engine.JobCancelled {
		t.Fatalf("cancel: %v, state %s", err, got.State)
	}
	r.clk.Advance(2 * time.Hour)
	r.sim.Settle()
	if n := len(r.sim.CallsTo("13800000006")); n != 0 {
		t.Errorf("a cancelled job dialled %d times", n)
	}
	if _, err := r.router.CancelJob(j.ID); err != engine.ErrJobOver {
		t.Errorf("cancelling again: %v, want ErrJobOver", err)
	}
	if _, err := r.router.CancelJob("nope"); err == nil {
		t.Error("cancelling an unknown job succeeded")
	}
}

func TestDialRequestErrorsNameTheField(t *testing.T) {
	r := outboundRig(t, nil, engine.DialLimits{})
	for _, c := range []struct {
		req   engine.DialRequest
		field string
	}{
		{engine.DialRequest{Flow: "main"}, "to"},
		{engine.DialRequest{To: "12ab", Flow: "main"}, "to"},
		{engine.DialRequest{To: "123"}, "flow"},
		{engine.DialRequest{To: "123", Flow: "nope"}, "flow"},
		{engine.DialRequest{To: "123", Flow: "main", TZ: "Mars/Olympus"}, "tz"},
		{engine.DialRequest{To: "123", Flow: "main", Window: "8-9"}, "window"},
		{engine.DialRequest{To: "123", Flow: "main", Retry: engine.RetryPolicy{On: []string{"sometimes"}}}, "retry.on"},
		{engine.DialRequest{To: "123", Flow: "main", Retry: engine.RetryPolicy{Attempts: 1000}}, "retry.attempts"},
		{engine.DialRequest{To: "123", Flow: "main", Vars: json.RawMessage(`[1]`)}, "vars"},
		{engine.DialRequest{To: "123", Flow: "main", Device: "om9"}, "device"},
		{engine.DialRequest{To: "123", Flow: "main", At: epoch.Add(-time.Hour)}, "at"},
		{engine.DialRequest{To: "123", Flow: "main", ID: "a/b"}, "id"},
		{engine.DialRequest{To: "123", Flow: "main", Secret: []string{"code", ""}}, "secret[1]"},
	} {
		_, err := r.router.Dial(c.req)
		fe, ok := err.(*engine.FieldError)
		if !ok || fe.Field != c.field {
			t.Errorf("%+v: %v; want an error naming %s", c.req, err, c.field)
		}
	}
	if js, _ := r.router.Jobs(); len(js) != 0 {
		t.Errorf("refused requests left %d jobs", len(js))
	}
}

// crash stops the rig's router as a killed process would and closes it.
func (r *rig) crash() {
	r.router.Crash()
	r.router.Close()
}

func TestJobDueWhileDownRunsIfItsWindowIsStillOpen(t *testing.T) {
	r := outboundRig(t, map[string]omsim.Policy{"13800000007": {Answer: omsim.AnswerAfter, Keys: "1", KeysDelay: time.Second}}, engine.DialLimits{})
	open, err := r.router.Dial(engine.DialRequest{To: "13800000007", Flow: "main", At: epoch.Add(10 * time.Minute), Window: "08:00-22:00"})
	if err != nil {
		t.Fatal(err)
	}
	closed, err := r.router.Dial(engine.DialRequest{To: "13800000008", Flow: "main", At: epoch.Add(10 * time.Minute), Window: "09:00-09:20"})
	if err != nil {
		t.Fatal(err)
	}
	r.crash()
	r.clk.Advance(30 * time.Minute) // both came due while ivrd was down
	r.sim.Settle()
	r.restart()
	r.run(20*time.Second, time.Second)
	if got := r.job(open.ID); got.State != engine.JobDone || len(r.sim.CallsTo("13800000007")) != 1 {
		t.Errorf("job in an open window: state %s, %d calls; want done, 1", got.State, len(r.sim.CallsTo("13800000007")))
	}
	got := r.job(closed.ID)
	if got.State != engine.JobDropped || len(r.sim.CallsTo("13800000008")) != 0 || !strings.Contains(got.Reason, "window") {
		t.Errorf("job whose window closed: state %s, reason %q, %d calls; want dropped, no call", got.State, got.Reason, len(r.sim.CallsTo("13800000008")))
	}
}

func TestCrashWhileRingingDialsOnce(t *testing.T) {
	r := outboundRig(t, map[string]omsim.Policy{"13800000009": {Answer: omsim.AnswerAfter, Delay: 10 * time.Second, Keys: "1", KeysDelay: time.Second}}, engine.DialLimits{})
	j, err := r.router.Dial(engine.DialRequest{To: "13800000009", Flow: "main", Retry: engine.RetryPolicy{Attempts: 3}})
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.run(3*time.Second, time.Second) // ringing
	if n := len(r.sim.CallsTo("13800000009")); n != 1 {
		t.Fatalf("%d calls placed", n)
	}
	r.crash()
	if n := r.restart(); n != 1 {
		t.Fatalf("%d calls recovered, want the ringing one", n)
	}
	r.run(30*time.Second, time.Second)
	got := r.job(j.ID)
	if got.State != engine.JobDone || outcomes(got) != "answered" || len(r.sim.CallsTo("13800000009")) != 1 {
		t.Fatalf("state %s, attempts %s, %d calls; want done after one answered call", got.State, outcomes(got), len(r.sim.CallsTo("13800000009")))
	}
}

func TestAttemptMarkedButNotPlacedIsNotDialledAgain(t *testing.T) {
	path := t.TempDir() + "/ivrd.db"
	st, err := engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	// ivrd stopped between storing attempt 1 and its Connect.
	job := engine.Job{ID: "j1", To: "13800000010", Flow: "main", Device: "om1", Created: epoch, Due: epoch,
		State: engine.JobDialing, Retry: engine.RetryPolicy{Attempts: 2, Delay: engine.Duration(time.Minute), Backoff: 1, On: engine.DefaultRetryOn},
		Attempts: []engine.Attempt{{N: 1, Started: epoch}}}
	if err := st.PutJob(job); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r := newRig(t, map[string]string{"main": wakeFlow}, rigOptions{store: path,
		sim: func(c *omsim.Config) {
			c.Numbers = map[string]omsim.Policy{"13800000010": {Keys: "1", KeysDelay: time.Second}}
		}})
	r.restart()
	if got := r.job("j1"); outcomes(got) != "interrupted" || got.State != engine.JobScheduled {
		t.Fatalf("after restart: state %s, attempts %s; want the first interrupted and a second scheduled", got.State, outcomes(got))
	}
	r.run(2*time.Minute, 5*time.Second)
	if got := r.job("j1"); got.State != engine.JobDone || outcomes(got) != "interrupted,answered" || len(r.sim.CallsTo("13800000010")) != 1 {
		t.Fatalf("state %s, attempts %s, %d calls", got.State, outcomes(got), len(r.sim.CallsTo("13800000010")))
	}
}

// A flow that schedules a call: replayed after a crash right after the
// dial step, it gets the same job back instead of making a second.
func TestIvrDialFromAFlowIsNotRepeatedOnReplay(t *testing.T) {
	flow := `
local f = {}
function f.incoming(call)
  local id = ivr.dial{ to = "13800000011", at = ivr.now() + 3600, vars = { room = "1203" },
                       retry = { attempts = 3, delay = 300, on = { "busy", "no_answer" } } }
  call.vars.job = id
  call:play("user_thanks")
end
function f.answered(call) call:play("user_welcome") end
return f`
	r, crashed := crashingRig(t, 2, map[string]string{"main": flow})
	r.call("13800000001")
	if !crashed() {
		t.Fatal("no crash")
	}
	r.router.Close()
	r.restart()
	r.run(5*time.Second, time.Second)
	js, err := r.router.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 1 {
		t.Fatalf("%d jobs after the replay, want 1", len(js))
	}
	j := js[0]
	if j.Retry.Attempts != 3 || time.Duration(j.Retry.Delay) != 5*time.Minute || !j.Due.Equal(epoch.Add(time.Hour)) || string(j.Vars) != `{"room":"1203"}` {
		t.Errorf("job %+v", j)
	}
}

func TestIvrDialOptionErrors(t *testing.T) {
	for _, c := range []struct{ call, want string }{
		{`ivr.dial{ to = "1", color = "red" }`, `ivr.dial: unknown option "color"`},
		{`ivr.dial{ flow = "main" }`, `ivr.dial: to is required`},
		{`ivr.dial{ to = "1", tz = "Mars/Olympus" }`, `ivr.dial: tz: unknown time zone "Mars/Olympus"`},
		{`ivr.dial{ to = "1", retry = { tries = 2 } }`, `ivr.dial: unknown option retry.tries`},
		{`ivr.dial{ to = "1", retry = { on = { "sometimes" } } }`, `retry.on: "sometimes" is not an outcome`},
		{`ivr.dial{ to = "1", at = "tomorrow" }`, `ivr.dial: at must be a time in seconds`},
		{`ivr.dial{ to = "1", flow = "nope" }`, `ivr.dial: flow: no flow "nope" is loaded`},
		{`ivr.dial{ to = "1", at = 1/0 }`, `ivr.dial: at must be a time in seconds`},
		{`ivr.dial{ to = "1", retry = { delay = 0/0 } }`, `ivr.dial: retry.delay must be a number of seconds`},
		{`ivr.dial{ to = "1", retry = { attempts = 1e300 } }`, `ivr.dial: retry.attempts must be within 1–100, not 1e+300`},
	} {
		flow := "local f = {}\nfunction f.incoming(call)\n  " + c.call + "\nend\nreturn f"
		r := newRig(t, map[string]string{"main": flow}, rigOptions{})
		r.call("13800000001")
		logs := strings.ReplaceAll(strings.Join(r.logs.all(), ""), `\"`, `"`)
		if !strings.Contains(logs, c.want) || !strings.Contains(logs, "flows/main.lua:3") {
			t.Errorf("%s: the log does not say %q at flows/main.lua:3:\n%s", c.call, c.want, logs)
		}
	}
}

// An agent's caller is sent to the survey after the conversation.
func TestRedirectALiveCallIntoASurvey(t *testing.T) {
	flows := map[string]string{
		"main": `local f = {}
function f.incoming(call) call:transfer{ ext = "201" } end
return f`,
		"survey": `local f = {}
function f.incoming(call)
  local k = call:gather{ prompt = "user_menu", valid = "[1-5]", timeout = 5 }
  if k then ivr.store.append("answers", { agent = call.vars.agent, score = tonumber(k) }) end
  call:play("user_thanks")
end
return f`,
	}
	r := newRig(t, flows, rigOptions{})
	c := r.call("13800000001")
	r.run(3*time.Second, time.Second) // the agent answers and they talk
	kind, id := c.Leg()
	callID, err := r.router.Redirect("om1", engine.Leg{Kind: string(kind), ID: id}, "survey", json.RawMessage(`{"agent":"201"}`))
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	if _, err := r.router.Redirect("om1", engine.Leg{Kind: string(kind), ID: id}, "survey", nil); !errors.Is(err, engine.ErrInIVR) {
		t.Errorf("redirecting a call already in the survey: %v, want ErrInIVR", err)
	}
	r.run(3*time.Second, time.Second)
	r.press(c, "4")
	r.run(5*time.Second, time.Second)
	v, ok, _ := r.store.Get("survey", "answers")
	if !ok || string(v) != `[{"agent":"201","score":4}]` {
		t.Fatalf("survey answers %s", v)
	}
	h, err := r.store.History(callID)
	if err != nil {
		t.Fatal(err)
	}
	if h.Flow != "survey" || h.Outcome != engine.OutcomeHangup || h.Direction != "in" {
		t.Errorf("history: flow %s outcome %s direction %s", h.Flow, h.Outcome, h.Direction)
	}
	if _, err := r.router.Redirect("om1", engine.Leg{Kind: "visitor", ID: "99"}, "survey", nil); err == nil {
		t.Error("redirecting a call the device does not have succeeded")
	}
	if _, err := r.router.Redirect("om1", engine.Leg{Kind: string(kind), ID: id}, "nope", nil); err == nil {
		t.Error("redirecting into an unknown flow succeeded")
	}
}

// redirectOuterLeg puts a click-to-dial from 208 in talk and sends its
// outer leg to the flow src, loaded as "taken"; it returns the rig and
// the history of the call once the flow has had five seconds.
func redirectOuterLeg(t *testing.T, src string) (*rig, engine.HistoryEntry) {
	t.Helper()
	const number = "13900000002"
	r := newRig(t, map[string]string{"main": hotelFlow, "taken": src}, rigOptions{sim: func(c *omsim.Config) {
		c.Numbers = map[string]omsim.Policy{number: {Answer: omsim.AnswerManual}}
	}})
	c, _ := r.talkingClick("208", number)
	callID, err := r.router.Redirect("om1", engine.Leg{Kind: engine.LegOuter, ID: c.Leg}, "taken", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.run(5*time.Second, time.Second)
	h, err := r.store.History(callID)
	if err != nil {
		t.Fatal(err)
	}
	return r, h
}

// An outgoing call (an extension's click-to-dial, its outer leg) sent to
// a flow is an outgoing call there too: direction out.
func TestRedirectAnOuterLegIsOutgoing(t *testing.T) {
	_, h := redirectOuterLeg(t, `local f = {}
function f.incoming(call) call:play("user_thanks") end
return f`)
	if h.Flow != "taken" || h.Direction != "out" || h.Outcome != engine.OutcomeHangup {
		t.Fatalf("history: flow %s direction %s outcome %s, want taken, out, hangup", h.Flow, h.Direction, h.Outcome)
	}
}

// A flow with no incoming(call) cannot take a call sent to it, on an
// outer leg as on a visitor: the call goes to the fallback, the log says
// why.
func TestRedirectIntoAFlowWithoutIncoming(t *testing.T) {
	r, h := redirectOuterLeg(t, `local f = {}
function f.answered(call) call:play("user_thanks") end
return f`)
	if h.Outcome != engine.OutcomeFallback || !r.logged("has no incoming(call) handler") {
		t.Fatalf("history: outcome %s, want fallback with the reason logged", h.Outcome)
	}
}

func TestRingTimeoutClearsTheCall(t *testing.T) {
	r := outboundRig(t, map[string]omsim.Policy{"13800000012": {Answer: omsim.AnswerManual}}, engine.DialLimits{RingTimeout: 10 * time.Second})
	j, err := r.router.Dial(engine.DialRequest{To: "13800000012", Flow: "main"})
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.run(15*time.Second, time.Second)
	got := r.job(j.ID)
	if got.State != engine.JobFailed || outcomes(got) != "no_answer" || !strings.Contains(got.Attempts[0].Reason, "10s") {
		t.Fatalf("state %s, attempts %+v", got.State, got.Attempts)
	}
	if st := r.sim.CallsTo("13800000012")[0].State(); st != "ended" {
		t.Errorf("the simulated callee's call is %q after the ring timeout, want ended", st)
	}
}

// A failed handler that dials its own flow would ring forever; the chain
// stops after MaxFailedChain handlers, with the reason logged.
func TestFailedHandlersCannotChainForever(t *testing.T) {
	flow := `
local f = {}
function f.incoming(call) call:hangup() end
function f.answered(call) end
function f.failed(job, reason)
  ivr.dial{ to = job.to, vars = { gen = (job.vars.gen or 0) + 1 } }
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{
		sim: func(c *omsim.Config) { c.Numbers = map[string]omsim.Policy{"13800000013": {Answer: omsim.AnswerBusy}} },
	})
	if _, err := r.router.Dial(engine.DialRequest{To: "13800000013", Flow: "main"}); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.run(time.Minute, time.Second)
	js, err := r.router.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 1+engine.MaxFailedChain {
		t.Fatalf("%d jobs, want %d", len(js), 1+engine.MaxFailedChain)
	}
	for _, j := range js {
		if j.State != engine.JobFailed || len(j.ID) > 100 {
			t.Errorf("job %s: %s", j.ID, j.State)
		}
	}
	if !strings.Contains(strings.Join(r.logs.all(), ""), "may not dial again") {
		t.Error("the refused dial is not logged")
	}
}

// Secret vars: the job as it leaves the process, and the call's history,
// show them as [secret]; the flow and the state file have them whole.
func TestSecretVarsAreRedactedOutsideTheStateFile(t *testing.T) {
	flow := `
local f = {}
function f.answered(call)
  call:say_digits(call.vars.code)
  ivr.secret(call.vars.pin)
  ivr.store.put("heard", #call.vars.code)
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	j, err := r.router.Dial(engine.DialRequest{To: "13800000014", Flow: "main",
		Vars: json.RawMessage(`{"code":"4821","pin":"9911","order":"A-17"}`), Secret: []string{"code"}})
	if err != nil {
		t.Fatal(err)
	}
	shown, _ := json.Marshal(j)
	if strings.Contains(string(shown), "4821") || !strings.Contains(string(shown), `"code":"[secret]"`) {
		t.Errorf("the job as shown: %s", shown)
	}
	r.sim.Settle()
	r.run(20*time.Second, time.Second)
	got := r.job(j.ID)
	if got.State != engine.JobDone || string(got.Vars) != `{"code":"4821","pin":"9911","order":"A-17"}` {
		t.Fatalf("the stored job: %s %s", got.State, got.Vars)
	}
	if v, _, _ := r.store.Get("main", "heard"); string(v) != "4" {
		t.Errorf("the flow saw a code of %s digits", v)
	}
	h, err := r.store.History(got.Attempts[0].CallID)
	if err != nil {
		t.Fatal(err)
	}
	var vars map[string]string
	if err := json.Unmarshal(h.Vars, &vars); err != nil || vars["code"] != "[secret]" || vars["pin"] != "[secret]" || vars["order"] != "A-17" {
		t.Errorf("history vars %s", h.Vars)
	}
	for _, l := range r.logs.all() {
		if strings.Contains(l, "4821") || strings.Contains(l, "9911") {
			t.Errorf("log line shows a secret: %s", l)
		}
	}
}

// ivrd stopped after its Connect reached the device but before it
// recorded the call: at the restart it finds the call on the device and
// follows it, neither dialling again nor leaving the callee in silence.
func TestCallPlacedBeforeACrashIsFoundAndFollowed(t *testing.T) {
	for _, answered := range []bool{false, true} {
		path := t.TempDir() + "/ivrd.db"
		st, err := engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		job := engine.Job{ID: "j1", To: "13800000015", Flow: "main", Device: "om1", Created: epoch, Due: epoch,
			State: engine.JobDialing, Retry: engine.RetryPolicy{Attempts: 1, Delay: engine.Duration(time.Minute), Backoff: 1, On: engine.DefaultRetryOn},
			Attempts: []engine.Attempt{{N: 1, Started: epoch}}}
		if err := st.PutJob(job); err != nil {
			t.Fatal(err)
		}
		st.Close()
		policy := omsim.Policy{Answer: omsim.AnswerAfter, Delay: 5 * time.Second, Keys: "1", KeysDelay: 2 * time.Second}
		r := newRig(t, map[string]string{"main": wakeFlow}, rigOptions{store: path,
			sim: func(c *omsim.Config) { c.Numbers = map[string]omsim.Policy{"13800000015": policy} }})
		// The first run's Connect, as the device received it (ivrd parks
		// and dials through its first menu id).
		client, err := omproto.NewClient(r.sim.URL())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Connect(context.Background(), omproto.Connect{
			From: omproto.Ref{Kind: omproto.KindMenu, ID: "41"}, To: omproto.Ref{Kind: omproto.KindOuter, To: "13800000015"}, VoiceFile: "silence",
		}); err != nil {
			t.Fatal(err)
		}
		r.sim.Settle()
		if answered {
			r.run(6*time.Second, time.Second) // answered while ivrd was down
		}
		r.restart()
		r.run(30*time.Second, time.Second)
		got := r.job("j1")
		if got.State != engine.JobDone || outcomes(got) != "answered" || len(r.sim.CallsTo("13800000015")) != 1 {
			t.Errorf("answered before the restart %v: state %s, attempts %s, %d calls", answered, got.State, outcomes(got), len(r.sim.CallsTo("13800000015")))
		}
		if h := strings.Join(heard(r.sim.CallsTo("13800000015")[0]), " "); !strings.Contains(h, "user_thanks") {
			t.Errorf("answered before the restart %v: the callee heard %q", answered, h)
		}
	}
}

// The callee answers while ivrd is down: the recovered call finds it
// answered on the device (its ANSWERED report lost) and runs the flow
// instead of waiting for the ring timeout.
func TestAnsweredWhileDownRunsTheFlow(t *testing.T) {
	r := outboundRig(t, map[string]omsim.Policy{"13800000016": {Answer: omsim.AnswerAfter, Delay: 3 * time.Second, Keys: "1", KeysDelay: 4 * time.Second}}, engine.DialLimits{})
	j, err := r.router.Dial(engine.DialRequest{To: "13800000016", Flow: "main"})
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.advance(time.Second) // ringing
	r.sim.Settle()
	r.crash()
	r.advance(3 * time.Second) // answered while ivrd is down
	r.sim.Settle()
	r.restart()
	r.run(20*time.Second, time.Second)
	got := r.job(j.ID)
	if got.State != engine.JobDone || outcomes(got) != "answered" || len(r.sim.CallsTo("13800000016")) != 1 {
		t.Fatalf("state %s, attempts %+v", got.State, got.Attempts)
	}
	if h := strings.Join(heard(r.sim.CallsTo("13800000016")[0]), " "); !strings.Contains(h, "user_welcome") || !strings.Contains(h, "user_thanks") {
		t.Errorf("the callee heard %q", h)
	}
}

// Cancelling a job whose attempt rings: no further attempt, one end told,
// and a second cancel is refused.
func TestCancelWhileDialing(t *testing.T) {
	var ended []engine.Job
	var mu sync.Mutex
	r := newRig(t, map[string]string{"main": wakeFlow}, rigOptions{
		sim: func(c *omsim.Config) {
			c.Numbers = map[string]omsim.Policy{"13800000017": {Answer: omsim.AnswerNoAnswer}}
		},
		config: func(c *engine.Config) {
			c.JobEnded = func(j engine.Job) { mu.Lock(); ended = append(ended, j); mu.Unlock() }
		},
	})
	j, err := r.router.Dial(engine.DialRequest{To: "13800000017", Flow: "main", Retry: engine.RetryPolicy{Attempts: 3}})
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.advance(time.Second)
	r.sim.Settle()
	if got, err := r.router.CancelJob(j.ID); err != nil || got.State != engine.JobCancelled {
		t.Fatalf("cancel: %v %s", err, got.State)
	}
	if _, err := r.router.CancelJob(j.ID); !errors.Is(err, engine.ErrJobOver) {
		t.Errorf("second cancel: %v, want ErrJobOver", err)
	}
	r.run(10*time.Minute, 10*time.Second)
	got := r.job(j.ID)
	if got.State != engine.JobCancelled || len(got.Attempts) != 1 || got.Attempts[0].Outcome != engine.DialNoAnswer {
		t.Errorf("job: %s, attempts %+v", got.State, got.Attempts)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ended) != 1 || ended[0].State != engine.JobCancelled || ended[0].Attempts[0].Outcome == "" {
		t.Errorf("JobEnded told %d times: %+v", len(ended), ended)
	}
}

// A var the flow marked with ivr.secret stays secret in the job it dials,
// even unnamed in secret.
func TestIvrDialKeepsMarkedSecrets(t *testing.T) {
	flow := `
local f = {}
function f.incoming(call)
  local code = ivr.secret("5502")
  ivr.dial{ to = "13800000018", at = ivr.now() + 3600, vars = { code = code, room = "12" } }
  call:hangup()
end
function f.answered(call) end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	r.call("13800000001")
	js, err := r.router.Jobs()
	if err != nil || len(js) != 1 {
		t.Fatal(js, err)
	}
	shown, _ := json.Marshal(js[0])
	if strings.Contains(string(shown), "5502") || !strings.Contains(string(shown), `"room":"12"`) {
		t.Errorf("the job as shown: %s", shown)
	}
}

// The call an attempt placed is found from the job and attempt (a restart
// needs it when the job's own record of it was not yet written), until
// the call's history is pruned.
func TestAttemptCallIndex(t *testing.T) {
	r := outboundRig(t, map[string]omsim.Policy{"13800000019": {Keys: "1", KeysDelay: time.Second}}, engine.DialLimits{})
	j, err := r.router.Dial(engine.DialRequest{To: "13800000019", Flow: "main"})
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.run(20*time.Second, time.Second)
	got := r.job(j.ID)
	id, err := r.store.AttemptCall(j.ID, 1)
	if err != nil || id == "" || id != got.Attempts[0].CallID {
		t.Fatalf("AttemptCall: %q, %v; the job says %q", id, err, got.Attempts[0].CallID)
	}
	if _, err := r.store.Prune(r.clk.Now().Add(time.Hour), time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	if id, _ := r.store.AttemptCall(j.ID, 1); id != "" {
		t.Errorf("the index outlived the call's history: %q", id)
	}
}

// Job writes that land out of order keep the newest state.
func TestPutJobKeepsTheNewestRevision(t *testing.T) {
	st, err := engine.OpenBolt(t.TempDir()+"/ivrd.db", engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	newer := engine.Job{ID: "j", State: engine.JobCancelled, Rev: 3}
	older := engine.Job{ID: "j", State: engine.JobScheduled, Rev: 2}
	if err := st.PutJob(newer); err != nil {
		t.Fatal(err)
	}
	if err := st.PutJob(older); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetJob("j"); got.State != engine.JobCancelled || got.Rev != 3 {
		t.Fatalf("stored %s rev %d, want cancelled rev 3", got.State, got.Rev)
	}
}

// failingJobs is a store whose next job writes fail.
type failingJobs struct {
	*engine.BoltStore
	mu    sync.Mutex
	fails int
}

func (f *failingJobs) PutJobs(js ...engine.Job) error {
	f.mu.Lock()
	if f.fails > 0 {
		f.fails--
		f.mu.Unlock()
		return errors.New("disk full")
	}
	f.mu.Unlock()
	return f.BoltStore.PutJobs(js...)
}

// An attempt that cannot be stored as started is not dialled: the job
// waits its retry delay and is dialled then, once.
func TestAttemptNotStoredIsNotDialled(t *testing.T) {
	st, err := engine.OpenBolt(t.TempDir()+"/ivrd.db", engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fj := &failingJobs{BoltStore: st, fails: 1}
	r := newRig(t, map[string]string{"main": wakeFlow}, rigOptions{noStore: true,
		sim: func(c *omsim.Config) {
			c.Numbers = map[string]omsim.Policy{"13800000020": {Keys: "1", KeysDelay: time.Second}}
		},
		config: func(c *engine.Config) { c.Store = fj }})
	j, err := r.router.Dial(engine.DialRequest{To: "13800000020", Flow: "main", Retry: engine.RetryPolicy{Delay: engine.Duration(time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	if n := len(r.sim.CallsTo("13800000020")); n != 0 {
		t.Fatalf("%d calls placed although the attempt could not be stored", n)
	}
	if got := r.job(j.ID); got.State != engine.JobScheduled || len(got.Attempts) != 0 {
		t.Fatalf("after the failed write: state %s, %d attempts", got.State, len(got.Attempts))
	}
	r.run(50*time.Second, 5*time.Second)
	if n := len(r.sim.CallsTo("13800000020")); n != 0 {
		t.Fatalf("%d calls placed before the retry delay", n)
	}
	r.run(40*time.Second, 5*time.Second)
	if got := r.job(j.ID); got.State != engine.JobDone || len(r.sim.CallsTo("13800000020")) != 1 {
		t.Fatalf("state %s, %d calls", got.State, len(r.sim.CallsTo("13800000020")))
	}
}
