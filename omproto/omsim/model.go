package omsim

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto"
)

// The device model. Every field below is guarded by Sim.mu; timer callbacks
// take the lock and check that what they were set for is still current.

type extState int

const (
	extIdle extState = iota
	extRinging
	extTalk
	extOffline
)

// ext is an extension and its phone.
type ext struct {
	id     string
	state  extState
	policy Policy
	api    string
	// leg is the call leg the phone rings for or talks with; other is the
	// extension at the far end of an extension-to-extension call.
	leg   *leg
	other *ext
	// onAnswer runs when the phone answers (set while it rings).
	onAnswer func()
	timer    clock.Timer
	since    time.Time // when the current call started, for ext-to-ext Cdrs
	answered time.Time
	caller   bool // this side placed the ext-to-ext call
	// callee is the extension a click-to-call will ring once this
	// (calling) phone answers; nil otherwise.
	callee *ext
	held   bool
	muted  bool
	// sup is set on a supervisor: whose call it joins, and how;
	// supervisor on the extension whose call it joins.
	sup        *supervision
	supervisor *ext
}

func (x *ext) stateName() string {
	switch x.state {
	case extRinging:
		return "ringing"
	case extTalk:
		return "busy"
	case extOffline:
		return "offline"
	}
	return "idle"
}

type menu struct {
	id       string
	settings MenuSettings
}

func (m *menu) infoLength() int {
	if m.settings.InfoLength <= 0 {
		return 1
	}
	return m.settings.InfoLength
}

type group struct {
	id string
	// kind is KindGroup, or KindExt for the queue of one extension
	// (Transfer Queue to an ext), which reports name as that ext.
	kind         omproto.Kind
	exts         []string
	voicefile    string
	distribution string
	queue        []*leg
}

type legKey struct {
	kind omproto.Kind
	id   string
}

// Where a call leg is.
type place int

const (
	placeNone    place = iota // answered and muted, waiting for the app (INCOMING)
	placeInvite               // waiting to be accepted (INVITE)
	placeDialing              // an outer leg ringing at the far end
	placeMenu                 // in a voice menu
	placeExt                  // ringing or talking to an extension
	placeGroup                // queued in a group
	placeBridge               // talking to another leg
	placeEnded
)

// leg is a call leg: a visitor (incoming) or an outer (outgoing).
type leg struct {
	kind                    omproto.Kind
	id                      string
	from, to, trunk, callid string
	party                   *Call // the outside party: caller or callee
	place                   place
	menu                    *menu
	play                    *playback
	ext                     *ext
	group                   *group
	peer                    *leg
	started, answered       time.Time
	respTimer, dialTimer    clock.Timer
	onAnswer                func() // for outer legs: what to do when answered
	viaExt                  *ext   // for outer legs placed from an extension
	cdrType                 string // Cdr Type when not IN or OU (CB for a callback)
}

func (l *leg) key() legKey { return legKey{l.kind, l.id} }

func (l *leg) call() omproto.Call {
	return omproto.Call{Kind: l.kind, ID: l.id, From: l.from, To: l.to, Trunk: l.trunk, CallID: l.callid}
}

// playback is a voice menu playing to a leg.
type playback struct {
	chain   []string
	pos     int // file playing, in chain
	round   int // completed plays of the chain
	repeat  int
	playing bool
	parked  bool // EndOfAnn sent
	timer   clock.Timer
	heard   int // index in party.heard of the file playing
	keys    string
}

// allocID returns the lowest id not used by a live leg of kind k: the
// device reuses ids after release.
func (s *Sim) allocID(k omproto.Kind) string {
	for n := 1; ; n++ {
		id := strconv.Itoa(n)
		if _, used := s.legs[legKey{k, id}]; !used {
			return id
		}
	}
}

func (s *Sim) newCallID() string {
	s.callIDs++
	return strconv.Itoa(36000 + s.callIDs)
}

func (s *Sim) newLeg(k omproto.Kind, from, to, callid string) *leg {
	l := &leg{kind: k, id: s.allocID(k), from: from, to: to, callid: callid, started: s.clk.Now()}
	if k == omproto.KindOuter {
		// Only outgoing legs name their trunk; a visitor's trunk is a
		// sibling <trunk> in INCOMING.
		l.trunk = s.cfg.Trunk
	}
	s.legs[l.key()] = l
	return l
}

func (s *Sim) sortedLegs() []*leg {
	out := make([]*leg, 0, len(s.legs))
	for _, l := range s.legs {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].kind != out[j].kind {
			return out[i].kind > out[j].kind // visitors first
		}
		a, _ := strconv.Atoi(out[i].id)
		b, _ := strconv.Atoi(out[j].id)
		return a < b
	})
	return out
}

func (s *Sim) findLeg(r omproto.Ref) *leg {
	return s.legs[legKey{r.Kind, r.ID}]
}

// duration returns how long a voice file plays.
func (s *Sim) duration(file string) time.Duration {
	if d := s.cfg.VoiceFiles[file]; d > 0 {
		return d
	}
	return s.cfg.FileDuration
}

// missingFile returns the first file of a chain the device does not hold.
func (s *Sim) missingFile(chain string) string {
	for _, f := range splitChain(chain) {
		if _, ok := s.cfg.VoiceFiles[f]; !ok {
			return f
		}
	}
	return ""
}

func splitChain(chain string) []string {
	var files []string
	for _, f := range strings.Split(chain, "+") {
		if f = strings.TrimSpace(f); f != "" {
			files = append(files, f)
		}
	}
	return files
}

// stopLeg cancels a leg's timers.
func (s *Sim) stopLeg(l *leg) {
	for _, t := range []clock.Timer{l.respTimer, l.dialTimer} {
		if t != nil {
			t.Stop()
		}
	}
	l.respTimer, l.dialTimer = nil, nil
	s.stopPlayback(l)
	if l.party != nil {
		l.party.stopTimers()
	}
}

func (s *Sim) stopExt(x *ext) {
	if x.timer != nil {
		x.timer.Stop()
		x.timer = nil
	}
}

func (s *Sim) stopPlayback(l *leg) {
	if p := l.play; p != nil {
		if p.timer != nil {
			p.timer.Stop()
		}
		p.playing = false
	}
	l.play = nil
	l.menu = nil
}

// claim records that the app acted on a leg: the API_RESPONSE_TO timer
// stops.
func (s *Sim) claim(l *leg) {
	if l.respTimer != nil {
		l.respTimer.Stop()
		l.respTimer = nil
	}
}

// detach takes a leg out of wherever it is (a menu, a queue, a ringing
// extension) before it moves elsewhere. A talking extension is released,
// and so is the extension whose outside call the leg was.
func (s *Sim) detach(l *leg) {
	s.stopPlayback(l)
	if x := l.viaExt; x != nil {
		l.viaExt = nil
		if x.leg == l {
			s.freeExt(x)
		}
	}
	switch l.place {
	case placeGroup:
		if g := l.group; g != nil {
			g.queue = removeLeg(g.queue, l)
		}
	case placeExt:
		if x := l.ext; x != nil {
			s.freeExt(x)
		}
	}
	l.group, l.ext = nil, nil
}

// ref names the group, or the extension whose queue it is.
func (g *group) ref() omproto.Ref {
	if g.kind == omproto.KindExt {
		return omproto.Ref{Kind: omproto.KindExt, ID: g.id}
	}
	return omproto.Ref{Kind: omproto.KindGroup, ID: g.id}
}

func removeLeg(q []*leg, l *leg) []*leg {
	out := q[:0]
	for _, o := range q {
		if o != l {
			out = append(out, o)
		}
	}
	return out
}

// freeExt puts an extension back to idle after its call, reporting IDLE if
// it had answered, and offers it to waiting queues.
func (s *Sim) freeExt(x *ext) {
	s.stopExt(x)
	s.endSupervision(x)
	wasTalking := x.state == extTalk
	x.leg, x.other, x.onAnswer = nil, nil, nil
	x.held, x.muted, x.caller, x.callee = false, false, false, nil
	if x.state != extOffline {
		x.state = extIdle
	}
	if wasTalking {
		s.emit(&omproto.Event{Name: omproto.EventIdle, Objects: []omproto.Ref{{Kind: omproto.KindExt, ID: x.id}}})
	}
	s.distributeAll()
}

// peerRefs are the objects a leg is connected to, as BYE and Status name
// them.
func (s *Sim) peerRefs(l *leg) []omproto.Ref {
	switch {
	case l.place == placeMenu && l.menu != nil:
		return []omproto.Ref{{Kind: omproto.KindMenu, ID: l.menu.id}}
	case l.place == placeExt && l.ext != nil:
		return []omproto.Ref{{Kind: omproto.KindExt, ID: l.ext.id}}
	case l.place == placeGroup && l.group != nil:
		return []omproto.Ref{l.group.ref()}
	case l.place == placeBridge && l.peer != nil:
		return []omproto.Ref{{Kind: l.peer.kind, ID: l.peer.id}}
	case l.viaExt != nil:
		return []omproto.Ref{{Kind: omproto.KindExt, ID: l.viaExt.id}}
	}
	return nil
}

// legState is the <state> a Status answer gives a leg.
func legState(l *leg) string {
	switch l.place {
	case placeDialing, placeInvite:
		return "progress"
	case placeExt:
		if l.ext != nil && l.ext.state == extTalk {
			if l.ext.held {
				return "hold"
			}
			return "talk"
		}
		return "progress"
	case placeBridge:
		return "talk"
	case placeNone:
		if l.viaExt != nil && !l.answered.IsZero() {
			// An extension's outside call, answered.
			if l.viaExt.held {
				return "hold"
			}
			return "talk"
		}
	}
	return "wait"
}

// release ends a leg and, as Clear does, the whole call it is part of:
// the bridged leg, the extension it talks to. Each leg gets its BYE and Cdr.
func (s *Sim) release(l *leg, reason string) {
	if l.place == placeEnded {
		return
	}
	s.emit(&omproto.Event{Name: omproto.EventBye, Calls: []omproto.Call{l.call()}, Objects: s.peerRefs(l)})
	s.emitLegCdr(l)
	peer, via := l.peer, l.viaExt
	s.stopLeg(l)
	s.detach(l)
	l.place = placeEnded
	l.peer = nil
	delete(s.legs, l.key())
	if l.party != nil {
		l.party.end(reason)
	}
	s.log("%s %s released (%s)", l.kind, l.id, reason)
	if peer != nil && peer.place != placeEnded {
		peer.peer = nil
		switch {
		case peer.place == placeDialing && peer.party == nil:
			// The second number of a callback, not dialled yet: the
			// TRANSIENT named it, so it ends with its BYE.
			s.release(peer, "call not placed")
		case l.answered.IsZero() && l.kind == omproto.KindOuter:
			// An outside leg that never connected leaves the call that
			// asked for it waiting for the app's next command.
			peer.place = placeNone
			if peer.party != nil {
				peer.party.state = "waiting"
			}
		default:
			s.release(peer, "far end hung up")
		}
	}
	if via != nil && via.leg == l {
		s.freeExt(via)
	}
}

// dropLeg forgets a leg without reports (a reboot).
func (s *Sim) dropLeg(l *leg) {
	s.stopLeg(l)
	l.place = placeEnded
	delete(s.legs, l.key())
	if l.party != nil {
		l.party.end("device rebooted")
	}
}

func (s *Sim) emitLegCdr(l *leg) {
	typ := "IN"
	switch {
	case l.cdrType != "":
		typ = l.cdrType
	case l.kind == omproto.KindOuter:
		typ = "OU"
	}
	dur := 0
	if !l.answered.IsZero() {
		// Duration 0 means never answered (omapi.md §5): an answered
		// call counts at least one second.
		dur = max(1, int(s.clk.Now().Sub(l.answered).Round(time.Second)/time.Second))
	}
	c := s.cdr(l.callid, typ, s.cfg.TrunkType, l.from, l.to, l.started, dur, s.cfg.Trunk)
	if dur > 0 && s.recorded(l.ext, l.viaExt) {
		c.Recording, c.RecCodec = s.record(l.from, l.to, l.answered, dur), "PCMU"
	}
	s.emitCdr(c)
}

func (s *Sim) cdr(callid, typ, route, cpn, cdpn string, start time.Time, dur int, trunk string) *omproto.Cdr {
	now := s.clk.Now()
	s.cdrSeq++
	return &omproto.Cdr{
		ID:          now.Format(omproto.CdrTimeLayout) + "-" + strconv.Itoa(s.cdrSeq),
		CallID:      callid,
		TimeStart:   start.Format(omproto.CdrTimeLayout),
		TimeEnd:     now.Format(omproto.CdrTimeLayout),
		Type:        typ,
		Route:       route,
		CPN:         cpn,
		CDPN:        cdpn,
		Duration:    dur,
		TrunkNumber: trunk,
	}
}

// ---- voice menus ----

// startMenu puts a leg in a menu and starts the prompt: voicefile when
// given (the per-call override), else the menu's own file.
func (s *Sim) startMenu(l *leg, m *menu, voicefile string) {
	if voicefile == "" {
		voicefile = m.settings.VoiceFile
	}
	l.place = placeMenu
	l.menu = m
	p := &playback{chain: splitChain(voicefile), repeat: m.settings.Repeat, playing: true}
	l.play = p
	if l.party != nil {
		l.party.state = "menu"
	}
	s.log("%s %s in menu %s playing %q (repeat %d)", l.kind, l.id, m.id, voicefile, p.repeat)
	s.playNext(l, p)
}

func (s *Sim) playNext(l *leg, p *playback) {
	if len(p.chain) == 0 {
		s.endOfAnn(l, p)
		return
	}
	file := p.chain[p.pos]
	p.heard = l.party.hear(file)
	p.timer = s.clk.AfterFunc(s.duration(file), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if l.play != p || !p.playing {
			return
		}
		l.party.heardDone(p.heard)
		p.pos++
		if p.pos == len(p.chain) {
			p.pos = 0
			p.round++
			if p.repeat > 0 && p.round >= p.repeat {
				s.endOfAnn(l, p)
				return
			}
		}
		s.playNext(l, p)
	})
}

func (s *Sim) endOfAnn(l *leg, p *playback) {
	p.playing = false
	p.parked = true
	if l.party != nil {
		l.party.state = "parked"
	}
	s.emit(&omproto.Event{
		Name:    omproto.EventEndOfAnn,
		Calls:   []omproto.Call{l.call()},
		Objects: []omproto.Ref{{Kind: omproto.KindMenu, ID: l.menu.id}},
	})
}

// key is one key pressed by the outside party of a leg.
func (s *Sim) key(l *leg, k byte) {
	if l.place != placeMenu || l.play == nil {
		s.log("%s %s key %c ignored: not in a menu", l.kind, l.id, k)
		return
	}
	p := l.play
	if p.parked && s.cfg.DropKeysAfterEndOfAnn {
		s.log("%s %s key %c ignored after EndOfAnn", l.kind, l.id, k)
		return
	}
	if p.playing {
		// Any key stops the playback, and no EndOfAnn follows.
		p.timer.Stop()
		p.playing = false
		if l.party != nil {
			l.party.state = "parked"
		}
	}
	p.keys += string(k)
	m := l.menu
	if (m.settings.Exit != "" && string(k) == m.settings.Exit) || len(p.keys) >= m.infoLength() {
		info := p.keys
		p.keys = ""
		s.emit(&omproto.Event{
			Name:    omproto.EventDTMF,
			Calls:   []omproto.Call{l.call()},
			Objects: []omproto.Ref{{Kind: omproto.KindMenu, ID: m.id}},
			Info:    info,
		})
	}
}

// ---- extensions ----

// ringExt rings an extension for a leg (or for another extension when l
// is nil); answered runs when the phone answers.
func (s *Sim) ringExt(x *ext, l *leg, answered func()) {
	x.state = extRinging
	x.leg = l
	x.onAnswer = answered
	x.since = s.clk.Now()
	ev := &omproto.Event{Name: omproto.EventRing, Objects: []omproto.Ref{{Kind: omproto.KindExt, ID: x.id}}}
	if l != nil {
		ev.Calls = []omproto.Call{l.call()}
	}
	s.emit(ev)
	s.log("ext %s ringing", x.id)
	switch x.policy.Answer {
	case "", AnswerAfter:
		delay := x.policy.Delay
		if delay == 0 {
			delay = DefaultExtAnswerDelay
		}
		x.timer = s.clk.AfterFunc(delay, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if x.state == extRinging && x.onAnswer != nil {
				s.answerExt(x)
			}
		})
	}
}

// answerExt: the phone is picked up.
func (s *Sim) answerExt(x *ext) {
	s.stopExt(x)
	x.state = extTalk
	x.answered = s.clk.Now()
	ev := &omproto.Event{Name: omproto.EventAnswer, Objects: []omproto.Ref{{Kind: omproto.KindExt, ID: x.id}}}
	if x.leg != nil {
		ev.Calls = []omproto.Call{x.leg.call()}
	}
	s.emit(ev)
	s.emit(&omproto.Event{Name: omproto.EventBusy, Objects: []omproto.Ref{{Kind: omproto.KindExt, ID: x.id}}})
	s.log("ext %s answered", x.id)
	f := x.onAnswer
	x.onAnswer = nil
	if f != nil {
		f()
	}
}

// extRefusal is the FAILED code for calling extension x, or 0 when it can
// ring.
func extRefusal(x *ext) int {
	switch {
	case x.state == extOffline, x.policy.Answer == AnswerOffline:
		return omproto.CodeCalledOffline
	case x.state == extTalk:
		return omproto.CodeCalledTalking
	case x.state == extRinging, x.policy.Answer == AnswerBusy:
		return omproto.CodeCalledBusy
	}
	return 0
}

// connectExt sends a leg to an extension. The caller checked extRefusal.
func (s *Sim) connectExt(l *leg, x *ext, prompt string) {
	s.detach(l)
	l.place = placeExt
	l.ext = x
	if l.party != nil {
		l.party.state = "ringing"
		for _, f := range splitChain(prompt) {
			l.party.heardDone(l.party.hear(f))
		}
	}
	s.ringExt(x, l, func() {
		if l.party != nil {
			l.party.state = "talking"
		}
	})
}

// toOperator hands an unclaimed incoming call to the operator extension,
// as the device does when API_RESPONSE_TO passes.
func (s *Sim) toOperator(l *leg) {
	op := s.exts[s.cfg.Operator]
	s.log("%s %s: no command within %s, handing it to the operator %s", l.kind, l.id, s.cfg.ResponseTimeout, op.id)
	if extRefusal(op) != 0 {
		s.release(l, "operator unavailable")
		return
	}
	s.connectExt(l, op, "")
}

// ---- groups ----

func (s *Sim) queueInGroup(l *leg, g *group) {
	s.detach(l)
	l.place = placeGroup
	l.group = g
	g.queue = append(g.queue, l)
	if l.party != nil {
		l.party.state = "queued"
		if g.voicefile != "" {
			l.party.hear(g.voicefile)
		}
	}
	s.emit(&omproto.Event{Name: omproto.EventQueue, Calls: []omproto.Call{l.call()},
		Objects: []omproto.Ref{g.ref()}})
	s.distribute(g)
}

// distribute rings a free member for the first call waiting in a group.
func (s *Sim) distribute(g *group) {
	for len(g.queue) > 0 {
		var free *ext
		for _, id := range g.exts {
			x := s.exts[id]
			if x != nil && extRefusal(x) == 0 && x.policy.Answer != AnswerNoAnswer {
				free = x
				break
			}
		}
		if free == nil {
			return
		}
		l := g.queue[0]
		g.queue = g.queue[1:]
		l.group = nil
		l.place = placeExt
		l.ext = free
		if l.party != nil {
			l.party.state = "ringing"
		}
		s.ringExt(free, l, func() {
			if l.party != nil {
				l.party.state = "talking"
			}
		})
	}
}

func (s *Sim) distributeAll() {
	for _, id := range sortedKeys(s.groups) {
		s.distribute(s.groups[id])
	}
}

// ---- outbound legs ----

// dial rings an outside number for an outer leg, following the number's
// policy; answered runs when the callee picks up.
func (s *Sim) dial(l *leg, answered func()) {
	party := s.newCall("out", l.from, l.to)
	party.leg = l
	party.policy = s.numberPolicy(l.to)
	l.party = party
	l.place = placeDialing
	l.onAnswer = answered
	pol := party.policy
	s.log("dialling %s on outer %s (policy %s)", l.to, l.id, pol.Answer)
	fail := func(code int, reason string) {
		l.dialTimer = s.clk.AfterFunc(0, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if l.place != placeDialing {
				return
			}
			s.emit(&omproto.Event{Name: omproto.EventFailed, Calls: []omproto.Call{l.call()},
				Failure: &omproto.Failure{Code: code, Reason: reason}})
			s.release(l, reason)
		})
	}
	switch pol.Answer {
	case AnswerBusy:
		fail(omproto.CodeCalledBusy, "busy")
		return
	case AnswerFail:
		fail(omproto.CodeFailed, "failed")
		return
	}
	alert := &omproto.Event{Name: omproto.EventAlert, Calls: []omproto.Call{l.call()}}
	if l.viaExt != nil {
		alert.Objects = []omproto.Ref{{Kind: omproto.KindExt, ID: l.viaExt.id}}
	}
	s.emit(alert)
	switch pol.Answer {
	case "", AnswerAfter:
		delay := pol.Delay
		if delay == 0 {
			delay = DefaultOuterDelay
		}
		l.dialTimer = s.clk.AfterFunc(delay, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if l.place == placeDialing {
				s.answerOuter(l)
			}
		})
	case AnswerNoAnswer:
		l.dialTimer = s.clk.AfterFunc(s.cfg.NoAnswerTimeout, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if l.place == placeDialing {
				s.release(l, "no answer")
			}
		})
	}
}

func (s *Sim) numberPolicy(number string) Policy {
	if p, ok := s.cfg.Numbers[number]; ok {
		return p
	}
	return s.cfg.Outside
}

// answerOuter: the callee picked up.
func (s *Sim) answerOuter(l *leg) {
	if l.dialTimer != nil {
		l.dialTimer.Stop()
		l.dialTimer = nil
	}
	l.answered = s.clk.Now()
	l.place = placeNone
	ev := &omproto.Event{Name: omproto.EventAnswered, Calls: []omproto.Call{l.call()}}
	if l.viaExt != nil {
		ev.Objects = []omproto.Ref{{Kind: omproto.KindExt, ID: l.viaExt.id}}
	}
	s.emit(ev)
	party := l.party
	party.state = "answered"
	s.log("%s answered outer %s", l.to, l.id)
	if f := l.onAnswer; f != nil {
		l.onAnswer = nil
		f()
	}
	if keys := party.policy.Keys; keys != "" {
		delay := party.policy.KeysDelay
		if delay == 0 {
			delay = DefaultKeysDelay
		}
		party.pressLater(keys, delay, party.policy.KeysGap)
	}
}

// bridge connects two legs talking to each other.
func (s *Sim) bridge(a, b *leg) {
	s.detach(a)
	s.detach(b)
	a.place, b.place = placeBridge, placeBridge
	a.peer, b.peer = b, a
	for _, l := range []*leg{a, b} {
		if l.party != nil {
			l.party.state = "talking"
		}
	}
}
