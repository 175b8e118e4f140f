package engine_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// hotelFlow is the menu the end-to-end tests drive: 1 → reception (201),
// 2 → the restaurant (202, busy in some tests: then the operator), 3 → a
// room number of 3–4 digits read back and dialled out, 0 → the operator.
const hotelFlow = `
local flow = {}

function flow.incoming(call)
  local key, why = call:gather{ prompt = "user_welcome", tries = 3, timeout = 5,
                                valid = "[0-3]", invalid_prompt = "user_invalid",
                                noinput_prompt = "user_noinput" }
  if why == "hangup" then return end
  if not key then
    call:play("user_bye")
    return
  end
  call.vars.choice = key
  if key == "1" then return call:transfer{ ext = "201" } end
  if key == "2" then
    local ok, reason = call:transfer{ ext = "202" }
    if ok then return end
    ivr.log.info("restaurant refused", { reason = reason })
    call:play("user_busy")
    return call:transfer{ ext = "200" }
  end
  if key == "3" then
    local room, why = call:gather{ prompt = "user_enter_room", min = 3, max = 4, digit_timeout = 2 }
    if not room then return call:transfer{ ext = "200" } end
    call:say_digits(room)
    return call:transfer{ number = "8" .. room }
  end
  call:transfer{ ext = "200" }
end

function flow.ended(call, summary)
  ivr.log.info("flow ended", { outcome = summary.outcome, target = summary.target or "",
                               choice = call.vars.choice or "" })
end

return flow
`

func hotel(t *testing.T, o rigOptions) *rig {
	return newRig(t, map[string]string{"main": hotelFlow}, o)
}

// endedLine is the hotel flow's "flow ended" log line.
func (r *rig) endedLine() string {
	for _, l := range r.logs.all() {
		if strings.Contains(l, "flow ended") {
			return l
		}
	}
	return ""
}

func TestMenuEachOption(t *testing.T) {
	cases := []struct {
		keys      string
		connected string
		state     string
		outcome   string
	}{
		{"1", "ext 201", "talking", "target=\"ext 201\""},
		{"2", "ext 202", "talking", "target=\"ext 202\""},
		{"0", "ext 200", "talking", "target=\"ext 200\""},
	}
	for _, c := range cases {
		t.Run("key "+c.keys, func(t *testing.T) {
			r := hotel(t, rigOptions{})
			call := r.call("13800000001")
			r.advance(2 * time.Second)
			r.press(call, c.keys)
			r.advance(time.Second)
			info := call.Info()
			if info.State != c.state || info.Connected != c.connected {
				t.Fatalf("call = %s to %s, want %s to %s", info.State, info.Connected, c.state, c.connected)
			}
			if l := r.endedLine(); !strings.Contains(l, "outcome=transferred") || !strings.Contains(l, c.outcome) || !strings.Contains(l, "choice="+c.keys) {
				t.Fatalf("ended log = %q", l)
			}
		})
	}
	t.Run("key 3 reads the room back and dials it", func(t *testing.T) {
		r := hotel(t, rigOptions{})
		call := r.call("13800000001")
		r.advance(2 * time.Second)
		r.press(call, "3")
		r.advance(2 * time.Second) // user_enter_room
		r.press(call, "1208#")
		r.advance(10 * time.Second) // four digits read back (8 s), then the outside leg answers (2 s)
		if got, want := heard(call), []string{"user_welcome", "user_enter_room", "user_digit_1", "user_digit_2", "user_digit_0", "user_digit_8"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("heard %v, want %v", got, want)
		}
		out := r.sim.CallsTo("81208")
		if len(out) != 1 || out[0].State() != "talking" || call.State() != "talking" {
			t.Fatalf("outbound legs to 81208: %d, caller %s", len(out), call.State())
		}
	})
}

func TestNoInputThenGoodbye(t *testing.T) {
	r := hotel(t, rigOptions{})
	call := r.call("13800000001")
	// prompt 2 s + 5 s, noinput prompt 2 s, prompt 2 s + 5 s, noinput 2 s,
	// prompt 2 s + 5 s: 25 s; then user_bye 2 s and the hang-up.
	r.advance(24900 * time.Millisecond)
	want := []string{"user_welcome", "user_noinput", "user_welcome", "user_noinput", "user_welcome"}
	if got := heard(call); !reflect.DeepEqual(got, want) {
		t.Fatalf("heard %v, want %v", got, want)
	}
	r.advance(2200 * time.Millisecond)
	if got := heard(call); len(got) != 6 || got[5] != "user_bye" || call.State() != "ended" {
		t.Fatalf("heard %v, state %s; want user_bye and the end", got, call.State())
	}
	if l := r.endedLine(); !strings.Contains(l, "outcome=hangup") {
		t.Fatalf("ended log = %q", l)
	}
}

func TestInvalidThenValid(t *testing.T) {
	r := hotel(t, rigOptions{})
	call := r.call("13800000001")
	r.advance(time.Second)
	r.press(call, "7") // invalid, cuts the prompt
	r.advance(2 * time.Second)
	r.press(call, "1") // during the second prompt
	r.advance(time.Second)
	if got, want := heard(call), []string{"user_welcome!", "user_invalid", "user_welcome!"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("heard %v, want %v", got, want)
	}
	if info := call.Info(); info.Connected != "ext 201" || info.State != "talking" {
		t.Fatalf("call = %+v", info)
	}
}

func TestMultiDigitInput(t *testing.T) {
	t.Run("terminator", func(t *testing.T) {
		r := hotel(t, rigOptions{})
		call := r.call("1")
		r.press(call, "3")
		r.advance(time.Second)
		r.press(call, "123#")
		r.advance(6 * time.Second)
		if len(r.sim.CallsTo("8123")) != 1 {
			t.Fatalf("no call to 8123; heard %v", heard(call))
		}
	})
	t.Run("digit timeout", func(t *testing.T) {
		r := hotel(t, rigOptions{})
		call := r.call("1")
		r.press(call, "3")
		r.advance(time.Second)
		r.press(call, "456")
		r.advance(1900 * time.Millisecond)
		if got := heard(call); len(got) != 2 {
			t.Fatalf("heard %v before the digit timeout", got)
		}
		r.advance(100 * time.Millisecond) // digit_timeout 2 s after the last key
		r.advance(6 * time.Second)
		if len(r.sim.CallsTo("8456")) != 1 {
			t.Fatalf("no call to 8456; heard %v", heard(call))
		}
	})
	t.Run("too short", func(t *testing.T) {
		r := hotel(t, rigOptions{})
		call := r.call("1")
		r.press(call, "3")
		r.advance(time.Second)
		r.press(call, "45")
		r.advance(3 * time.Second)
		if info := call.Info(); info.Connected != "ext 200" {
			t.Fatalf("call = %+v, want the operator after a short room number", info)
		}
	})
}

func TestTypeAhead(t *testing.T) {
	r := hotel(t, rigOptions{})
	call := r.call("1")
	// The caller knows the menu: 3, then the room, all while the welcome
	// prompt plays. The keys after 3 complete the room gather: its prompt
	// is skipped if they reached ivrd before it began, or cut at once if
	// they were still on the wire — never heard to the end.
	r.press(call, "31208")
	r.advance(10 * time.Second)
	got := heard(call)
	if len(got) > 0 && got[1] == "user_enter_room!" {
		got = append(got[:1], got[2:]...)
	}
	if want := []string{"user_welcome!", "user_digit_1", "user_digit_2", "user_digit_0", "user_digit_8"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("heard %v, want %v", heard(call), want)
	}
	if len(r.sim.CallsTo("81208")) != 1 {
		t.Fatal("no call to 81208")
	}
}

func TestHangupDuringPromptAndGather(t *testing.T) {
	for _, at := range []time.Duration{time.Second, 4 * time.Second} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			r := hotel(t, rigOptions{})
			call := r.call("1")
			r.advance(at) // 1 s: during the prompt; 4 s: waiting for a key
			if err := call.HangUp(); err != nil {
				t.Fatal(err)
			}
			r.sim.Settle()
			r.router.Wait()
			if l := r.endedLine(); !strings.Contains(l, "outcome=caller_hangup") {
				t.Fatalf("ended log = %q", l)
			}
			if n := len(r.router.Sessions()); n != 0 {
				t.Fatalf("%d sessions left", n)
			}
			for _, c := range r.sim.Commands() {
				if c.Verb == omproto.VerbClear {
					t.Fatalf("ivrd sent Clear for a call the caller had hung up: %s", c.Body)
				}
			}
		})
	}
}

func TestTransferToBusyExtension(t *testing.T) {
	r := hotel(t, rigOptions{sim: func(c *omsim.Config) {
		c.ExtPolicies = map[string]omsim.Policy{"202": {Answer: omsim.AnswerBusy}}
	}})
	call := r.call("1")
	r.press(call, "2")
	r.advance(3 * time.Second)
	if got, want := heard(call), []string{"user_welcome!", "user_busy"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("heard %v, want %v", got, want)
	}
	if info := call.Info(); info.Connected != "ext 200" || info.State != "talking" {
		t.Fatalf("call = %+v, want the operator", info)
	}
	found := false
	for _, l := range r.logs.all() {
		found = found || (strings.Contains(l, "restaurant refused") && strings.Contains(l, "reason=busy"))
	}
	if !found {
		t.Fatal("the flow did not see reason busy")
	}
}

func TestDeviceRebootReassignsMenus(t *testing.T) {
	r := hotel(t, rigOptions{})
	call := r.call("1")
	r.advance(time.Second)
	before := len(r.sim.Commands())
	r.sim.Reboot() // mid-call: the call is gone, API menus are forgotten
	r.sim.Settle()
	r.router.Wait()
	if call.State() != "ended" {
		t.Fatalf("call state %s after reboot", call.State())
	}
	assigns := 0
	for _, c := range r.sim.Commands()[before:] {
		if c.Verb == omproto.VerbAssign {
			assigns++
		}
	}
	if assigns < 2 {
		t.Fatalf("%d Assign commands after BOOTUP; want both play menus assigned again", assigns)
	}
	// A new call gets a prompt that ends (a forgotten menu would loop it
	// forever) and the no-input path.
	call = r.call("2")
	r.advance(7 * time.Second)
	if got := heard(call); len(got) < 2 || got[0] != "user_welcome" || !strings.HasPrefix(got[1], "user_noinput") {
		t.Fatalf("heard %v after the reboot", got)
	}
}

func TestReportForUnknownCall(t *testing.T) {
	r := hotel(t, rigOptions{})
	body := `<?xml version="1.0" encoding="utf-8" ?><Event attribute="DTMF"><visitor id="77" from="1" to="60001" callid="9"><menu id="41"/><info>1</info></visitor></Event>`
	req, _ := http.NewRequest(http.MethodGet, r.app.URL+"/om/om1", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if n := r.router.UnknownReports(); n != 1 {
		t.Fatalf("unknown reports = %d, want 1", n)
	}
	// Nothing was sent to the device for it, and calls still work.
	before := len(r.sim.Commands())
	call := r.call("1")
	r.press(call, "1")
	r.advance(time.Second)
	if call.Info().Connected != "ext 201" {
		t.Fatalf("call after the stray report: %+v", call.Info())
	}
	for _, c := range r.sim.Commands()[:before] {
		if c.Verb != omproto.VerbAssign && c.Verb != omproto.VerbQuery {
			t.Fatalf("a command was sent for the stray report: %s", c.Body)
		}
	}
}

func TestSingleMenuID(t *testing.T) {
	r := hotel(t, rigOptions{device: func(d *engine.Device) { d.MenuFirst, d.MenuLast = 50, 50 }})
	call := r.call("1")
	r.advance(time.Second)
	r.press(call, "7")
	r.advance(2 * time.Second)
	r.press(call, "2")
	r.advance(time.Second)
	if call.Info().Connected != "ext 202" {
		t.Fatalf("call = %+v", call.Info())
	}
	for _, c := range r.sim.Commands() {
		if c.Verb == omproto.VerbConnect && strings.Contains(c.Body, "<menu") && !strings.Contains(c.Body, `<menu id="50"/>`) {
			t.Fatalf("a menu outside the range was used: %s", c.Body)
		}
	}
}

func TestConcurrentCalls(t *testing.T) {
	const n = 200
	r := hotel(t, rigOptions{})
	calls := make([]*omsim.Call, n)
	rooms := make([]string, n)
	for i := range calls {
		c, err := r.sim.PlaceCall(fmt.Sprintf("1380000%04d", i), "60001")
		if err != nil {
			t.Fatal(err)
		}
		calls[i] = c
		rooms[i] = fmt.Sprintf("%03d", i)
	}
	r.sim.Settle()
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Press("3" + rooms[i] + "#"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	r.sim.Settle()
	r.advance(15 * time.Second)
	for i, c := range calls {
		out := r.sim.CallsTo("8" + rooms[i])
		if len(out) != 1 || c.State() != "talking" {
			t.Fatalf("call %d (room %s): %d outbound legs, state %s, heard %v", i, rooms[i], len(out), c.State(), heard(c))
		}
	}
	r.router.Wait()
}

func TestHistoryHasPathAndCdr(t *testing.T) {
	r := hotel(t, rigOptions{})
	call := r.call("13800000001")
	r.advance(time.Second)
	r.press(call, "1")
	r.advance(time.Second)
	r.advance(20 * time.Second)
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	hs := mustHistory(t, r)
	if len(hs) != 1 {
		t.Fatalf("%d history entries", len(hs))
	}
	h, err := r.store.History(hs[0].ID) // read again: the Cdr came after the call left the IVR
	if err != nil {
		t.Fatal(err)
	}
	if h.Outcome != engine.OutcomeTransferred || h.Target != "ext 201" || h.From != "13800000001" {
		t.Fatalf("history = %+v", h)
	}
	kinds := []string{}
	for _, p := range h.Path {
		kinds = append(kinds, p.Kind+":"+p.Value)
	}
	if got := strings.Join(kinds, " "); !strings.Contains(got, "keys:1") || !strings.Contains(got, "transfer:ext 201") {
		t.Fatalf("path = %s", got)
	}
	if h.Cdr == nil || h.Cdr.CPN != "13800000001" || h.Cdr.Duration != 22 || h.Cdr.Type != "IN" {
		t.Fatalf("cdr = %+v", h.Cdr)
	}
}

// cdrGate holds each call record's write until released.
type cdrGate struct {
	*engine.BoltStore
	entered  chan string
	release  chan struct{}
	attached atomic.Int32
}

func (g *cdrGate) AttachAndKeepCdr(c engine.Cdr, now time.Time) (engine.CdrKept, error) {
	g.entered <- c.CallID
	<-g.release
	g.attached.Add(1)
	return g.BoltStore.AttachAndKeepCdr(c, now)
}

// The OM sends its next report only once a report is answered, so a call
// record's durable write must not hold up the report that carried it.
func TestCdrWriteDoesNotHoldTheReport(t *testing.T) {
	gate := &cdrGate{entered: make(chan string, 1), release: make(chan struct{})}
	r := hotel(t, rigOptions{config: func(c *engine.Config) {
		gate.BoltStore = c.Store.(*engine.BoltStore)
		c.Store = gate
	}})
	delivered := make(chan struct{})
	go func() {
		r.router.Deliver(engine.Event{Device: "om1", Kind: engine.EvCdr, CallID: "77",
			Cdr: &engine.CdrRecord{ID: "c77", Type: "IN", CPN: "13800000001"}})
		close(delivered)
	}()
	if got := <-gate.entered; got != "77" {
		t.Fatalf("call record written for callid %q", got)
	}
	select {
	case <-delivered:
	case <-time.After(10 * time.Second):
		t.Fatal("Deliver waited for the call record's write")
	}
	if n := gate.attached.Load(); n != 0 {
		t.Fatalf("%d records written before the gate opened", n)
	}
	close(gate.release)
	r.sim.Settle() // the write is work in flight on the virtual clock
	if n := gate.attached.Load(); n != 1 {
		t.Fatalf("%d records written after the gate opened, want 1", n)
	}
}

// A prompt the caller hangs up on is in the path, so a funnel counts the
// caller at the prompt that was playing: from call:play and from a
// gather's prompt.
func TestPathHasThePromptHungUpOn(t *testing.T) {
	const flow = `local f = {}
function f.incoming(call)
  if call.from == "1" then
    call:play("user_welcome")
  else
    call:gather{ prompt = "user_menu", timeout = 5 }
  end
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{sim: func(c *omsim.Config) { c.FileDuration = 10 * time.Second }})
	for _, from := range []string{"1", "2"} {
		c := r.call(from)
		r.advance(time.Second) // the prompt plays for 10 s
		if err := c.HangUp(); err != nil {
			t.Fatal(err)
		}
		r.sim.Settle()
	}
	hs := mustHistory(t, r)
	if len(hs) != 2 {
		t.Fatalf("%d history entries", len(hs))
	}
	want := map[string]string{"1": "prompt_hangup:user_welcome", "2": "prompt_hangup:user_menu"}
	for _, h := range hs {
		var kinds []string
		for _, p := range h.Path {
			kinds = append(kinds, p.Kind+":"+p.Value)
		}
		if got := strings.Join(kinds, " "); !strings.HasPrefix(got, want[h.From]) || h.Outcome != engine.OutcomeCallerHangup {
			t.Errorf("caller %s: path %q, outcome %s; want %s first", h.From, got, h.Outcome, want[h.From])
		}
	}
}
