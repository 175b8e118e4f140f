package omproto_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/omproto"
)

// decodeReportFile decodes a testdata/reports document, failing the test on
// an error.
func decodeReportFile(t *testing.T, name string) *omproto.Report {
	t.Helper()
	r, err := omproto.DecodeReport(readTestdata(t, filepath.Join("testdata", "reports", name+".xml")))
	if err != nil {
		t.Fatalf("DecodeReport(%s): %v", name, err)
	}
	return r
}

func decodeResponseFile(t *testing.T, name string) *omproto.Response {
	t.Helper()
	r, err := omproto.DecodeResponse(readTestdata(t, filepath.Join("testdata", "responses", name+".xml")))
	if err != nil {
		t.Fatalf("DecodeResponse(%s): %v", name, err)
	}
	return r
}

// wantEvent fails unless the report is an event of the given name.
func wantEvent(t *testing.T, r *omproto.Report, name string) *omproto.Event {
	t.Helper()
	if r.Event == nil {
		t.Fatalf("report is %q, not an event", r.Kind())
	}
	if r.Event.Name != name {
		t.Errorf("event name = %q, want %q", r.Event.Name, name)
	}
	if got := r.Kind(); got != name {
		t.Errorf("Kind() = %q, want %q", got, name)
	}
	return r.Event
}

// wantCall fails unless the event's first call leg is as given.
func wantCall(t *testing.T, ev *omproto.Event, want omproto.Call) {
	t.Helper()
	c := ev.Call()
	if c == nil {
		t.Fatal("event has no call leg")
	}
	if c.Kind != want.Kind || c.ID != want.ID || c.From != want.From || c.To != want.To ||
		c.Trunk != want.Trunk || c.CallID != want.CallID || c.State != want.State {
		t.Errorf("call = %+v, want %+v", *c, want)
	}
}

func wantString(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestDecodeReportFields(t *testing.T) {
	dtmfVisitor := omproto.Call{Kind: omproto.KindVisitor, ID: "46", From: "13012345678", To: "02161204000", CallID: "49164"}
	tests := []struct {
		file  string
		check func(t *testing.T, r *omproto.Report)
	}{
		{"dtmf", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventDTMF)
			wantCall(t, ev, dtmfVisitor)
			wantString(t, "Info", ev.Info, "123#")
			wantString(t, "Menu()", ev.Menu(), "1")
		}},
		{"pretty", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventDTMF)
			wantCall(t, ev, dtmfVisitor)
			wantString(t, "Info", ev.Info, "123#")
			wantString(t, "Menu()", ev.Menu(), "1")
		}},
		{"dtmf_timeout", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventDTMF)
			wantString(t, "Info", ev.Info, "T")
			wantString(t, "Menu()", ev.Menu(), "1")
		}},
		{"dtmf_outer", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventDTMF)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindOuter, ID: "7", To: "13012345678", Trunk: "02161208234", CallID: "30211"})
			wantString(t, "Info", ev.Info, "5")
			wantString(t, "Menu()", ev.Menu(), "1")
		}},
		{"dtmf_sibling_info", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventDTMF)
			wantString(t, "Info", ev.Info, "42")
			wantString(t, "Menu()", ev.Menu(), "1")
		}},
		{"unusual_order_dtmf", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventDTMF)
			wantCall(t, ev, dtmfVisitor)
			wantString(t, "Info", ev.Info, "8")
			wantString(t, "Menu()", ev.Menu(), "2")
		}},
		{"dtmf_lower", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventDTMF)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindVisitor, ID: "46", CallID: "49164"})
			wantString(t, "Info", ev.Info, "0#")
			wantString(t, "Menu()", ev.Menu(), "1")
		}},
		{"endofann", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventEndOfAnn)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindVisitor, ID: "46", From: "13012345678", To: "02161204000"})
			wantString(t, "Menu()", ev.Menu(), "3")
			wantString(t, "Info", ev.Info, "")
		}},
		{"endofann_upper", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventEndOfAnn)
			wantString(t, "Menu()", ev.Menu(), "3")
		}},
		{"endofann_lower", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventEndOfAnn)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindVisitor, ID: "46", From: "13012345678", To: "02161204000"})
			wantString(t, "Menu()", ev.Menu(), "3")
		}},
		{"unusual_order_endofann", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventEndOfAnn)
			wantString(t, "Menu()", ev.Menu(), "3")
			wantString(t, "call id", ev.Call().ID, "46")
		}},
		{"incoming", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventIncoming)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindVisitor, ID: "31", From: "13012345678", To: "02161204000", CallID: "36895"})
			wantString(t, "Trunk()", ev.Trunk(), "02161204000")
			if r.Auth != nil {
				t.Errorf("Auth = %+v, want none", r.Auth)
			}
		}},
		{"unusual_order_incoming", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventIncoming)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindVisitor, ID: "31", From: "13012345678", To: "02161204000", CallID: "36895"})
			wantString(t, "Trunk()", ev.Trunk(), "02161204000")
		}},
		{"gb2312", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventIncoming)
			wantString(t, "call id", ev.Call().ID, "31")
			wantString(t, "Trunk()", ev.Trunk(), "02161204000")
		}},
		{"unknown_children_attrs", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventIncoming)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindVisitor, ID: "31", From: "13012345678", To: "02161204000", CallID: "36895"})
			wantString(t, "Trunk()", ev.Trunk(), "02161204000")
			if len(ev.Extra) != 1 || ev.Extra[0].Name != "priority" || ev.Extra[0].Text != "1" {
				t.Errorf("Extra = %+v, want the <priority> element", ev.Extra)
			}
			if v, _ := ev.Extra[0].Attr("LEVEL"); v != "high" {
				t.Errorf("Extra[0].Attr(LEVEL) = %q, want high", v)
			}
			if x := ev.Call().Extra; len(x) != 1 || x[0].Name != "ring" {
				t.Errorf("call Extra = %+v, want the <ring> element", x)
			}
		}},
		{"event_invite", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventInvite)
			wantString(t, "call id", ev.Call().ID, "31")
			wantString(t, "Trunk()", ev.Trunk(), "02161204000")
		}},
		{"alert", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventAlert)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindOuter, ID: "186", From: "326", To: "013693848899", Trunk: "568116531", CallID: "20666"})
			wantString(t, "Ext()", ev.Ext(), "326")
		}},
		{"alert_no_ext", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventAlert)
			if id, ok := ev.Object(omproto.KindExt); ok {
				t.Errorf("Object(ext) = %q, true; want none", id)
			}
		}},
		{"bye", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventBye)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindVisitor, ID: "42", From: "13012345678", To: "02161208234", CallID: "16426"})
			wantString(t, "Ext()", ev.Ext(), "200")
			wantString(t, "Recording", ev.Recording, "")
		}},
		{"ring_old", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventRing)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindVisitor, From: "13012345678"})
			wantString(t, "Ext()", ev.Ext(), "200")
		}},
		{"answer_old", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventAnswer)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindVisitor, From: "13012345678"})
		}},
		{"bye_old", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventBye)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindVisitor, From: "13012345678"})
			wantString(t, "Recording", ev.Recording, "20150612/200_13012345678_20150612_101500.wav")
			if len(ev.Extra) != 0 {
				t.Errorf("Extra = %+v, want the recording consumed", ev.Extra)
			}
		}},
		{"bye_old_recording_in_visitor", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventBye)
			wantString(t, "Recording", ev.Recording, "20150612/200_13012345678_20150612_101500.wav")
			if x := ev.Call().Extra; len(x) != 0 {
				t.Errorf("call Extra = %+v, want the recording consumed", x)
			}
		}},
		{"event_transient", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventTransient)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindOuter, ID: "8", From: "208", To: "13012345678", Trunk: "02161208234", CallID: "28680"})
		}},
		{"transient_analogue", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventTransient)
			wantCall(t, ev, omproto.Call{Kind: omproto.KindOuter, ID: "9", From: "208", To: "13012345678", Trunk: "02161208234", CallID: "28681"})
		}},
		{"event_divert", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventDivert)
			if ev.Divert == nil || *ev.Divert != (omproto.Divert{From: "200", To: "13900001111", Reason: "busy"}) {
				t.Errorf("Divert = %+v, want from 200 to 13900001111 for busy", ev.Divert)
			}
		}},
		{"event_failed_err", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventFailed)
			wantOMErr(t, ev.Err(), 5, "no free trunk")
			if ev.Failure.Attrs {
				t.Error("Failure.Attrs = true for the <err> shape")
			}
		}},
		{"event_failed_attrs", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventFailed)
			wantOMErr(t, ev.Err(), 6, "called extension busy")
			if !ev.Failure.Attrs {
				t.Error("Failure.Attrs = false for the attribute shape")
			}
			if len(ev.Objects) != 2 || ev.Objects[1].ID != "201" {
				t.Errorf("Objects = %+v, want ext 200 and 201", ev.Objects)
			}
		}},
		{"event_queue", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventQueue)
			if id, _ := ev.Object(omproto.KindGroup); id != "1" {
				t.Errorf("Object(group) = %q, want 1", id)
			}
		}},
		{"bootup", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventBootup)
			if ev.Call() != nil || len(ev.Objects) != 0 || ev.Err() != nil {
				t.Errorf("BOOTUP = %+v, want nothing in it", ev)
			}
		}},
		{"unknown_event", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, "PARK")
			if omproto.KnownEvent(ev.Name) {
				t.Error("KnownEvent(PARK) = true")
			}
			if len(ev.Extra) != 1 || ev.Extra[0].Name != "slot" || ev.Extra[0].Text != "7" {
				t.Errorf("Extra = %+v, want <slot>7</slot> kept", ev.Extra)
			}
		}},
		{"unknown_root", func(t *testing.T, r *omproto.Report) {
			if r.Other == nil || r.Event != nil || r.Cdr != nil {
				t.Fatalf("report = %+v, want Other only", r)
			}
			wantString(t, "Kind()", r.Kind(), "Alarm")
			if c := r.Other.Child("TEXT"); c == nil || c.Text != "fan failure" {
				t.Errorf("Other.Child(TEXT) = %+v, want fan failure", c)
			}
		}},
		{"idle_signed", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventIdle)
			wantString(t, "Ext()", ev.Ext(), "230")
			if r.Auth == nil || *r.Auth != *reportAuth {
				t.Fatalf("Auth = %+v, want %+v", r.Auth, reportAuth)
			}
			if err := r.Auth.Verify("123456", time.Unix(1543150543, 0), time.Minute); err != nil {
				t.Errorf("Verify with the documented secret: %v", err)
			}
		}},
		{"auth_before", func(t *testing.T, r *omproto.Report) {
			wantEvent(t, r, omproto.EventIdle)
			if r.Auth == nil || *r.Auth != *reportAuth {
				t.Errorf("Auth = %+v, want %+v", r.Auth, reportAuth)
			}
		}},
		{"auth_after_declared", func(t *testing.T, r *omproto.Report) {
			wantEvent(t, r, omproto.EventIdle)
			if r.Auth == nil || *r.Auth != *reportAuth {
				t.Errorf("Auth = %+v, want %+v (values trimmed)", r.Auth, reportAuth)
			}
		}},
		{"bom", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventIdle)
			wantString(t, "Ext()", ev.Ext(), "318")
		}},
		{"leading_whitespace", func(t *testing.T, r *omproto.Report) {
			ev := wantEvent(t, r, omproto.EventBusy)
			wantString(t, "Ext()", ev.Ext(), "318")
		}},
		{"cdr", func(t *testing.T, r *omproto.Report) {
			wantString(t, "Kind()", r.Kind(), "Cdr")
			want := omproto.Cdr{
				ID: "5720170309175055-0", CallID: "32858", TimeStart: "20170309175037", TimeEnd: "20170309175055",
				Type: "LO", Route: "IC", CPN: "200", CDPN: "212", Duration: 13,
				Recording: "20170309/200_212_20170309_175042_805A_cg.wav", RecCodec: "PCMU",
			}
			wantCdr(t, r.Cdr, want)
			loc := time.FixedZone("CST", 8*3600)
			start, err := r.Cdr.Start(loc)
			if err != nil || !start.Equal(time.Date(2017, 3, 9, 17, 50, 37, 0, loc)) {
				t.Errorf("Start() = %v, %v; want 2017-03-09 17:50:37 +0800", start, err)
			}
			end, err := r.Cdr.End(loc)
			if err != nil || end.Sub(start) != 18*time.Second {
				t.Errorf("End() = %v, %v; want 18 s after start", end, err)
			}
		}},
		{"cdr_upper", func(t *testing.T, r *omproto.Report) {
			wantCdr(t, r.Cdr, omproto.Cdr{
				ID: "5720170309175055-0", CallID: "32858", TimeStart: "20170309175037", TimeEnd: "20170309175055",
				Type: "LO", Route: "IC", CPN: "200", CDPN: "212", Duration: 13,
			})
		}},
		{"cdr_unanswered_out", func(t *testing.T, r *omproto.Report) {
			wantCdr(t, r.Cdr, omproto.Cdr{
				ID: "5720170309180000-1", CallID: "30211", TimeStart: "20170309175930", TimeEnd: "20170309180000",
				Type: "OU", Route: "IP", CPN: "208", CDPN: "13012345678", Duration: 0, TrunkNumber: "02161208234",
			})
		}},
		{"cdr_unusual_order", func(t *testing.T, r *omproto.Report) {
			if r.Cdr == nil {
				t.Fatal("no Cdr")
			}
			if r.Cdr.Duration != 13 || r.Cdr.CPN != "200" || r.Cdr.TimeStart != "20170309175037" {
				t.Errorf("Cdr = %+v", r.Cdr)
			}
			if len(r.Cdr.Extra) != 1 || r.Cdr.Extra[0].Name != "Agent" {
				t.Errorf("Cdr.Extra = %+v, want <Agent> kept", r.Cdr.Extra)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			tc.check(t, decodeReportFile(t, tc.file))
		})
	}
}

func wantCdr(t *testing.T, got *omproto.Cdr, want omproto.Cdr) {
	t.Helper()
	if got == nil {
		t.Fatal("report has no Cdr")
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("Cdr =\n %+v\nwant\n %+v", *got, want)
	}
}

// wantOMErr fails unless err is an *omproto.Error with code and reason.
func wantOMErr(t *testing.T, err error, code int, reason string) {
	t.Helper()
	var oe *omproto.Error
	if !errors.As(err, &oe) {
		t.Fatalf("error = %v (%T), want *omproto.Error", err, err)
	}
	if oe.Code != code || oe.Reason != reason {
		t.Errorf("error = code %d reason %q, want code %d reason %q", oe.Code, oe.Reason, code, reason)
	}
}

func TestDecodeResponseFields(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, r *omproto.Response)
	}{
		{"deviceinfo", func(t *testing.T, r *omproto.Response) {
			d := r.DeviceInfo
			if d == nil {
				t.Fatal("no DeviceInfo")
			}
			wantString(t, "Model", d.Model, "OM50")
			wantString(t, "Version", d.Version, "Rev 2.1.5.112")
			wantString(t, "MAC", d.MAC, "00-0E-A9-30-12-5C")
			if len(d.Exts) != 2 || d.Exts[1].ID != "250" || d.Exts[1].LineID != "IPPhone 50" {
				t.Errorf("Exts = %+v", d.Exts)
			}
			if len(d.Lines) != 2 || d.Lines[0].Kind != omproto.KindLine || d.Lines[1].Kind != omproto.KindTrunk {
				t.Errorf("Lines = %+v, want a line and a trunk", d.Lines)
			}
			if len(d.Groups) != 1 || d.Groups[0].ID != "1" {
				t.Errorf("Groups = %+v", d.Groups)
			}
		}},
		{"status_visitor", func(t *testing.T, r *omproto.Response) {
			if r.Status == nil || len(r.Status.Calls) != 1 {
				t.Fatalf("Status = %+v, want one call", r.Status)
			}
			c := r.Status.Calls[0]
			if c.ID != "1" || c.From != "02167103750" || c.CallID != "49189" || c.State != "progress" {
				t.Errorf("call = %+v", c)
			}
			if len(c.Peers) != 1 || c.Peers[0] != refExt("200") {
				t.Errorf("Peers = %+v, want ext 200", c.Peers)
			}
		}},
		{"status_menu", func(t *testing.T, r *omproto.Response) {
			if r.Status == nil || len(r.Status.Menus) != 1 {
				t.Fatalf("Status = %+v, want one menu", r.Status)
			}
			m := r.Status.Menus[0]
			if m.ID != "1" || m.VoiceFile != "welcome" || m.Repeat != 3 || m.InfoLength != 5 || m.Exit != "#" {
				t.Errorf("menu = %+v", m)
			}
			if len(m.Calls) != 1 || m.Calls[0].ID != "46" || m.Calls[0].Kind != omproto.KindVisitor {
				t.Errorf("menu calls = %+v, want visitor 46", m.Calls)
			}
		}},
		{"status_ext", func(t *testing.T, r *omproto.Response) {
			if r.Status == nil || len(r.Status.Exts) != 1 {
				t.Fatalf("Status = %+v, want one ext", r.Status)
			}
			x := r.Status.Exts[0]
			if x.ID != "208" || x.LineID != "Phone 1" || x.StaffID != "1304081" || x.Record != "on" || x.API != "7" || x.State != "active" {
				t.Errorf("ext = %+v", x)
			}
			if len(x.Groups) != 1 || x.Groups[0] != "1" {
				t.Errorf("Groups = %q", x.Groups)
			}
			want := omproto.Call{Kind: omproto.KindOuter, ID: "8", From: "208", To: "13012345678", Trunk: "02161208234", CallID: "28680", State: "talk"}
			if len(x.Calls) != 1 || x.Calls[0].ID != want.ID || x.Calls[0].Trunk != want.Trunk || x.Calls[0].State != want.State || x.Calls[0].CallID != want.CallID {
				t.Errorf("ext calls = %+v, want %+v", x.Calls, want)
			}
		}},
		{"status_group", func(t *testing.T, r *omproto.Response) {
			g := r.Status.Groups[0]
			if g.ID != "1" || strings.Join(g.Exts, ",") != "211,212" || len(g.Calls) != 1 || g.Calls[0].State != "wait" {
				t.Errorf("group = %+v", g)
			}
		}},
		{"status_trunk", func(t *testing.T, r *omproto.Response) {
			ts := r.Status.Trunks
			if len(ts) != 2 || ts[0].State != "active" || ts[1].Kind != omproto.KindLine || ts[1].LineID != "Line 2" {
				t.Fatalf("Trunks = %+v", ts)
			}
			if len(ts[0].Calls) != 1 || len(ts[0].Calls[0].Peers) != 1 || ts[0].Calls[0].Peers[0].ID != "200" {
				t.Errorf("trunk calls = %+v, want visitor 42 with ext 200", ts[0].Calls)
			}
		}},
		{"bom_pretty", func(t *testing.T, r *omproto.Response) {
			if r.Status == nil || len(r.Status.Exts) != 1 || r.Status.Exts[0].State != "ready" {
				t.Errorf("Status = %+v, want ext 200 ready", r.Status)
			}
		}},
		{"transient", func(t *testing.T, r *omproto.Response) {
			if r.Event == nil || r.Event.Name != omproto.EventTransient || r.Err() != nil {
				t.Fatalf("response = %+v, want a TRANSIENT event", r)
			}
			wantCall(t, r.Event, omproto.Call{Kind: omproto.KindOuter, ID: "8", From: "208", To: "13012345678", Trunk: "02161208234", CallID: "28680"})
		}},
		{"transient_analogue", func(t *testing.T, r *omproto.Response) {
			wantCall(t, r.Event, omproto.Call{Kind: omproto.KindOuter, ID: "9", To: "13012345678"})
		}},
		{"failed_err", func(t *testing.T, r *omproto.Response) {
			wantOMErr(t, r.Err(), omproto.CodeNoFreeTrunk, "no free trunk")
		}},
		{"failed_attrs", func(t *testing.T, r *omproto.Response) {
			wantOMErr(t, r.Err(), omproto.CodeCalledOffline, "called extension offline")
		}},
		{"failed_attrs_on_call", func(t *testing.T, r *omproto.Response) {
			wantOMErr(t, r.Err(), omproto.CodeNoFreeTrunk, "no free trunk")
		}},
		{"failed_bare", func(t *testing.T, r *omproto.Response) {
			wantOMErr(t, r.Err(), omproto.CodeFailed, "")
		}},
		{"not_found", func(t *testing.T, r *omproto.Response) {
			wantString(t, "Comment", r.Comment, "Error, can't find extension:6604000")
			if !errors.Is(r.Err(), omproto.ErrNotFound) || r.Empty() {
				t.Errorf("Err() = %v, Empty() = %v; want ErrNotFound, false", r.Err(), r.Empty())
			}
		}},
		{"not_found_declared", func(t *testing.T, r *omproto.Response) {
			if !errors.Is(r.Err(), omproto.ErrNotFound) {
				t.Errorf("Err() = %v, want ErrNotFound", r.Err())
			}
		}},
		{"empty_waiting_list", func(t *testing.T, r *omproto.Response) {
			if !errors.Is(r.Err(), omproto.ErrEmptyWaitingList) {
				t.Errorf("Err() = %v, want ErrEmptyWaitingList", r.Err())
			}
		}},
		{"empty", wantEmptyResponse},
		{"whitespace_only", wantEmptyResponse},
		{"declaration_only", wantEmptyResponse},
		{"voicefiles", func(t *testing.T, r *omproto.Response) {
			if got := strings.Join(r.VoiceFiles(), ","); got != "welcome,silence,user_welcome160431" {
				t.Errorf("VoiceFiles() = %s", got)
			}
		}},
		{"unknown_root", func(t *testing.T, r *omproto.Response) {
			if r.Other == nil || r.Other.Name != "Result" || r.Other.Text != "ok" || r.Err() != nil {
				t.Errorf("response = %+v, want Other <Result>", r)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			tc.check(t, decodeResponseFile(t, tc.file))
		})
	}
}

func wantEmptyResponse(t *testing.T, r *omproto.Response) {
	t.Helper()
	if !r.Empty() || r.Err() != nil || r.Comment != "" {
		t.Errorf("response = %+v, Err() = %v; want empty and no error", r, r.Err())
	}
}

// TestDecodeCommandFields checks the command shapes a simulator must
// understand, beyond the golden files.
func TestDecodeCommandFields(t *testing.T) {
	tests := []struct {
		file     string
		want     omproto.Command
		wantAuth bool
	}{
		{"connect_ext_trunk_outer", omproto.Connect{From: refExt("208"), Trunk: "50017", To: refDial("13012345678")}, false},
		{"connect_visitor_menu_voicefile", omproto.Connect{From: refVisitor("14"), To: refMenu("1"), VoiceFile: "user_a+user_b"}, false},
		{"connect_voicefile_first", omproto.Connect{From: refVisitor("14"), To: refMenu("1"), VoiceFile: "user_a+user_b"}, false},
		{"connect_ext_voicefile", omproto.Connect{From: refExt("200"), VoiceFile: "notice"}, false},
		{"connect_menu_outer", omproto.Connect{From: refMenu("1"), To: refDial("13012345678")}, false},
		{"lowercase", omproto.Connect{From: refVisitor("14"), To: refMenu("3"), VoiceFile: "user_a"}, false},
		{"signed", omproto.QueryDeviceInfo{}, true},
		{"signed_vendor_tool", omproto.Connect{From: refVisitor("14"), To: refMenu("3")}, true},
		{"auth_after", omproto.Clear{Target: refVisitor("14")}, true},
		{"manage_query_voicefile", omproto.QueryVoiceFiles{}, false},
		{"accept", omproto.Accept{Visitor: "31"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			cmd, auth, err := omproto.DecodeCommand(readTestdata(t, filepath.Join("testdata", "commands", tc.file+".xml")))
			if err != nil {
				t.Fatal(err)
			}
			if cmd != tc.want {
				t.Errorf("command = %#v, want %#v", cmd, tc.want)
			}
			if !tc.wantAuth {
				if auth != nil {
					t.Errorf("auth = %+v, want none", auth)
				}
				return
			}
			want := omproto.Auth{Timestamp: "1543150543", Nonce: "1804289383", Signature: "671312c22030db874ca2235b6d3a93a1"}
			if auth == nil || *auth != want {
				t.Fatalf("auth = %+v, want %+v", auth, want)
			}
			if err := auth.Verify("123456", time.Unix(1543150543, 0), time.Minute); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestDecodeCommandUnknown(t *testing.T) {
	for _, file := range []string{"unknown_verb", "unknown_root"} {
		t.Run(file, func(t *testing.T) {
			cmd, _, err := omproto.DecodeCommand(readTestdata(t, filepath.Join("testdata", "commands", file+".xml")))
			if err != nil {
				t.Fatal(err)
			}
			u, ok := cmd.(omproto.UnknownCommand)
			if !ok {
				t.Fatalf("command is %T, want omproto.UnknownCommand", cmd)
			}
			if u.Root() != u.Element.Name || u.Verb() == "" {
				t.Errorf("Root/Verb = %q/%q", u.Root(), u.Verb())
			}
		})
	}
}

// TestEventNames decodes every documented event name, in the case the OM
// uses and in others, to the canonical name.
func TestEventNames(t *testing.T) {
	if len(omproto.EventNames) != 19 {
		t.Errorf("EventNames has %d names, omapi.md §5 documents 19", len(omproto.EventNames))
	}
	for _, name := range omproto.EventNames {
		if !omproto.KnownEvent(name) {
			t.Errorf("KnownEvent(%q) = false", name)
		}
		for _, spelled := range []string{name, strings.ToLower(name), strings.ToUpper(name), " " + name + "\n"} {
			t.Run(spelled, func(t *testing.T) {
				r, err := omproto.DecodeReport([]byte(`<Event attribute="` + spelled + `"/>`))
				if err != nil {
					t.Fatal(err)
				}
				if r.Event == nil || r.Event.Name != name {
					t.Errorf("decoded name = %+v, want %q", r.Event, name)
				}
			})
		}
	}
	if omproto.KnownEvent("ENDOFANN") || omproto.KnownEvent("dtmf") {
		t.Error("KnownEvent accepts a non-canonical spelling; decoding canonicalises, KnownEvent need not")
	}
}

func TestCodeText(t *testing.T) {
	for code, want := range map[int]string{
		1: "failed", 2: "caller's call restriction", 3: "called extension offline", 4: "called extension talking",
		5: "no free trunk", 6: "called extension busy", 7: "no such extension", 8: "calling extension offline", 9: "",
	} {
		if got := omproto.CodeText(code); got != want {
			t.Errorf("CodeText(%d) = %q, want %q", code, got, want)
		}
	}
	for _, tc := range []struct {
		err  omproto.Error
		want string
	}{
		{omproto.Error{Code: 5}, "om: failed (code 5): no free trunk"},
		{omproto.Error{Code: 5, Reason: "trunks busy"}, "om: failed (code 5): trunks busy"},
		{omproto.Error{Code: 42}, "om: failed (code 42)"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%+v.Error() = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestEventErr: only FAILED is an error, with code 1 when the device gave
// no code.
func TestEventErr(t *testing.T) {
	if err := (&omproto.Event{Name: omproto.EventTransient, Failure: &omproto.Failure{Code: 5}}).Err(); err != nil {
		t.Errorf("TRANSIENT Err() = %v, want nil", err)
	}
	wantOMErr(t, (&omproto.Event{Name: omproto.EventFailed}).Err(), omproto.CodeFailed, "")
	wantOMErr(t, (&omproto.Event{Name: omproto.EventFailed, Failure: &omproto.Failure{Code: 7, Reason: "x"}}).Err(), 7, "x")
}

// TestResponseErrComments maps comment-only answers to errors: the two
// omapi.md documents, in any case, and nothing for other comments.
func TestResponseErrComments(t *testing.T) {
	for _, tc := range []struct {
		comment string
		want    error
	}{
		{"Error, can't find extension:6604000", omproto.ErrNotFound},
		{"ERROR, CAN'T FIND VISITOR:14", omproto.ErrNotFound},
		{"Error, cannot find menu:51", omproto.ErrNotFound},
		{"group 9 not found", omproto.ErrNotFound},
		{"Empty Waiting List", omproto.ErrEmptyWaitingList},
		{"empty waiting list", omproto.ErrEmptyWaitingList},
		{"Error, bad request", nil},
		{"generated by OM", nil},
	} {
		t.Run(tc.comment, func(t *testing.T) {
			r, err := omproto.DecodeResponse([]byte("<!-- " + tc.comment + " -->"))
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Err(); got != tc.want {
				t.Errorf("Err() = %v, want %v", got, tc.want)
			}
			if r.Empty() {
				t.Error("Empty() = true for a comment")
			}
		})
	}
}
