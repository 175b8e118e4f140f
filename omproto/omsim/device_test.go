package omsim_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// TestExtPolicies checks how extensions answer: after a delay, manually,
// never, and going offline and online.
func TestExtPolicies(t *testing.T) {
	t.Run("after a delay", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"201": {Answer: omsim.AnswerAfter, Delay: 3 * time.Second}}
		})
		_, v := h.incoming(caller)
		h.connect(v.Ref(), ext("201"), "")
		h.advance(3*time.Second - time.Millisecond)
		h.expect("RING visitor:1 ext:201")
		h.extState("201", "ringing")
		h.advance(time.Millisecond)
		h.expect("ANSWER visitor:1 ext:201", "BUSY ext:201")
		h.extState("201", "busy")
	})

	t.Run("manual", func(t *testing.T) {
		h := newHarness(t, nil)
		if err := h.sim.SetExtPolicy("201", omsim.Policy{Answer: omsim.AnswerManual}); err != nil {
			t.Fatal(err)
		}
		if err := h.sim.AnswerExt("201"); !errors.Is(err, omsim.ErrNotRinging) {
			t.Fatalf("AnswerExt of an idle ext: %v, want ErrNotRinging", err)
		}
		call, v := h.incoming(caller)
		h.connect(v.Ref(), ext("201"), "")
		h.advance(time.Hour)
		h.expect("RING visitor:1 ext:201")
		if err := h.sim.AnswerExt("201"); err != nil {
			t.Fatal(err)
		}
		h.expect("ANSWER visitor:1 ext:201", "BUSY ext:201")
		wantState(t, call, "talking")
	})

	t.Run("no answer: rings until the caller gives up", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"201": {Answer: omsim.AnswerNoAnswer}}
		})
		call, v := h.incoming(caller)
		h.connect(v.Ref(), ext("201"), "")
		h.advance(time.Hour)
		h.expect("RING visitor:1 ext:201")
		if err := call.HangUp(); err != nil {
			t.Fatal(err)
		}
		// It never answered: no IDLE.
		h.expect("BYE visitor:1 ext:201", "Cdr IN 13800000001>60001 dur=3600")
		h.extState("201", "idle")
	})

	t.Run("offline and back", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"209": {Answer: omsim.AnswerOffline}}
		})
		// Offline from the start: no report at boot.
		h.extState("209", "offline")
		if err := h.sim.SetExtPolicy("209", omsim.Policy{}); err != nil {
			t.Fatal(err)
		}
		h.expect("ONLINE ext:209")
		h.extState("209", "idle")
		// A policy change on a registered ext reports nothing.
		if err := h.sim.SetExtPolicy("209", omsim.Policy{Answer: omsim.AnswerBusy}); err != nil {
			t.Fatal(err)
		}
		h.expect()
		if err := h.sim.SetExtPolicy("209", omsim.Policy{Answer: omsim.AnswerOffline}); err != nil {
			t.Fatal(err)
		}
		h.expect("OFFLINE ext:209")
		st, err := h.client.Query(h.ctx, omproto.KindExt, "209")
		if err != nil || st.Exts[0].State != "offline" {
			t.Fatalf("Query ext 209 = %+v, %v; want offline", st, err)
		}
		_, v := h.incoming(caller)
		h.failCode(omproto.Connect{From: v.Ref(), To: ext("209")}, omproto.CodeCalledOffline)
	})

	t.Run("going offline ends the call", func(t *testing.T) {
		h := newHarness(t, nil)
		call, v := h.incoming(caller)
		h.connect(v.Ref(), ext("203"), "")
		h.advance(time.Second)
		h.expect("RING visitor:1 ext:203", "ANSWER visitor:1 ext:203", "BUSY ext:203")
		if err := h.sim.SetExtPolicy("203", omsim.Policy{Answer: omsim.AnswerOffline}); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE visitor:1 ext:203", "Cdr IN 13800000001>60001 dur=1", "IDLE ext:203", "OFFLINE ext:203")
		wantState(t, call, "ended")
		h.extState("203", "offline")
	})

	t.Run("going offline ends an extension-to-extension call", func(t *testing.T) {
		h := newHarness(t, nil)
		h.connect(ext("200"), ext("201"), "")
		h.advance(2 * time.Second)
		h.expect("RING ext:200", "ANSWER ext:200", "BUSY ext:200", "RING ext:201", "ANSWER ext:201", "BUSY ext:201")
		h.advance(4 * time.Second)
		if err := h.sim.SetExtPolicy("201", omsim.Policy{Answer: omsim.AnswerOffline}); err != nil {
			t.Fatal(err)
		}
		h.expect("BYE ext:200 ext:201", "Cdr LO 200>201 dur=4", "IDLE ext:200", "IDLE ext:201", "OFFLINE ext:201")
		h.extState("200", "idle")
		h.extState("201", "offline")
		// 200 is free again.
		h.connect(ext("200"), ext("202"), "")
		h.expect("RING ext:200")
	})

	t.Run("going offline while ringing for a click-to-call", func(t *testing.T) {
		h := newHarness(t, func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"200": {Answer: omsim.AnswerManual}}
		})
		h.connect(ext("200"), ext("201"), "")
		h.expect("RING ext:200")
		if err := h.sim.SetExtPolicy("200", omsim.Policy{Answer: omsim.AnswerOffline}); err != nil {
			t.Fatal(err)
		}
		h.expect("OFFLINE ext:200")
		if err := h.sim.SetExtPolicy("200", omsim.Policy{}); err != nil {
			t.Fatal(err)
		}
		h.expect("ONLINE ext:200")
		// Registered again, it is idle with no call left over.
		h.advance(time.Minute)
		h.expect()
		h.extState("200", "idle")
		h.connect(ext("200"), ext("202"), "")
		h.advance(2 * time.Second)
		h.expect("RING ext:200", "ANSWER ext:200", "BUSY ext:200", "RING ext:202", "ANSWER ext:202", "BUSY ext:202")
	})

	t.Run("errors", func(t *testing.T) {
		h := newHarness(t, nil)
		if err := h.sim.SetExtPolicy("999", omsim.Policy{}); !errors.Is(err, omsim.ErrNoSuchExt) {
			t.Errorf("SetExtPolicy(999): %v, want ErrNoSuchExt", err)
		}
		if err := h.sim.SetExtPolicy("201", omsim.Policy{Answer: omsim.AnswerFail}); err == nil || !strings.Contains(err.Error(), "answer") {
			t.Errorf("SetExtPolicy(fail): %v, want an error naming answer", err)
		}
		if err := h.sim.AnswerExt("999"); !errors.Is(err, omsim.ErrNoSuchExt) {
			t.Errorf("AnswerExt(999): %v, want ErrNoSuchExt", err)
		}
		if err := h.sim.HangUpExt("999"); !errors.Is(err, omsim.ErrNoSuchExt) {
			t.Errorf("HangUpExt(999): %v, want ErrNoSuchExt", err)
		}
		if _, err := h.sim.ExtState("999"); !errors.Is(err, omsim.ErrNoSuchExt) {
			t.Errorf("ExtState(999): %v, want ErrNoSuchExt", err)
		}
		h.expect()
	})
}

// TestReboot checks that a reboot drops calls without reports, forgets the
// menus and groups the API assigned, keeps the configured ones, and reports
// BOOTUP.
func TestReboot(t *testing.T) {
	h := newHarness(t, func(c *omsim.Config) {
		c.Groups = map[string][]string{"1": {"201"}}
		c.Menus = map[int]omsim.MenuSettings{5: {VoiceFile: "user_menu", Repeat: 1, InfoLength: 2}}
	})
	h.assignMenu(omproto.AssignMenu{ID: "3", VoiceFile: "user_welcome", Repeat: 0})
	h.assignMenu(omproto.AssignMenu{ID: "5", VoiceFile: "user_bye", Repeat: 3})
	if _, err := h.client.AssignGroup(h.ctx, omproto.AssignGroup{ID: "2", Exts: []string{"202"}}); err != nil {
		t.Fatal(err)
	}
	inMenu, v1 := h.incoming(caller)
	h.connect(v1.Ref(), menu("3"), "")
	talking, v2 := h.incoming("13800000002")
	h.connect(v2.Ref(), ext("201"), "")
	h.connect(ext("203"), ext("204"), "")
	out := h.connect(menu("3"), dial(callee), "")
	h.advance(2 * time.Second)
	h.take()

	h.sim.Reboot()
	h.expect("BOOTUP")
	for _, c := range []*omsim.Call{inMenu, talking, h.sim.CallsTo(callee)[0]} {
		if info := c.Info(); info.State != "ended" || info.EndReason != "device rebooted" {
			t.Errorf("call %s after reboot: %+v", c.ID(), info)
		}
	}
	if out == nil {
		t.Fatal("no TRANSIENT")
	}
	for _, id := range []string{"201", "203", "204"} {
		h.extState(id, "idle")
		st, err := h.client.Query(h.ctx, omproto.KindExt, id)
		if err != nil || st.Exts[0].State != "ready" || len(st.Exts[0].Calls) != 0 {
			t.Errorf("Query ext %s after reboot = %+v, %v; want ready with no call", id, st, err)
		}
	}
	for _, k := range []omproto.Kind{omproto.KindVisitor, omproto.KindOuter} {
		if st, err := h.client.Query(h.ctx, k, ""); err != nil || len(st.Calls) != 0 {
			t.Errorf("Query %s after reboot = %+v, %v; want none", k, st, err)
		}
	}

	st, err := h.client.Query(h.ctx, omproto.KindMenu, "")
	if err != nil || len(st.Menus) != 1 || st.Menus[0].ID != "5" || st.Menus[0].VoiceFile != "user_menu" || st.Menus[0].Repeat != 1 {
		t.Fatalf("menus after reboot = %+v, %v; want only the configured menu 5", st, err)
	}
	if _, err := h.client.Query(h.ctx, omproto.KindGroup, "2"); !errors.Is(err, omproto.ErrNotFound) {
		t.Fatalf("Query group 2 after reboot: %v, want not found", err)
	}
	if st, err := h.client.Query(h.ctx, omproto.KindGroup, "1"); err != nil || len(st.Groups) != 1 {
		t.Fatalf("Query group 1 after reboot = %+v, %v; want the configured group", st, err)
	}

	// Nothing of the old calls fires later; the ids start over; the
	// extensions work.
	h.advance(time.Hour)
	h.expect()
	if err := h.sim.HangUpExt("201"); err != nil {
		t.Fatal(err)
	}
	h.expect()
	c, v := h.incoming("13800000003")
	if v.ID != "1" {
		t.Fatalf("first visitor after reboot is %s, want 1", v.ID)
	}
	h.connect(v.Ref(), ext("201"), "")
	h.advance(time.Second)
	h.expect("RING visitor:1 ext:201", "ANSWER visitor:1 ext:201", "BUSY ext:201")
	wantState(t, c, "talking")
	if err := talking.HangUp(); !errors.Is(err, omsim.ErrCallEnded) {
		t.Fatalf("HangUp of a call dropped by the reboot: %v, want ErrCallEnded", err)
	}
}

// TestConfigValidate checks that a bad configuration is refused with an
// error naming the field.
func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(c *omsim.Config)
		field string
	}{
		{"report method", func(c *omsim.Config) { c.ReportMethod = "PUT" }, "report_method"},
		{"trunk type", func(c *omsim.Config) { c.TrunkType = "ISDN" }, "trunk_type"},
		{"empty extension", func(c *omsim.Config) { c.Exts = []string{"200", ""} }, "exts"},
		{"extension twice", func(c *omsim.Config) { c.Exts = []string{"200", "200"} }, "exts: 200"},
		{"operator", func(c *omsim.Config) { c.Operator = "999" }, "operator"},
		{"policy of an unknown ext", func(c *omsim.Config) { c.ExtPolicies = map[string]omsim.Policy{"999": {}} }, "ext_policies: 999"},
		{"ext policy fail", func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"201": {Answer: omsim.AnswerFail}}
		}, "ext_policies.201: answer"},
		{"ext policy negative delay", func(c *omsim.Config) {
			c.ExtPolicies = map[string]omsim.Policy{"201": {Delay: -time.Second}}
		}, "ext_policies.201: delay"},
		{"group id", func(c *omsim.Config) { c.Groups = map[string][]string{"51": {"201"}} }, "groups"},
		{"group member", func(c *omsim.Config) { c.Groups = map[string][]string{"1": {"999"}} }, "groups.1"},
		{"menu id", func(c *omsim.Config) { c.Menus = map[int]omsim.MenuSettings{0: {}} }, "menus"},
		{"menu repeat", func(c *omsim.Config) { c.Menus = map[int]omsim.MenuSettings{1: {Repeat: -1}} }, "menus.1.repeat"},
		{"menu infolength", func(c *omsim.Config) { c.Menus = map[int]omsim.MenuSettings{1: {InfoLength: 256}} }, "menus.1.infolength"},
		{"menu exit", func(c *omsim.Config) { c.Menus = map[int]omsim.MenuSettings{1: {Exit: "0"}} }, "menus.1.exit"},
		{"menu voicefile", func(c *omsim.Config) { c.Menus = map[int]omsim.MenuSettings{1: {VoiceFile: "user_welcome+nosuch"}} }, "menus.1.voicefile"},
		{"number policy", func(c *omsim.Config) { c.Numbers = map[string]omsim.Policy{"1": {Answer: "maybe"}} }, "numbers.1: answer"},
		{"number policy offline", func(c *omsim.Config) { c.Numbers = map[string]omsim.Policy{"1": {Answer: omsim.AnswerOffline}} }, "numbers.1: answer"},
		{"outside keys", func(c *omsim.Config) { c.Outside = omsim.Policy{Keys: "1x"} }, "outside: keys"},
		{"voice file duration", func(c *omsim.Config) { c.VoiceFiles = map[string]time.Duration{"x": -time.Second} }, "voice_files.x"},
		{"file duration", func(c *omsim.Config) { c.FileDuration = -time.Second }, "file_duration"},
		{"response timeout", func(c *omsim.Config) { c.ResponseTimeout = -time.Second }, "response_timeout"},
		{"no answer timeout", func(c *omsim.Config) { c.NoAnswerTimeout = -time.Second }, "no_answer_timeout"},
		{"signature window", func(c *omsim.Config) { c.SignatureWindow = -time.Second }, "signature_window"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := omsim.DefaultConfig()
			c.edit(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), c.field) {
				t.Fatalf("Validate: %v, want an error starting %q", err, c.field)
			}
			if _, err := omsim.New(cfg, clock.NewVirtual(epoch)); err == nil || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("New: %v, want the Validate error", err)
			}
		})
	}
	t.Run("the default configuration is valid", func(t *testing.T) {
		cfg := omsim.DefaultConfig()
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.Operator != "200" || len(cfg.Exts) != 10 || cfg.FileDuration != 2*time.Second || cfg.VoiceFiles["silence"] != time.Second ||
			cfg.ResponseTimeout != 5*time.Second || cfg.ReportMethod != "GET" || cfg.Trunk != "60001" {
			t.Fatalf("DefaultConfig = %+v", cfg)
		}
	})
	t.Run("zero fields take the defaults", func(t *testing.T) {
		sim, err := omsim.New(omsim.Config{}, clock.NewVirtual(epoch))
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		if got := sim.Config(); got.Operator != omsim.DefaultOperator || got.Model != omsim.DefaultModel || got.NoAnswerTimeout != omsim.DefaultNoAnswerTimeout {
			t.Fatalf("Config() = %+v", got)
		}
	})
}
