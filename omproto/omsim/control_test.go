package omsim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// api sends a control API request to base and returns the status and the
// body.
func api(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, url, ct)
	}
	return resp.StatusCode, string(b)
}

// apiJSON is api decoding a 2xx answer into v.
func apiJSON(t *testing.T, method, url, body string, wantStatus int, v any) {
	t.Helper()
	status, got := api(t, method, url, body)
	if status != wantStatus {
		t.Fatalf("%s %s %s: %d %s, want %d", method, url, body, status, got, wantStatus)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(got), v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, got)
		}
	}
}

// TestControlCalls drives a caller through the control API: place, query,
// keys with a gap, hang up.
func TestControlCalls(t *testing.T) {
	h := newHarness(t, nil)
	base := h.sim.URL() + "/sim"
	h.assignMenu(omproto.AssignMenu{ID: "1", VoiceFile: "user_menu", Repeat: 1, InfoLength: 2})

	var placed struct{ ID string }
	apiJSON(t, "POST", base+"/calls", `{"from":"13800000001","to":"60001"}`, http.StatusCreated, &placed)
	if placed.ID == "" {
		t.Fatal("no id")
	}
	h.expect("INCOMING visitor:1 trunk:60001")
	h.connect(visitor("1"), menu("1"), "")
	h.advance(time.Second)

	var info omsim.CallInfo
	apiJSON(t, "GET", base+"/calls/"+placed.ID, "", http.StatusOK, &info)
	want := omsim.CallInfo{ID: placed.ID, Direction: "in", From: caller, To: "60001", State: "menu", Leg: "visitor 1",
		CallID: info.CallID, Connected: "menu 1", Heard: heard("user_menu~"), Keys: ""}
	if info.CallID == "" || !reflect.DeepEqual(info, want) {
		t.Fatalf("GET call\n  got  %+v\n  want %+v", info, want)
	}
	// The JSON names.
	_, raw := api(t, "GET", base+"/calls/"+placed.ID, "")
	for _, key := range []string{`"state": "menu"`, `"connected": "menu 1"`, `"heard": [`, `"file": "user_menu"`, `"completed": false`, `"leg": "visitor 1"`} {
		if !strings.Contains(raw, key) {
			t.Errorf("GET call %s lacks %s", raw, key)
		}
	}

	apiJSON(t, "POST", base+"/calls/"+placed.ID+"/keys", `{"keys":"4#","gap_ms":300}`, http.StatusOK, &info)
	h.expect()
	if info.Keys != "4" {
		t.Fatalf("keys after the first %q, want 4", info.Keys)
	}
	h.advance(300 * time.Millisecond)
	h.expect("DTMF visitor:1 menu:1 info=4#")

	var list []omsim.CallInfo
	apiJSON(t, "GET", base+"/calls", "", http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != placed.ID {
		t.Fatalf("GET calls = %+v", list)
	}

	apiJSON(t, "POST", base+"/calls/"+placed.ID+"/hangup", "", http.StatusOK, &info)
	if info.State != "ended" {
		t.Fatalf("after hangup %+v", info)
	}
	h.expect("BYE visitor:1 menu:1", "Cdr IN 13800000001>60001 dur=1")
	apiJSON(t, "GET", base+"/calls", "", http.StatusOK, &list)
	if len(list) != 0 {
		t.Fatalf("GET calls after hangup = %+v, want none live", list)
	}
	// The ended call is still known.
	apiJSON(t, "GET", base+"/calls/"+placed.ID, "", http.StatusOK, &info)
	if info.State != "ended" || info.EndReason != "hung up" {
		t.Fatalf("ended call %+v", info)
	}

	// A call without "to" dials the trunk.
	apiJSON(t, "POST", base+"/calls", `{"from":"13800000009"}`, http.StatusCreated, &placed)
	got := h.expect("INCOMING visitor:1 trunk:60001")
	if got[0].Event.Call().To != "60001" || got[0].Event.Call().From != "13800000009" {
		t.Fatalf("INCOMING %+v", got[0].Event.Call())
	}
}

// TestControlErrors checks the control API's refusals: 400 naming the
// field, 404 for an unknown call, 409 for an ended one.
func TestControlErrors(t *testing.T) {
	h := newHarness(t, nil)
	base := h.sim.URL() + "/sim"
	var placed struct{ ID string }
	apiJSON(t, "POST", base+"/calls", `{"from":"13800000001"}`, http.StatusCreated, &placed)
	apiJSON(t, "POST", base+"/calls", `{"from":"13800000002"}`, http.StatusCreated, nil)
	var ended struct{ ID string }
	apiJSON(t, "POST", base+"/calls", `{"from":"13800000003"}`, http.StatusCreated, &ended)
	apiJSON(t, "POST", base+"/calls/"+ended.ID+"/hangup", "", http.StatusOK, nil)
	h.take()
	live := base + "/calls/" + placed.ID

	cases := []struct {
		name, method, path, body string
		status                   int
		mention                  string
	}{
		{"unknown field", "POST", base + "/calls", `{"from":"1","too":"2"}`, 400, `"too"`},
		{"missing from", "POST", base + "/calls", `{"to":"60001"}`, 400, "from"},
		{"no body", "POST", base + "/calls", ``, 400, "JSON body"},
		{"not JSON", "POST", base + "/calls", `from=1`, 400, "JSON"},
		{"bad key", "POST", live + "/keys", `{"keys":"1x"}`, 400, "keys"},
		{"no keys", "POST", live + "/keys", `{"keys":""}`, 400, "keys"},
		{"negative gap", "POST", live + "/keys", `{"keys":"1","gap_ms":-1}`, 400, "gap_ms"},
		{"keys with an unknown field", "POST", live + "/keys", `{"keys":"1","gap":1}`, 400, `"gap"`},
		{"answer a call that is not ringing", "POST", live + "/answer", ``, 409, "not ringing"},
		{"unknown call", "GET", base + "/calls/c999", ``, 404, "c999"},
		{"keys to an unknown call", "POST", base + "/calls/c999/keys", `{"keys":"1"}`, 404, "c999"},
		{"hang up an unknown call", "POST", base + "/calls/c999/hangup", ``, 404, "c999"},
		{"keys to an ended call", "POST", base + "/calls/" + ended.ID + "/keys", `{"keys":"1"}`, 409, "ended"},
		{"hang up an ended call", "POST", base + "/calls/" + ended.ID + "/hangup", ``, 409, "ended"},
		{"answer an ended call", "POST", base + "/calls/" + ended.ID + "/answer", ``, 409, "ended"},
		{"bad number policy", "PUT", base + "/numbers/139", `{"answer":"maybe"}`, 400, "answer"},
		{"offline number", "PUT", base + "/numbers/139", `{"answer":"offline"}`, 400, "answer"},
		{"negative delay", "PUT", base + "/numbers/139", `{"delay":-1}`, 400, "delay"},
		{"bad keys in a policy", "PUT", base + "/numbers/139", `{"keys":"z"}`, 400, "keys"},
		{"unknown policy field", "PUT", base + "/numbers/139", `{"answer":"after","when":2}`, 400, `"when"`},
		{"unknown extension", "PUT", base + "/exts/999", `{"answer":"busy"}`, 404, "999"},
		{"fail is for numbers", "PUT", base + "/exts/201", `{"answer":"fail"}`, 400, "answer"},
		{"bad fault rate", "PUT", base + "/faults", `{"drop_rate":2}`, 400, "drop_rate"},
		{"bad fault status", "PUT", base + "/faults", `{"command_status":42}`, 400, "command_status"},
		{"unknown fault", "PUT", base + "/faults", `{"drop_everything":true}`, 400, `"drop_everything"`},
		{"unknown endpoint", "GET", base + "/nothing", ``, 404, "/sim/nothing"},
		{"wrong method", "DELETE", base + "/calls", ``, 404, "DELETE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := api(t, c.method, c.path, c.body)
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
				t.Fatalf("answer %q is not {\"error\": …}", body)
			}
			if status != c.status || !strings.Contains(e.Error, c.mention) {
				t.Fatalf("%d %q, want %d mentioning %q", status, e.Error, c.status, c.mention)
			}
		})
	}
	// None of that changed the device.
	h.expect()
	if f := h.sim.Faults(); f != (omsim.Faults{}) {
		t.Fatalf("faults %+v after refused PUTs", f)
	}
	h.extState("201", "idle")
}

// TestControlPolicies sets number and extension policies through the
// control API and checks they take effect.
func TestControlPolicies(t *testing.T) {
	h := newHarness(t, nil)
	base := h.sim.URL() + "/sim"
	h.assignMenu(omproto.AssignMenu{ID: "1", VoiceFile: "user_wakeup", Repeat: 1, InfoLength: 1})

	var echo map[string]any
	apiJSON(t, "PUT", base+"/numbers/"+callee, `{"answer":"after","delay":2.5,"keys":"1"}`, http.StatusOK, &echo)
	if echo["answer"] != "after" || echo["delay"] != 2.5 || echo["keys"] != "1" {
		t.Fatalf("PUT number answered %v", echo)
	}
	h.connect(menu("1"), dial(callee), "")
	h.advance(2499 * time.Millisecond)
	h.expect("ALERT outer:1")
	h.advance(time.Millisecond)
	h.expect("ANSWERED outer:1")
	h.advance(time.Second)
	h.expect("DTMF outer:1 menu:1 info=1")

	for _, c := range []struct{ body, want string }{
		{`{"answer":"busy"}`, "FAILED outer:2 code=6"},
		{`{"answer":"fail"}`, "FAILED outer:2 code=1"},
	} {
		apiJSON(t, "PUT", base+"/numbers/13900000002", c.body, http.StatusOK, nil)
		h.connect(menu("1"), dial("13900000002"), "")
		h.advance(0)
		h.expect(c.want, "BYE outer:2", "Cdr OU 60001>13900000002 dur=0")
	}
	apiJSON(t, "PUT", base+"/numbers/13900000002", `{"answer":"no_answer"}`, http.StatusOK, nil)
	h.connect(menu("1"), dial("13900000002"), "")
	h.advance(30 * time.Second)
	h.expect("ALERT outer:2", "BYE outer:2", "Cdr OU 60001>13900000002 dur=0")

	apiJSON(t, "PUT", base+"/numbers/13900000002", `{"answer":"manual"}`, http.StatusOK, nil)
	h.connect(menu("1"), dial("13900000002"), "")
	h.advance(time.Minute)
	h.expect("ALERT outer:2")
	id := h.sim.CallsTo("13900000002")[3].ID()
	var info omsim.CallInfo
	apiJSON(t, "POST", base+"/calls/"+id+"/answer", "", http.StatusOK, &info)
	h.expect("ANSWERED outer:2")
	if info.State != "menu" || info.Direction != "out" {
		t.Fatalf("answered call %+v", info)
	}

	apiJSON(t, "PUT", base+"/exts/205", `{"answer":"offline"}`, http.StatusOK, nil)
	h.expect("OFFLINE ext:205")
	var exts []struct{ ID, State string }
	apiJSON(t, "GET", base+"/exts", "", http.StatusOK, &exts)
	if len(exts) != 10 || exts[5].ID != "205" || exts[5].State != "offline" || exts[0].State != "idle" {
		t.Fatalf("GET exts = %+v", exts)
	}
	apiJSON(t, "PUT", base+"/exts/205", `{"answer":"manual"}`, http.StatusOK, nil)
	h.expect("ONLINE ext:205")

	// A manual extension is picked up and hung up over the API: a
	// click-to-dial from it.
	if st, body := api(t, "POST", base+"/exts/205/answer", ""); st != http.StatusConflict {
		t.Fatalf("answer a phone that does not ring: %d %s", st, body)
	}
	if st, body := api(t, "POST", base+"/exts/999/hangup", ""); st != http.StatusNotFound {
		t.Fatalf("hang up an unknown extension: %d %s", st, body)
	}
	h.connect(ext("205"), dial(callee), "")
	h.expect("RING outer:3 ext:205")
	var x struct{ ID, State string }
	apiJSON(t, "POST", base+"/exts/205/answer", "", http.StatusOK, &x)
	if x.ID != "205" || x.State != "busy" {
		t.Fatalf("answered extension %+v", x)
	}
	h.expect("ANSWER outer:3 ext:205", "BUSY ext:205", "ALERT outer:3 ext:205")
	apiJSON(t, "POST", base+"/exts/205/hangup", "", http.StatusOK, &x)
	h.expect("BYE outer:3 ext:205", "Cdr OU 205>13900000000 dur=0", "IDLE ext:205")
	if x.State != "idle" {
		t.Fatalf("hung up extension %+v", x)
	}
}

// TestControlRecordsFaultsReboot checks GET /sim/commands and
// /sim/reports, PUT /sim/faults and POST /sim/reboot.
func TestControlRecordsFaultsReboot(t *testing.T) {
	h := newHarness(t, nil)
	base := h.sim.URL() + "/sim"
	if _, err := h.client.Query(h.ctx, omproto.KindExt, "201"); err != nil {
		t.Fatal(err)
	}
	var cmds []map[string]any
	apiJSON(t, "GET", base+"/commands", "", http.StatusOK, &cmds)
	if len(cmds) != 1 || cmds[0]["root"] != "Control" || cmds[0]["verb"] != "Query" || cmds[0]["status"] != 200.0 ||
		!strings.Contains(cmds[0]["answer"].(string), `<ext id="201">`) || !strings.Contains(cmds[0]["body"].(string), `<ext id="201"/>`) {
		t.Fatalf("GET commands = %v", cmds)
	}
	var reps []omsim.ReportRecord
	apiJSON(t, "GET", base+"/reports", "", http.StatusOK, &reps)
	if len(reps) != 1 || reps[0].Kind != "BOOTUP" || reps[0].Result != "sent" || !reps[0].Time.Equal(epoch) ||
		!strings.Contains(reps[0].Body, `<Event attribute="BOOTUP">`) {
		t.Fatalf("GET reports = %+v", reps)
	}

	apiJSON(t, "PUT", base+"/faults", `{"drop_reports":1,"duplicate_reports":2,"reorder_reports":3,"drop_rate":0.1,"duplicate_rate":0.2,`+
		`"command_delay_ms":5,"command_status":503,"command_garbage":true,"refuse_connections":false,`+
		`"recordings_missing":true,"recordings_unauthorized":true}`, http.StatusOK, nil)
	want := omsim.Faults{DropReports: 1, DuplicateReports: 2, ReorderReports: 3, DropRate: 0.1, DuplicateRate: 0.2,
		CommandDelay: 5 * time.Millisecond, CommandStatus: 503, CommandGarbage: true,
		RecordingsMissing: true, RecordingsUnauthorized: true}
	if got := h.sim.Faults(); got != want {
		t.Fatalf("Faults() = %+v, want %+v", got, want)
	}
	apiJSON(t, "PUT", base+"/faults", `{}`, http.StatusOK, nil)
	if got := h.sim.Faults(); got != (omsim.Faults{}) {
		t.Fatalf("Faults() after {} = %+v", got)
	}

	h.incoming(caller)
	apiJSON(t, "POST", base+"/reboot", "", http.StatusOK, nil)
	h.expect("BOOTUP")
	var list []omsim.CallInfo
	apiJSON(t, "GET", base+"/calls", "", http.StatusOK, &list)
	if len(list) != 0 {
		t.Fatalf("live calls after reboot: %+v", list)
	}
}

// TestControlHandlerAlone mounts the control API on a server of its own,
// as an embedder may, for a device without a command listener.
func TestControlHandlerAlone(t *testing.T) {
	clk := clock.NewVirtual(epoch)
	sim, err := omsim.New(omsim.DefaultConfig(), clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	srv := httptest.NewServer(sim.ControlHandler())
	t.Cleanup(srv.Close)
	var placed struct{ ID string }
	apiJSON(t, "POST", srv.URL+"/sim/calls", `{"from":"13800000001"}`, http.StatusCreated, &placed)
	sim.Settle()
	var reps []omsim.ReportRecord
	apiJSON(t, "GET", srv.URL+"/sim/reports", "", http.StatusOK, &reps)
	if len(reps) != 1 || reps[0].Kind != "INCOMING" || reps[0].Result != "kept" {
		t.Fatalf("reports %+v, want INCOMING kept", reps)
	}
	if sim.Addr() != "" {
		t.Fatalf("Addr() = %q before Start", sim.Addr())
	}
}
