package engine_test

import (
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// Menu ids on a device whose range is small. The first id is the play
// menu's and the second the park menu's at every start; prompts alternate
// between the play ids, and a recovered call's first prompt takes one the
// device did not show it in, so that a late report of the prompt that
// played at the restart stays stale.

var menuRE = regexp.MustCompile(`<menu id="(\d+)"`)

// menusSince lists the menu ids of the Connects the device received after
// command i: where each prompt (or the park) played.
func menusSince(sim *omsim.Sim, i int) []int {
	var out []int
	for _, c := range sim.Commands()[i:] {
		if c.Verb != omproto.VerbConnect {
			continue
		}
		if m := menuRE.FindStringSubmatch(c.Body); m != nil {
			n, _ := strconv.Atoi(m[1])
			out = append(out, n)
		}
	}
	return out
}

// assignsSince lists the menu assignments after command i, as "id
// repeat=N" (1 for play and gather, 0 for the looped park menu).
func assignsSince(sim *omsim.Sim, i int) []string {
	repeatRE := regexp.MustCompile(`<repeat>(\d+)</repeat>`)
	var out []string
	for _, c := range sim.Commands()[i:] {
		if c.Verb != omproto.VerbAssign {
			continue
		}
		m, r := menuRE.FindStringSubmatch(c.Body), repeatRE.FindStringSubmatch(c.Body)
		if m != nil && r != nil {
			out = append(out, m[1]+" repeat="+r[1])
		}
	}
	return out
}

// twoMenus leaves one id for prompts (49) and one for the park (50);
// threeMenus two for prompts (48 and 50) and the park's between them.
func twoMenus(d *engine.Device)   { d.MenuFirst, d.MenuLast = 49, 50 }
func threeMenus(d *engine.Device) { d.MenuFirst, d.MenuLast = 48, 50 }

// The device shows the recovered call in one of the two prompt ids, its
// prompt still playing (ivrd stopped right after sending it): the prompt
// plays again in the other id, and a late end report of the one it cut
// off — which names the old id — does not end it. The prompts after it
// alternate as usual: with two ids nothing else can tell consecutive
// prompts apart.
func TestRecoveredCallTakesTheOtherPromptMenuID(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  call:play("user_welcome")
  call:play("user_menu")
  call:play("user_thanks")
  call:transfer{ ext = "201" }
end
return f`
	for _, tc := range []struct {
		name      string
		crashAt   int64 // ivrd stops right after this command was answered
		wasIn     int
		wantMenus []int // the prompts' menus after the restart
		wantHeard []string
	}{
		{"was in 48", 1, 48, []int{50, 48, 50},
			[]string{"user_welcome!", "user_welcome", "user_menu", "user_thanks"}},
		{"was in 50", 2, 50, []int{48, 50},
			[]string{"user_welcome", "user_menu!", "user_menu", "user_thanks"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rt atomic.Pointer[engine.Router]
			var hit atomic.Bool
			cp := &crashPBX{at: tc.crashAt, crash: func() { hit.Store(true); rt.Load().Crash() }}
			r := newRig(t, map[string]string{"main": flow}, rigOptions{device: func(d *engine.Device) {
				threeMenus(d)
				cp.PBX = d.PBX
				d.PBX = cp
			}})
			rt.Store(r.router)
			call := r.call("13800000001")
			for i := 0; i < 5 && !hit.Load(); i++ {
				r.advance(time.Second)
			}
			if !hit.Load() {
				t.Fatalf("ivrd did not stop after command %d", tc.crashAt)
			}
			r.router.Close()
			if got := call.Info().Connected; got != "menu "+strconv.Itoa(tc.wasIn) {
				t.Fatalf("at the restart the call is in %q, want menu %d", got, tc.wasIn)
			}
			live, err := r.store.LiveCalls()
			if err != nil || len(live) != 1 {
				t.Fatalf("live calls %v, %v", live, err)
			}
			before := len(r.sim.Commands())
			if n := r.restart(); n != 1 {
				t.Fatalf("recovered %d calls, want 1", n)
			}
			// The end of the prompt ivrd cut off at the restart, late.
			r.router.Deliver(engine.Event{Device: "om1", Kind: engine.EvEndOfAnn, Leg: live[0].Leg,
				CallID: live[0].CallID, Menu: strconv.Itoa(tc.wasIn)})
			r.sim.Settle()
			r.run(15*time.Second, time.Second)

			if got := menusSince(r.sim, before); !equalInts(got, tc.wantMenus) {
				t.Errorf("prompts after the restart played in menus %v, want %v", got, tc.wantMenus)
			}
			if got := heard(call); strings.Join(got, " ") != strings.Join(tc.wantHeard, " ") {
				t.Errorf("the caller heard %v, want %v (a prompt cut short took the late report for its own)", got, tc.wantHeard)
			}
			if got := call.Info().Connected; got != "ext 201" {
				t.Errorf("the call ended connected to %q, want ext 201", got)
			}
		})
	}
}

// With two ids, one is the park menu's: a recovered call's next prompt
// plays in the id it was in at the restart, the only one for prompts — as
// every prompt does on a device with a single id — rather than failing,
// and the park menu is not assigned anew to prompt settings (a call parked
// in it would stop hearing its silence loop).
func TestRecoveredCallWhoseOtherMenuIDIsBusy(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  call:play("user_welcome")
  call:sleep(5)
  call:play("user_thanks")
  call:transfer{ ext = "201" }
end
return f`
	var rt atomic.Pointer[engine.Router]
	var hit atomic.Bool
	r := newRig(t, map[string]string{"main": flow}, rigOptions{
		device: twoMenus,
		config: func(c *engine.Config) {
			// Stop after the sleep's deadline is journaled (the play is
			// step 1), before the sleep parks the call: the device still
			// shows it in 49, where its prompt played.
			c.AfterStep = func(_ string, steps int) {
				if steps == 2 && hit.CompareAndSwap(false, true) {
					rt.Load().Crash()
				}
			}
		},
	})
	rt.Store(r.router)
	call := r.call("13800000001")
	r.advance(3 * time.Second)
	if !hit.Load() {
		t.Fatal("ivrd did not stop after the sleep began")
	}
	r.router.Close()
	if got := call.Info().Connected; got != "menu 49" {
		t.Fatalf("at the restart the call is in %q, want menu 49", got)
	}
	before := len(r.sim.Commands())
	if n := r.restart(); n != 1 {
		t.Fatalf("recovered %d calls, want 1", n)
	}
	r.run(15*time.Second, time.Second)

	// 49 for prompts at the start; 50 for the park, once.
	if got, want := assignsSince(r.sim, before), []string{"49 repeat=1", "50 repeat=0"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("menu assignments after the restart: %v, want %v", got, want)
	}
	// Parked in 50, then the prompt in 49: the id avoided, the only one.
	if got, want := menusSince(r.sim, before), []int{50, 49}; !equalInts(got, want) {
		t.Errorf("after the restart the call went to menus %v, want %v", got, want)
	}
	if got := heard(call); len(got) == 0 || got[len(got)-1] != "user_thanks" {
		t.Errorf("the caller heard %v, want user_thanks last, played out", got)
	}
	if got := call.Info().Connected; got != "ext 201" {
		t.Errorf("the call ended connected to %q, want ext 201", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
