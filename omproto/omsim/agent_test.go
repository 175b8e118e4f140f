package omsim_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// agentCall puts a caller through to ext 201 and waits until 201 talks.
func agentCall(h *harness) (*omsim.Call, omproto.Call) {
	h.t.Helper()
	call, v := h.incoming(caller)
	h.connect(v.Ref(), ext("201"), "")
	h.advance(time.Second)
	h.expect("RING visitor:1 ext:201", "ANSWER visitor:1 ext:201", "BUSY ext:201")
	wantState(h.t, call, "talking")
	return call, v
}

func (h *harness) extInfo(id string) omsim.ExtInfo {
	h.t.Helper()
	in, err := h.sim.ExtInfo(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return in
}

func wantHears(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s hears %q, want %q", what, got, want)
	}
}

// legState is the <state> a Query of ext gives the extension's call.
func (h *harness) legState(id string) string {
	h.t.Helper()
	st, err := h.client.Query(h.ctx, omproto.KindExt, id)
	if err != nil {
		h.t.Fatal(err)
	}
	if len(st.Exts) != 1 || len(st.Exts[0].Calls) != 1 {
		h.t.Fatalf("query ext %s: %+v, want one call", id, st.Exts)
	}
	return st.Exts[0].Calls[0].State
}

// Hold silences the extension's call for both sides, shows in the
// extension's Query and in the control API, and Unhold restores it. An
// extension in no call cannot hold.
func TestHold(t *testing.T) {
	h := newHarness(t, nil)
	call, _ := agentCall(h)
	if got := h.legState("201"); got != "talk" {
		t.Fatalf("before hold the call is %q, want talk", got)
	}
	h.mustDo(omproto.ExtControl{Action: omproto.VerbHold, Ext: "201"})
	wantState(t, call, "held")
	if got := h.legState("201"); got != "hold" {
		t.Fatalf("held call is %q in the query, want hold", got)
	}
	if in := h.extInfo("201"); !in.Held || in.Call != "visitor 1" || len(in.Hears) != 0 {
		t.Fatalf("ext 201 while holding: %+v", in)
	}
	wantHears(t, "the held caller", call.Info().Hears)
	h.mustDo(omproto.ExtControl{Action: omproto.VerbHold, Ext: "201"}) // again: no change
	h.mustDo(omproto.ExtControl{Action: omproto.VerbUnhold, Ext: "201"})
	wantState(t, call, "talking")
	if got := h.legState("201"); got != "talk" {
		t.Fatalf("after unhold the call is %q, want talk", got)
	}
	wantHears(t, "the caller", call.Info().Hears, "ext 201")
	wantHears(t, "ext 201", h.extInfo("201").Hears, "visitor 1")
	h.expect()

	oe := h.failCode(omproto.ExtControl{Action: omproto.VerbHold, Ext: "202"}, omproto.CodeFailed)
	if oe.Reason != "extension 202 is not in a call" {
		t.Fatalf("reason %q", oe.Reason)
	}
	h.failCode(omproto.ExtControl{Action: omproto.VerbUnhold, Ext: "202"}, omproto.CodeFailed)

	// A held call that ends leaves nothing held behind.
	h.mustDo(omproto.ExtControl{Action: omproto.VerbHold, Ext: "201"})
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	h.expect("BYE visitor:1 ext:201", "Cdr IN 13800000001>60001 dur=1", "IDLE ext:201")
	if in := h.extInfo("201"); in.Held || in.State != "idle" {
		t.Fatalf("ext 201 after the call: %+v", in)
	}
}

// Monitor, Talk, Listen and Bargein: who hears whom in each mode.
func TestSuperviseModes(t *testing.T) {
	h := newHarness(t, nil)
	call, _ := agentCall(h)
	sup := func(verb string) {
		t.Helper()
		h.mustDo(omproto.Supervise{Action: verb, First: "202", Second: "201"})
	}
	check := func(mode string, caller, agent []string) {
		t.Helper()
		wantHears(t, mode+": the caller", call.Info().Hears, caller...)
		wantHears(t, mode+": the agent", h.extInfo("201").Hears, agent...)
		// The supervisor hears both sides in every mode.
		s := h.extInfo("202")
		wantHears(t, mode+": the supervisor", s.Hears, "ext 201", "visitor 1")
		if s.Supervising != "201" || s.Mode != mode || s.State != "busy" {
			t.Fatalf("%s: supervisor %+v", mode, s)
		}
		if a := h.extInfo("201"); a.SupervisedBy != "202" || a.Mode != mode {
			t.Fatalf("%s: agent %+v", mode, a)
		}
	}
	sup(omproto.VerbMonitor)
	h.expect("BUSY ext:202")
	check(omsim.ModeMonitor, []string{"ext 201"}, []string{"visitor 1"})
	sup(omproto.VerbTalk)
	check(omsim.ModeTalk, []string{"ext 201"}, []string{"visitor 1", "ext 202"})
	sup(omproto.VerbListen)
	check(omsim.ModeListen, []string{"ext 201"}, []string{"visitor 1"})
	sup(omproto.VerbBargein)
	check(omsim.ModeBargein, []string{"ext 201", "ext 202"}, []string{"visitor 1", "ext 202"})
	h.expect()

	// The call ends: the supervisor is freed with a BYE of its own.
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	h.expect("BYE visitor:1 ext:201", "Cdr IN 13800000001>60001 dur=1",
		"BYE ext:202 ext:201", "IDLE ext:202", "IDLE ext:201")
	for _, id := range []string{"201", "202"} {
		if in := h.extInfo(id); in.State != "idle" || in.Supervising != "" || in.SupervisedBy != "" {
			t.Fatalf("ext %s after the call: %+v", id, in)
		}
	}
}

// A supervisor that hangs up leaves; the agent's call goes on.
func TestSupervisorLeaves(t *testing.T) {
	h := newHarness(t, nil)
	call, _ := agentCall(h)
	h.mustDo(omproto.Supervise{Action: omproto.VerbBargein, First: "202", Second: "201"})
	h.expect("BUSY ext:202")
	if err := h.sim.HangUpExt("202"); err != nil {
		t.Fatal(err)
	}
	h.expect("BYE ext:202 ext:201", "IDLE ext:202")
	wantState(t, call, "talking")
	wantHears(t, "the caller", call.Info().Hears, "ext 201")
	if a := h.extInfo("201"); a.SupervisedBy != "" || a.State != "busy" {
		t.Fatalf("agent after the supervisor left: %+v", a)
	}
	// Free again, the supervisor may join anew; Clear on its extension
	// takes it out again.
	h.mustDo(omproto.Supervise{Action: omproto.VerbMonitor, First: "202", Second: "201"})
	h.expect("BUSY ext:202")
	h.mustDo(omproto.Clear{Target: ext("202")})
	h.expect("BYE ext:202 ext:201", "IDLE ext:202")
	wantState(t, call, "talking")
}

// Hold in a call between two extensions silences it for both.
func TestHoldExtToExt(t *testing.T) {
	h := newHarness(t, nil)
	h.connect(ext("200"), ext("202"), "")
	h.advance(30 * time.Second)
	h.take()
	wantHears(t, "ext 200", h.extInfo("200").Hears, "ext 202")
	h.mustDo(omproto.ExtControl{Action: omproto.VerbHold, Ext: "202"})
	wantHears(t, "ext 200 while 202 holds", h.extInfo("200").Hears)
	wantHears(t, "ext 202 while holding", h.extInfo("202").Hears)
	h.mustDo(omproto.ExtControl{Action: omproto.VerbUnhold, Ext: "202"})
	wantHears(t, "ext 200 after unhold", h.extInfo("200").Hears, "ext 202")
}

// The refusals of supervision, each with its FAILED code.
func TestSuperviseRefusals(t *testing.T) {
	h := newHarness(t, nil)
	agentCall(h)
	if err := h.sim.SetExtPolicy("209", omsim.Policy{Answer: omsim.AnswerOffline}); err != nil {
		t.Fatal(err)
	}
	h.take()
	cases := []struct {
		name    string
		verb    string
		sup, of string
		code    int
	}{
		{"talk needs a monitor first", omproto.VerbTalk, "202", "201", omproto.CodeFailed},
		{"listen needs a monitor first", omproto.VerbListen, "202", "201", omproto.CodeFailed},
		{"an extension in no call", omproto.VerbMonitor, "202", "203", omproto.CodeFailed},
		{"itself", omproto.VerbMonitor, "201", "201", omproto.CodeFailed},
		{"an offline supervisor", omproto.VerbMonitor, "209", "201", omproto.CodeCallingExtOffline},
		{"an offline agent", omproto.VerbMonitor, "202", "209", omproto.CodeCalledOffline},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.failCode(omproto.Supervise{Action: c.verb, First: c.sup, Second: c.of}, c.code)
		})
	}
	if _, err := h.do(omproto.Supervise{Action: omproto.VerbMonitor, First: "299", Second: "201"}); err == nil {
		t.Fatal("an unknown supervisor was accepted")
	}

	// One supervisor per call; a supervisor supervises one call.
	h.mustDo(omproto.Supervise{Action: omproto.VerbMonitor, First: "202", Second: "201"})
	h.expect("BUSY ext:202")
	h.failCode(omproto.Supervise{Action: omproto.VerbMonitor, First: "203", Second: "201"}, omproto.CodeFailed)
	// A supervisor busy with a call of its own.
	_, v2 := h.incoming("13800000002")
	h.connect(v2.Ref(), ext("204"), "")
	h.advance(time.Second)
	h.failCode(omproto.Supervise{Action: omproto.VerbMonitor, First: "204", Second: "201"}, omproto.CodeFailed)
	h.failCode(omproto.Supervise{Action: omproto.VerbMonitor, First: "202", Second: "204"}, omproto.CodeFailed)
}

// The control API shows holds and supervision: GET /sim/exts/{ext},
// GET /sim/exts and the caller's GET /sim/calls/{id}.
func TestControlAPIShowsAgentState(t *testing.T) {
	h := newHarness(t, nil)
	call, _ := agentCall(h)
	h.mustDo(omproto.ExtControl{Action: omproto.VerbHold, Ext: "201"})
	h.mustDo(omproto.Supervise{Action: omproto.VerbMonitor, First: "202", Second: "201"})
	get := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(h.sim.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var one omsim.ExtInfo
	get("/sim/exts/201", &one)
	if !one.Held || one.Call != "visitor 1" || one.SupervisedBy != "202" || one.Mode != "monitor" {
		t.Fatalf("GET /sim/exts/201: %+v", one)
	}
	var all []omsim.ExtInfo
	get("/sim/exts", &all)
	found := false
	for _, x := range all {
		if x.ID == "202" {
			found = x.Supervising == "201" && x.State == "busy"
		}
	}
	if !found {
		t.Fatalf("GET /sim/exts: %+v", all)
	}
	var c omsim.CallInfo
	get("/sim/calls/"+call.ID(), &c)
	if c.State != "held" {
		t.Fatalf("GET /sim/calls/%s: %+v", call.ID(), c)
	}
	resp, err := http.Get(h.sim.URL() + "/sim/exts/999")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /sim/exts/999: %s", resp.Status)
	}
}
