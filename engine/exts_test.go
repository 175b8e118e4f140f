package engine_test

import (
	"testing"

	"github.com/ivrd/ivrd/engine"
)

// A query's answer corrects the tracked state of an extension whose
// report was lost, and leaves alone one reported on while it was asked.
func TestCorrectExts(t *testing.T) {
	r := hotel(t, rigOptions{noStore: true})
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
}
