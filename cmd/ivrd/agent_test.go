package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// The agent tests drive the daemon's admin API over loopback HTTP against
// the simulator: a caller goes through the main flow to ext 201 (key 1),
// and the API acts on 201's call.

// agentStack starts the daemon with the main and survey flows.
func agentStack(t *testing.T) *adminStack {
	t.Helper()
	return startAdminStack(t, map[string]string{"main": adminMainFlow, "survey": adminSurveyFlow}, nil)
}

// callAgent places a call and puts it through to ext 201.
func callAgent(t *testing.T, a *adminStack, from string) *omsim.Call {
	t.Helper()
	call, err := a.sim.PlaceCall(from, "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the welcome", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	if err := call.Press("1"); err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "ext 201", func(in omsim.CallInfo) bool { return in.Connected == "ext 201" && in.State == "talking" })
	poll(t, "the IVR session to end", func() bool { return a.srv.router.Live() == 0 })
	return call
}

// agentPost sends POST /api/v1/devices/om1/extensions/{ext}/{action}.
func (a *adminStack) agentPost(t *testing.T, ext, action, body string, out any) (int, api.Error) {
	t.Helper()
	var raw json.RawMessage
	status := a.req(t, "POST", "/api/v1/devices/om1/extensions/"+ext+"/"+action, adminToken, body, &raw)
	var e api.Error
	if status >= 300 {
		_ = json.Unmarshal(raw, &e)
	} else if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
	}
	return status, e
}

func simExt(t *testing.T, sim *omsim.Sim, id string) omsim.ExtInfo {
	t.Helper()
	in, err := sim.ExtInfo(id)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// Hold and unhold show in the simulator, hang up ends the call, and each
// is an event; an extension in no call is 409.
func TestAgentHoldAndHangup(t *testing.T) {
	a := agentStack(t)
	call := callAgent(t, a, "13800000001")

	var res engine.AgentResult
	if got, e := a.agentPost(t, "201", "hold", "", &res); got != 200 {
		t.Fatalf("hold: %d %+v", got, e)
	}
	if res.Leg != "visitor 1" || res.From != "13800000001" || res.Action != "hold" {
		t.Fatalf("hold answered %+v", res)
	}
	if in := call.Info(); in.State != "held" || len(in.Hears) != 0 {
		t.Fatalf("caller while held: %+v", in)
	}
	if x := simExt(t, a.sim, "201"); !x.Held {
		t.Fatalf("ext 201 while held: %+v", x)
	}
	if got, e := a.agentPost(t, "201", "unhold", "{}", nil); got != 200 {
		t.Fatalf("unhold: %d %+v", got, e)
	}
	if in := call.Info(); in.State != "talking" {
		t.Fatalf("caller after unhold: %+v", in)
	}
	if got, e := a.agentPost(t, "201", "hangup", "", nil); got != 200 {
		t.Fatalf("hangup: %d %+v", got, e)
	}
	waitCall(t, call, "the call to end", func(in omsim.CallInfo) bool { return in.State == "ended" })

	// 201 is idle now: no call to act on.
	got, e := a.agentPost(t, "201", "hold", "", nil)
	if got != http.StatusConflict || e.Reason != "no_call" {
		t.Fatalf("hold with no call: %d %+v", got, e)
	}
	// Each command is counted, with the query of the extension before it.
	_, m := a.scrape(t, adminToken)
	for cmd, want := range map[string]float64{"query_ext": 4, "hold": 1, "unhold": 1, "hangup_ext": 1} {
		if got := m.get(t, "ivrd_om_commands_total", "device", "om1", "command", cmd, "result", "ok"); got != want {
			t.Errorf("ivrd_om_commands_total{command=%q,result=ok} = %v, want %v", cmd, got, want)
		}
	}
	evs := a.streamEvents(t, "agent.*", 3)
	kinds := []string{evs[0].Kind, evs[1].Kind, evs[2].Kind}
	if strings.Join(kinds, " ") != "agent.hold agent.unhold agent.hangup" {
		t.Fatalf("events %v", kinds)
	}
	if evs[0].Ext != "201" || evs[0].Device != "om1" || !strings.Contains(string(evs[0].Data), `"leg":"visitor 1"`) {
		t.Fatalf("hold event %+v %s", evs[0], evs[0].Data)
	}
}

// Transfers to an extension and to a group move the caller there; the
// device's refusals and bad requests get their statuses.
func TestAgentTransfer(t *testing.T) {
	a := agentStack(t)
	client := &omproto.Client{BaseURL: a.sim.URL()}
	if _, err := client.AssignGroup(context.Background(), omproto.AssignGroup{ID: "1", Exts: []string{"203"}}); err != nil {
		t.Fatal(err)
	}
	call := callAgent(t, a, "13800000001")

	var res engine.AgentResult
	if got, e := a.agentPost(t, "201", "transfer", `{"ext":"202"}`, &res); got != 200 || res.Target != "ext 202" {
		t.Fatalf("transfer to 202: %d %+v %+v", got, e, res)
	}
	waitCall(t, call, "ext 202", func(in omsim.CallInfo) bool { return in.Connected == "ext 202" && in.State == "talking" })
	if x := simExt(t, a.sim, "201"); x.State != "idle" {
		t.Fatalf("ext 201 after the transfer: %+v", x)
	}
	if got, e := a.agentPost(t, "202", "transfer", `{"group":"1"}`, nil); got != 200 {
		t.Fatalf("transfer to group 1: %d %+v", got, e)
	}
	waitCall(t, call, "group 1's ext 203", func(in omsim.CallInfo) bool { return in.Connected == "ext 203" && in.State == "talking" })

	// Refusals: a busy extension (the call stays), one the device lacks.
	if err := a.sim.SetExtPolicy("204", omsim.Policy{Answer: omsim.AnswerBusy}); err != nil {
		t.Fatal(err)
	}
	if got, e := a.agentPost(t, "203", "transfer", `{"ext":"204"}`, nil); got != http.StatusConflict || e.Reason != engine.ReasonBusy ||
		!strings.HasPrefix(e.Msg, "device om1 refused: busy") {
		t.Fatalf("transfer to a busy ext: %d %+v; want 409 busy, its error naming the device and the reason once", got, e)
	}
	if in := call.Info(); in.Connected != "ext 203" {
		t.Fatalf("after a refused transfer the call is %+v", in)
	}
	if got, e := a.agentPost(t, "203", "transfer", `{"ext":"299"}`, nil); got != http.StatusNotFound {
		t.Fatalf("transfer to an unknown ext: %d %+v", got, e)
	}

	bad := []struct {
		ext, body, field string
	}{
		{"203", `{}`, "ext"},
		{"203", `{"ext":"202","group":"1"}`, "group"},
		{"203", `{"group":"1","flow":"survey"}`, "flow"},
		{"203", `{"flow":"nosuch"}`, "flow"},
		{"203", `{"ext":"20x"}`, "ext"},
		{"203", `{"ext":202}`, "ext"},
		{"203", `{"ext":"202","vars":{"a":1}}`, "vars"},
		{"203", `{"queue":"1"}`, "queue"},
		{"2x3", `{"ext":"202"}`, "ext"},
	}
	for _, b := range bad {
		if got, e := a.agentPost(t, b.ext, "transfer", b.body, nil); got != http.StatusBadRequest || e.Field != b.field {
			t.Errorf("transfer %s %s: %d %+v, want 400 naming %s", b.ext, b.body, got, e, b.field)
		}
	}
	if got := a.req(t, "POST", "/api/v1/devices/om9/extensions/203/hold", adminToken, "", nil); got != http.StatusNotFound {
		t.Fatalf("an unknown device: %d", got)
	}
	if got, e := a.agentPost(t, "299", "hold", "", nil); got != http.StatusNotFound {
		t.Fatalf("an unknown extension: %d %+v", got, e)
	}
	if in := call.Info(); in.Connected != "ext 203" || in.State != "talking" {
		t.Fatalf("bad requests moved the call: %+v", in)
	}
}

// A transfer to a flow: the caller leaves the extension and runs the flow
// — hears its prompt, its keys drive it — as a journaled call that
// survives a restart and ends in the history.
func TestAgentTransferToFlow(t *testing.T) {
	a := agentStack(t)
	call := callAgent(t, a, "13800000001")
	var res engine.AgentResult
	if got, e := a.agentPost(t, "201", "transfer", `{"flow":"survey","vars":{"agent":"201"}}`, &res); got != http.StatusCreated ||
		res.Call == "" || res.Target != "flow survey" {
		t.Fatalf("transfer to the survey: %d %+v %+v", got, e, res)
	}
	// The answer comes once the caller has left the extension: the agent's
	// hang-up right after it finds no call to cut.
	if got, e := a.agentPost(t, "201", "hangup", "", nil); got != http.StatusConflict || e.Reason != "no_call" {
		t.Fatalf("hang-up right after the transfer: %d %+v", got, e)
	}
	waitCall(t, call, "the survey question", func(in omsim.CallInfo) bool { return heardFile(in, "user_survey_q1") })
	if x := simExt(t, a.sim, "201"); x.State != "idle" {
		t.Fatalf("ext 201 after the transfer: %+v", x)
	}
	var live api.Call
	if got := a.req(t, "GET", "/api/v1/calls/"+res.Call, adminToken, "", &live); got != 200 || !live.Live || live.Flow != "survey" ||
		live.From != "13800000001" || live.Leg != "visitor 1" || live.Origin != "ext 201" {
		t.Fatalf("the new call: %d %+v", got, live)
	}
	ev := a.streamEvents(t, "agent.*", 1)[0]
	if ev.Kind != engine.KindAgentTransfer || ev.Call != res.Call {
		t.Fatalf("event %+v", ev)
	}

	// ivrd stops with the call in the flow, and starts again on the same
	// state file: the call is resumed, and the caller's key still counts.
	cfg := a.srv.cfg
	addr, adminAddr := a.srv.Addr(), a.srv.AdminAddr()
	heard := len(call.Heard())
	if err := a.srv.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Admin.Listen = adminAddr
	srv := NewServer(cfg, hclog.NewNullLogger())
	srv.Listener = ln
	if err := srv.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	waitCall(t, call, "the question again", func(in omsim.CallInfo) bool {
		return len(in.Heard) > heard && in.Heard[len(in.Heard)-1].File == "user_survey_q1"
	})
	if err := call.Press("5"); err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the thanks", func(in omsim.CallInfo) bool { return heardFile(in, "user_survey_thanks") })
	var ended api.Call
	poll(t, "the call in the history", func() bool {
		return a.req(t, "GET", "/api/v1/calls/"+res.Call, adminToken, "", &ended) == 200 && !ended.Live
	})
	if ended.Flow != "survey" || ended.Origin != "ext 201" || !pathHas(ended, "keys", "5") {
		t.Fatalf("history: %+v", ended)
	}
	var store api.Store
	if got := a.req(t, "GET", "/api/v1/stores/survey", adminToken, "", &store); got != 200 ||
		compactJSON(store.Values["answers"]) != `[{"agent":"201","score":5}]` {
		t.Fatalf("store: %d %+v", got, store)
	}
}

// Each supervise mode shows in the simulator; the refusals and bad
// requests get their statuses; the end of the call frees the supervisor.
func TestAgentSupervise(t *testing.T) {
	a := agentStack(t)
	call := callAgent(t, a, "13800000001")

	modes := []struct {
		mode        string
		callerHears string
		agentHears  string
	}{
		{"monitor", "ext 201", "visitor 1"},
		{"talk", "ext 201", "visitor 1,ext 202"},
		{"listen", "ext 201", "visitor 1"},
		{"bargein", "ext 201,ext 202", "visitor 1,ext 202"},
	}
	for _, m := range modes {
		var res engine.AgentResult
		if got, e := a.agentPost(t, "201", "supervise", `{"supervisor":"202","mode":"`+m.mode+`"}`, &res); got != 200 ||
			res.Mode != m.mode || res.Supervisor != "202" {
			t.Fatalf("%s: %d %+v %+v", m.mode, got, e, res)
		}
		sup, agent := simExt(t, a.sim, "202"), simExt(t, a.sim, "201")
		if sup.Supervising != "201" || sup.Mode != m.mode || strings.Join(sup.Hears, ",") != "ext 201,visitor 1" {
			t.Fatalf("%s: supervisor %+v", m.mode, sup)
		}
		if got := strings.Join(agent.Hears, ","); got != m.agentHears {
			t.Fatalf("%s: the agent hears %q, want %q", m.mode, got, m.agentHears)
		}
		if got := strings.Join(call.Info().Hears, ","); got != m.callerHears {
			t.Fatalf("%s: the caller hears %q, want %q", m.mode, got, m.callerHears)
		}
	}

	// Talk by an extension that is not supervising: the device refuses.
	if got, e := a.agentPost(t, "201", "supervise", `{"supervisor":"203","mode":"talk"}`, nil); got != http.StatusConflict ||
		e.Reason != engine.ReasonFailed {
		t.Fatalf("talk without monitor: %d %+v", got, e)
	}
	bad := []struct{ body, field string }{
		{`{"supervisor":"203"}`, "mode"},
		{`{"supervisor":"203","mode":"spy"}`, "mode"},
		{`{"mode":"monitor"}`, "supervisor"},
		{`{"supervisor":"201","mode":"monitor"}`, "supervisor"},
		{`{"supervisor":"203","mode":"monitor","x":1}`, "x"},
	}
	for _, b := range bad {
		if got, e := a.agentPost(t, "201", "supervise", b.body, nil); got != http.StatusBadRequest || e.Field != b.field {
			t.Errorf("supervise %s: %d %+v, want 400 naming %s", b.body, got, e, b.field)
		}
	}
	if got, e := a.agentPost(t, "203", "supervise", `{"supervisor":"204","mode":"monitor"}`, nil); got != http.StatusConflict ||
		e.Reason != "no_call" {
		t.Fatalf("supervise an idle ext: %d %+v", got, e)
	}

	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	poll(t, "the supervisor to be freed", func() bool {
		x := simExt(t, a.sim, "202")
		return x.State == "idle" && x.Supervising == ""
	})
	poll(t, "ivrd to see 202 idle", func() bool { return a.srv.router.ExtState("om1", "202") == engine.ExtIdle })
	if n := len(a.streamEvents(t, "agent.*", 4)); n != 4 {
		t.Fatalf("%d supervise events", n)
	}
}

// A device that does not answer is a 502.
func TestAgentDeviceDown(t *testing.T) {
	a := agentStack(t)
	a.sim.SetFaults(omsim.Faults{RefuseConnections: true})
	got, e := a.agentPost(t, "201", "hold", "", nil)
	if got != http.StatusBadGateway || e.Reason != "device_down" {
		t.Fatalf("hold on a dead device: %d %+v", got, e)
	}
}
