package omsim_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

const callee = "13900000000"

// TestIncomingControlAfterAnswer checks INCOMING and the hand-off to the
// operator when the app sends nothing within ResponseTimeout.
func TestIncomingControlAfterAnswer(t *testing.T) {
	for _, c := range []struct {
		name    string
		timeout time.Duration
		want    time.Duration
	}{{"default timeout", 0, 5 * time.Second}, {"ResponseTimeout 2 s", 2 * time.Second, 2 * time.Second}} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, func(cfg *omsim.Config) { cfg.ResponseTimeout = c.timeout })
			call := h.place(caller)
			got := h.take()
			if len(got) != 1 {
				t.Fatalf("got %q, want INCOMING", describeAll(got))
			}
			ev := got[0].Report.Event
			v := ev.Call()
			if ev.Name != omproto.EventIncoming || ev.Trunk() != "60001" || v.Kind != omproto.KindVisitor || v.ID != "1" ||
				v.From != caller || v.To != "60001" || v.CallID == "" {
				t.Fatalf("INCOMING = %+v, call %+v", ev, v)
			}
			want := `<Event attribute="INCOMING"><trunk id="60001"/><visitor id="1" from="13800000001" to="60001" callid="` + v.CallID + `"/></Event>`
			if !strings.HasSuffix(got[0].Body, want) {
				t.Fatalf("INCOMING body\n  got  %q\n  want …%q", got[0].Body, want)
			}
			wantState(t, call, "incoming")
			if kind, id := call.Leg(); kind != omproto.KindVisitor || id != "1" {
				t.Fatalf("Leg() = %s %s", kind, id)
			}

			h.advance(c.want - time.Millisecond)
			h.expect()
			h.advance(time.Millisecond)
			h.expect("RING visitor:1 ext:200")
			wantState(t, call, "ringing")
			h.advance(time.Second)
			h.expect("ANSWER visitor:1 ext:200", "BUSY ext:200")
			wantState(t, call, "talking")
			h.extState("200", "busy")
			if got := call.Info().Connected; got != "ext 200" {
				t.Fatalf("connected to %q, want ext 200", got)
			}
			// The call is the operator's now: a late command still
			// works on it, but nothing more is automatic.
			h.advance(time.Minute)
			h.expect()
			if err := call.HangUp(); err != nil {
				t.Fatal(err)
			}
			secs := int((c.want + time.Second + time.Minute) / time.Second)
			h.expect("BYE visitor:1 ext:200", fmt.Sprintf("Cdr IN 13800000001>60001 dur=%d", secs), "IDLE ext:200")
			h.extState("200", "idle")
			wantState(t, call, "ended")
		})
	}

	t.Run("a command in time keeps the call from the operator", func(t *testing.T) {
		h := newHarness(t, nil)
		h.assignMenu(omproto.AssignMenu{ID: "1", VoiceFile: "user_welcome", Repeat: 1})
		_, v := h.incoming(caller)
		h.advance(4 * time.Second)
		h.connect(v.Ref(), menu("1"), "")
		h.advance(time.Minute)
		h.expect("EndOfAnn visitor:1 menu:1")
	})

	t.Run("the operator unavailable: the call is released", func(t *testing.T) {
		h := newHarness(t, func(cfg *omsim.Config) {
			cfg.ExtPolicies = map[string]omsim.Policy{"200": {Answer: omsim.AnswerOffline}}
		})
		call, _ := h.incoming(caller)
		h.advance(5 * time.Second)
		h.expect("BYE visitor:1", "Cdr IN 13800000001>60001 dur=5")
		wantState(t, call, "ended")
	})
}

// TestIncomingControlBeforeAnswer checks INVITE, Notify Accept, Clear as a
// rejection, and the timeout.
func TestIncomingControlBeforeAnswer(t *testing.T) {
	before := func(c *omsim.Config) { c.ControlBeforeAnswer = true }

	t.Run("accepted", func(t *testing.T) {
		h := newHarness(t, before)
		call := h.place(caller)
		got := h.expect("INVITE visitor:1 trunk:60001")
		v := got[0].Event.Call()
		if v.From != caller || v.To != "60001" || v.CallID == "" {
			t.Fatalf("INVITE visitor %+v", v)
		}
		wantState(t, call, "invite")
		st, err := h.client.Query(h.ctx, omproto.KindVisitor, "1")
		if err != nil || len(st.Calls) != 1 || st.Calls[0].State != "progress" {
			t.Fatalf("Query of the inviting visitor = %+v, %v; want progress", st, err)
		}
		h.advance(3 * time.Second)
		if err := h.client.Accept(h.ctx, "1"); err != nil {
			t.Fatal(err)
		}
		got = h.expect("INCOMING visitor:1 trunk:60001")
		if got[0].Event.Call().CallID != v.CallID {
			t.Fatalf("INCOMING callid %q, want the INVITE's %q", got[0].Event.Call().CallID, v.CallID)
		}
		wantState(t, call, "incoming")
		// A fresh ResponseTimeout runs from the INCOMING.
		h.advance(5*time.Second - time.Millisecond)
		h.expect()
		h.advance(time.Millisecond)
		h.expect("RING visitor:1 ext:200")
		if err := call.HangUp(); err != nil {
			t.Fatal(err)
		}
		// Answered at the Accept, 5 s before.
		h.expect("BYE visitor:1 ext:200", "Cdr IN 13800000001>60001 dur=5")
	})

	t.Run("rejected with Clear", func(t *testing.T) {
		h := newHarness(t, before)
		call := h.place(caller)
		h.expect("INVITE visitor:1 trunk:60001")
		h.advance(2 * time.Second)
		if err := h.client.Clear(h.ctx, visitor("1")); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE visitor:1", "Cdr IN 13800000001>60001 dur=0")
		if info := call.Info(); info.State != "ended" || info.EndReason != "rejected" {
			t.Fatalf("call %+v, want ended, rejected", info)
		}
		h.advance(time.Minute)
		h.expect()
	})

	t.Run("no answer in time: the device accepts and rings the operator", func(t *testing.T) {
		h := newHarness(t, before)
		call := h.place(caller)
		h.expect("INVITE visitor:1 trunk:60001")
		h.advance(5*time.Second - time.Millisecond)
		h.expect()
		h.advance(time.Millisecond)
		h.expect("RING visitor:1 ext:200")
		h.advance(time.Second)
		h.expect("ANSWER visitor:1 ext:200", "BUSY ext:200")
		wantState(t, call, "talking")
	})
}

// TestConnectPairings checks every Transfer Connect pairing of omapi.md §3
// with the reports each causes.
func TestConnectPairings(t *testing.T) {
	t.Run("visitor to extension with a prompt", func(t *testing.T) {
		h := newHarness(t, nil)
		call, v := h.incoming(caller)
		if ev := h.connect(v.Ref(), ext("201"), "user_transfer"); ev != nil {
			t.Fatalf("answer %+v, want empty", ev)
		}
		h.expect("RING visitor:1 ext:201")
		wantState(t, call, "ringing")
		h.extState("201", "ringing")
		wantHeard(t, call, "user_transfer")
		h.advance(time.Second)
		h.expect("ANSWER visitor:1 ext:201", "BUSY ext:201")
		wantState(t, call, "talking")
		h.advance(9 * time.Second)
		if err := h.sim.HangUpExt("201"); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE visitor:1 ext:201", "Cdr IN 13800000001>60001 dur=10", "IDLE ext:201")
		if info := call.Info(); info.State != "ended" || info.EndReason != "extension hung up" {
			t.Fatalf("call %+v", info)
		}
	})

	t.Run("visitor to group, to outer, outer to extension", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) { c.Groups = map[string][]string{"1": {"201", "202"}} })
		if err := h.sim.SetExtPolicy("201", omsim.Policy{Answer: omsim.AnswerBusy}); err != nil {
			t.Fatal(err)
		}
		_, v := h.incoming(caller)
		h.connect(v.Ref(), group("1"), "")
		h.expect("QUEUE visitor:1 group:1", "RING visitor:1 ext:202")
		h.advance(time.Second)
		h.expect("ANSWER visitor:1 ext:202", "BUSY ext:202")
	})

	t.Run("visitor to outside number", func(t *testing.T) {
		h := newHarness(t, nil)
		call, v := h.incoming(caller)
		ev := h.connect(v.Ref(), dial(callee), "")
		if ev == nil || ev.Name != omproto.EventTransient || len(ev.Calls) != 1 {
			t.Fatalf("answer %+v, want TRANSIENT with the new outer", ev)
		}
		o := ev.Calls[0]
		if o.Kind != omproto.KindOuter || o.ID != "1" || o.To != callee || o.From != caller || o.Trunk != "60001" || o.CallID != v.CallID {
			t.Fatalf("TRANSIENT outer %+v, want outer 1 to %s on trunk 60001 sharing callid %s", o, callee, v.CallID)
		}
		h.expect("ALERT outer:1")
		wantState(t, call, "ringing")
		out := h.sim.CallsTo(callee)
		if len(out) != 1 || out[0].State() != "ringing" {
			t.Fatalf("CallsTo(%s) = %v", callee, out)
		}
		h.advance(2 * time.Second)
		h.expect("ANSWERED outer:1")
		wantState(t, call, "talking")
		wantState(t, out[0], "talking")
		if got := call.Info().Connected; got != "outer 1" {
			t.Fatalf("caller connected to %q, want outer 1", got)
		}
		h.advance(8 * time.Second)
		if err := call.HangUp(); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE visitor:1 outer:1", "Cdr IN 13800000001>60001 dur=10", "BYE outer:1", "Cdr OU 13800000001>13900000000 dur=8")
		wantState(t, out[0], "ended")
	})

	t.Run("visitor to outside number that is busy: the caller waits for the app", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.Numbers = map[string]omsim.Policy{callee: {Answer: omsim.AnswerBusy}}
		})
		h.assignMenu(omproto.AssignMenu{ID: "1", VoiceFile: "user_welcome", Repeat: 1})
		call, v := h.incoming(caller)
		h.connect(v.Ref(), dial(callee), "")
		h.advance(0)
		h.expect("FAILED outer:1 code=6", "BYE outer:1", "Cdr OU 13800000001>13900000000 dur=0")
		wantState(t, call, "waiting")
		h.connect(v.Ref(), menu("1"), "user_busy")
		h.advance(2 * time.Second)
		h.expect("EndOfAnn visitor:1 menu:1")
	})

	t.Run("menu to outside number, then outer to extension", func(t *testing.T) {
		h := newHarness(t, nil)
		h.assignMenu(omproto.AssignMenu{ID: "1", VoiceFile: "user_wakeup", Repeat: 1, InfoLength: 1})
		ev := h.connect(menu("1"), dial(callee), "")
		if ev == nil || ev.Name != omproto.EventTransient || len(ev.Calls) != 1 {
			t.Fatalf("answer %+v, want TRANSIENT", ev)
		}
		o := ev.Calls[0]
		if o.Kind != omproto.KindOuter || o.ID != "1" || o.To != callee || o.Trunk != "60001" || o.CallID == "" {
			t.Fatalf("TRANSIENT outer %+v", o)
		}
		got := h.expect("ALERT outer:1")
		if len(got[0].Event.Objects) != 0 {
			t.Fatalf("ALERT of a menu's call names %+v, want no ext", got[0].Event.Objects)
		}
		out := h.sim.CallsTo(callee)
		if len(out) != 1 {
			t.Fatalf("CallsTo = %v", out)
		}
		// The menu plays only once the callee answers.
		wantHeard(t, out[0])
		h.advance(2 * time.Second)
		h.expect("ANSWERED outer:1")
		wantState(t, out[0], "menu")
		if err := out[0].Press("3"); err != nil {
			t.Fatal(err)
		}
		got = h.expect("DTMF outer:1 menu:1 info=3")
		want := `<Event attribute="DTMF"><outer id="1" from="60001" to="13900000000" trunk="60001" callid="` + o.CallID + `"><menu id="1"/><info>3</info></outer></Event>`
		if body := string(got[0].Encode()); !strings.HasSuffix(body, want) {
			t.Fatalf("DTMF\n  got  %q\n  want …%q", body, want)
		}
		wantHeard(t, out[0], "user_wakeup~")

		h.connect(outerID("1"), ext("204"), "")
		h.expect("RING outer:1 ext:204")
		h.advance(time.Second)
		h.expect("ANSWER outer:1 ext:204", "BUSY ext:204")
		h.advance(4 * time.Second)
		if err := out[0].HangUp(); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE outer:1 ext:204", "Cdr OU 60001>13900000000 dur=5", "IDLE ext:204")
	})

	t.Run("outer to menu", func(t *testing.T) {
		h := newHarness(t, nil)
		h.assignMenu(omproto.AssignMenu{ID: "1", VoiceFile: "user_wakeup", Repeat: 1, InfoLength: 1})
		h.assignMenu(omproto.AssignMenu{ID: "2", VoiceFile: "user_survey_q1", Repeat: 1, InfoLength: 2})
		h.connect(menu("1"), dial(callee), "")
		h.advance(2 * time.Second)
		h.expect("ALERT outer:1", "ANSWERED outer:1")
		h.connect(outerID("1"), menu("2"), "user_survey_intro+user_survey_q1")
		h.advance(4 * time.Second)
		h.expect("EndOfAnn outer:1 menu:2")
		out := h.sim.CallsTo(callee)[0]
		wantHeard(t, out, "user_wakeup~", "user_survey_intro", "user_survey_q1")
		if err := out.Press("12"); err != nil {
			t.Fatal(err)
		}
		h.expect("DTMF outer:1 menu:2 info=12")
		if err := h.client.Clear(h.ctx, outerID("1")); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE outer:1 menu:2", "Cdr OU 60001>13900000000 dur=4")
		if info := out.Info(); info.State != "ended" || info.EndReason != "cleared" {
			t.Fatalf("callee %+v", info)
		}
	})

	t.Run("extension to extension", func(t *testing.T) {
		h := newHarness(t, nil)
		if ev := h.connect(ext("200"), ext("201"), ""); ev != nil {
			t.Fatalf("answer %+v, want empty", ev)
		}
		h.expect("RING ext:200")
		h.advance(time.Second)
		h.expect("ANSWER ext:200", "BUSY ext:200", "RING ext:201")
		h.advance(time.Second)
		h.expect("ANSWER ext:201", "BUSY ext:201")
		h.extState("200", "busy")
		h.extState("201", "busy")
		h.failCode(omproto.Connect{From: ext("202"), To: ext("201")}, omproto.CodeCalledTalking)
		h.advance(10 * time.Second)
		if err := h.sim.HangUpExt("201"); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE ext:200 ext:201", "Cdr LO 200>201 dur=10", "IDLE ext:200", "IDLE ext:201")
	})

	t.Run("extension to outside number on a chosen trunk", func(t *testing.T) {
		h := newHarness(t, nil)
		resp := h.mustDo(omproto.Connect{From: ext("208"), Trunk: "50017", To: dial(callee)})
		ev := resp.Event
		if ev == nil || ev.Name != omproto.EventTransient || len(ev.Calls) != 1 {
			t.Fatalf("answer %+v, want TRANSIENT", resp)
		}
		o := ev.Calls[0]
		if o.ID != "1" || o.From != "208" || o.To != callee || o.Trunk != "50017" || o.CallID == "" {
			t.Fatalf("TRANSIENT outer %+v, want outer 1 from 208 on trunk 50017", o)
		}
		h.expect("RING outer:1 ext:208")
		h.advance(time.Second)
		h.expect("ANSWER outer:1 ext:208", "BUSY ext:208", "ALERT outer:1 ext:208")
		h.advance(2 * time.Second)
		got := h.expect("ANSWERED outer:1 ext:208")
		if c := got[0].Event.Call(); c.Trunk != "50017" || c.From != "208" {
			t.Fatalf("ANSWERED outer %+v", c)
		}
		st, err := h.client.Query(h.ctx, omproto.KindExt, "208")
		if err != nil || len(st.Exts) != 1 || st.Exts[0].State != "active" || len(st.Exts[0].Calls) != 1 ||
			st.Exts[0].Calls[0].ID != "1" || st.Exts[0].Calls[0].State != "talk" {
			t.Fatalf("Query ext 208 = %+v, %v; want active with outer 1 talking", st, err)
		}
		st, err = h.client.Query(h.ctx, omproto.KindOuter, "1")
		if err != nil || len(st.Calls) != 1 || st.Calls[0].State != "talk" || len(st.Calls[0].Peers) != 1 || st.Calls[0].Peers[0] != ext("208") {
			t.Fatalf("Query outer 1 = %+v, %v; want talking with ext 208", st, err)
		}
		h.advance(5 * time.Second)
		if err := h.sim.HangUpExt("208"); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE outer:1 ext:208", "Cdr OU 208>13900000000 dur=5", "IDLE ext:208")
	})

	t.Run("extension to outside number, the callee hangs up", func(t *testing.T) {
		h := newHarness(t, nil)
		h.connect(ext("203"), dial(callee), "")
		h.advance(3 * time.Second)
		h.expect("RING outer:1 ext:203", "ANSWER outer:1 ext:203", "BUSY ext:203", "ALERT outer:1 ext:203", "ANSWERED outer:1 ext:203")
		if err := h.sim.CallsTo(callee)[0].HangUp(); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE outer:1 ext:203", "Cdr OU 203>13900000000 dur=1", "IDLE ext:203")
		h.extState("203", "idle")
	})

	t.Run("two outside numbers bridged (callback)", func(t *testing.T) {
		h := newHarness(t, nil)
		const a, b = "13700000001", "13700000002"
		ev := h.connect(dial(a), dial(b), "")
		if ev == nil || ev.Name != omproto.EventTransient || len(ev.Calls) != 2 {
			t.Fatalf("answer %+v, want TRANSIENT with two outers", ev)
		}
		if ev.Calls[0].ID != "1" || ev.Calls[0].To != a || ev.Calls[1].ID != "2" || ev.Calls[1].To != b ||
			ev.Calls[0].CallID == "" || ev.Calls[0].CallID != ev.Calls[1].CallID {
			t.Fatalf("TRANSIENT %+v, want outers 1→%s and 2→%s sharing a callid", ev.Calls, a, b)
		}
		h.expect("ALERT outer:1")
		h.advance(2 * time.Second)
		h.expect("ANSWERED outer:1", "ALERT outer:2")
		h.advance(2 * time.Second)
		h.expect("ANSWERED outer:2")
		ca, cb := h.sim.CallsTo(a)[0], h.sim.CallsTo(b)[0]
		wantState(t, ca, "talking")
		wantState(t, cb, "talking")
		h.advance(6 * time.Second)
		if err := cb.HangUp(); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE outer:2 outer:1", "Cdr CB 60001>13700000002 dur=6", "BYE outer:1", "Cdr CB 60001>13700000001 dur=8")
		wantState(t, ca, "ended")
	})

	t.Run("callback whose first number is busy", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.Numbers = map[string]omsim.Policy{"13700000001": {Answer: omsim.AnswerBusy}}
		})
		h.connect(dial("13700000001"), dial("13700000002"), "")
		h.advance(0)
		h.expect("FAILED outer:1 code=6", "BYE outer:1", "Cdr CB 60001>13700000001 dur=0", "BYE outer:2", "Cdr CB 60001>13700000002 dur=0")
		// Nothing is left live.
		st, err := h.client.Query(h.ctx, omproto.KindOuter, "")
		if err != nil || len(st.Calls) != 0 {
			t.Fatalf("live outers after the callback failed: %+v, %v", st, err)
		}
		if got := h.sim.CallsTo("13700000002"); len(got) != 0 {
			t.Fatalf("the second number was dialled: %v", got)
		}
	})

	t.Run("a file played to an extension mid-call", func(t *testing.T) {
		h := newHarness(t, nil)
		_, v := h.incoming(caller)
		h.connect(v.Ref(), ext("201"), "")
		h.advance(time.Second)
		h.expect("RING visitor:1 ext:201", "ANSWER visitor:1 ext:201", "BUSY ext:201")
		if ev := h.connect(ext("201"), omproto.Ref{}, "user_thanks"); ev != nil {
			t.Fatalf("answer %+v, want empty", ev)
		}
		h.failCode(omproto.Connect{From: ext("202"), VoiceFile: "user_thanks"}, omproto.CodeFailed)
		h.failCode(omproto.Connect{From: ext("201"), VoiceFile: "user_nosuch"}, omproto.CodeFailed)
		h.expect()
	})
}

// TestGroupsAndQueues checks a call waiting in a group until a member is
// free, Transfer Queue to a group and to an extension.
func TestGroupsAndQueues(t *testing.T) {
	h := newHarness(t, func(c *omsim.Config) { c.Groups = map[string][]string{"1": {"201"}} })
	_, v1 := h.incoming(caller)
	h.connect(v1.Ref(), ext("201"), "")
	h.advance(time.Second)
	h.expect("RING visitor:1 ext:201", "ANSWER visitor:1 ext:201", "BUSY ext:201")

	c2, v2 := h.incoming("13800000002")
	if err := h.client.Queue(h.ctx, v2.Ref(), group("1")); err != nil {
		t.Fatal(err)
	}
	h.expect("QUEUE visitor:2 group:1")
	wantState(t, c2, "queued")
	st, err := h.client.Query(h.ctx, omproto.KindGroup, "1")
	if err != nil || len(st.Groups) != 1 || len(st.Groups[0].Calls) != 1 || st.Groups[0].Calls[0].ID != "2" {
		t.Fatalf("Query group 1 = %+v, %v; want visitor 2 waiting", st, err)
	}
	st, err = h.client.Query(h.ctx, omproto.KindVisitor, "2")
	if err != nil || len(st.Calls) != 1 || len(st.Calls[0].Peers) != 1 || st.Calls[0].Peers[0] != group("1") {
		t.Fatalf("Query visitor 2 = %+v, %v; want it in group 1", st, err)
	}

	c3, v3 := h.incoming("13800000003")
	if err := h.client.Queue(h.ctx, v3.Ref(), ext("201")); err != nil {
		t.Fatal(err)
	}
	h.expect("QUEUE visitor:3 ext:201")
	st, err = h.client.Query(h.ctx, omproto.KindVisitor, "3")
	if err != nil || len(st.Calls) != 1 || len(st.Calls[0].Peers) != 1 || st.Calls[0].Peers[0] != ext("201") {
		t.Fatalf("Query visitor 3 = %+v, %v; want it queued at ext 201", st, err)
	}
	// The extension's queue is not a group.
	if _, err := h.client.Query(h.ctx, omproto.KindGroup, "201"); !errors.Is(err, omproto.ErrNotFound) {
		t.Fatalf("Query group 201: %v, want not found", err)
	}

	// 201 hangs up: the first caller waiting rings it.
	h.advance(5 * time.Second)
	if err := h.sim.HangUpExt("201"); err != nil {
		t.Fatal(err)
	}
	h.expect("BYE visitor:1 ext:201", "Cdr IN 13800000001>60001 dur=6", "IDLE ext:201", "RING visitor:2 ext:201")
	h.advance(time.Second)
	h.expect("ANSWER visitor:2 ext:201", "BUSY ext:201")
	wantState(t, c2, "talking")
	wantState(t, c3, "queued")
	if err := c2.HangUp(); err != nil {
		t.Fatal(err)
	}
	h.expect("BYE visitor:2 ext:201", "Cdr IN 13800000002>60001 dur=6", "IDLE ext:201", "RING visitor:3 ext:201")
	// A caller leaving the queue leaves it.
	if err := c3.HangUp(); err != nil {
		t.Fatal(err)
	}
	h.expect("BYE visitor:3 ext:201", "Cdr IN 13800000003>60001 dur=6")
	h.extState("201", "idle")

	t.Run("a group assigned by the API", func(t *testing.T) {
		st, err := h.client.AssignGroup(h.ctx, omproto.AssignGroup{ID: "2", Distribution: "sequential", Exts: []string{"205", "206"}})
		if err != nil || len(st.Groups) != 1 || !reflect.DeepEqual(st.Groups[0].Exts, []string{"205", "206"}) {
			t.Fatalf("AssignGroup = %+v, %v", st, err)
		}
		_, v := h.incoming("13800000004")
		h.connect(v.Ref(), group("2"), "")
		h.expect("QUEUE visitor:1 group:2", "RING visitor:1 ext:205")
		if _, err := h.client.AssignGroup(h.ctx, omproto.AssignGroup{ID: "3", Exts: []string{"999"}}); !errors.Is(err, omproto.ErrNotFound) {
			t.Fatalf("AssignGroup with an unknown member: %v, want not found", err)
		}
	})
}

// TestOutboundPolicies checks menu→outer calls against each per-number
// policy.
func TestOutboundPolicies(t *testing.T) {
	type step struct {
		advance time.Duration
		want    []string
	}
	cases := []struct {
		name   string
		policy omsim.Policy
		steps  []step
		state  string
	}{
		{"answer after 3 s", omsim.Policy{Answer: omsim.AnswerAfter, Delay: 3 * time.Second},
			[]step{{0, []string{"ALERT outer:1"}}, {2999 * time.Millisecond, nil}, {time.Millisecond, []string{"ANSWERED outer:1"}},
				{10 * time.Second, []string{"EndOfAnn outer:1 menu:1"}}}, "parked"},
		{"the default: answer after 2 s", omsim.Policy{},
			[]step{{0, []string{"ALERT outer:1"}}, {2 * time.Second, []string{"ANSWERED outer:1"}}}, "menu"},
		{"answer, then press a key", omsim.Policy{Keys: "1"},
			[]step{{0, []string{"ALERT outer:1"}}, {2 * time.Second, []string{"ANSWERED outer:1"}}, {999 * time.Millisecond, nil},
				{time.Millisecond, []string{"DTMF outer:1 menu:1 info=1"}}}, "parked"},
		{"answer, then press keys spaced", omsim.Policy{Keys: "12", KeysDelay: 3 * time.Second, KeysGap: 500 * time.Millisecond},
			[]step{{2 * time.Second, []string{"ALERT outer:1", "ANSWERED outer:1"}}, {3 * time.Second, []string{"DTMF outer:1 menu:1 info=1"}},
				{500 * time.Millisecond, []string{"DTMF outer:1 menu:1 info=2"}}}, "parked"},
		{"busy", omsim.Policy{Answer: omsim.AnswerBusy},
			[]step{{0, []string{"FAILED outer:1 code=6", "BYE outer:1", "Cdr OU 60001>13900000000 dur=0"}}}, "ended"},
		{"fail", omsim.Policy{Answer: omsim.AnswerFail},
			[]step{{0, []string{"FAILED outer:1 code=1", "BYE outer:1", "Cdr OU 60001>13900000000 dur=0"}}}, "ended"},
		{"no answer", omsim.Policy{Answer: omsim.AnswerNoAnswer},
			[]step{{0, []string{"ALERT outer:1"}}, {10*time.Second - time.Millisecond, nil},
				{time.Millisecond, []string{"BYE outer:1", "Cdr OU 60001>13900000000 dur=0"}}}, "ended"},
		{"manual, never answered", omsim.Policy{Answer: omsim.AnswerManual},
			[]step{{0, []string{"ALERT outer:1"}}, {time.Hour, nil}}, "ringing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, func(cfg *omsim.Config) { cfg.NoAnswerTimeout = 10 * time.Second })
			h.assignMenu(omproto.AssignMenu{ID: "1", VoiceFile: "user_code_is", Repeat: 2, InfoLength: 1})
			if err := h.sim.SetNumberPolicy(callee, c.policy); err != nil {
				t.Fatal(err)
			}
			ev := h.connect(menu("1"), dial(callee), "")
			if ev == nil || ev.Name != omproto.EventTransient || ev.Calls[0].ID != "1" {
				t.Fatalf("answer %+v, want TRANSIENT naming outer 1", ev)
			}
			for _, s := range c.steps {
				h.advance(s.advance)
				h.expect(s.want...)
			}
			out := h.sim.CallsTo(callee)
			if len(out) != 1 {
				t.Fatalf("CallsTo = %v", out)
			}
			info := out[0].Info()
			if info.State != c.state || info.Direction != "out" || info.To != callee {
				t.Fatalf("callee %+v, want state %s", info, c.state)
			}
		})
	}

	t.Run("manual: Call.Answer picks up", func(t *testing.T) {
		h := newHarness(t, func(cfg *omsim.Config) {
			cfg.Outside = omsim.Policy{Answer: omsim.AnswerManual}
		})
		h.assignMenu(omproto.AssignMenu{ID: "1", VoiceFile: "user_code_is", Repeat: 1})
		h.connect(menu("1"), dial(callee), "user_code_is+user_digit_4+user_digit_2")
		h.advance(time.Minute)
		h.expect("ALERT outer:1")
		out := h.sim.CallsTo(callee)[0]
		wantState(t, out, "ringing")
		if err := out.Answer(); err != nil {
			t.Fatal(err)
		}
		h.expect("ANSWERED outer:1")
		if err := out.Answer(); !errors.Is(err, omsim.ErrNotRinging) {
			t.Fatalf("second Answer: %v, want ErrNotRinging", err)
		}
		h.advance(6 * time.Second)
		h.expect("EndOfAnn outer:1 menu:1")
		wantHeard(t, out, "user_code_is", "user_digit_4", "user_digit_2")
		if err := out.HangUp(); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE outer:1 menu:1", "Cdr OU 60001>13900000000 dur=6")
		if err := out.Answer(); !errors.Is(err, omsim.ErrCallEnded) {
			t.Fatalf("Answer after the end: %v, want ErrCallEnded", err)
		}
	})

	t.Run("SetNumberPolicy refuses what does not apply to numbers", func(t *testing.T) {
		h := newHarness(t, nil)
		for _, p := range []omsim.Policy{{Answer: omsim.AnswerOffline}, {Answer: "maybe"}, {Keys: "x"}, {Delay: -time.Second}} {
			if err := h.sim.SetNumberPolicy(callee, p); err == nil {
				t.Errorf("SetNumberPolicy(%+v) succeeded", p)
			}
		}
	})
}

// TestCdr checks every field of a call record.
func TestCdr(t *testing.T) {
	for _, trunkType := range []string{"IP", "XO"} {
		t.Run(trunkType, func(t *testing.T) {
			h := newHarness(t, func(c *omsim.Config) { c.TrunkType = trunkType })
			call, v := h.incoming(caller)
			h.advance(2500 * time.Millisecond)
			h.connect(v.Ref(), menu("1"), "user_welcome")
			h.advance(1200 * time.Millisecond)
			if err := call.HangUp(); err != nil {
				t.Fatal(err)
			}
			got := h.expect("BYE visitor:1 menu:1", "Cdr IN 13800000001>60001 dur=4")
			c := got[1].Cdr
			want := omproto.Cdr{
				ID: c.ID, CallID: v.CallID, TimeStart: "20260309175000", TimeEnd: "20260309175003",
				Type: "IN", Route: trunkType, CPN: caller, CDPN: "60001", Duration: 4, TrunkNumber: "60001",
			}
			if c.ID == "" || !reflect.DeepEqual(*c, want) {
				t.Fatalf("Cdr\n  got  %+v\n  want %+v", *c, want)
			}
		})
	}

	t.Run("an answered call lasts at least a second", func(t *testing.T) {
		h := newHarness(t, nil)
		call, _ := h.incoming(caller)
		h.advance(300 * time.Millisecond)
		if err := call.HangUp(); err != nil {
			t.Fatal(err)
		}
		// Duration 0 means never answered; this call was (by the device,
		// at INCOMING).
		h.expect("BYE visitor:1", "Cdr IN 13800000001>60001 dur=1")
	})

	t.Run("record ids are unique", func(t *testing.T) {
		h := newHarness(t, nil)
		for i := 0; i < 3; i++ {
			c, _ := h.incoming(caller)
			if err := c.HangUp(); err != nil {
				t.Fatal(err)
			}
			h.take()
		}
		h.settle()
		seen := map[string]bool{}
		for _, r := range h.col.all() {
			if r.Report.Cdr != nil {
				if seen[r.Report.Cdr.ID] {
					t.Fatalf("Cdr id %s twice", r.Report.Cdr.ID)
				}
				seen[r.Report.Cdr.ID] = true
			}
		}
		if len(seen) != 3 {
			t.Fatalf("%d Cdrs, want 3", len(seen))
		}
	})
}

// TestIDsReused checks that visitor and outer ids are reused after
// release, as the device does, while callids are not.
func TestIDsReused(t *testing.T) {
	h := newHarness(t, nil)
	c1, v1 := h.incoming(caller)
	_, v2 := h.incoming("13800000002")
	if v1.ID != "1" || v2.ID != "2" {
		t.Fatalf("visitors %s and %s, want 1 and 2", v1.ID, v2.ID)
	}
	if err := c1.HangUp(); err != nil {
		t.Fatal(err)
	}
	h.take()
	c3, v3 := h.incoming("13800000003")
	if v3.ID != "1" || v3.CallID == v1.CallID {
		t.Fatalf("third visitor %+v, want id 1 again with a new callid (first was %s)", v3, v1.CallID)
	}
	if c3.ID() == c1.ID() {
		t.Fatalf("the simulator's call id %s was reused", c3.ID())
	}
	if h.sim.Call(c1.ID()).State() != "ended" {
		t.Fatal("the first call is no longer ended")
	}

	o1 := h.connect(menu("1"), dial("13900000001"), "").Calls[0]
	o2 := h.connect(menu("1"), dial("13900000002"), "").Calls[0]
	if o1.ID != "1" || o2.ID != "2" {
		t.Fatalf("outers %s and %s, want 1 and 2", o1.ID, o2.ID)
	}
	if err := h.client.Clear(h.ctx, outerID("1")); err != nil {
		t.Fatal(err)
	}
	if o3 := h.connect(menu("1"), dial("13900000003"), "").Calls[0]; o3.ID != "1" || o3.CallID == o1.CallID {
		t.Fatalf("third outer %+v, want id 1 again with a new callid", o3)
	}
	if n := len(h.sim.Calls()); n != 6 {
		t.Fatalf("Calls() has %d calls, want 6", n)
	}
	if n := len(h.sim.LiveCalls()); n != 4 {
		t.Fatalf("LiveCalls() has %d calls, want 4", n)
	}
}

// TestAnswerBeforeReports checks that the reports a command causes come
// after its answer: the TRANSIENT of a new outer leg before its ALERT, the
// answer of a Connect before the RING it causes.
func TestAnswerBeforeReports(t *testing.T) {
	clk := clock.NewVirtual(epoch)
	sim, err := omsim.New(omsim.DefaultConfig(), clk)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	sim.SetLogf(func(format string, args ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(format, args...))
		mu.Unlock()
	})
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	client := &omproto.Client{BaseURL: sim.URL(), QueryRetries: -1}
	ctx := t.Context()
	// The lines about answers and reports logged since the last call.
	seen := 0
	logged := func() []string {
		sim.Settle()
		mu.Lock()
		defer mu.Unlock()
		var got []string
		for _, l := range lines[seen:] {
			if strings.HasPrefix(l, "answered ") || strings.HasPrefix(l, "report ") {
				got = append(got, l)
			}
		}
		seen = len(lines)
		return got
	}
	if got, want := logged(), []string{"report BOOTUP kept"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("log %q, want %q", got, want)
	}
	for _, c := range []struct {
		cmd  omproto.Connect
		want []string
	}{
		{omproto.Connect{From: menu("1"), To: dial(callee)}, []string{"answered Transfer Connect: HTTP 200", "report ALERT kept"}},
		{omproto.Connect{From: ext("201"), To: ext("202")}, []string{"answered Transfer Connect: HTTP 200", "report RING kept"}},
		{omproto.Connect{From: ext("203"), To: dial(callee)}, []string{"answered Transfer Connect: HTTP 200", "report RING kept"}},
	} {
		if _, err := client.Connect(ctx, c.cmd); err != nil {
			t.Fatal(err)
		}
		if got := logged(); !reflect.DeepEqual(got, c.want) {
			t.Fatalf("Connect %v → %v: log\n  got  %q\n  want %q", c.cmd.From, c.cmd.To, got, c.want)
		}
	}
}

// TestTransferExtensionsOutsideCall checks that moving an extension's
// outside call elsewhere releases the extension.
func TestTransferExtensionsOutsideCall(t *testing.T) {
	h := newHarness(t, nil)
	h.assignMenu(omproto.AssignMenu{ID: "1", VoiceFile: "user_survey_intro", Repeat: 1})
	h.connect(ext("208"), dial(callee), "")
	h.advance(3 * time.Second)
	h.expect("RING outer:1 ext:208", "ANSWER outer:1 ext:208", "BUSY ext:208", "ALERT outer:1 ext:208", "ANSWERED outer:1 ext:208")
	h.connect(outerID("1"), menu("1"), "")
	h.expect("IDLE ext:208")
	h.extState("208", "idle")
	h.advance(2 * time.Second)
	h.expect("EndOfAnn outer:1 menu:1")
	st, err := h.client.Query(h.ctx, omproto.KindExt, "208")
	if err != nil || len(st.Exts[0].Calls) != 0 {
		t.Fatalf("Query ext 208 = %+v, %v; want no call", st, err)
	}
	if err := h.sim.CallsTo(callee)[0].HangUp(); err != nil {
		t.Fatal(err)
	}
	h.expect("BYE outer:1 menu:1", "Cdr OU 208>13900000000 dur=2")
}
