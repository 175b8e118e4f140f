package main

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

const clickNumber = "13900000000"

// startClickStack runs the daemon with its admin API against a simulator
// whose configuration edit changes (fastSim's otherwise).
func startClickStack(t *testing.T, editSim func(*omsim.Config), edit func(*Config)) *adminStack {
	t.Helper()
	simCfg := fastSim()
	if editSim != nil {
		editSim(&simCfg)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.lua"), adminMainFlow)
	st := openStackSim(t, dir, simCfg, func(c *Config) {
		c.Admin.Listen = "127.0.0.1:0"
		c.Admin.Token = adminToken
		if edit != nil {
			edit(c)
		}
	}, false)
	return &adminStack{stack: st, base: "http://" + st.srv.AdminAddr()}
}

// dial posts a click-to-call request and returns the status and the click
// (or, for a refusal, the ClickError's click).
func (a *adminStack) click(t *testing.T, path, body string) (int, engine.Click, api.ClickError) {
	t.Helper()
	var raw json.RawMessage
	status := a.req(t, "POST", path, adminToken, body, &raw)
	var c engine.Click
	var ce api.ClickError
	if status == http.StatusAccepted {
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
	} else if err := json.Unmarshal(raw, &ce); err != nil {
		t.Fatalf("POST %s: %s: %v", path, raw, err)
	}
	return status, c, ce
}

// waitClick polls GET /api/v1/dials/{id} until cond holds.
func (a *adminStack) waitClick(t *testing.T, id, what string, cond func(engine.Click) bool) engine.Click {
	t.Helper()
	var c engine.Click
	poll(t, what, func() bool {
		c = engine.Click{}
		if st := a.req(t, "GET", "/api/v1/dials/"+id, adminToken, "", &c); st != http.StatusOK {
			t.Fatalf("GET /api/v1/dials/%s: %d", id, st)
		}
		return cond(c)
	})
	return c
}

// rawClick returns GET /api/v1/dials/{id} as JSON keys and values, to
// see which keys it has.
func (a *adminStack) rawClick(t *testing.T, id string) map[string]any {
	t.Helper()
	var raw map[string]any
	if st := a.req(t, "GET", "/api/v1/dials/"+id, adminToken, "", &raw); st != http.StatusOK {
		t.Fatalf("GET /api/v1/dials/%s: %d", id, st)
	}
	return raw
}

func inState(state string) func(engine.Click) bool {
	return func(c engine.Click) bool { return c.State == state }
}

func kindsOf(evs []engine.CallEvent) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// A click-to-dial answered by the extension, then by the far end, and hung
// up: the extension rings first, the number only after it answered; the
// click goes through every state, ends answered with a duration and gets
// the device's Cdr; the events tell each step in order.
func TestClickToDialAnswered(t *testing.T) {
	a := startClickStack(t, func(c *omsim.Config) {
		c.ExtPolicies["208"] = omsim.Policy{Answer: omsim.AnswerManual}
		c.Numbers = map[string]omsim.Policy{clickNumber: {Answer: omsim.AnswerManual}}
	}, nil)
	status, c, ce := a.click(t, "/api/v1/dial", `{"ext": "208", "number": "`+clickNumber+`"}`)
	if status != http.StatusAccepted {
		t.Fatalf("POST /api/v1/dial: %d %+v", status, ce)
	}
	if c.ID == "" || c.Type != "dial" || c.Device != "om1" || c.Ext != "208" || c.Number != clickNumber ||
		c.Leg != "1" || c.CallID == "" {
		t.Fatalf("click %+v: want a dial from 208 on om1 with outer 1 and a callid", c)
	}
	a.waitClick(t, c.ID, "ext 208 ringing", inState(engine.ClickExtRinging))
	if raw := a.rawClick(t, c.ID); raw["duration"] != nil {
		t.Fatalf("a click nobody has talked on yet shows a duration: %v", raw)
	}
	if calls := a.sim.CallsTo(clickNumber); len(calls) != 0 {
		t.Fatalf("the number was dialled before the extension answered: %+v", calls[0].Info())
	}
	if err := a.sim.AnswerExt("208"); err != nil {
		t.Fatal(err)
	}
	a.waitClick(t, c.ID, "the far end ringing", inState(engine.ClickRinging))
	callee := a.sim.CallsTo(clickNumber)
	if len(callee) != 1 {
		t.Fatalf("calls to %s: %d, want 1", clickNumber, len(callee))
	}
	if err := callee[0].Answer(); err != nil {
		t.Fatal(err)
	}
	a.waitClick(t, c.ID, "answered", inState(engine.ClickAnswered))
	time.Sleep(20 * time.Millisecond) // so that the call lasts
	if err := callee[0].HangUp(); err != nil {
		t.Fatal(err)
	}
	got := a.waitClick(t, c.ID, "ended with its Cdr", func(c engine.Click) bool { return c.State == engine.ClickEnded && c.Cdr != nil })
	if got.Outcome != engine.ClickOutcomeAnswered || got.Reason != "" || got.Duration <= 0 ||
		got.ExtAnswered.IsZero() || got.Answered.Before(got.ExtAnswered) || got.Ended.Before(got.Answered) {
		t.Fatalf("ended click %+v: want answered, with a duration and times in order", got)
	}
	if raw := a.rawClick(t, c.ID); raw["duration"] == nil {
		t.Fatalf("an answered click that ended shows no duration: %v", raw)
	}
	if got.Cdr.Type != "OU" || got.Cdr.CPN != "208" || got.Cdr.CDPN != clickNumber {
		t.Fatalf("Cdr %+v: want OU 208 → %s", got.Cdr, clickNumber)
	}

	evs := a.streamEvents(t, "dial.*", 7)
	want := []string{"dial.placed", "dial.ext_ringing", "dial.ext_answered", "dial.ringing", "dial.answered", "dial.ended", "dial.cdr"}
	if !reflect.DeepEqual(kindsOf(evs), want) {
		t.Fatalf("events %v, want %v", kindsOf(evs), want)
	}
	for _, e := range evs {
		var ec engine.Click
		if err := json.Unmarshal(e.Data, &ec); err != nil {
			t.Fatal(err)
		}
		if e.Device != "om1" || e.Ext != "208" || ec.ID != c.ID {
			t.Fatalf("event %s: device %q ext %q click %q; want om1, 208, %s", e.Kind, e.Device, e.Ext, ec.ID, c.ID)
		}
		if e.Kind == "dial.ended" && ec.Outcome != engine.ClickOutcomeAnswered {
			t.Fatalf("dial.ended outcome %q", ec.Outcome)
		}
	}

	var list api.ClickList
	if st := a.req(t, "GET", "/api/v1/dials", adminToken, "", &list); st != http.StatusOK || len(list.Dials) != 1 || list.Dials[0].ID != c.ID {
		t.Fatalf("GET /api/v1/dials: %d %+v", st, list)
	}
}

// A click-to-dial whose extension does not answer ends as no_answer
// (ext_no_answer), and the number is never dialled.
func TestClickToDialExtNoAnswer(t *testing.T) {
	a := startClickStack(t, func(c *omsim.Config) {
		c.ExtPolicies["208"] = omsim.Policy{Answer: omsim.AnswerNoAnswer}
		c.NoAnswerTimeout = 200 * time.Millisecond
	}, nil)
	status, c, ce := a.click(t, "/api/v1/dial", `{"ext": "208", "number": "9,`+clickNumber+`"}`)
	if status != http.StatusAccepted {
		t.Fatalf("POST /api/v1/dial: %d %+v", status, ce)
	}
	got := a.waitClick(t, c.ID, "the end", inState(engine.ClickEnded))
	if got.Outcome != engine.ClickOutcomeNoAnswer || got.Reason != engine.ClickReasonExtNoAnswer || !got.ExtAnswered.IsZero() {
		t.Fatalf("click %+v: want no_answer, ext_no_answer", got)
	}
	if calls := a.sim.CallsTo("9," + clickNumber); len(calls) != 0 {
		t.Fatalf("the number was dialled: %+v", calls[0].Info())
	}
}

// A click-to-dial whose far end is busy ends busy with the device's code;
// one whose far end does not answer ends no_answer.
func TestClickToDialFarEnd(t *testing.T) {
	const quiet = "13900000001"
	a := startClickStack(t, func(c *omsim.Config) {
		c.Numbers = map[string]omsim.Policy{clickNumber: {Answer: omsim.AnswerBusy}, quiet: {Answer: omsim.AnswerNoAnswer}}
		c.NoAnswerTimeout = 200 * time.Millisecond
	}, nil)
	_, c, _ := a.click(t, "/api/v1/dial", `{"ext": "208", "number": "`+clickNumber+`", "trunk": "60001"}`)
	got := a.waitClick(t, c.ID, "the end", inState(engine.ClickEnded))
	if got.Outcome != engine.ClickOutcomeBusy || got.Reason != engine.ReasonBusy || got.Code != 6 || got.ExtAnswered.IsZero() {
		t.Fatalf("click %+v: want busy, code 6, after the extension answered", got)
	}
	first := got
	_, c, _ = a.click(t, "/api/v1/dial", `{"ext": "207", "number": "`+quiet+`"}`)
	got = a.waitClick(t, c.ID, "the end", inState(engine.ClickEnded))
	if got.Outcome != engine.ClickOutcomeNoAnswer || got.Reason != engine.ClickReasonNoAnswer {
		t.Fatalf("click %+v: want no_answer from the far end", got)
	}
	// The device gave both the same outer id; the callids tell them apart.
	if got.Leg != first.Leg || got.CallID == first.CallID {
		t.Fatalf("legs %s/%s, callids %s/%s: want one outer id reused with two callids", first.Leg, got.Leg, first.CallID, got.CallID)
	}
	if again := a.waitClick(t, first.ID, "the first click", inState(engine.ClickEnded)); again.Outcome != engine.ClickOutcomeBusy {
		t.Fatalf("the first click became %+v", again)
	}
}

// The device's refusals answer 409 with the reason word and the code, and
// the refused click is kept, ended, with a dial.failed event.
func TestClickRefused(t *testing.T) {
	a := startClickStack(t, func(c *omsim.Config) {
		c.ExtPolicies["207"] = omsim.Policy{Answer: omsim.AnswerBusy}
		c.ExtPolicies["205"] = omsim.Policy{Answer: omsim.AnswerOffline}
	}, nil)
	cases := []struct {
		path, body, reason string
		code               int
	}{
		{"/api/v1/dial", `{"ext": "207", "number": "` + clickNumber + `"}`, "busy", 6},
		{"/api/v1/dial", `{"ext": "205", "number": "` + clickNumber + `"}`, "offline", 8},
		{"/api/v1/dial", `{"ext": "999", "number": "` + clickNumber + `"}`, "not_found", 0},
		{"/api/v1/connect", `{"from_ext": "200", "to_ext": "205"}`, "offline", 3},
		{"/api/v1/connect", `{"from_ext": "200", "to_ext": "207"}`, "busy", 6},
	}
	for _, tc := range cases {
		status, _, ce := a.click(t, tc.path, tc.body)
		if status != http.StatusConflict || ce.Reason != tc.reason || ce.Code != tc.code || !strings.Contains(ce.Msg, tc.reason) {
			t.Fatalf("POST %s %s: %d %+v; want 409 %s code %d", tc.path, tc.body, status, ce, tc.reason, tc.code)
		}
		got := a.waitClick(t, ce.Dial.ID, "the refused click", inState(engine.ClickEnded))
		if got.Reason != tc.reason || got.Code != tc.code {
			t.Fatalf("refused click %+v", got)
		}
	}
	evs := a.streamEvents(t, "dial.*", len(cases))
	for _, e := range evs {
		if e.Kind != "dial.failed" {
			t.Fatalf("events %v, want only dial.failed", kindsOf(evs))
		}
	}
}

// Extension to extension: the first rings, then the second; both answer,
// one hangs up; the click ends answered with the internal Cdr.
func TestClickConnect(t *testing.T) {
	a := startClickStack(t, nil, nil)
	status, c, ce := a.click(t, "/api/v1/connect", `{"from_ext": "200", "to_ext": "201"}`)
	if status != http.StatusAccepted || c.Type != "connect" || c.Ext != "200" || c.ToExt != "201" {
		t.Fatalf("POST /api/v1/connect: %d %+v %+v", status, c, ce)
	}
	a.waitClick(t, c.ID, "both talking", inState(engine.ClickAnswered))
	if err := a.sim.HangUpExt("201"); err != nil {
		t.Fatal(err)
	}
	got := a.waitClick(t, c.ID, "ended with its Cdr", func(c engine.Click) bool { return c.Cdr != nil })
	if got.State != engine.ClickEnded || got.Outcome != engine.ClickOutcomeAnswered || got.Cdr.Type != "LO" ||
		got.Cdr.CPN != "200" || got.Cdr.CDPN != "201" {
		t.Fatalf("click %+v (Cdr %+v)", got, got.Cdr)
	}
	evs := a.streamEvents(t, "dial.*", 7)
	want := []string{"dial.placed", "dial.ext_ringing", "dial.ext_answered", "dial.ringing", "dial.answered", "dial.ended", "dial.cdr"}
	if !reflect.DeepEqual(kindsOf(evs), want) {
		t.Fatalf("events %v, want %v", kindsOf(evs), want)
	}
}

// DELETE /api/v1/dials/{id} hangs a ringing click up: it ends cancelled,
// and a second DELETE is a 409.
func TestClickCancel(t *testing.T) {
	a := startClickStack(t, func(c *omsim.Config) {
		c.ExtPolicies["208"] = omsim.Policy{Answer: omsim.AnswerManual}
	}, nil)
	_, c, _ := a.click(t, "/api/v1/dial", `{"ext": "208", "number": "`+clickNumber+`"}`)
	a.waitClick(t, c.ID, "ext 208 ringing", inState(engine.ClickExtRinging))
	var got engine.Click
	if st := a.req(t, "DELETE", "/api/v1/dials/"+c.ID, adminToken, "", &got); st != http.StatusOK {
		t.Fatalf("DELETE: %d", st)
	}
	got = a.waitClick(t, c.ID, "the end", inState(engine.ClickEnded))
	if got.Outcome != engine.ClickOutcomeCancelled || got.Reason != engine.ClickReasonCancelled {
		t.Fatalf("click %+v: want cancelled", got)
	}
	if st, _ := a.sim.ExtState("208"); st != "idle" {
		t.Fatalf("ext 208 is %s after the cancel, want idle", st)
	}
	var e api.Error
	if st := a.req(t, "DELETE", "/api/v1/dials/"+c.ID, adminToken, "", &e); st != http.StatusConflict {
		t.Fatalf("second DELETE: %d %+v", st, e)
	}
	if st := a.req(t, "GET", "/api/v1/dials/nope", adminToken, "", &e); st != http.StatusNotFound {
		t.Fatalf("GET an unknown click: %d", st)
	}
}

// Bad requests are 400s naming the field; a device that is not configured
// too, and a device that does not answer is a 502.
func TestClickBadInput(t *testing.T) {
	// A second device that nobody answers for.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	a := startClickStack(t, nil, func(c *Config) {
		c.Devices = append(c.Devices, DeviceConfig{Name: "om2", URL: dead, Menus: []int{41, 50}})
	})
	cases := []struct{ path, body, field string }{
		{"/api/v1/dial", `{"device": "om1", "number": "` + clickNumber + `"}`, "ext"},
		{"/api/v1/dial", `{"device": "om1", "ext": "2o8", "number": "` + clickNumber + `"}`, "ext"},
		{"/api/v1/dial", `{"device": "om1", "ext": 208, "number": "` + clickNumber + `"}`, "ext"},
		{"/api/v1/dial", `{"device": "om1", "ext": "208"}`, "number"},
		{"/api/v1/dial", `{"device": "om1", "ext": "208", "number": "139-0000"}`, "number"},
		{"/api/v1/dial", `{"device": "om1", "ext": "208", "number": "9,"}`, "number"},
		{"/api/v1/dial", `{"device": "om1", "ext": "208", "number": "9,,,"}`, "number"},
		{"/api/v1/dial", `{"device": "om1", "ext": "208", "number": "` + clickNumber + `", "trunk": "a b"}`, "trunk"},
		{"/api/v1/dial", `{"device": "om1", "ext": "208", "number": "` + clickNumber + `", "flow": "x"}`, "flow"},
		{"/api/v1/dial", `{"ext": "208", "number": "` + clickNumber + `"}`, "device"},
		{"/api/v1/dial", `{"device": "om9", "ext": "208", "number": "` + clickNumber + `"}`, "device"},
		{"/api/v1/connect", `{"device": "om1", "to_ext": "201"}`, "from_ext"},
		{"/api/v1/connect", `{"device": "om1", "from_ext": "200"}`, "to_ext"},
		{"/api/v1/connect", `{"device": "om1", "from_ext": "200", "to_ext": "200"}`, "to_ext"},
		{"/api/v1/connect", `{"device": "om1", "from_ext": "200", "to_ext": "201", "ext": "202"}`, "ext"},
		{"/api/v1/connect", `{"from_ext": "200", "to_ext": "201"}`, "device"},
	}
	for _, tc := range cases {
		var e api.Error
		if st := a.req(t, "POST", tc.path, adminToken, tc.body, &e); st != http.StatusBadRequest || e.Field != tc.field {
			t.Errorf("POST %s %s: %d %+v; want 400 naming %s", tc.path, tc.body, st, e, tc.field)
		}
	}
	// A number too long says so, without repeating it.
	long := strings.Repeat("1", 65)
	var e api.Error
	if st := a.req(t, "POST", "/api/v1/dial", adminToken, `{"device": "om1", "ext": "208", "number": "`+long+`"}`, &e); st != http.StatusBadRequest ||
		e.Field != "number" || !strings.Contains(e.Msg, "64 characters") || strings.Contains(e.Msg, long) {
		t.Errorf("POST /api/v1/dial with a 65-digit number: %d %+v; want 400 naming number and its limit", st, e)
	}
	// Post-answer digits and a dial prefix are numbers.
	for _, n := range []string{"9,13900000000", "13900000000,,1", "9,13900000000,,,12#"} {
		if st, c, ce := a.click(t, "/api/v1/dial", `{"device": "om1", "ext": "209", "number": "`+n+`"}`); st != http.StatusAccepted || c.Number != n {
			t.Errorf("POST /api/v1/dial number %q: %d %+v", n, st, ce)
		}
		if err := a.sim.HangUpExt("209"); err != nil {
			t.Fatal(err)
		}
	}

	for _, path := range []string{"/api/v1/dial", "/api/v1/connect"} {
		body := `{"device": "om2", "ext": "208", "number": "` + clickNumber + `"}`
		if path == "/api/v1/connect" {
			body = `{"device": "om2", "from_ext": "200", "to_ext": "201"}`
		}
		status, _, ce := a.click(t, path, body)
		if status != http.StatusBadGateway || !strings.Contains(ce.Msg, "om2") || ce.Dial.Reason != engine.ClickReasonDeviceDown {
			t.Fatalf("POST %s to a dead device: %d %+v; want 502 naming om2", path, status, ce)
		}
	}
}

// Click-to-calls count by type and outcome, refused ones too, and their
// commands by name.
func TestClickMetrics(t *testing.T) {
	a := startClickStack(t, func(c *omsim.Config) {
		c.ExtPolicies["207"] = omsim.Policy{Answer: omsim.AnswerBusy}
	}, func(c *Config) { c.Admin.MetricsToken = metricsToken })
	_, c, _ := a.click(t, "/api/v1/connect", `{"from_ext": "200", "to_ext": "201"}`)
	a.waitClick(t, c.ID, "both talking", inState(engine.ClickAnswered))
	if err := a.sim.HangUpExt("200"); err != nil {
		t.Fatal(err)
	}
	a.waitClick(t, c.ID, "the end", inState(engine.ClickEnded))
	if st, _, _ := a.click(t, "/api/v1/dial", `{"ext": "207", "number": "`+clickNumber+`"}`); st != http.StatusConflict {
		t.Fatalf("dial from a busy extension: %d", st)
	}
	_, m := a.scrape(t, metricsToken)
	for _, c := range []struct {
		name string
		kv   []string
	}{
		{"ivrd_clicks_ended_total", []string{"type", "connect", "outcome", "answered"}},
		{"ivrd_clicks_ended_total", []string{"type", "dial", "outcome", "busy"}},
		{"ivrd_om_commands_total", []string{"device", "om1", "command", "connect_exts", "result", "ok"}},
		{"ivrd_om_commands_total", []string{"device", "om1", "command", "dial_from_ext", "result", "refused"}},
	} {
		if got := m.get(t, c.name, c.kv...); got != 1 {
			t.Errorf("%s: %v, want 1", seriesKey(c.name, c.kv...), got)
		}
	}
}

// TestConsoleCallControlInBrowser drives the Call control page in a real
// headless Chromium against the daemon and the simulator: a click-to-call
// from extension 208 is followed from the extension ringing to the far end
// talking; Hold puts the far end on hold; an action without an extension
// names the field; the row's Hang up ends the call.
func TestConsoleCallControlInBrowser(t *testing.T) {
	a := startClickStack(t, func(c *omsim.Config) {
		c.ExtPolicies["208"] = omsim.Policy{Answer: omsim.AnswerManual}
		c.Numbers = map[string]omsim.Policy{clickNumber: {Answer: omsim.AnswerManual}}
	}, nil)
	b := openBrowser(t)
	b.signIn(a.base)
	b.click(`#nav a[data-page="control"]`)
	b.waitText("#dial-rows", "No click-to-call yet")
	b.waitText("#control-device", "om1")

	b.click("#hold")
	b.waitText("#agent-result", "ext:")

	b.find("#control-ext").SendKeys("208")
	b.find("#dial-number").SendKeys(clickNumber)
	b.click("#dial")
	b.waitText("#dial-rows", "extension ringing")
	if err := a.sim.AnswerExt("208"); err != nil {
		t.Fatal(err)
	}
	b.waitText("#dial-rows", "far end ringing")
	var callee []*omsim.Call
	poll(t, "the far end's call", func() bool { callee = a.sim.CallsTo(clickNumber); return len(callee) == 1 })
	if err := callee[0].Answer(); err != nil {
		t.Fatal(err)
	}
	b.waitText("#dial-rows", "talking")
	b.screenshot("control")

	b.click("#hold")
	b.waitText("#agent-result", "hold done on outer")
	poll(t, "the far end held", func() bool { return callee[0].State() == "held" })
	b.click("#unhold")
	b.waitText("#agent-result", "unhold done")

	b.click("#dial-rows button.cancel")
	b.waitText("#dial-rows", "ended")
	poll(t, "the far end's call to end", func() bool { return callee[0].State() == "ended" })
}

// DELETE of a click whose device does not answer is a 502 with the reason
// device_down, as a dial to it and agent call control say it, and the
// click stays live.
func TestClickCancelDeviceDown(t *testing.T) {
	a := startClickStack(t, func(c *omsim.Config) {
		c.ExtPolicies["208"] = omsim.Policy{Answer: omsim.AnswerManual}
	}, nil)
	_, c, _ := a.click(t, "/api/v1/dial", `{"ext": "208", "number": "`+clickNumber+`"}`)
	a.waitClick(t, c.ID, "ext 208 ringing", inState(engine.ClickExtRinging))
	a.sim.SetFaults(omsim.Faults{RefuseConnections: true})
	var ce api.ClickError
	if st := a.req(t, "DELETE", "/api/v1/dials/"+c.ID, adminToken, "", &ce); st != http.StatusBadGateway ||
		ce.Reason != engine.ReasonDeviceDown || ce.Dial.ID != c.ID {
		t.Fatalf("DELETE on a dead device: %d %+v; want 502, reason device_down, with the click", st, ce)
	}
	a.sim.SetFaults(omsim.Faults{})
	if got := a.waitClick(t, c.ID, "the click", func(engine.Click) bool { return true }); got.State == engine.ClickEnded {
		t.Fatalf("click %+v ended though the device never had the DELETE", got)
	}
}
