package scenario

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// party is an outside party while the scenario runs.
type party struct {
	r         *rig
	kind      string // "call" or "callee"
	label     string
	sc        *script
	callee    *calleeScript // for a callee with a script
	calleeIdx int           // which of its number's scripts
	call      *omsim.Call
	info      omsim.CallInfo // as last observed
	callID    string         // the device's callid, kept once the call is gone
	events    []Event
	seen      int    // heard entries turned into events
	state     string // as last observed
	connected string // the last thing other than a menu it was connected to

	// Steps: active once the party can act (a caller at once, a callee
	// when it answers). The current step triggers when its prompt is
	// heard after mark (or at base when it waits on none); then it is due
	// its wait later.
	active    bool
	answered  bool
	step      int
	mark      int
	base      time.Time
	triggered bool
	due       time.Time
	stopped   string // why the remaining steps cannot run

	hist *engine.HistoryEntry
}

// add records something the party did or that happened to it.
func (p *party) add(verb, what string) *Event {
	p.events = append(p.events, Event{At: p.r.since(), Verb: verb, What: what, seq: float64(p.r.seq.Add(1)), hear: -1})
	return &p.events[len(p.events)-1]
}

// observe turns what changed on the party's call into events.
func (p *party) observe() {
	in := p.call.Info()
	p.info = in
	if in.CallID != "" {
		p.callID = in.CallID
	}
	// A change of state comes before the prompts it brought (an answer,
	// then the first prompt), an end after the prompts before it.
	if in.State != p.state && in.State != "ended" {
		p.changed(in)
	}
	for ; p.seen < len(in.Heard); p.seen++ {
		f := in.Heard[p.seen].File
		if p.r.sc.silences[f] {
			continue
		}
		p.add("hears", f).hear = p.seen
	}
	if in.State != p.state {
		p.changed(in)
	}
}

// changed records a change of the call's state.
func (p *party) changed(in omsim.CallInfo) {
	prev := p.state
	p.state = in.State
	if in.Connected != "" && !strings.HasPrefix(in.Connected, "menu ") {
		p.connected = in.Connected
	}
	switch in.State {
	case "ringing":
		if p.kind == "callee" && prev == "" {
			p.add("rings", "")
		} else if p.connected != "" {
			p.add("rings", p.connected)
		}
	case "queued":
		p.add("waits", "in "+p.connected)
	case "talking":
		p.add("talks", "with "+p.connected)
	case "ended":
		switch in.EndReason {
		case "hung up": // the party's own step says so
		case "cleared":
			p.add("ended", "ivrd hung up")
		default:
			p.add("ended", in.EndReason)
		}
	default:
		if p.kind == "callee" && !p.answered {
			p.answered, p.active, p.base = true, true, p.r.now()
			p.add("answers", "")
		}
	}
}

// waiting reports whether the party's current step is due at a known
// time, so the scenario must go on until then.
func (p *party) waiting() bool {
	return p.active && p.stopped == "" && p.step < len(p.sc.steps) && p.triggered && p.state != "ended"
}

// act runs the party's current step when it is due. It reports whether
// it acted.
func (p *party) act() bool {
	if !p.active || p.stopped != "" || p.step >= len(p.sc.steps) {
		return false
	}
	if p.state == "ended" {
		p.stopped = fmt.Sprintf("the call had ended (%s) at %s", p.info.EndReason, clockText(p.endedAt()))
		return false
	}
	st := p.sc.steps[p.step]
	now := p.r.now()
	if !p.triggered {
		switch {
		case st.after == "" && st.hearing == "":
			p.triggered, p.due = true, p.base.Add(st.wait)
		case p.heardSince(st) >= 0:
			p.triggered, p.due = true, now.Add(st.wait)
		default:
			return false
		}
	}
	if p.due.After(now) {
		return false
	}
	var err error
	switch {
	case st.hangup:
		err = p.call.HangUp()
		if err == nil {
			p.add("hangs up", "")
		}
	case st.gap > 0:
		err = p.call.PressGap(st.press, st.gap)
		if err == nil {
			p.add("presses", fmt.Sprintf("%s (%s apart)", st.press, st.gap))
		}
	default:
		err = p.call.Press(st.press)
		if err == nil {
			p.add("presses", st.press)
		}
	}
	if errors.Is(err, omsim.ErrCallEnded) {
		p.stopped = "the call had ended"
		return false
	}
	if err != nil {
		p.stopped = err.Error()
		return false
	}
	p.step++
	p.triggered = false
	p.base = now
	p.mark = len(p.call.Heard())
	return true
}

// heardSince returns the index of the first heard entry after mark that
// triggers st, or -1.
func (p *party) heardSince(st step) int {
	for i := p.mark; i < len(p.info.Heard); i++ {
		h := p.info.Heard[i]
		if st.after != "" && h.File == st.after && h.Completed {
			return i
		}
		if st.hearing != "" && h.File == st.hearing {
			return i
		}
	}
	return -1
}

func (p *party) endedAt() time.Duration {
	for i := len(p.events) - 1; i >= 0; i-- {
		if p.events[i].Verb == "ended" || p.events[i].Verb == "hangs up" {
			return p.events[i].At
		}
	}
	return p.r.since()
}

// heard returns the prompts the party heard, silence left out.
func (p *party) heard() []string {
	var out []string
	for _, h := range p.info.Heard {
		if !p.r.sc.silences[h.File] {
			out = append(out, h.File)
		}
	}
	return out
}

// clockText writes a time since the start: 0:04.0, 12:30.5, 7:00:00.
func clockText(d time.Duration) string {
	if d < 0 {
		return "-" + clockText(-d)
	}
	if d >= time.Hour {
		h := d / time.Hour
		m := (d % time.Hour) / time.Minute
		s := (d % time.Minute) / time.Second
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	m := d / time.Minute
	s := float64(d%time.Minute) / float64(time.Second)
	return fmt.Sprintf("%d:%04.1f", m, s)
}

func joinList(items []string) string { return strings.Join(items, "; ") }
