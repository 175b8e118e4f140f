package ompbx_test

import (
	"reflect"
	"testing"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/ompbx"
	"github.com/ivrd/ivrd/omproto"
)

func TestEvent(t *testing.T) {
	cases := []struct {
		name string
		xml  string
		want engine.Event
	}{
		{"incoming", `<Event attribute="INCOMING"><trunk id="60001"/><visitor id="3" from="138" to="60001" callid="77"/></Event>`,
			engine.Event{Device: "om1", Kind: engine.EvIncoming, Leg: engine.Leg{Kind: "visitor", ID: "3"}, From: "138", To: "60001", CallID: "77", Trunk: "60001"}},
		{"dtmf nested", `<Event attribute="DTMF"><visitor id="3" callid="77"><menu id="41"/><info>12#</info></visitor></Event>`,
			engine.Event{Device: "om1", Kind: engine.EvDTMF, Leg: engine.Leg{Kind: "visitor", ID: "3"}, CallID: "77", Digits: "12#", Menu: "41"}},
		{"end of ann", `<Event attribute="EndOfAnn"><outer id="5" to="139"/><menu id="42"/></Event>`,
			engine.Event{Device: "om1", Kind: engine.EvEndOfAnn, Leg: engine.Leg{Kind: "outer", ID: "5"}, To: "139", Menu: "42"}},
		{"busy ext", `<Event attribute="BUSY"><ext id="201"/></Event>`,
			engine.Event{Device: "om1", Kind: engine.EvBusy, Ext: "201"}},
		{"failed", `<Event attribute="FAILED"><outer id="5"/><err><code>6</code><reason>busy</reason></err></Event>`,
			engine.Event{Device: "om1", Kind: engine.EvFailed, Leg: engine.Leg{Kind: "outer", ID: "5"}, Code: 6, Reason: "busy", Cause: engine.ReasonBusy}},
		{"failed, no trunk, naming extensions", `<Event attribute="FAILED"><ext id="200"/><ext id="201"/><err><code>5</code><reason>no free trunk</reason></err></Event>`,
			engine.Event{Device: "om1", Kind: engine.EvFailed, Ext: "200", Code: 5, Reason: "no free trunk", Cause: engine.ReasonNoTrunk}},
		{"cdr", `<Cdr id="1"><callid>77</callid><CPN>138</CPN><CDPN>60001</CDPN><Duration>3</Duration></Cdr>`,
			engine.Event{Device: "om1", Kind: engine.EvCdr, CallID: "77", From: "138", To: "60001",
				Cdr: &engine.CdrRecord{ID: "1", CPN: "138", CDPN: "60001", Duration: 3}}},
		{"unknown event", `<Event attribute="NEWTHING"><ext id="1"/></Event>`,
			engine.Event{Device: "om1", Kind: "NEWTHING", Ext: "1"}},
		{"unknown root", `<Heartbeat/>`, engine.Event{Device: "om1", Kind: "Heartbeat"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := omproto.DecodeReport([]byte(c.xml))
			if err != nil {
				t.Fatal(err)
			}
			if got := ompbx.Event("om1", r); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestReason(t *testing.T) {
	want := map[int]string{
		omproto.CodeFailed: engine.ReasonFailed, omproto.CodeCallerRestricted: engine.ReasonRestricted,
		omproto.CodeCalledOffline: engine.ReasonOffline, omproto.CodeCalledTalking: engine.ReasonTalking,
		omproto.CodeNoFreeTrunk: engine.ReasonNoTrunk, omproto.CodeCalledBusy: engine.ReasonBusy,
		omproto.CodeNoSuchExtension: engine.ReasonNoSuchExt, omproto.CodeCallingExtOffline: engine.ReasonOffline,
		0: engine.ReasonFailed, 99: engine.ReasonFailed,
	}
	for code, reason := range want {
		if got := ompbx.Reason(code); got != reason {
			t.Errorf("Reason(%d) = %q, want %q", code, got, reason)
		}
	}
}
