package engine_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// openEvents opens an event log on store, closed at cleanup.
func openEvents(t *testing.T, store engine.EventStore, opt engine.EventLogOptions) *engine.EventLog {
	t.Helper()
	opt.Store = store
	l, err := engine.OpenEventLog(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// loggedEvents waits until the log holds at least n events and returns them all.
func loggedEvents(t *testing.T, l *engine.EventLog, n int) []engine.CallEvent {
	t.Helper()
	var evs []engine.CallEvent
	waitFor(t, "events in the log", func() bool {
		var err error
		evs, err = l.After(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs) >= n
	})
	return evs
}

func TestEventIDsIncreaseAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ivrd.db")
	store, err := engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := engine.OpenEventLog(engine.EventLogOptions{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		l.Publish(engine.CallEvent{Kind: "flow.x"})
	}
	l.Close()
	// Pruning every event must not reset the numbering.
	if n, err := store.PruneEvents(time.Now(), -1, 0); err != nil || n != 3 {
		t.Fatalf("prune all = %d, %v; want 3", n, err)
	}
	store.Close()

	store, err = engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	l = openEvents(t, store, engine.EventLogOptions{})
	l.Publish(engine.CallEvent{Kind: "flow.y"})
	evs := loggedEvents(t, l, 1)
	if len(evs) != 1 || evs[0].ID != 4 || evs[0].Kind != "flow.y" {
		t.Fatalf("after reopen got %+v, want one flow.y with id 4", evs)
	}
}

func TestEventPruning(t *testing.T) {
	store, err := engine.OpenBolt(filepath.Join(t.TempDir(), "ivrd.db"), engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var evs []engine.CallEvent
	for i := 1; i <= 10; i++ {
		evs = append(evs, engine.CallEvent{ID: uint64(i), Kind: "cdr", At: base.Add(time.Duration(i) * time.Hour)})
	}
	if err := store.AppendEvents(evs); err != nil {
		t.Fatal(err)
	}
	ids := func() (out []uint64) {
		got, err := store.EventsAfter(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got {
			out = append(out, e.ID)
		}
		return out
	}
	// By count: the newest 8 stay.
	if n, err := store.PruneEvents(base.Add(11*time.Hour), -1, 8); err != nil || n != 2 {
		t.Fatalf("prune by count = %d, %v; want 2", n, err)
	}
	if got := ids(); len(got) != 8 || got[0] != 3 {
		t.Fatalf("after prune by count: %v, want 3…10", got)
	}
	// By age: at 11:00 with 5 h, events of 6:00 and later stay.
	if n, err := store.PruneEvents(base.Add(11*time.Hour), 5*time.Hour, -1); err != nil || n != 3 {
		t.Fatalf("prune by age = %d, %v; want 3", n, err)
	}
	if got := ids(); len(got) != 5 || got[0] != 6 {
		t.Fatalf("after prune by age: %v, want 6…10", got)
	}
	if got, _ := store.EventsAfter(7, 2); len(got) != 2 || got[0].ID != 8 || got[1].ID != 9 {
		t.Fatalf("EventsAfter(7, 2) = %+v, want 8 and 9", got)
	}
}

// eventRig is the hotel on the simulator with an event log on its store.
func eventRig(t *testing.T, flows map[string]string, afterStep func(string, int)) (*rig, *engine.EventLog) {
	t.Helper()
	var l *engine.EventLog
	r := newRig(t, flows, rigOptions{config: func(c *engine.Config) {
		l = openEvents(t, c.Store.(*engine.BoltStore), engine.EventLogOptions{})
		c.Events = l
		c.AfterStep = afterStep
	}})
	return r, l
}

func eventData(t *testing.T, e engine.CallEvent) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Data, &m); err != nil {
		t.Fatalf("event %d data %s: %v", e.ID, e.Data, err)
	}
	return m
}

func TestCallEventsInOrder(t *testing.T) {
	r, l := eventRig(t, map[string]string{"main": hotelFlow}, nil)
	call := r.call("13800000001")
	r.advance(time.Second)
	r.press(call, "1") // reception, 201
	r.advance(5 * time.Second)
	r.router.Wait()
	var evs []engine.CallEvent
	// The ring of the transfer is the device's own report, published as it
	// comes: under load it may follow call.ended, so wait for both.
	waitFor(t, "call.ended and call.ringing", func() bool {
		evs, _ = l.After(0, 0)
		seen := map[string]bool{}
		for _, e := range evs {
			seen[e.Kind] = true
		}
		return seen[engine.KindCallEnded] && seen[engine.KindCallRinging]
	})
	var kinds []string
	var callID string
	for i, e := range evs {
		if i > 0 && e.ID != evs[i-1].ID+1 {
			t.Fatalf("ids %d then %d, want consecutive", evs[i-1].ID, e.ID)
		}
		kinds = append(kinds, e.Kind)
		d := eventData(t, e)
		switch e.Kind {
		case engine.KindCallIncoming:
			callID = e.Call
			if d["caller"] != "13800000001" || d["called"] != "60001" || d["device"] != "om1" || d["call_id"] != e.Call || e.Call == "" {
				t.Fatalf("call.incoming = %+v %s", e, e.Data)
			}
		case engine.KindCallEnded:
			if e.Call != callID || d["outcome"] != engine.OutcomeTransferred {
				t.Fatalf("call.ended = %+v %s, want call %s transferred", e, e.Data, callID)
			}
			if _, ok := d["duration"].(float64); !ok {
				t.Fatalf("call.ended has no duration: %s", e.Data)
			}
		}
	}
	if len(kinds) < 2 || kinds[0] != engine.KindCallIncoming {
		t.Fatalf("kinds %v, want call.incoming first", kinds)
	}
	ended := strings.Index(strings.Join(kinds, " "), engine.KindCallEnded)
	incoming := strings.Index(strings.Join(kinds, " "), engine.KindCallIncoming)
	if ended < incoming {
		t.Fatalf("kinds %v: call.ended before call.incoming", kinds)
	}
	// The ring of the transfer may come before or after the flow has seen
	// the transfer succeed (the device reports it on its own), so only
	// its place after call.incoming is certain.
	ringing := strings.Index(strings.Join(kinds, " "), engine.KindCallRinging)
	if ringing < incoming {
		t.Fatalf("kinds %v: want call.ringing after call.incoming", kinds)
	}
	for _, e := range evs {
		if e.Kind == engine.KindCallRinging && (e.Ext != "201" || (e.Call != "" && e.Call != callID) || eventData(t, e)["from"] != "13800000001") {
			t.Fatalf("call.ringing = %+v %s, want ext 201 of call %s", e, e.Data, callID)
		}
		if e.Kind == engine.KindCallAnswered && e.Ext != "201" {
			t.Fatalf("call.answered = %+v, want ext 201", e)
		}
	}
}

const emitFlow = `
local f = {}
function f.incoming(call)
  local code = ivr.secret("4711")
  ivr.emit("lead", { caller = call.from, code = code, note = "code " .. code })
  local key = call:gather{ prompt = "user_welcome", timeout = 5 }
  ivr.emit("chose", { key = key })
  call:transfer{ ext = "201" }
end
return f`

func TestEmitIsRedacted(t *testing.T) {
	r, l := eventRig(t, map[string]string{"main": emitFlow}, nil)
	call := r.call("5551234")
	r.advance(time.Second)
	r.press(call, "7")
	r.advance(5 * time.Second)
	r.router.Wait()
	var lead engine.CallEvent
	waitFor(t, "flow.lead and flow.chose", func() bool {
		evs, _ := l.After(0, 0)
		n := 0
		for _, e := range evs {
			switch e.Kind {
			case "flow.lead":
				lead = e
				n++
			case "flow.chose":
				n++
			}
		}
		return n == 2
	})
	if strings.Contains(string(lead.Data), "4711") {
		t.Fatalf("flow.lead carries the secret: %s", lead.Data)
	}
	d := eventData(t, lead)
	inner, _ := d["data"].(map[string]any)
	if inner["code"] != "[secret]" || inner["note"] != "code [secret]" || inner["caller"] != "5551234" || d["call_id"] != lead.Call {
		t.Fatalf("flow.lead data = %s", lead.Data)
	}
}

func TestEmitIsNotRepeatedAfterACrash(t *testing.T) {
	// Steps: 1 emit lead, 2 gather, …; the crash comes after the emit is
	// journaled.
	var rt atomic.Pointer[engine.Router]
	var hit atomic.Bool
	r, l := eventRig(t, map[string]string{"main": emitFlow}, func(_ string, steps int) {
		if steps == 1 && hit.CompareAndSwap(false, true) {
			rt.Load().Crash()
		}
	})
	rt.Store(r.router)
	call := r.call("5551234")
	if !hit.Load() {
		t.Fatal("no crash after the emit")
	}
	r.router.Close()
	r.restart()
	r.advance(time.Second)
	r.press(call, "7")
	r.advance(5 * time.Second)
	r.router.Wait()
	var evs []engine.CallEvent
	waitFor(t, "flow.chose", func() bool {
		evs, _ = l.After(0, 0)
		for _, e := range evs {
			if e.Kind == "flow.chose" {
				return true
			}
		}
		return false
	})
	leads := 0
	for _, e := range evs {
		if e.Kind == "flow.lead" {
			leads++
		}
	}
	if leads != 1 {
		t.Fatalf("%d flow.lead events after the replay, want 1", leads)
	}
}
