package engine_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/engine"
)

// A query's answer corrects the tracked state of an extension whose
// report was lost, tells stream subscribers with an ext.state event, and
// leaves alone one reported on while it was asked.
func TestCorrectExts(t *testing.T) {
	r, l := eventRig(t, map[string]string{"main": hotelFlow}, nil)
	r.router.Deliver(engine.Event{Device: "om1", Kind: engine.EvBusy, Ext: "201"})
	r.router.Deliver(engine.Event{Device: "om1", Kind: engine.EvIdle, Ext: "202"})
	mark := r.router.ExtMark()
	// 202 rings while the query is out: its report is newer than the
	// answer, which still says idle.
	r.router.Deliver(engine.Event{Device: "om1", Kind: engine.EvRing, Ext: "202"})
	got := r.router.CorrectExts("om1", mark, map[string]string{
		"201": engine.ExtIdle, "202": engine.ExtIdle, "203": engine.ExtOffline})
	want := map[string]engine.ExtCorrection{
		"201": {Ext: "201", Was: engine.ExtBusy, Now: engine.ExtIdle},
		"203": {Ext: "203", Was: "unknown", Now: engine.ExtOffline},
	}
	if len(got) != len(want) {
		t.Fatalf("corrections = %+v, want %+v", got, want)
	}
	for _, c := range got {
		if want[c.Ext] != c {
			t.Fatalf("correction %+v, want %+v", c, want[c.Ext])
		}
	}
	states := r.router.ExtStates("om1")
	if states["201"] != engine.ExtIdle || states["202"] != engine.ExtRinging || states["203"] != engine.ExtOffline {
		t.Fatalf("states = %v", states)
	}
	if again := r.router.CorrectExts("om1", r.router.ExtMark(), states); len(again) != 0 {
		t.Fatalf("correcting to the same states changed %+v", again)
	}
	// Three reports (201 busy, 202 idle, 202 ringing), then the two
	// corrections, each marked as the query's.
	var got2 []string
	waitFor(t, "five ext.state events", func() bool {
		evs, err := l.After(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		got2 = got2[:0]
		for _, e := range evs {
			if e.Kind == engine.KindExtState {
				d := eventData(t, e)
				got2 = append(got2, fmt.Sprintf("%s %v>%v %v", e.Ext, d["was"], d["state"], d["source"]))
			}
		}
		return len(got2) >= 5
	})
	sort.Strings(got2[3:]) // the corrections come in map order
	want2 := []string{"201 unknown>busy <nil>", "202 unknown>idle <nil>", "202 idle>ringing <nil>",
		"201 busy>idle query", "203 unknown>offline query"}
	if strings.Join(got2, ", ") != strings.Join(want2, ", ") {
		t.Fatalf("ext.state events:\n got %q\nwant %q", got2, want2)
	}
}

// The words a device uses for an extension's state, as the query and the
// agent actions read them.
func TestExtWord(t *testing.T) {
	for word, want := range map[string]string{
		"ready": engine.ExtIdle, "Idle": engine.ExtIdle, "active": engine.ExtBusy, "BUSY": engine.ExtBusy,
		"offline": engine.ExtOffline, "unwired": engine.ExtOffline, "ringing": "", "": "",
	} {
		got, known := engine.ExtWord(word)
		if got != want || known != (want != "") {
			t.Errorf("ExtWord(%q) = %q, %v; want %q", word, got, known, want)
		}
	}
}
