package omsim_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

func heard(files ...string) []omsim.Heard {
	out := []omsim.Heard{}
	for _, f := range files {
		completed := !strings.HasSuffix(f, "~")
		out = append(out, omsim.Heard{File: strings.TrimSuffix(f, "~"), Completed: completed})
	}
	return out
}

func wantHeard(t *testing.T, c *omsim.Call, want ...string) {
	t.Helper()
	if got := c.Heard(); !reflect.DeepEqual(got, heard(want...)) {
		t.Fatalf("heard %+v, want %+v", got, heard(want...))
	}
}

// menuCall starts a device with the menu assigned and a caller connected to
// it (with voicefile as the per-call prompt when not empty).
func menuCall(t *testing.T, m omproto.AssignMenu, voicefile string, edit func(*omsim.Config)) (*harness, *omsim.Call) {
	t.Helper()
	h := newHarness(t, edit)
	h.assignMenu(m)
	call, v := h.incoming(caller)
	h.connect(v.Ref(), menu(m.ID), voicefile)
	h.expect()
	wantState(t, call, "menu")
	return h, call
}

// TestMenuPlayback checks what a caller hears: the menu's file or the
// per-call override, + chains in order, each repeat, configurable
// durations, and EndOfAnn only after the last repeat.
func TestMenuPlayback(t *testing.T) {
	durations := func(c *omsim.Config) {
		c.VoiceFiles = omsim.DefaultVoiceFiles()
		c.VoiceFiles["user_long"] = 7 * time.Second
	}
	cases := []struct {
		name      string
		menu      omproto.AssignMenu
		voicefile string
		endAt     time.Duration // when EndOfAnn comes
		heard     []string
	}{
		{"the menu's file, once", omproto.AssignMenu{ID: "1", VoiceFile: "user_welcome", Repeat: 1}, "", 2 * time.Second, []string{"user_welcome"}},
		{"a per-call override", omproto.AssignMenu{ID: "1", VoiceFile: "user_welcome", Repeat: 1}, "user_menu", 2 * time.Second, []string{"user_menu"}},
		{"silence lasts 1 s", omproto.AssignMenu{ID: "1", VoiceFile: "silence", Repeat: 1}, "", time.Second, []string{"silence"}},
		{"a configured duration", omproto.AssignMenu{ID: "1", VoiceFile: "user_long", Repeat: 1}, "", 7 * time.Second, []string{"user_long"}},
		{"a chain, each file in order", omproto.AssignMenu{ID: "2", VoiceFile: "user_welcome", Repeat: 1}, "user_digit_4+user_digit_8+silence+user_long",
			12 * time.Second, []string{"user_digit_4", "user_digit_8", "silence", "user_long"}},
		{"repeat 3", omproto.AssignMenu{ID: "3", VoiceFile: "user_menu", Repeat: 3}, "", 6 * time.Second, []string{"user_menu", "user_menu", "user_menu"}},
		{"a chain repeated", omproto.AssignMenu{ID: "50", VoiceFile: "user_welcome+silence", Repeat: 2}, "",
			6 * time.Second, []string{"user_welcome", "silence", "user_welcome", "silence"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, call := menuCall(t, c.menu, c.voicefile, durations)
			h.advance(c.endAt - time.Millisecond)
			h.expect()
			wantState(t, call, "menu")
			h.advance(time.Millisecond)
			h.expect("EndOfAnn visitor:1 menu:" + c.menu.ID)
			wantState(t, call, "parked")
			wantHeard(t, call, c.heard...)
			// Parked in silence: nothing more is played or reported.
			h.advance(time.Hour)
			h.expect()
			wantHeard(t, call, c.heard...)
			if info := call.Info(); info.Connected != "menu "+c.menu.ID {
				t.Fatalf("parked call connected to %q, want menu %s", info.Connected, c.menu.ID)
			}
		})
	}

	t.Run("repeat 0 loops forever", func(t *testing.T) {
		h, call := menuCall(t, omproto.AssignMenu{ID: "1", VoiceFile: "user_welcome+silence", Repeat: 0}, "", nil)
		h.advance(3 * time.Hour)
		h.expect()
		wantState(t, call, "menu")
		got := call.Heard()
		// 3 s per round: 3600 rounds, two files each, and the next one
		// started.
		if len(got) != 7201 || got[7199] != (omsim.Heard{File: "silence", Completed: true}) || got[7200] != (omsim.Heard{File: "user_welcome"}) {
			t.Fatalf("heard %d files, ending %+v", len(got), got[len(got)-2:])
		}
	})

	t.Run("a menu without a file ends at once", func(t *testing.T) {
		h := newHarness(t, nil)
		call, v := h.incoming(caller)
		h.connect(v.Ref(), menu("9"), "")
		h.expect("EndOfAnn visitor:1 menu:9")
		wantState(t, call, "parked")
	})

	t.Run("the wire shape of EndOfAnn: call and menu are siblings", func(t *testing.T) {
		h, _ := menuCall(t, omproto.AssignMenu{ID: "4", VoiceFile: "silence", Repeat: 1}, "", nil)
		h.clk.Advance(time.Second)
		got := h.take()
		if len(got) != 1 {
			t.Fatalf("got %q", describeAll(got))
		}
		v := got[0].Report.Event.Call()
		want := `<Event attribute="EndOfAnn"><visitor id="1" from="13800000001" to="60001" callid="` + v.CallID + `"/><menu id="4"/></Event>`
		if !strings.HasSuffix(got[0].Body, want) {
			t.Fatalf("EndOfAnn body\n  got  %q\n  want …%q", got[0].Body, want)
		}
	})
}

// TestMenuKeys checks DTMF collection: infolength, the exit key, keys
// stopping the playback, keys after EndOfAnn.
func TestMenuKeys(t *testing.T) {
	cases := []struct {
		name  string
		menu  omproto.AssignMenu
		steps []keyStep
	}{
		{"infolength 1 reports each key", omproto.AssignMenu{ID: "1", VoiceFile: "user_menu", Repeat: 1, InfoLength: 1},
			[]keyStep{{keys: "1", want: []string{"1"}}, {keys: "2#", want: []string{"2", "#"}}}},
		{"infolength defaults to 1", omproto.AssignMenu{ID: "1", VoiceFile: "user_menu", Repeat: 1},
			[]keyStep{{keys: "*", want: []string{"*"}}}},
		{"infolength 3 reports after three keys and counts again", omproto.AssignMenu{ID: "1", VoiceFile: "user_menu", Repeat: 1, InfoLength: 3},
			[]keyStep{{keys: "12"}, {keys: "3", want: []string{"123"}}, {keys: "45"}, {keys: "67", want: []string{"456"}}, {keys: "89", want: []string{"789"}}}},
		{"the exit key reports the keys so far at once", omproto.AssignMenu{ID: "1", VoiceFile: "user_menu", Repeat: 1, InfoLength: 5, Exit: "#"},
			[]keyStep{{keys: "12"}, {keys: "#", want: []string{"12#"}}, {keys: "#", want: []string{"#"}}, {keys: "12345", want: []string{"12345"}}}},
		{"another exit key", omproto.AssignMenu{ID: "1", VoiceFile: "user_menu", Repeat: 1, InfoLength: 4, Exit: "*"},
			[]keyStep{{keys: "9#*", want: []string{"9#*"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, call := menuCall(t, c.menu, "", nil)
			for _, s := range c.steps {
				if err := call.Press(s.keys); err != nil {
					t.Fatal(err)
				}
				var want []string
				for _, info := range s.want {
					want = append(want, "DTMF visitor:1 menu:1 info="+info)
				}
				h.expect(want...)
			}
			// The first key stopped the prompt: it is heard, not
			// completed, and no EndOfAnn follows.
			wantHeard(t, call, "user_menu~")
			h.advance(time.Hour)
			h.expect()
			wantState(t, call, "parked")
		})
	}

	t.Run("the wire shape of DTMF: menu and info inside the call", func(t *testing.T) {
		h, call := menuCall(t, omproto.AssignMenu{ID: "1", VoiceFile: "user_menu", Repeat: 1, InfoLength: 4, Exit: "#"}, "", nil)
		if err := call.Press("123#"); err != nil {
			t.Fatal(err)
		}
		got := h.take()
		if len(got) != 1 {
			t.Fatalf("got %q", describeAll(got))
		}
		v := got[0].Report.Event.Call()
		want := `<Event attribute="DTMF"><visitor id="1" from="13800000001" to="60001" callid="` + v.CallID + `"><menu id="1"/><info>123#</info></visitor></Event>`
		if !strings.HasSuffix(got[0].Body, want) {
			t.Fatalf("DTMF body\n  got  %q\n  want …%q", got[0].Body, want)
		}
	})

	t.Run("a key mid-chain: earlier files completed, the current one cut", func(t *testing.T) {
		h, call := menuCall(t, omproto.AssignMenu{ID: "1", VoiceFile: "user_welcome", Repeat: 2, InfoLength: 2}, "user_digit_1+user_digit_2+user_digit_3", nil)
		h.advance(3 * time.Second)
		if err := call.Press("5"); err != nil {
			t.Fatal(err)
		}
		h.expect()
		wantState(t, call, "parked")
		wantHeard(t, call, "user_digit_1", "user_digit_2~")
		h.advance(time.Hour)
		h.expect()
		if err := call.Press("6"); err != nil {
			t.Fatal(err)
		}
		h.expect("DTMF visitor:1 menu:1 info=56")
	})

	t.Run("keys after EndOfAnn are still reported", func(t *testing.T) {
		h, call := menuCall(t, omproto.AssignMenu{ID: "1", VoiceFile: "user_menu", Repeat: 1, InfoLength: 2}, "", nil)
		h.advance(2 * time.Second)
		h.expect("EndOfAnn visitor:1 menu:1")
		h.advance(10 * time.Second)
		if err := call.Press("42"); err != nil {
			t.Fatal(err)
		}
		h.expect("DTMF visitor:1 menu:1 info=42")
		wantHeard(t, call, "user_menu")
	})

	t.Run("DropKeysAfterEndOfAnn", func(t *testing.T) {
		h, call := menuCall(t, omproto.AssignMenu{ID: "1", VoiceFile: "user_menu", Repeat: 1}, "", func(c *omsim.Config) {
			c.DropKeysAfterEndOfAnn = true
		})
		// Before EndOfAnn keys count.
		if err := call.Press("1"); err != nil {
			t.Fatal(err)
		}
		h.expect("DTMF visitor:1 menu:1 info=1")
		// A fresh prompt to its end, then keys are lost.
		_, v := call.Leg()
		h.connect(visitor(v), menu("1"), "")
		h.advance(2 * time.Second)
		h.expect("EndOfAnn visitor:1 menu:1")
		if err := call.Press("2"); err != nil {
			t.Fatal(err)
		}
		h.expect()
		if got := call.Info().Keys; got != "12" {
			t.Fatalf("the caller pressed %q, want 12 (the device ignored the 2)", got)
		}
	})

	t.Run("PressGap spaces keys on the virtual clock", func(t *testing.T) {
		h, call := menuCall(t, omproto.AssignMenu{ID: "1", VoiceFile: "user_menu", Repeat: 1, InfoLength: 3}, "", nil)
		if err := call.PressGap("123", 500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		h.expect()
		// The first key went at once and stopped the prompt.
		wantState(t, call, "parked")
		if got := call.Info().Keys; got != "1" {
			t.Fatalf("keys pressed %q, want 1", got)
		}
		h.advance(999 * time.Millisecond)
		h.expect()
		if got := call.Info().Keys; got != "12" {
			t.Fatalf("keys pressed %q at 0.999 s, want 12", got)
		}
		h.advance(time.Millisecond)
		h.expect("DTMF visitor:1 menu:1 info=123")
	})

	t.Run("a new Connect stops the old prompt", func(t *testing.T) {
		h, call := menuCall(t, omproto.AssignMenu{ID: "1", VoiceFile: "user_menu", Repeat: 1}, "", nil)
		h.assignMenu(omproto.AssignMenu{ID: "2", VoiceFile: "user_bye", Repeat: 1, InfoLength: 2})
		h.advance(time.Second)
		_, v := call.Leg()
		h.connect(visitor(v), menu("2"), "")
		h.advance(1999 * time.Millisecond)
		h.expect()
		h.advance(time.Millisecond)
		h.expect("EndOfAnn visitor:1 menu:2")
		wantHeard(t, call, "user_menu~", "user_bye")
		if err := call.Press("77"); err != nil {
			t.Fatal(err)
		}
		h.expect("DTMF visitor:1 menu:2 info=77")
	})

	t.Run("keys outside a menu are not reported", func(t *testing.T) {
		h := newHarness(t, nil)
		call, _ := h.incoming(caller)
		if err := call.Press("1"); err != nil {
			t.Fatal(err)
		}
		h.expect()
	})
}

type keyStep struct {
	keys string
	want []string // DTMF infos reported
}

// TestMenuRange checks menu ids 1–50.
func TestMenuRange(t *testing.T) {
	h := newHarness(t, nil)
	_, v := h.incoming(caller)
	for _, id := range []string{"0", "51", "x"} {
		if _, err := h.client.Connect(h.ctx, omproto.Connect{From: v.Ref(), To: menu(id)}); err == nil || !strings.Contains(err.Error(), "can't find menu:"+id) {
			t.Errorf("Connect to menu %s: %v, want can't find menu", id, err)
		}
		if _, err := h.client.AssignMenu(h.ctx, omproto.AssignMenu{ID: id, VoiceFile: "welcome"}); err == nil {
			t.Errorf("Assign menu %s succeeded", id)
		}
	}
	h.assignMenu(omproto.AssignMenu{ID: "50", VoiceFile: "welcome", Repeat: 1})
	h.connect(v.Ref(), menu("50"), "")
	h.advance(2 * time.Second)
	h.expect("EndOfAnn visitor:1 menu:50")
}
