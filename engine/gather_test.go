package engine_test

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// The timer model of call:gather, one row per rule, on the simulator and a
// virtual clock. Voice files play 2 s; user_welcome is the prompt.
//
// Each row runs in the wait modes that can observe it: "parked" (the call
// sits in the menu after EndOfAnn, still reporting keys) and "silence"
// (the prompt is followed by silence files covering the timeout, on a
// device that drops keys after EndOfAnn).
type gatherRow struct {
	name   string
	before string // Lua run before the gather (a play that keys interrupt)
	opts   string // the gather's option table
	keys   []keyAt
	want   string        // "input=…" or "reason=…"
	at     time.Duration // when the result must come, from the call's start
	heard  []string      // what the caller heard, "!" marking a file cut off
	modes  []string
}

type keyAt struct {
	at   time.Duration
	keys string
}

func sec(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

var both = []string{engine.WaitParked, engine.WaitSilence}

var gatherRows = []gatherRow{
	{
		name: "no-input timer starts when the prompt ends",
		opts: `prompt = "user_welcome", timeout = 3`,
		want: "reason=timeout", at: sec(5),
		heard: []string{"user_welcome"},
		modes: both,
	},
	{
		name: "a key during the prompt stops it and counts as input",
		opts: `prompt = "user_welcome", timeout = 3`,
		keys: []keyAt{{sec(1), "7"}},
		want: "input=7", at: sec(1),
		heard: []string{"user_welcome!"},
		modes: both,
	},
	{
		name: "the inter-digit timer restarts on every key",
		opts: `prompt = "user_welcome", max = 4, timeout = 5, digit_timeout = 3`,
		keys: []keyAt{{sec(3), "1"}, {sec(5), "2"}, {sec(7), "3"}},
		want: "input=123", at: sec(10),
		modes: both,
	},
	{
		name: "max keys end the input at once",
		opts: `prompt = "user_welcome", max = 3`,
		keys: []keyAt{{sec(2.5), "123"}},
		want: "input=123", at: sec(2.5),
		modes: both,
	},
	{
		name: "the terminator ends the input and is not included",
		opts: `prompt = "user_welcome", max = 6`,
		keys: []keyAt{{sec(3), "12#"}},
		want: "input=12", at: sec(3),
		modes: both,
	},
	{
		name: "a terminator given explicitly replaces #",
		opts: `prompt = "user_welcome", max = 6, terminator = "*"`,
		keys: []keyAt{{sec(3), "1#*"}},
		want: "input=1#", at: sec(3),
		modes: both,
	},
	{
		name: "no terminator by default when max is 1",
		opts: `prompt = "user_welcome"`,
		keys: []keyAt{{sec(3), "#"}},
		want: "input=#", at: sec(3),
		modes: both,
	},
	{
		name: "the terminator alone is invalid when min > 0",
		opts: `prompt = "user_welcome", max = 4`,
		keys: []keyAt{{sec(3), "#"}},
		want: "reason=invalid", at: sec(3),
		modes: both,
	},
	{
		name: "the terminator alone gives an empty answer when min = 0",
		opts: `prompt = "user_welcome", min = 0, max = 4`,
		keys: []keyAt{{sec(3), "#"}},
		want: "input=", at: sec(3),
		modes: both,
	},
	{
		name: "the digit timeout with fewer than min keys is invalid",
		opts: `prompt = "user_welcome", min = 3, max = 5, digit_timeout = 2`,
		keys: []keyAt{{sec(3), "12"}},
		want: "reason=invalid", at: sec(5),
		modes: both,
	},
	{
		name: "the digit timeout with at least min keys ends the input",
		opts: `prompt = "user_welcome", min = 2, max = 5, digit_timeout = 2`,
		keys: []keyAt{{sec(3), "12"}},
		want: "input=12", at: sec(5),
		modes: both,
	},
	{
		name: "valid is matched against the whole input",
		opts: `prompt = "user_welcome", max = 2, valid = "1"`,
		keys: []keyAt{{sec(3), "12"}},
		want: "reason=invalid", at: sec(3),
		modes: both,
	},
	{
		name: "valid accepts matching input",
		opts: `prompt = "user_welcome", valid = "[1-3]"`,
		keys: []keyAt{{sec(3), "2"}},
		want: "input=2", at: sec(3),
		modes: both,
	},
	{
		name: "invalid input plays invalid_prompt, then the prompt again",
		opts: `prompt = "user_welcome", valid = "[1-3]", tries = 2, invalid_prompt = "user_invalid"`,
		keys: []keyAt{{sec(3), "9"}, {sec(8), "3"}},
		want: "input=3", at: sec(8),
		heard: []string{"user_welcome", "user_invalid", "user_welcome"},
		modes: both,
	},
	{
		name: "no input plays noinput_prompt, then the prompt again",
		opts: `prompt = "user_welcome", timeout = 2, tries = 2, noinput_prompt = "user_noinput"`,
		keys: []keyAt{{sec(9), "5"}},
		want: "input=5", at: sec(9),
		heard: []string{"user_welcome", "user_noinput", "user_welcome"},
		modes: both,
	},
	{
		name: "the last try's failure is the reason",
		opts: `prompt = "user_welcome", timeout = 2, tries = 2, noinput_prompt = "user_noinput"`,
		want: "reason=timeout", at: sec(10),
		heard: []string{"user_welcome", "user_noinput", "user_welcome"},
		modes: both,
	},
	{
		name:   "keys typed during a play are kept and end the gather without its prompt",
		before: `call:play("user_menu")`,
		opts:   `prompt = "user_welcome"`,
		keys:   []keyAt{{sec(1), "4"}},
		want:   "input=4", at: sec(1),
		heard: []string{"user_menu!"},
		modes: both,
	},
	{
		name:   "flush drops keys typed before the gather",
		before: `call:play("user_menu")`,
		opts:   `prompt = "user_welcome", flush = true, timeout = 3`,
		keys:   []keyAt{{sec(1), "4"}},
		want:   "reason=timeout", at: sec(6),
		heard: []string{"user_menu!", "user_welcome"},
		modes: both,
	},
	{
		name:   "typed-ahead keys that do not complete the input still hear the prompt",
		before: `call:play("user_menu")`,
		opts:   `prompt = "user_welcome", max = 2, digit_timeout = 3`,
		keys:   []keyAt{{sec(1), "4"}, {sec(2), "5"}},
		want:   "input=45", at: sec(2),
		heard: []string{"user_menu!", "user_welcome!"},
		modes: both,
	},
	{
		name: "a key long after the prompt, in a parked menu, still counts",
		opts: `prompt = "user_welcome", timeout = 30`,
		keys: []keyAt{{sec(20), "8"}},
		want: "input=8", at: sec(20),
		modes: []string{engine.WaitParked},
	},
}

const gatherFlow = `
local flow = {}
function flow.incoming(call)
  %s
  local v, why = call:gather{ %s }
  ivr.log.info("gather-result", { result = v and ("input=" .. v) or ("reason=" .. why) })
  call:sleep(300)
end
return flow
`

var resultRE = regexp.MustCompile(`gather-result: .*result=(\S*)`)

func (r *rig) gatherResult() string {
	for _, l := range r.logs.all() {
		if m := resultRE.FindStringSubmatch(l); m != nil {
			return strings.Trim(m[1], `"`)
		}
	}
	return ""
}

func TestGatherTimerModel(t *testing.T) {
	for _, mode := range both {
		for _, row := range gatherRows {
			if !contains(row.modes, mode) {
				continue
			}
			t.Run(mode+"/"+row.name, func(t *testing.T) {
				src := fmt.Sprintf(gatherFlow, row.before, row.opts)
				r := newRig(t, map[string]string{"main": src}, rigOptions{
					sim:    func(c *omsim.Config) { c.DropKeysAfterEndOfAnn = mode == engine.WaitSilence },
					device: func(d *engine.Device) { d.Wait = mode },
				})
				c := r.call("13800000001")
				start := r.clk.Now()
				keyAtEnd := false
				for _, k := range row.keys {
					r.clk.AdvanceTo(start.Add(k.at))
					if got := r.gatherResult(); got != "" {
						t.Fatalf("result %q came before the keys at %s", got, k.at)
					}
					r.press(c, k.keys)
					keyAtEnd = k.at == row.at
				}
				if !keyAtEnd && row.at > 100*time.Millisecond {
					r.clk.AdvanceTo(start.Add(row.at - 100*time.Millisecond))
					if got := r.gatherResult(); got != "" {
						t.Fatalf("result %q came before %s", got, row.at)
					}
				}
				r.clk.AdvanceTo(start.Add(row.at))
				r.sim.Settle()
				if got := r.gatherResult(); got != row.want {
					t.Fatalf("at %s: result %q, want %q", row.at, got, row.want)
				}
				if row.heard != nil {
					if got := withoutSilence(heard(c)); !reflect.DeepEqual(got, row.heard) {
						t.Fatalf("heard %v, want %v", got, row.heard)
					}
				}
			})
		}
	}
}

// withoutSilence drops the silence files the silence wait mode plays.
func withoutSilence(files []string) []string {
	var out []string
	for _, f := range files {
		if f != "silence" && f != "silence!" {
			out = append(out, f)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// In silence mode a long timeout is covered by silence over several
// chains, so a key late in the wait still counts on a device that drops
// keys after EndOfAnn.
func TestGatherSilenceLongTimeout(t *testing.T) {
	src := fmt.Sprintf(gatherFlow, "", `prompt = "user_welcome", timeout = 30`)
	r := newRig(t, map[string]string{"main": src}, rigOptions{
		sim:    func(c *omsim.Config) { c.DropKeysAfterEndOfAnn = true },
		device: func(d *engine.Device) { d.Wait = engine.WaitSilence },
	})
	c := r.call("1")
	r.advance(20 * time.Second)
	r.press(c, "8")
	if got := r.gatherResult(); got != "input=8" {
		t.Fatalf("result %q, want input=8", got)
	}
	// And with no key the answer comes when the covered time is up.
	r2 := newRig(t, map[string]string{"main": src}, rigOptions{
		sim:    func(c *omsim.Config) { c.DropKeysAfterEndOfAnn = true },
		device: func(d *engine.Device) { d.Wait = engine.WaitSilence },
	})
	r2.call("1")
	r2.advance(31900 * time.Millisecond)
	if got := r2.gatherResult(); got != "" {
		t.Fatalf("result %q before the 32 s mark", got)
	}
	r2.advance(200 * time.Millisecond)
	if got := r2.gatherResult(); got != "reason=timeout" {
		t.Fatalf("result %q, want reason=timeout at 32 s", got)
	}
}
