package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// clickPBX is a device whose click-to-dial answer the test writes: dial
// runs in place of the command (and may deliver reports before the answer,
// as a real device's reports can overtake it).
type clickPBX struct {
	fakePBX
	dial  func(ext, number string) (engine.Leg, engine.LegStatus, error)
	query func(leg engine.Leg) (engine.LegStatus, error)
}

func (p *clickPBX) Query(ctx context.Context, leg engine.Leg) (engine.LegStatus, error) {
	if p.query != nil {
		return p.query(leg)
	}
	return p.fakePBX.Query(ctx, leg)
}

func (p *clickPBX) DialFromExt(_ context.Context, ext, number, _ string) (engine.Leg, engine.LegStatus, error) {
	return p.dial(ext, number)
}

// clickRouter builds a router on the state file at path, with an event
// log, for one device driven by pbx.
func clickRouter(t *testing.T, path string, pbx engine.PBX, edit ...func(*engine.Config)) (*engine.Router, *engine.EventLog, func()) {
	t.Helper()
	store, err := engine.OpenBolt(path, engine.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := engine.OpenEventLog(engine.EventLogOptions{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	cfg := engine.Config{
		Devices: []*engine.Device{{Name: "om1", PBX: pbx}},
		Flows:   compileFlows(t, map[string]string{}),
		Clock:   clock.Real{},
		Logger:  hclog.NewNullLogger(),
		Store:   store,
		Events:  events,
	}
	for _, e := range edit {
		e(&cfg)
	}
	rt, err := engine.NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	stop := func() {
		if closed {
			return
		}
		closed = true
		rt.Close()
		events.Close()
		store.Close()
	}
	t.Cleanup(stop)
	return rt, events, stop
}

// waitKinds polls the event log until it holds n dial.* events and
// returns their kinds.
func waitKinds(t *testing.T, log *engine.EventLog, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, err := log.After(0, 100)
		if err != nil {
			t.Fatal(err)
		}
		kinds := []string{}
		for _, e := range all {
			if strings.HasPrefix(e.Kind, "dial.") {
				kinds = append(kinds, e.Kind)
			}
		}
		if len(kinds) >= n {
			return kinds
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event log holds %d dial events, want %d", len(kinds), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func outer(id, callid string, kind, ext string) engine.Event {
	return engine.Event{Device: "om1", Kind: kind, Leg: engine.Leg{Kind: engine.LegOuter, ID: id}, CallID: callid, Ext: ext}
}

// Reports that overtake the command's answer are applied after it (the
// events keep their order); a report for an earlier call on the same
// outer id (another callid) leaves the click alone; a live click survives
// a restart in the state file and is followed on from there.
func TestClickTracking(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var rt *engine.Router
	pbx := &clickPBX{}
	pbx.dial = func(ext, number string) (engine.Leg, engine.LegStatus, error) {
		rt.Deliver(outer("1", "c1", engine.EvRing, ext))
		return engine.Leg{Kind: engine.LegOuter, ID: "1"}, engine.LegStatus{CallID: "c1"}, nil
	}
	rt, events, stop := clickRouter(t, path, pbx)
	c, err := rt.PlaceClick(context.Background(), engine.ClickRequest{Type: engine.ClickDial, Ext: "208", Number: "13900000000"})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != engine.ClickExtRinging || c.Leg != "1" || c.CallID != "c1" || c.Device != "om1" {
		t.Fatalf("placed click %+v: want ext_ringing on outer 1, callid c1", c)
	}
	if got, want := waitKinds(t, events, 2), []string{engine.KindDialPlaced, engine.KindDialExtRinging}; !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}

	rt.Deliver(outer("1", "c0", engine.EvBye, "208")) // the call outer 1 was before
	rt.Deliver(outer("1", "c1", engine.EvAnswer, "208"))
	rt.Deliver(outer("1", "c1", engine.EvAlert, "208"))
	rt.Deliver(outer("1", "c1", engine.EvAnswered, "208"))
	got, err := rt.Click(c.ID)
	if err != nil || got.State != engine.ClickAnswered {
		t.Fatalf("click %+v, %v: want answered (the stale BYE ignored)", got, err)
	}
	waitKinds(t, events, 5)
	stop()

	rt, events, _ = clickRouter(t, path, pbx)
	got, err = rt.Click(c.ID)
	if err != nil || got.State != engine.ClickAnswered || got.Answered.IsZero() {
		t.Fatalf("after a restart: %+v, %v; want the answered click", got, err)
	}
	rt.Deliver(outer("1", "c1", engine.EvBye, "208"))
	rt.Deliver(engine.Event{Device: "om1", Kind: engine.EvCdr, CallID: "c1",
		Cdr: &engine.CdrRecord{ID: "r1", Type: "OU", CPN: "208", CDPN: "13900000000", Duration: 12}})
	got, _ = rt.Click(c.ID)
	if got.State != engine.ClickEnded || got.Outcome != engine.ClickOutcomeAnswered || got.Cdr == nil || got.Cdr.Duration != 12 {
		t.Fatalf("after the BYE and Cdr: %+v", got)
	}
	kinds := waitKinds(t, events, 7)
	if want := []string{engine.KindDialEnded, engine.KindDialCdr}; !reflect.DeepEqual(kinds[5:], want) {
		t.Fatalf("events after the restart %v, want %v", kinds[5:], want)
	}
	if list := rt.Clicks(10); len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("Clicks: %+v", list)
	}
}

// clearingPBX reports the BYE of a cleared extension's call before it
// answers the Clear, as a device's report can overtake its answer.
type clearingPBX struct {
	clickPBX
	clear func(ext string)
}

func (p *clearingPBX) HangupExt(_ context.Context, ext string) error {
	p.clear(ext)
	return nil
}

func (p *clearingPBX) ExtCall(context.Context, string) (engine.ExtCall, error) {
	return engine.ExtCall{}, nil
}
func (p *clearingPBX) Hold(context.Context, string, bool) error                { return nil }
func (p *clearingPBX) Supervise(context.Context, string, string, string) error { return nil }

// A click ivrd cancels ends cancelled even when the device's BYE comes
// before the answer to the Clear.
func TestClickCancelBeforeAnswer(t *testing.T) {
	var rt *engine.Router
	pbx := &clearingPBX{}
	pbx.dial = func(ext, number string) (engine.Leg, engine.LegStatus, error) {
		return engine.Leg{Kind: engine.LegOuter, ID: "3"}, engine.LegStatus{CallID: "c3"}, nil
	}
	pbx.clear = func(ext string) { rt.Deliver(outer("3", "c3", engine.EvBye, ext)) }
	rt, _, _ = clickRouter(t, filepath.Join(t.TempDir(), "state.db"), pbx)
	c, err := rt.PlaceClick(context.Background(), engine.ClickRequest{Type: engine.ClickDial, Ext: "208", Number: "13900000000"})
	if err != nil {
		t.Fatal(err)
	}
	rt.Deliver(outer("3", "c3", engine.EvRing, "208"))
	got, err := rt.CancelClick(context.Background(), c.ID)
	if err != nil || got.State != engine.ClickEnded || got.Outcome != engine.ClickOutcomeCancelled {
		t.Fatalf("cancelled click %+v, %v; want ended, cancelled", got, err)
	}
	if _, err := rt.CancelClick(context.Background(), c.ID); !errors.Is(err, engine.ErrClickOver) {
		t.Fatalf("second cancel: %v, want ErrClickOver", err)
	}
}

// The newest DefaultClicksKept clicks are kept, in memory and in the state
// file; older ones are forgotten in both.
func TestClickRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	rt, _, stop := clickRouter(t, path, &fakePBX{})
	var first string
	for i := 0; i <= engine.DefaultClicksKept; i++ {
		c, err := rt.PlaceClick(context.Background(), engine.ClickRequest{Type: engine.ClickConnect, Ext: "200", ToExt: "201"})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = c.ID
		}
	}
	if n := len(rt.Clicks(2 * engine.DefaultClicksKept)); n != engine.DefaultClicksKept {
		t.Fatalf("%d clicks kept, want %d", n, engine.DefaultClicksKept)
	}
	if _, err := rt.Click(first); !errors.Is(err, engine.ErrNoClick) {
		t.Fatalf("the oldest click: %v, want ErrNoClick", err)
	}
	stop()
	store, err := engine.OpenBolt(path, engine.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	stored, err := store.LoadClicks()
	if err != nil || len(stored) != engine.DefaultClicksKept || stored[0].ID == first {
		t.Fatalf("the state file holds %d clicks (%v); want %d without %s", len(stored), err, engine.DefaultClicksKept, first)
	}
}

// A closed router places no click-to-call.
func TestClickAfterClose(t *testing.T) {
	pbx := &fakePBX{}
	rt, _, stop := clickRouter(t, filepath.Join(t.TempDir(), "state.db"), pbx)
	stop()
	if _, err := rt.PlaceClick(context.Background(), engine.ClickRequest{Type: engine.ClickConnect, Ext: "200", ToExt: "201"}); !errors.Is(err, engine.ErrShuttingDown) {
		t.Fatalf("PlaceClick after Close: %v, want ErrShuttingDown", err)
	}
	if len(pbx.log) != 0 {
		t.Fatalf("the device got %v", pbx.log)
	}
}

// At start, a dial kept from before the restart whose outer leg the
// device no longer has (or has given to another call) ended unseen; one
// the device still has goes on.
func TestClickRecheckAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	pbx := &clickPBX{}
	n := 0
	pbx.dial = func(ext, number string) (engine.Leg, engine.LegStatus, error) {
		n++
		id := strconv.Itoa(n)
		return engine.Leg{Kind: engine.LegOuter, ID: id}, engine.LegStatus{CallID: "c" + id}, nil
	}
	rt, _, stop := clickRouter(t, path, pbx)
	var ids []string
	for i := 1; i <= 3; i++ {
		c, err := rt.PlaceClick(context.Background(), engine.ClickRequest{Type: engine.ClickDial, Ext: "20" + strconv.Itoa(i), Number: "139"})
		if err != nil {
			t.Fatal(err)
		}
		rt.Deliver(outer(c.Leg, c.CallID, engine.EvAnswered, c.Ext))
		ids = append(ids, c.ID)
	}
	stop()

	// Outer 1 is gone, outer 2 holds another call now, outer 3 is up.
	pbx.query = func(leg engine.Leg) (engine.LegStatus, error) {
		switch leg.ID {
		case "2":
			return engine.LegStatus{CallID: "c9"}, nil
		case "3":
			return engine.LegStatus{CallID: "c3"}, nil
		}
		return engine.LegStatus{}, engine.ErrGone
	}
	rt, _, _ = clickRouter(t, path, pbx)
	rt.Start(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, _ := rt.Click(ids[0])
		b, _ := rt.Click(ids[1])
		if a.State == engine.ClickEnded && b.State == engine.ClickEnded {
			for _, c := range []engine.Click{a, b} {
				if c.Outcome != engine.ClickOutcomeAnswered || c.Reason != engine.ClickReasonUnseen || c.Duration != 0 {
					t.Fatalf("click %+v: want answered, ended_unseen, no duration", c)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("clicks %+v and %+v did not end", a, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
	rt.Wait()
	if c, _ := rt.Click(ids[2]); c.State != engine.ClickAnswered {
		t.Fatalf("the click still up: %+v, want answered", c)
	}
}

// A dial whose end the device never reported (a lost BYE) is found out by
// the periodic check, while ivrd runs: the device is asked about a click
// it has said nothing of for its Reconcile, and one whose leg is gone
// ends as answered, ended_unseen, with its dial.ended event. A click the
// device still holds is left alone however often it is asked about.
func TestClickCheckFindsALostEnd(t *testing.T) {
	pbx := &clickPBX{}
	pbx.dial = func(ext, number string) (engine.Leg, engine.LegStatus, error) {
		return engine.Leg{Kind: engine.LegOuter, ID: "1"}, engine.LegStatus{CallID: "c1"}, nil
	}
	var mu sync.Mutex
	asked, gone := 0, false
	pbx.query = func(leg engine.Leg) (engine.LegStatus, error) {
		mu.Lock()
		defer mu.Unlock()
		asked++
		if gone || leg.ID != "1" {
			return engine.LegStatus{}, engine.ErrGone
		}
		return engine.LegStatus{CallID: "c1"}, nil
	}
	rt, events, _ := clickRouter(t, filepath.Join(t.TempDir(), "state.db"), pbx,
		func(c *engine.Config) { c.Devices[0].Reconcile = 20 * time.Millisecond })
	rt.Start(context.Background())
	c, err := rt.PlaceClick(context.Background(), engine.ClickRequest{Type: engine.ClickDial, Ext: "201", Number: "139"})
	if err != nil {
		t.Fatal(err)
	}
	rt.Deliver(outer(c.Leg, c.CallID, engine.EvAnswered, c.Ext))
	waitFor(t, "three checks of the live click", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return asked >= 3
	})
	if got, _ := rt.Click(c.ID); got.State != engine.ClickAnswered {
		t.Fatalf("a click the device still holds: %+v, want answered", got)
	}
	// The call ends; its BYE is lost.
	mu.Lock()
	gone = true
	mu.Unlock()
	var got engine.Click
	waitFor(t, "the click ended by a check", func() bool {
		got, _ = rt.Click(c.ID)
		return got.State == engine.ClickEnded
	})
	if got.Outcome != engine.ClickOutcomeAnswered || got.Reason != engine.ClickReasonUnseen {
		t.Fatalf("click %+v: want answered, ended_unseen", got)
	}
	if kinds := waitKinds(t, events, 3); strings.Join(kinds, " ") != "dial.placed dial.answered dial.ended" {
		t.Fatalf("events %v", kinds)
	}
}

// The check's timer runs only while a click is live, so that a router on
// the virtual clock with none has nothing due (a scenario ends when
// nothing is).
func TestClickCheckTimerOnlyWhileLive(t *testing.T) {
	pbx := &clickPBX{}
	pbx.dial = func(ext, number string) (engine.Leg, engine.LegStatus, error) {
		return engine.Leg{Kind: engine.LegOuter, ID: "1"}, engine.LegStatus{CallID: "c1"}, nil
	}
	pbx.query = func(engine.Leg) (engine.LegStatus, error) { return engine.LegStatus{CallID: "c1"}, nil }
	clk := clock.NewVirtual(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	rt, _, _ := clickRouter(t, filepath.Join(t.TempDir(), "state.db"), pbx, func(c *engine.Config) { c.Clock = clk })
	rt.Start(context.Background())
	clk.Settle() // the start's check
	if n := clk.Pending(); n != 0 {
		t.Fatalf("%d timers pending with no click", n)
	}
	c, err := rt.PlaceClick(context.Background(), engine.ClickRequest{Type: engine.ClickDial, Ext: "201", Number: "139"})
	if err != nil {
		t.Fatal(err)
	}
	rt.Deliver(outer(c.Leg, c.CallID, engine.EvAnswered, c.Ext))
	// A check while it is live, and the next one armed after it.
	for i := 0; i < 2; i++ {
		if n := clk.Pending(); n != 1 {
			t.Fatalf("%d timers pending with a click live, want the check's", n)
		}
		clk.Advance(engine.DefaultReconcile)
		clk.Settle()
	}
	rt.Deliver(outer(c.Leg, c.CallID, engine.EvBye, c.Ext))
	waitFor(t, "the click's end", func() bool { got, _ := rt.Click(c.ID); return got.State == engine.ClickEnded })
	clk.Advance(engine.DefaultReconcile)
	clk.Settle()
	if n := clk.Pending(); n != 0 {
		t.Fatalf("%d timers pending after the last click ended", n)
	}
}

// On the simulator, through the real OM client: a dial that talks on is
// asked about every minute and left alone; once its BYE is lost (the
// report reaches no router), the next check finds the outer leg gone and
// ends it unseen.
func TestClickCheckOnTheSimulator(t *testing.T) {
	const number = "13900000001"
	r := newRig(t, map[string]string{"main": hotelFlow}, rigOptions{sim: func(c *omsim.Config) {
		c.Numbers = map[string]omsim.Policy{number: {Answer: omsim.AnswerManual}}
	}})
	c, callee := r.talkingClick("208", number)
	for i := 0; i < 10; i++ { // ten minutes of talk, checks every Reconcile (2 minutes)
		r.advance(time.Minute)
		r.sim.Settle()
	}
	if got, _ := r.router.Click(c.ID); got.State != engine.ClickAnswered {
		t.Fatalf("after ten minutes of talk: %+v, want answered", got)
	}

	router := r.ptr.Load()
	r.ptr.Store(nil) // the BYE and the Cdr are lost
	if err := callee.HangUp(); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.ptr.Store(router)
	if got, _ := r.router.Click(c.ID); got.State != engine.ClickAnswered {
		t.Fatalf("with its BYE lost: %+v, want still answered", got)
	}
	for i := 0; i < 4; i++ { // found within two Reconciles of its last report
		r.advance(time.Minute)
		r.sim.Settle()
	}
	got, _ := r.router.Click(c.ID)
	if got.State != engine.ClickEnded || got.Outcome != engine.ClickOutcomeAnswered || got.Reason != engine.ClickReasonUnseen {
		t.Fatalf("after the next check: %+v, want ended, answered, ended_unseen", got)
	}
}

// talkingClick places a click-to-dial from ext to number, which the
// simulator's config must answer manually: the extension answers by
// itself, the number once dialled. It returns the click and the far end.
func (r *rig) talkingClick(ext, number string) (engine.Click, *omsim.Call) {
	r.t.Helper()
	c, err := r.router.PlaceClick(context.Background(), engine.ClickRequest{Type: engine.ClickDial, Ext: ext, Number: number})
	if err != nil {
		r.t.Fatal(err)
	}
	r.run(5*time.Second, time.Second) // the extension answers; the number is dialled
	callee := r.sim.CallsTo(number)
	if len(callee) != 1 {
		r.t.Fatalf("calls to %s: %d, want 1", number, len(callee))
	}
	if err := callee[0].Answer(); err != nil {
		r.t.Fatal(err)
	}
	r.sim.Settle()
	return c, callee[0]
}

// A device that cannot be asked about its clicks is logged once, not at
// every check, and its answering again once.
func TestClickCheckLogsADownDeviceOnce(t *testing.T) {
	pbx := &clickPBX{}
	pbx.dial = func(ext, number string) (engine.Leg, engine.LegStatus, error) {
		return engine.Leg{Kind: engine.LegOuter, ID: "1"}, engine.LegStatus{CallID: "c1"}, nil
	}
	var mu sync.Mutex
	asked, down := 0, true
	pbx.query = func(engine.Leg) (engine.LegStatus, error) {
		mu.Lock()
		defer mu.Unlock()
		asked++
		if down {
			return engine.LegStatus{}, errors.New("connection refused")
		}
		return engine.LegStatus{CallID: "c1"}, nil
	}
	logs := &logSink{}
	rt, _, _ := clickRouter(t, filepath.Join(t.TempDir(), "state.db"), pbx, func(c *engine.Config) {
		c.Devices[0].Reconcile = 10 * time.Millisecond
		c.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
	})
	rt.Start(context.Background())
	c, err := rt.PlaceClick(context.Background(), engine.ClickRequest{Type: engine.ClickDial, Ext: "201", Number: "139"})
	if err != nil {
		t.Fatal(err)
	}
	rt.Deliver(outer(c.Leg, c.CallID, engine.EvAnswered, c.Ext))
	waitFor(t, "five checks of a down device", func() bool { mu.Lock(); defer mu.Unlock(); return asked >= 5 })
	mu.Lock()
	down = false
	mu.Unlock()
	count := func(s string) int { return strings.Count(strings.Join(logs.all(), ""), s) }
	waitFor(t, "the device answering again", func() bool { return count("answers about its click-to-calls again") == 1 })
	if n := count("cannot ask the device about its click-to-calls"); n != 1 {
		t.Fatalf("the down device was logged %d times, want once", n)
	}
	if got, _ := rt.Click(c.ID); got.State != engine.ClickAnswered {
		t.Fatalf("a click whose device could not be asked: %+v, want still answered", got)
	}
}
