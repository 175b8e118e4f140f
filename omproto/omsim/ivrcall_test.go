package omsim_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// TestWholeIVRCall drives one IVR call end to end with nothing but
// omproto.Client, omproto.Receiver and the simulator, over real loopback
// HTTP with signatures both ways, on a virtual clock: incoming → Connect to
// a menu with a per-call prompt → a key → DTMF with <info> → Connect to an
// extension → RING/ANSWER → the caller hangs up → BYE and Cdr.
func TestWholeIVRCall(t *testing.T) {
	clk := clock.NewVirtual(time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC))
	var mu sync.Mutex
	var reports []*omproto.Report
	rv := &omproto.Receiver{
		Handler: func(r *omproto.Report) {
			mu.Lock()
			reports = append(reports, r)
			mu.Unlock()
		},
		Secret: "report-secret",
		Now:    clk.Now,
	}
	app := httptest.NewServer(rv)
	defer app.Close()
	// take returns the reports received since the last take, after
	// everything in flight has settled.
	take := func(sim *omsim.Sim) []*omproto.Report {
		sim.Settle()
		mu.Lock()
		defer mu.Unlock()
		got := reports
		reports = nil
		return got
	}

	cfg := omsim.DefaultConfig()
	cfg.ReportURL = app.URL + "/om/om1"
	cfg.ReportSecret = "report-secret"
	cfg.CommandSecret = "command-secret"
	sim, err := omsim.New(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	client, err := omproto.NewClient(sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	client.Secret = "command-secret"
	client.Now = clk.Now
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The device booted.
	expectReportKinds(t, take(sim), omproto.EventBootup)

	// Unsigned commands are refused: the device has a command secret and
	// no allow-list.
	unsigned, _ := omproto.NewClient(sim.URL())
	if _, err := unsigned.DeviceInfo(ctx); !errors.Is(err, omproto.ErrUnauthorized) {
		t.Fatalf("unsigned DeviceInfo: %v, want ErrUnauthorized", err)
	}
	info, err := client.DeviceInfo(ctx)
	if err != nil || info.Model != omsim.DefaultModel {
		t.Fatalf("DeviceInfo = %+v, %v", info, err)
	}

	// A menu that reports each key, as ivrd assigns them.
	st, err := client.AssignMenu(ctx, omproto.AssignMenu{ID: "1", VoiceFile: "silence", Repeat: 1, InfoLength: 1})
	if err != nil || len(st.Menus) != 1 || st.Menus[0].InfoLength != 1 {
		t.Fatalf("AssignMenu = %+v, %v", st, err)
	}

	// A caller dials in: INCOMING.
	caller, err := sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	got := take(sim)
	expectReportKinds(t, got, omproto.EventIncoming)
	in := got[0].Event
	if in.Trunk() != "60001" {
		t.Errorf("INCOMING trunk = %q, want 60001", in.Trunk())
	}
	v := in.Call()
	if v == nil || v.Kind != omproto.KindVisitor || v.ID == "" || v.From != "13800000001" || v.To != "60001" || v.CallID == "" {
		t.Fatalf("INCOMING visitor = %+v", v)
	}
	if got[0].Auth == nil {
		t.Error("report was not signed")
	}

	// The app sends it to the menu with a per-call prompt.
	ev, err := client.Connect(ctx, omproto.Connect{From: v.Ref(), To: omproto.Ref{Kind: omproto.KindMenu, ID: "1"},
		VoiceFile: "user_welcome+user_menu"})
	if err != nil || ev != nil {
		t.Fatalf("Connect to menu = %+v, %v; want an empty answer", ev, err)
	}
	clk.Advance(2500 * time.Millisecond) // user_welcome (2 s) done, user_menu half played
	if err := caller.Press("2"); err != nil {
		t.Fatal(err)
	}
	got = take(sim)
	expectReportKinds(t, got, omproto.EventDTMF)
	dtmf := got[0].Event
	if dtmf.Info != "2" || dtmf.Menu() != "1" || dtmf.Call().ID != v.ID || dtmf.Call().CallID != v.CallID {
		t.Fatalf("DTMF = info %q menu %q call %+v", dtmf.Info, dtmf.Menu(), dtmf.Call())
	}
	wantHeard := []omsim.Heard{{File: "user_welcome", Completed: true}, {File: "user_menu", Completed: false}}
	if h := caller.Heard(); !reflect.DeepEqual(h, wantHeard) {
		t.Fatalf("heard %+v, want %+v", h, wantHeard)
	}

	// Key 2 means reception: Connect to extension 201, which rings and
	// answers after a second.
	if ev, err := client.Connect(ctx, omproto.Connect{From: v.Ref(), To: omproto.Ref{Kind: omproto.KindExt, ID: "201"}}); err != nil || ev != nil {
		t.Fatalf("Connect to ext = %+v, %v", ev, err)
	}
	got = take(sim)
	expectReportKinds(t, got, omproto.EventRing)
	if got[0].Event.Ext() != "201" || got[0].Event.Call().ID != v.ID {
		t.Fatalf("RING = %+v", got[0].Event)
	}
	clk.Advance(time.Second)
	got = take(sim)
	expectReportKinds(t, got, omproto.EventAnswer, omproto.EventBusy)
	if got[0].Event.Ext() != "201" {
		t.Fatalf("ANSWER ext = %q, want 201", got[0].Event.Ext())
	}
	st, err = client.Query(ctx, omproto.KindVisitor, v.ID)
	if err != nil || len(st.Calls) != 1 || st.Calls[0].State != "talk" ||
		len(st.Calls[0].Peers) != 1 || st.Calls[0].Peers[0].ID != "201" {
		t.Fatalf("Query visitor = %+v, %v", st, err)
	}

	// They talk for half a minute; the caller hangs up.
	clk.Advance(30 * time.Second)
	if err := caller.HangUp(); err != nil {
		t.Fatal(err)
	}
	got = take(sim)
	expectReportKinds(t, got, omproto.EventBye, "Cdr", omproto.EventIdle)
	bye := got[0].Event
	if bye.Call().ID != v.ID || bye.Ext() != "201" {
		t.Fatalf("BYE = %+v", bye)
	}
	cdr := got[1].Cdr
	// Answered at INCOMING (control after answer), released 33.5 s later.
	if cdr.CallID != v.CallID || cdr.CPN != "13800000001" || cdr.CDPN != "60001" || cdr.Type != "IN" || cdr.Duration != 34 {
		t.Fatalf("Cdr = %+v", cdr)
	}
	if _, err := client.Query(ctx, omproto.KindVisitor, v.ID); !errors.Is(err, omproto.ErrNotFound) {
		t.Fatalf("Query of the released visitor: %v, want ErrNotFound", err)
	}
	if s := rv.Stats(); s.Accepted != 9 || s.Unauthorized+s.Malformed+s.Forbidden != 0 {
		t.Fatalf("receiver stats = %+v, want 9 accepted and none rejected", s)
	}
}

func expectReportKinds(t *testing.T, got []*omproto.Report, want ...string) {
	t.Helper()
	kinds := make([]string, len(got))
	for i, r := range got {
		kinds[i] = r.Kind()
	}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("reports %v, want %v", kinds, want)
	}
}
