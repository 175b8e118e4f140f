package omsim_test

import (
	"testing"
	"time"

	"github.com/ivrd/ivrd/omproto"
)

// A Query of ext with no id lists every extension with its state, which
// is how ivrd corrects the states a lost report left wrong: ready when
// idle, active while ringing or talking.
func TestQueryAllExtensions(t *testing.T) {
	h := newHarness(t, nil)
	states := func() map[string]string {
		t.Helper()
		st, err := h.client.Query(h.ctx, omproto.KindExt, "")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, x := range st.Exts {
			out[x.ID] = x.State
		}
		return out
	}
	got := states()
	if len(got) != len(h.sim.Config().Exts) {
		t.Fatalf("%d extensions listed, want %d: %v", len(got), len(h.sim.Config().Exts), got)
	}
	for id, st := range got {
		if st != "ready" {
			t.Fatalf("ext %s is %q before any call, want ready", id, st)
		}
	}
	if _, err := h.client.Connect(h.ctx, omproto.Connect{
		From: omproto.Ref{Kind: omproto.KindExt, ID: "200"}, To: omproto.Ref{Kind: omproto.KindExt, ID: "202"}}); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(30 * time.Second)
	h.sim.Settle()
	got = states()
	if got["200"] != "active" || got["202"] != "active" || got["201"] != "ready" {
		t.Fatalf("during 200→202: %v", got)
	}
	if err := h.sim.HangUpExt("202"); err != nil {
		t.Fatal(err)
	}
	h.sim.Settle()
	if got = states(); got["200"] != "ready" || got["202"] != "ready" {
		t.Fatalf("after the call: %v", got)
	}
}
