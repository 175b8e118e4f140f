package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/omproto/omsim"
)

// TestDrain drains the router while a caller is in the menu: a call that
// arrives after gets no command and goes to the operator when the device's
// response timeout runs out, while the caller in the menu finishes the flow.
func TestDrain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		invite bool
	}{
		{"INCOMING", false},
		{"INVITE", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := hotel(t, rigOptions{sim: func(c *omsim.Config) { c.ControlBeforeAnswer = tc.invite }})
			inMenu := r.call("13800000001")
			r.advance(time.Second)
			if got := r.router.Live(); got != 1 {
				t.Fatalf("Live() with a caller in the menu = %d, want 1", got)
			}

			drained := r.router.Drain()
			if again := r.router.Drain(); again != drained {
				t.Error("a second Drain returned another channel")
			}
			select {
			case <-drained:
				t.Fatal("drained while a call is live")
			default:
			}
			commandsBefore := len(r.sim.Commands())
			late := r.call("13800000002")
			_, lateLeg := late.Leg()
			r.advance(100 * time.Millisecond)
			if got := r.router.Live(); got != 1 {
				t.Errorf("Live() after a call came in while draining = %d, want 1", got)
			}

			r.press(inMenu, "1")
			r.advance(time.Second)
			if in := inMenu.Info(); in.Connected != "ext 201" {
				t.Fatalf("the caller in the menu ended at %q (%s), want ext 201", in.Connected, in.State)
			}
			select {
			case <-drained:
			default:
				t.Fatalf("not drained after the last call ended; Live() = %d", r.router.Live())
			}
			if got := r.router.Live(); got != 0 {
				t.Errorf("Live() after the last call ended = %d, want 0", got)
			}

			// The device's API_RESPONSE_TO (5 s) runs out for the late call.
			r.advance(5 * time.Second)
			if in := late.Info(); in.Connected != "ext 200" {
				t.Fatalf("the call that came while draining is at %q (%s), want the operator, ext 200", in.Connected, in.State)
			}
			ref := `<visitor id="` + lateLeg + `"`
			for _, c := range r.sim.Commands()[commandsBefore:] {
				if strings.Contains(c.Body, ref) {
					t.Errorf("a %s command was sent for the call that came while draining:\n%s", c.Verb, c.Body)
				}
			}
			declined := 0
			for _, l := range r.logs.all() {
				if strings.Contains(l, "draining: not taking the call") {
					declined++
					if !strings.Contains(l, "[INFO]") || !strings.Contains(l, `leg="visitor `+lateLeg+`"`) {
						t.Errorf("decline line: got %q, want Info naming the leg", l)
					}
				}
			}
			if declined != 1 {
				t.Errorf("%d decline lines, want 1 for the one call", declined)
			}
		})
	}
}

// TestDrainTimeoutLeavesCallsForRecovery stops a drain that ran out of
// time the way ivrd serve does, with Crash and Close: the caller in the
// menu hears no more commands, stays in the store, and the next router
// resumes the call where it was.
func TestDrainTimeoutLeavesCallsForRecovery(t *testing.T) {
	r := hotel(t, rigOptions{})
	call := r.call("13800000001")
	r.advance(time.Second)
	r.router.Drain()
	commandsBefore := len(r.sim.Commands())

	r.router.Crash()
	r.router.Close()
	if got := len(r.sim.Commands()); got != commandsBefore {
		t.Errorf("%d commands sent while stopping, want none", got-commandsBefore)
	}
	live, err := r.store.LiveCalls()
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 || live[0].From != "13800000001" {
		t.Fatalf("the store holds %+v, want the one live call", live)
	}

	if got := r.restart(); got != 1 {
		t.Fatalf("recovered %d calls, want 1", got)
	}
	r.advance(time.Second)
	r.press(call, "1")
	r.advance(time.Second)
	if in := call.Info(); in.Connected != "ext 201" {
		t.Fatalf("the recovered call ended at %q (%s), want ext 201", in.Connected, in.State)
	}
}
