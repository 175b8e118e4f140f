package omsim

import (
	"fmt"
	"strings"

	"github.com/ivrd/ivrd/omproto"
)

// Agent call control: Hold and Unhold on an extension's call, and a
// supervisor joining an extension's call (Monitor, Talk, Listen, Bargein).
// omapi.md gives the commands' shapes only; what the simulator assumes
// beyond them is listed in doc.go.

// Supervision modes, as GET /sim/exts shows them.
const (
	ModeMonitor = "monitor" // the supervisor hears both sides, silent
	ModeTalk    = "talk"    // the supervisor speaks to the agent only
	ModeListen  = "listen"  // back to silent
	ModeBargein = "bargein" // a three-way call
)

// supervision is a supervisor's link to the extension whose call it joins.
type supervision struct {
	mode  string
	agent *ext
}

// inCall reports whether an extension talks in a call of its own: with an
// outside leg or another extension, answered.
func (x *ext) inCall() bool {
	return x.state == extTalk && (x.leg != nil || x.other != nil)
}

// hold carries out Hold and Unhold. Hold on a call already held, and
// Unhold on one not held, succeed and change nothing.
func (s *Sim) hold(x *ext, on bool) []byte {
	if !x.inCall() {
		return failed(omproto.CodeFailed, "extension "+x.id+" is not in a call")
	}
	if x.held == on {
		return nil
	}
	x.held = on
	if l := x.leg; l != nil && l.party != nil {
		l.party.state = "talking"
		if on {
			l.party.state = "held"
		}
	}
	if on {
		s.log("ext %s holds its call", x.id)
	} else {
		s.log("ext %s takes its call off hold", x.id)
	}
	return nil
}

// supervise carries out Monitor, Talk, Listen and Bargein: sup joins the
// call of agent, or changes how it takes part.
func (s *Sim) supervise(c omproto.Supervise) []byte {
	sup, agent := s.exts[c.First], s.exts[c.Second]
	if sup == nil {
		return notFound(omproto.KindExt, c.First)
	}
	if agent == nil {
		return notFound(omproto.KindExt, c.Second)
	}
	mode := strings.ToLower(c.Action)
	switch {
	case sup == agent:
		return failed(omproto.CodeFailed, "an extension cannot supervise itself")
	case sup.state == extOffline || sup.policy.Answer == AnswerOffline:
		return failed(omproto.CodeCallingExtOffline, omproto.CodeText(omproto.CodeCallingExtOffline))
	case agent.state == extOffline:
		return failed(omproto.CodeCalledOffline, omproto.CodeText(omproto.CodeCalledOffline))
	case !agent.inCall():
		return failed(omproto.CodeFailed, "extension "+agent.id+" is not in a call")
	}
	if sup.sup != nil {
		if sup.sup.agent != agent {
			return failed(omproto.CodeFailed, "extension "+sup.id+" supervises extension "+sup.sup.agent.id)
		}
		sup.sup.mode = mode
		s.log("ext %s now %s on ext %s", sup.id, mode, agent.id)
		return nil
	}
	switch {
	case mode == ModeTalk || mode == ModeListen:
		return failed(omproto.CodeFailed, "extension "+sup.id+" does not supervise extension "+agent.id+": Monitor or Bargein first")
	case sup.state != extIdle:
		return failed(omproto.CodeFailed, "extension "+sup.id+" is not idle")
	case agent.supervisor != nil:
		return failed(omproto.CodeFailed, "extension "+agent.id+" is supervised by extension "+agent.supervisor.id)
	}
	// The supervisor's phone joins at once, as an intercom does: it does
	// not ring, and it is busy until the supervision ends.
	sup.state = extTalk
	sup.since, sup.answered = s.clk.Now(), s.clk.Now()
	sup.sup = &supervision{mode: mode, agent: agent}
	agent.supervisor = sup
	s.emit(&omproto.Event{Name: omproto.EventBusy, Objects: []omproto.Ref{{Kind: omproto.KindExt, ID: sup.id}}})
	s.log("ext %s %s ext %s", sup.id, mode, agent.id)
	return nil
}

// endSupervision is freeExt's part for a supervision: an agent's call that
// ends frees its supervisor, which is sent a BYE naming the supervisor and
// the agent; a supervisor that leaves leaves the agent's call as it was.
// The caller, freeExt, reports the IDLE.
func (s *Sim) endSupervision(x *ext) {
	if sup := x.supervisor; sup != nil {
		x.supervisor = nil
		s.freeExt(sup)
	}
	if sv := x.sup; sv != nil {
		x.sup = nil
		if sv.agent.supervisor == x {
			sv.agent.supervisor = nil
		}
		s.emit(&omproto.Event{Name: omproto.EventBye, Objects: []omproto.Ref{
			{Kind: omproto.KindExt, ID: x.id}, {Kind: omproto.KindExt, ID: sv.agent.id}}})
		s.log("ext %s stops supervising ext %s", x.id, sv.agent.id)
	}
}

// partyName names what a phone or a leg is to the others ("ext 200",
// "visitor 3").
func (l *leg) partyName() string { return string(l.kind) + " " + l.id }
func (x *ext) partyName() string { return "ext " + x.id }

// hears lists whose voices an extension's phone carries now, for the
// control API: the far end of its call (none while held), and under
// supervision the supervisor (Talk, Bargein) or, for the supervisor, both
// sides of the call.
func (s *Sim) hears(x *ext) []string {
	out := []string{}
	if sv := x.sup; sv != nil {
		a := sv.agent
		out = append(out, a.partyName())
		if far := a.farEnd(); far != "" && !a.held {
			out = append(out, far)
		}
		return out
	}
	if !x.inCall() {
		return out
	}
	if far := x.farEnd(); far != "" && !x.held && (x.other == nil || !x.other.held) {
		out = append(out, far)
	}
	if sup := x.supervisor; sup != nil && (sup.sup.mode == ModeTalk || sup.sup.mode == ModeBargein) {
		out = append(out, sup.partyName())
	}
	return out
}

// farEnd names the other side of an extension's own call.
func (x *ext) farEnd() string {
	switch {
	case x.leg != nil:
		return x.leg.partyName()
	case x.other != nil:
		return x.other.partyName()
	}
	return ""
}

// legHears lists whose voices an outside party hears while talking to an
// extension: nothing while held, the supervisor too under Bargein.
func (s *Sim) legHears(l *leg) []string {
	x := l.ext
	if l.place != placeExt {
		x = l.viaExt
	}
	if x == nil || x.leg != l || !x.inCall() {
		if l.place == placeBridge && l.peer != nil {
			return []string{l.peer.partyName()}
		}
		return nil
	}
	if x.held {
		return []string{}
	}
	out := []string{x.partyName()}
	if sup := x.supervisor; sup != nil && sup.sup.mode == ModeBargein {
		out = append(out, sup.partyName())
	}
	return out
}

// ExtInfo is a snapshot of an extension for the control API.
type ExtInfo struct {
	ID string `json:"id"`
	// State is idle, ringing, busy or offline.
	State string `json:"state"`
	// Call is the far end of the extension's own call ("visitor 3",
	// "ext 202"), while it has one.
	Call string `json:"call,omitempty"`
	// Held is set while the extension holds its call.
	Held bool `json:"held,omitempty"`
	// Supervising is set on a supervisor: the extension whose call it
	// joined and how (Mode). SupervisedBy is set on that extension.
	Supervising  string `json:"supervising,omitempty"`
	SupervisedBy string `json:"supervised_by,omitempty"`
	Mode         string `json:"mode,omitempty"`
	// Hears lists whose voices the phone carries now.
	Hears []string `json:"hears"`
}

// ExtInfo returns a snapshot of an extension.
func (s *Sim) ExtInfo(id string) (ExtInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.exts[id]
	if x == nil {
		return ExtInfo{}, fmt.Errorf("%w: %s", ErrNoSuchExt, id)
	}
	return s.extInfo(x), nil
}

func (s *Sim) extInfo(x *ext) ExtInfo {
	in := ExtInfo{ID: x.id, State: x.stateName(), Held: x.held, Hears: s.hears(x)}
	if x.state == extTalk {
		in.Call = x.farEnd()
	}
	if sv := x.sup; sv != nil {
		in.Supervising, in.Mode = sv.agent.id, sv.mode
	}
	if sup := x.supervisor; sup != nil {
		in.SupervisedBy, in.Mode = sup.id, sup.sup.mode
	}
	return in
}
