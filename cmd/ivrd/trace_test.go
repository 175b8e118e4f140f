package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// traceFlow takes a key and puts an incoming call through to ext 201; an
// outbound call hears a prompt and is hung up.
const traceFlow = `
local f = {}
function f.incoming(call)
  call:gather{ prompt = "user_welcome", timeout = 5 }
  call:transfer{ ext = "201" }
end
function f.answered(call)
  call:play("user_thanks")
  call:hangup()
end
return f
`

// traceLine is one trace line about the device's XML: a command, an answer
// or a report.
type traceLine struct {
	msg    string // command, answer, report
	callID string // ivrd's call id on the line, "" when none
	kind   string // a report's kind
	text   string
}

var (
	entryRE  = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT`)
	traceRE  = regexp.MustCompile(`^\S+ \[TRACE\] (?:\S+\.)?(?:om|engine): (command|answer|report): `)
	callIDRE = regexp.MustCompile(` call_id=(\S+)`)
	kindRE   = regexp.MustCompile(` kind=(\S+)`)
)

// traceLines picks the trace lines out of a text log. A line with XML
// runs over several lines of text (hclog writes the body below it).
func traceLines(logs string) []traceLine {
	var out []traceLine
	starts := entryRE.FindAllStringIndex(logs, -1)
	for i, st := range starts {
		end := len(logs)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		l := logs[st[0]:end]
		m := traceRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		tl := traceLine{msg: m[1], text: l}
		if m := callIDRE.FindStringSubmatch(l); m != nil {
			tl.callID = m[1]
		}
		if m := kindRE.FindStringSubmatch(l); m != nil {
			tl.kind = m[1]
		}
		out = append(out, tl)
	}
	return out
}

// namesCall reports whether a traced XML body names the device's call
// callid: an event's call leg, or a call record.
func namesCall(text, callid string) bool {
	return strings.Contains(text, `callid="`+callid+`"`) || strings.Contains(text, `<callid>`+callid+`</callid>`)
}

// TestServeTraceLinesNameTheCall runs a daemon at trace level, takes an
// incoming call and places an outbound one, and checks that the trace of
// every command, answer and report about each call carries its call_id:
// the commands a session sends, the dial that places a call, the reports
// routed to a session (an outbound call's first reports may come before
// its dial returns) and the call record the device sends at the end.
func TestServeTraceLinesNameTheCall(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.lua"), traceFlow)
	st := startStack(t, dir, func(c *Config) { c.LogLevel = "trace" })
	const callee = "13800000051"
	if err := st.sim.SetNumberPolicy(callee, omsim.Policy{Answer: omsim.AnswerAfter, Delay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}

	in, err := st.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, in, "the end of the prompt", func(ci omsim.CallInfo) bool {
		return len(ci.Heard) > 0 && ci.Heard[0].File == "user_welcome" && ci.Heard[0].Completed
	})
	if err := in.Press("1"); err != nil {
		t.Fatal(err)
	}
	waitCall(t, in, "the transfer", func(ci omsim.CallInfo) bool { return ci.Connected == "ext 201" && ci.State == "talking" })
	if err := in.HangUp(); err != nil {
		t.Fatal(err)
	}

	job, err := st.srv.Router().Dial(engine.DialRequest{To: callee, Flow: "main"})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, "the outbound job to end", func() bool {
		j, err := st.srv.Router().Job(job.ID)
		if err == nil && j.Final() {
			job = j
			return true
		}
		return false
	})
	if job.State != engine.JobDone || len(job.Attempts) != 1 || job.Attempts[0].CallID == "" {
		t.Fatalf("job: %+v", job)
	}
	outID := job.Attempts[0].CallID

	// The calls as ivrd knows them: ivrd's id and the device's callid.
	var inID string
	for _, l := range strings.Split(st.logs.String(), "\n") {
		if strings.Contains(l, "call started: ") && !strings.Contains(l, "call_id="+outID) {
			inID = callIDRE.FindStringSubmatch(l)[1]
		}
	}
	calls := map[string]string{} // ivrd call id → device callid
	for _, id := range []string{inID, outID} {
		var h engine.HistoryEntry
		poll(t, "the call record of "+id, func() bool {
			h, err = st.srv.store.History(id)
			return err == nil && h.Cdr != nil
		})
		calls[id] = h.CallID
	}

	lines := traceLines(st.logs.String())
	for id, callid := range calls {
		commands, answers := 0, 0
		kinds := map[string]bool{}
		for _, l := range lines {
			switch {
			case l.msg == "report" && namesCall(l.text, callid):
				if l.callID != id {
					t.Errorf("a report about call %s (device callid %s) has call_id %q:\n%s", id, callid, l.callID, l.text)
				}
				kinds[l.kind] = true
			case l.callID == id && l.msg == "command":
				commands++
			case l.callID == id && l.msg == "answer":
				answers++
			}
		}
		want := []string{engine.EvIncoming, engine.EvEndOfAnn, engine.EvDTMF, engine.EvCdr}
		if id == outID {
			want = []string{engine.EvAlert, engine.EvAnswered, engine.EvEndOfAnn, engine.EvCdr}
		}
		for _, k := range want {
			if !kinds[k] {
				t.Errorf("call %s: no %s report traced with its call_id (traced: %v)", id, k, kinds)
			}
		}
		// The incoming call: its prompt, the transfer; the outbound one:
		// the dial, its prompt, the hang-up. Each answered.
		if commands < 2 || answers != commands {
			t.Errorf("call %s: %d commands and %d answers traced with its call_id, want 2 or more of each, one answer per command",
				id, commands, answers)
		}
	}
	// The dial that placed the outbound call names it.
	dialed := false
	for _, l := range lines {
		dialed = dialed || l.msg == "command" && l.callID == outID && strings.Contains(l.text, callee)
	}
	if !dialed {
		t.Errorf("the dial to %s is not traced with call_id %s", callee, outID)
	}
	// And every command that names a call leg comes from a call.
	for _, l := range lines {
		if l.msg == "command" && l.callID == "" && (strings.Contains(l.text, `<visitor id=`) || strings.Contains(l.text, `<outer id=`)) {
			t.Errorf("a command about a call leg without a call_id:\n%s", l.text)
		}
	}
}
