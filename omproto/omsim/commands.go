package omsim

import (
	"strconv"
	"strings"
	"time"

	"github.com/ivrd/ivrd/omproto"
)

// execute carries out a decoded command and returns the answer body. The
// caller holds s.mu.
func (s *Sim) execute(cmd omproto.Command) []byte {
	switch c := cmd.(type) {
	case omproto.QueryDeviceInfo:
		return s.deviceInfo().Encode()
	case omproto.Query:
		return s.query(c)
	case omproto.AssignMenu:
		return s.assignMenu(c)
	case omproto.AssignGroup:
		return s.assignGroup(c)
	case omproto.AssignExt:
		return s.assignExt(c)
	case omproto.ExtControl:
		x := s.exts[c.Ext]
		if x == nil {
			return notFound(omproto.KindExt, c.Ext)
		}
		switch c.Action {
		case omproto.VerbHold:
			return s.hold(x, true)
		case omproto.VerbUnhold:
			return s.hold(x, false)
		case omproto.VerbMute:
			x.muted = true
		case omproto.VerbUnmute:
			x.muted = false
		}
		return nil
	case omproto.Supervise:
		return s.supervise(c)
	case omproto.Clear:
		return s.clear(c.Target)
	case omproto.Connect:
		return s.connect(c)
	case omproto.Queue:
		return s.queue(c)
	case omproto.Accept:
		l := s.legs[legKey{omproto.KindVisitor, c.Visitor}]
		if l == nil {
			return notFound(omproto.KindVisitor, c.Visitor)
		}
		s.claim(l)
		if l.place == placeInvite {
			s.incoming(l)
		}
		return nil
	case omproto.QueryVoiceFiles:
		return omproto.EncodeVoiceFiles(sortedKeys(s.cfg.VoiceFiles))
	}
	return omproto.EncodeComment("Error, unknown command " + cmd.Root() + " " + cmd.Verb())
}

// notFound is the device's comment-only answer for an unknown object.
func notFound(k omproto.Kind, id string) []byte {
	name := map[omproto.Kind]string{
		omproto.KindExt: "extension", omproto.KindVisitor: "visitor", omproto.KindOuter: "outer",
		omproto.KindMenu: "menu", omproto.KindGroup: "group", omproto.KindTrunk: "trunk", omproto.KindLine: "line",
	}[k]
	if name == "" {
		name = string(k)
	}
	return omproto.EncodeComment("Error, can't find " + name + ":" + id)
}

func failed(code int, reason string, calls ...omproto.Call) []byte {
	return (&omproto.Event{Name: omproto.EventFailed, Calls: calls,
		Failure: &omproto.Failure{Code: code, Reason: reason}}).Encode()
}

func transient(legs ...*leg) []byte {
	ev := &omproto.Event{Name: omproto.EventTransient}
	for _, l := range legs {
		ev.Calls = append(ev.Calls, l.call())
	}
	return ev.Encode()
}

func (s *Sim) menuByID(id string) *menu {
	n, err := strconv.Atoi(id)
	if err != nil || n < 1 || n > 50 {
		return nil
	}
	return s.menus[n]
}

// connect carries out Transfer Connect in each of its pairings.
func (s *Sim) connect(c omproto.Connect) []byte {
	if f := s.missingFile(c.VoiceFile); f != "" {
		// A device cannot play a file it does not hold; the simulator
		// refuses the Connect with FAILED code 1 and leaves the call
		// where it was (an assumption: omapi.md is silent on this).
		return failed(omproto.CodeFailed, "can't find voicefile:"+f)
	}
	switch c.From.Kind {
	case omproto.KindVisitor, omproto.KindOuter:
		if c.From.ID == "" && c.From.Kind == omproto.KindOuter && c.From.To != "" {
			return s.callback(c)
		}
		l := s.findLeg(c.From)
		if l == nil {
			return notFound(c.From.Kind, c.From.ID)
		}
		s.claim(l)
		return s.moveLeg(l, c)
	case omproto.KindMenu:
		m := s.menuByID(c.From.ID)
		if m == nil {
			return notFound(omproto.KindMenu, c.From.ID)
		}
		if c.To.Kind != omproto.KindOuter || c.To.To == "" {
			return failed(omproto.CodeFailed, "a menu can only call an outside number")
		}
		out := s.newLeg(omproto.KindOuter, s.cfg.Trunk, c.To.To, s.newCallID())
		if c.Trunk != "" {
			out.trunk = c.Trunk
		}
		s.dial(out, func() { s.startMenu(out, m, c.VoiceFile) })
		return transient(out)
	case omproto.KindExt:
		return s.connectFromExt(c)
	}
	return failed(omproto.CodeFailed, "cannot connect from "+string(c.From.Kind))
}

// moveLeg sends a live call leg to a menu, an extension, a group or an
// outside number.
func (s *Sim) moveLeg(l *leg, c omproto.Connect) []byte {
	switch c.To.Kind {
	case omproto.KindMenu:
		m := s.menuByID(c.To.ID)
		if m == nil {
			return notFound(omproto.KindMenu, c.To.ID)
		}
		s.detach(l)
		s.startMenu(l, m, c.VoiceFile)
		return nil
	case omproto.KindExt:
		x := s.exts[c.To.ID]
		if x == nil {
			return notFound(omproto.KindExt, c.To.ID)
		}
		if code := extRefusal(x); code != 0 {
			return failed(code, omproto.CodeText(code), l.call())
		}
		s.connectExt(l, x, c.VoiceFile)
		return nil
	case omproto.KindGroup:
		g := s.groups[c.To.ID]
		if g == nil {
			return notFound(omproto.KindGroup, c.To.ID)
		}
		s.queueInGroup(l, g)
		return nil
	case omproto.KindOuter:
		if c.To.To == "" {
			return failed(omproto.CodeFailed, "no number to call")
		}
		out := s.newLeg(omproto.KindOuter, l.from, c.To.To, l.callid)
		if c.Trunk != "" {
			out.trunk = c.Trunk
		}
		s.detach(l)
		l.place, l.peer, out.peer = placeBridge, out, l
		if l.party != nil {
			l.party.state = "ringing"
		}
		s.dial(out, func() { s.bridge(l, out) })
		return transient(out)
	}
	return failed(omproto.CodeFailed, "cannot connect a call to "+string(c.To.Kind))
}

// connectFromExt: click-to-call (ext→ext), an extension calling out
// (ext→outer, optionally on a chosen trunk), or a file played to an
// extension mid-call (ext + voicefile).
func (s *Sim) connectFromExt(c omproto.Connect) []byte {
	a := s.exts[c.From.ID]
	if a == nil {
		return notFound(omproto.KindExt, c.From.ID)
	}
	switch c.To.Kind {
	case "":
		if a.state != extTalk {
			return failed(omproto.CodeFailed, "extension "+a.id+" is not in a call")
		}
		s.log("ext %s hears %q", a.id, c.VoiceFile)
		return nil
	case omproto.KindExt:
		b := s.exts[c.To.ID]
		if b == nil {
			return notFound(omproto.KindExt, c.To.ID)
		}
		if a.state == extOffline {
			return failed(omproto.CodeCallingExtOffline, omproto.CodeText(omproto.CodeCallingExtOffline))
		}
		if code := extRefusal(a); code != 0 {
			return failed(code, omproto.CodeText(code))
		}
		if code := extRefusal(b); code != 0 {
			return failed(code, omproto.CodeText(code))
		}
		a.caller, a.callee = true, b
		s.ringExt(a, nil, func() {
			a.callee = nil
			if code := extRefusal(b); code != 0 {
				// The called extension became busy or went offline
				// while the caller's phone rang: the device reports the
				// set-up's failure (a pushed FAILED) and ends the call.
				s.emit(&omproto.Event{Name: omproto.EventFailed, Objects: []omproto.Ref{
					{Kind: omproto.KindExt, ID: a.id}, {Kind: omproto.KindExt, ID: b.id}},
					Failure: &omproto.Failure{Code: code, Reason: omproto.CodeText(code)}})
				s.endUnansweredExtCall(a, b)
				return
			}
			a.other, b.other = b, a
			s.ringExt(b, nil, func() {})
			s.giveUpRinging(b, func() { s.endExtCall(b) })
		})
		s.giveUpRinging(a, func() { s.endUnansweredExtCall(a, b) })
		return nil
	case omproto.KindOuter:
		if c.To.To == "" {
			return failed(omproto.CodeFailed, "no number to call")
		}
		if a.state == extOffline {
			return failed(omproto.CodeCallingExtOffline, omproto.CodeText(omproto.CodeCallingExtOffline))
		}
		if code := extRefusal(a); code != 0 {
			return failed(code, omproto.CodeText(code))
		}
		out := s.newLeg(omproto.KindOuter, a.id, c.To.To, s.newCallID())
		if c.Trunk != "" {
			out.trunk = c.Trunk
		}
		out.viaExt = a
		out.place = placeDialing
		s.ringExt(a, out, func() {
			s.dial(out, func() {
				if out.party != nil {
					out.party.state = "talking"
				}
			})
		})
		// Nothing is dialled before the extension answers; one that
		// never does ends the outer leg, which the TRANSIENT named.
		s.giveUpRinging(a, func() { s.release(out, "extension did not answer") })
		return transient(out)
	}
	return failed(omproto.CodeFailed, "cannot connect an extension to "+string(c.To.Kind))
}

// callback bridges two outside numbers: the first is dialled, and once it
// answers the second.
func (s *Sim) callback(c omproto.Connect) []byte {
	if c.To.Kind != omproto.KindOuter || c.To.To == "" {
		return failed(omproto.CodeFailed, "a callback needs two outside numbers")
	}
	callid := s.newCallID()
	a := s.newLeg(omproto.KindOuter, s.cfg.Trunk, c.From.To, callid)
	b := s.newLeg(omproto.KindOuter, s.cfg.Trunk, c.To.To, callid)
	a.peer, b.peer = b, a
	a.cdrType, b.cdrType = "CB", "CB"
	b.place = placeDialing
	s.dial(a, func() {
		a.place = placeBridge
		s.dial(b, func() { s.bridge(a, b) })
	})
	return transient(a, b)
}

// giveUpRinging makes the device give up on an extension that rings for a
// call it places itself (click-to-call) and does not answer: after
// NoAnswerTimeout gaveUp runs. Only the no_answer policy needs it; other
// policies answer, refuse, or (manual) wait for the test.
func (s *Sim) giveUpRinging(x *ext, gaveUp func()) {
	if x.policy.Answer != AnswerNoAnswer || x.state != extRinging {
		return
	}
	since := x.since
	x.timer = s.clk.AfterFunc(s.cfg.NoAnswerTimeout, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if x.state == extRinging && x.since.Equal(since) {
			s.log("ext %s did not answer within %s", x.id, s.cfg.NoAnswerTimeout)
			gaveUp()
		}
	})
}

// endUnansweredExtCall ends an extension-to-extension call before the
// called extension rang: a BYE naming both, an unanswered Cdr, and the
// caller's phone free again.
func (s *Sim) endUnansweredExtCall(a, b *ext) {
	s.emit(&omproto.Event{Name: omproto.EventBye, Objects: []omproto.Ref{
		{Kind: omproto.KindExt, ID: a.id}, {Kind: omproto.KindExt, ID: b.id}}})
	s.emitCdr(s.cdr(s.newCallID(), "LO", "IC", a.id, b.id, a.since, 0, ""))
	s.freeExt(a)
}

// endExtCall ends an extension-to-extension call from either side.
func (s *Sim) endExtCall(x *ext) {
	a, b := x, x.other
	if b != nil && b.caller {
		a, b = b, a
	}
	start, answered := a.since, b.answered
	dur := 0
	if b.state == extTalk && !answered.IsZero() {
		dur = max(1, int(s.clk.Now().Sub(answered).Round(time.Second)/time.Second))
	}
	s.emit(&omproto.Event{Name: omproto.EventBye, Objects: []omproto.Ref{
		{Kind: omproto.KindExt, ID: a.id}, {Kind: omproto.KindExt, ID: b.id}}})
	c := s.cdr(s.newCallID(), "LO", "IC", a.id, b.id, start, dur, "")
	if dur > 0 && s.recorded(a, b) {
		c.Recording, c.RecCodec = s.record(a.id, b.id, answered, dur), "PCMU"
	}
	s.emitCdr(c)
	s.freeExt(a)
	s.freeExt(b)
}

func (s *Sim) clear(t omproto.Ref) []byte {
	switch t.Kind {
	case omproto.KindVisitor, omproto.KindOuter:
		l := s.findLeg(t)
		if l == nil {
			return notFound(t.Kind, t.ID)
		}
		s.claim(l)
		reason := "cleared"
		if l.place == placeInvite {
			reason = "rejected"
		}
		s.release(l, reason)
		return nil
	case omproto.KindExt:
		x := s.exts[t.ID]
		if x == nil {
			return notFound(t.Kind, t.ID)
		}
		switch {
		case x.leg != nil:
			s.release(x.leg, "cleared")
		case x.other != nil:
			s.endExtCall(x)
		case x.callee != nil:
			// The caller of a click-to-call, still ringing.
			s.endUnansweredExtCall(x, x.callee)
		case x.sup != nil:
			s.freeExt(x) // a supervisor leaves the call it joined
		}
		return nil
	}
	return notFound(t.Kind, t.ID)
}

// queue carries out Transfer Queue: a call waits in a group's queue, or an
// extension's (a queue of one member).
func (s *Sim) queue(c omproto.Queue) []byte {
	l := s.findLeg(c.Call)
	if l == nil {
		return notFound(c.Call.Kind, c.Call.ID)
	}
	s.claim(l)
	switch c.To.Kind {
	case omproto.KindGroup:
		g := s.groups[c.To.ID]
		if g == nil {
			return notFound(omproto.KindGroup, c.To.ID)
		}
		s.queueInGroup(l, g)
	case omproto.KindExt:
		if s.exts[c.To.ID] == nil {
			return notFound(omproto.KindExt, c.To.ID)
		}
		key := "ext:" + c.To.ID
		g := s.groups[key]
		if g == nil {
			g = &group{id: c.To.ID, kind: omproto.KindExt, exts: []string{c.To.ID}}
			s.groups[key] = g
		}
		s.queueInGroup(l, g)
	default:
		return failed(omproto.CodeFailed, "cannot queue at "+string(c.To.Kind))
	}
	return nil
}

func (s *Sim) assignMenu(a omproto.AssignMenu) []byte {
	m := s.menuByID(a.ID)
	if m == nil {
		return notFound(omproto.KindMenu, a.ID)
	}
	if f := s.missingFile(a.VoiceFile); f != "" {
		return omproto.EncodeComment("Error, can't find voicefile:" + f)
	}
	m.settings = MenuSettings{VoiceFile: a.VoiceFile, Repeat: a.Repeat, InfoLength: a.InfoLength, Exit: a.Exit}
	s.log("menu %s assigned: %q repeat %d infolength %d exit %q", m.id, a.VoiceFile, a.Repeat, m.infoLength(), a.Exit)
	return (&omproto.Status{Menus: []omproto.MenuStatus{s.menuStatus(m)}}).Encode()
}

func (s *Sim) assignGroup(a omproto.AssignGroup) []byte {
	if n, err := strconv.Atoi(a.ID); err != nil || n < 1 || n > 50 {
		return notFound(omproto.KindGroup, a.ID)
	}
	for _, e := range a.Exts {
		if s.exts[e] == nil {
			return notFound(omproto.KindExt, e)
		}
	}
	g := s.groups[a.ID]
	if g == nil {
		g = &group{id: a.ID}
		s.groups[a.ID] = g
	}
	g.exts = append([]string(nil), a.Exts...)
	g.voicefile, g.distribution = a.VoiceFile, a.Distribution
	s.distribute(g)
	return (&omproto.Status{Groups: []omproto.GroupStatus{s.groupStatus(g)}}).Encode()
}

func (s *Sim) assignExt(a omproto.AssignExt) []byte {
	var x *ext
	for _, e := range s.exts {
		if e.id == a.ID || (a.LineID != "" && lineID(e.id) == a.LineID) {
			x = e
			break
		}
	}
	if x == nil {
		return notFound(omproto.KindExt, a.ID+a.LineID)
	}
	if a.API != nil {
		x.api = strconv.Itoa(*a.API)
	}
	return (&omproto.Status{Exts: []omproto.ExtStatus{s.extStatus(x)}}).Encode()
}

// lineID is the port name the device gives an extension.
func lineID(ext string) string { return "IPPhone " + ext }

func (s *Sim) deviceInfo() *omproto.DeviceInfo {
	d := &omproto.DeviceInfo{Manufacturer: "New Rock Technologies", Model: s.cfg.Model,
		Version: s.cfg.Version, MAC: s.cfg.MAC}
	for _, id := range sortedKeys(s.exts) {
		d.Exts = append(d.Exts, omproto.Ref{Kind: omproto.KindExt, ID: id, LineID: lineID(id)})
	}
	d.Lines = append(d.Lines, omproto.Ref{Kind: omproto.KindLine, ID: s.cfg.Trunk, LineID: "Trunk 1"})
	for _, id := range sortedKeys(s.groups) {
		if !strings.HasPrefix(id, "ext:") {
			d.Groups = append(d.Groups, omproto.Ref{Kind: omproto.KindGroup, ID: id})
		}
	}
	return d
}

func (s *Sim) query(q omproto.Query) []byte {
	st := &omproto.Status{}
	switch q.Kind {
	case omproto.KindVisitor, omproto.KindOuter:
		for _, l := range s.sortedLegs() {
			if l.kind == q.Kind && (q.ID == "" || l.id == q.ID) {
				c := l.call()
				c.State = legState(l)
				c.Peers = s.peerRefs(l)
				st.Calls = append(st.Calls, c)
			}
		}
		if q.ID != "" && len(st.Calls) == 0 {
			return notFound(q.Kind, q.ID)
		}
	case omproto.KindExt:
		for _, id := range sortedKeys(s.exts) {
			if q.ID == "" || id == q.ID {
				st.Exts = append(st.Exts, s.extStatus(s.exts[id]))
			}
		}
		if q.ID != "" && len(st.Exts) == 0 {
			return notFound(q.Kind, q.ID)
		}
	case omproto.KindMenu:
		for id := 1; id <= 50; id++ {
			m := s.menus[id]
			if (q.ID == "" && (m.settings != MenuSettings{} || s.menuInUse(m))) || m.id == q.ID {
				st.Menus = append(st.Menus, s.menuStatus(m))
			}
		}
		if q.ID != "" && len(st.Menus) == 0 {
			return notFound(q.Kind, q.ID)
		}
	case omproto.KindGroup:
		for _, id := range sortedKeys(s.groups) {
			if !strings.HasPrefix(id, "ext:") && (q.ID == "" || id == q.ID) {
				st.Groups = append(st.Groups, s.groupStatus(s.groups[id]))
			}
		}
		if q.ID != "" && len(st.Groups) == 0 {
			return notFound(q.Kind, q.ID)
		}
	case omproto.KindTrunk, omproto.KindLine:
		if q.ID != "" && q.ID != s.cfg.Trunk {
			return notFound(q.Kind, q.ID)
		}
		t := omproto.TrunkStatus{Kind: q.Kind, ID: s.cfg.Trunk, LineID: "Trunk 1", State: "ready"}
		for _, l := range s.sortedLegs() {
			c := l.call()
			c.State = legState(l)
			t.Calls = append(t.Calls, c)
		}
		if len(t.Calls) > 0 {
			t.State = "active"
		}
		st.Trunks = append(st.Trunks, t)
	default:
		return notFound(q.Kind, q.ID)
	}
	return st.Encode()
}

func (s *Sim) menuInUse(m *menu) bool {
	for _, l := range s.legs {
		if l.menu == m {
			return true
		}
	}
	return false
}

func (s *Sim) menuStatus(m *menu) omproto.MenuStatus {
	ms := omproto.MenuStatus{ID: m.id, VoiceFile: m.settings.VoiceFile, Repeat: m.settings.Repeat,
		InfoLength: m.infoLength(), Exit: m.settings.Exit}
	for _, l := range s.sortedLegs() {
		if l.menu == m {
			ms.Calls = append(ms.Calls, l.call())
		}
	}
	return ms
}

func (s *Sim) groupStatus(g *group) omproto.GroupStatus {
	gs := omproto.GroupStatus{ID: g.id, VoiceFile: g.voicefile, Distribution: g.distribution,
		Exts: append([]string(nil), g.exts...)}
	for _, l := range g.queue {
		gs.Calls = append(gs.Calls, l.call())
	}
	return gs
}

func (s *Sim) extStatus(x *ext) omproto.ExtStatus {
	xs := omproto.ExtStatus{ID: x.id, LineID: lineID(x.id), API: x.api}
	if s.recorded(x) {
		xs.Record = "on"
	}
	for _, id := range sortedKeys(s.groups) {
		if strings.HasPrefix(id, "ext:") {
			continue
		}
		for _, m := range s.groups[id].exts {
			if m == x.id {
				xs.Groups = append(xs.Groups, id)
			}
		}
	}
	switch x.state {
	case extIdle:
		xs.State = "ready"
	case extOffline:
		xs.State = "offline"
	default:
		xs.State = "active"
	}
	if l := x.leg; l != nil {
		c := l.call()
		c.State = legState(l)
		xs.Calls = append(xs.Calls, c)
	}
	return xs
}
