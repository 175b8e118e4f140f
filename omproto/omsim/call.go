package omsim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto"
)

// Errors of the scripted-caller API.
var (
	ErrCallEnded  = errors.New("omsim: the call has ended")
	ErrBadKey     = errors.New("omsim: not a DTMF key")
	ErrNoSuchExt  = errors.New("omsim: no such extension")
	ErrNotRinging = errors.New("omsim: not ringing")
)

// Call is the outside party of a call on the simulated device: a caller
// dialling in, or a number the device dialled out to. Its id is the
// simulator's own, unique for the simulator's lifetime (not the device's
// visitor or outer id, which are reused).
type Call struct {
	sim       *Sim
	id        string
	direction string // "in" or "out"
	from, to  string
	leg       *leg
	state     string
	heard     []Heard
	keys      string
	policy    Policy
	endReason string
	timers    []clock.Timer
}

// Heard is one voice file played to a caller.
type Heard struct {
	File      string `json:"file"`
	Completed bool   `json:"completed"` // played to its end, not cut by a key or hang-up
}

// CallInfo is a snapshot of a call.
type CallInfo struct {
	ID        string `json:"id"`
	Direction string `json:"direction"`
	From      string `json:"from"`
	To        string `json:"to"`
	// State is invite, incoming, waiting, menu (a prompt playing), parked
	// (in a menu, silent), ringing, talking, held (the extension holds the
	// call), queued, answered or ended.
	State string `json:"state"`
	// Leg is the device's object for the call ("visitor 3"), while live.
	Leg    string `json:"leg,omitempty"`
	CallID string `json:"callid,omitempty"`
	// Connected is what the call is connected to ("menu 1", "ext 201").
	Connected string `json:"connected,omitempty"`
	// Hears lists whose voices the caller hears while talking: the
	// extension, and a supervisor that barged in; empty while held.
	Hears     []string `json:"hears,omitempty"`
	Heard     []Heard  `json:"heard"`
	Keys      string   `json:"keys"`
	EndReason string   `json:"end_reason,omitempty"`
}

func (s *Sim) newCall(direction, from, to string) *Call {
	s.callSeq++
	c := &Call{sim: s, id: "c" + strconv.Itoa(s.callSeq), direction: direction, from: from, to: to, state: "ringing"}
	s.calls[c.id] = c
	s.order = append(s.order, c)
	return c
}

func (c *Call) hear(file string) int {
	c.heard = append(c.heard, Heard{File: file})
	return len(c.heard) - 1
}

func (c *Call) heardDone(i int) {
	if i >= 0 && i < len(c.heard) {
		c.heard[i].Completed = true
	}
}

func (c *Call) end(reason string) {
	c.stopTimers()
	if c.state == "ended" {
		return
	}
	c.state = "ended"
	c.endReason = reason
	c.leg = nil
}

func (c *Call) stopTimers() {
	for _, t := range c.timers {
		t.Stop()
	}
	c.timers = nil
}

// ID returns the simulator's id for the call.
func (c *Call) ID() string { return c.id }

// Info returns a snapshot of the call.
func (c *Call) Info() CallInfo {
	s := c.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.info()
}

func (c *Call) info() CallInfo {
	in := CallInfo{
		ID: c.id, Direction: c.direction, From: c.from, To: c.to, State: c.state,
		Heard: append([]Heard{}, c.heard...), Keys: c.keys, EndReason: c.endReason,
	}
	if l := c.leg; l != nil {
		in.Leg = string(l.kind) + " " + l.id
		in.CallID = l.callid
		if refs := c.sim.peerRefs(l); len(refs) > 0 {
			in.Connected = string(refs[0].Kind) + " " + refs[0].ID
		}
		in.Hears = c.sim.legHears(l)
	}
	return in
}

// State returns the call's state (see CallInfo.State).
func (c *Call) State() string { return c.Info().State }

// Heard returns the voice files played to the call so far.
func (c *Call) Heard() []Heard { return c.Info().Heard }

// Leg returns the device's kind and id for the call while it is live.
func (c *Call) Leg() (omproto.Kind, string) {
	c.sim.mu.Lock()
	defer c.sim.mu.Unlock()
	if c.leg == nil {
		return "", ""
	}
	return c.leg.kind, c.leg.id
}

// Press presses keys now, one after another.
func (c *Call) Press(keys string) error { return c.PressGap(keys, 0) }

// PressGap presses keys with gap between them on the simulator's clock; the
// first key is pressed now.
func (c *Call) PressGap(keys string, gap time.Duration) error {
	for _, k := range keys {
		if !validKey(k) {
			return fmt.Errorf("%w: %q", ErrBadKey, k)
		}
	}
	s := c.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.leg == nil {
		return ErrCallEnded
	}
	if gap == 0 {
		for i := 0; i < len(keys); i++ {
			c.press(keys[i])
		}
		return nil
	}
	c.pressLater(keys, 0, gap)
	return nil
}

// pressLater schedules keys: the first after delay, the rest gap apart.
func (c *Call) pressLater(keys string, delay, gap time.Duration) {
	s := c.sim
	if delay == 0 && len(keys) > 0 {
		c.press(keys[0])
		keys = keys[1:]
		delay = gap
	}
	for i := 0; i < len(keys); i++ {
		k := keys[i]
		t := s.clk.AfterFunc(delay+time.Duration(i)*gap, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if c.leg != nil {
				c.press(k)
			}
		})
		c.timers = append(c.timers, t)
	}
}

func (c *Call) press(k byte) {
	c.keys += string(k)
	c.sim.log("%s %s pressed %c", c.id, c.from, k)
	c.sim.key(c.leg, k)
}

// HangUp ends the call from the outside party's side.
func (c *Call) HangUp() error {
	s := c.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.leg == nil {
		return ErrCallEnded
	}
	l := c.leg
	s.log("%s hung up", c.id)
	s.release(l, "hung up")
	return nil
}

// Answer picks up an outbound call whose number's policy is manual.
func (c *Call) Answer() error {
	s := c.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.leg == nil {
		return ErrCallEnded
	}
	if c.leg.place != placeDialing {
		return ErrNotRinging
	}
	s.answerOuter(c.leg)
	return nil
}

// WaitState waits until the call is in state, polling on real time; on a
// virtual clock call Sim.Settle first and it returns at once.
func (c *Call) WaitState(ctx context.Context, state string) error {
	return c.sim.WaitFor(ctx, func() bool { return c.State() == state })
}

// WaitFor polls cond until it holds or ctx is done.
func (s *Sim) WaitFor(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// PlaceCall places an incoming call from a caller to a number on the trunk.
// Under control after answer the device reports INCOMING and waits
// ResponseTimeout for a command; under control before answer it reports
// INVITE.
func (s *Sim) PlaceCall(from, to string) (*Call, error) {
	if to == "" {
		to = s.cfg.Trunk
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("omsim: simulator closed")
	}
	c := s.newCall("in", from, to)
	l := s.newLeg(omproto.KindVisitor, from, to, s.newCallID())
	l.party = c
	c.leg = l
	s.log("call %s placed: %s → %s (visitor %s)", c.id, from, to, l.id)
	if s.cfg.ControlBeforeAnswer {
		l.place = placeInvite
		c.state = "invite"
		s.emit(&omproto.Event{Name: omproto.EventInvite, Calls: []omproto.Call{l.call()},
			Objects: []omproto.Ref{{Kind: omproto.KindTrunk, ID: s.cfg.Trunk}}})
		l.respTimer = s.clk.AfterFunc(s.cfg.ResponseTimeout, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if l.place == placeInvite {
				// The device accepts by itself and routes the call as
				// it would without the API: to the operator.
				l.answered = s.clk.Now()
				l.place = placeNone
				s.toOperator(l)
			}
		})
		return c, nil
	}
	s.incoming(l)
	return c, nil
}

// incoming answers a visitor, mutes it and reports INCOMING.
func (s *Sim) incoming(l *leg) {
	l.place = placeNone
	l.answered = s.clk.Now()
	l.party.state = "incoming"
	s.emit(&omproto.Event{Name: omproto.EventIncoming, Calls: []omproto.Call{l.call()},
		Objects: []omproto.Ref{{Kind: omproto.KindTrunk, ID: s.cfg.Trunk}}})
	l.respTimer = s.clk.AfterFunc(s.cfg.ResponseTimeout, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if l.respTimer != nil && l.place == placeNone {
			l.respTimer = nil
			s.toOperator(l)
		}
	})
}

// Call returns the call with the simulator's id, or nil.
func (s *Sim) Call(id string) *Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

// Calls returns every call placed so far (ended ones too), oldest first.
func (s *Sim) Calls() []*Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Call(nil), s.order...)
}

// LiveCalls returns the calls not ended, oldest first.
func (s *Sim) LiveCalls() []*Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Call
	for _, c := range s.order {
		if c.state != "ended" {
			out = append(out, c)
		}
	}
	return out
}

// CallsTo returns the outbound calls the device placed to number, oldest
// first.
func (s *Sim) CallsTo(number string) []*Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Call
	for _, c := range s.order {
		if c.direction == "out" && c.to == number {
			out = append(out, c)
		}
	}
	return out
}

// SetNumberPolicy sets how an outside number answers outbound calls.
func (s *Sim) SetNumberPolicy(number string, p Policy) error {
	if err := p.validate(false); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Numbers[number] = p
	return nil
}

// SetExtPolicy sets how an extension answers. Offline unregisters it
// (OFFLINE is reported); any other policy on an offline extension
// registers it again (ONLINE).
func (s *Sim) SetExtPolicy(id string, p Policy) error {
	if err := p.validate(true); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.exts[id]
	if x == nil {
		return fmt.Errorf("%w: %s", ErrNoSuchExt, id)
	}
	x.policy = p
	s.cfg.ExtPolicies[id] = p
	switch {
	case p.Answer == AnswerOffline && x.state != extOffline:
		// The policy is set first, so that freeing the extension does not
		// offer it to a waiting queue.
		switch {
		case x.leg != nil:
			s.release(x.leg, "extension went offline")
		case x.other != nil:
			s.endExtCall(x)
		}
		if x.state != extIdle {
			s.freeExt(x) // ringing for a click-to-call of its own
		}
		x.state = extOffline
		s.emit(&omproto.Event{Name: omproto.EventOffline, Objects: []omproto.Ref{{Kind: omproto.KindExt, ID: id}}})
	case p.Answer != AnswerOffline && x.state == extOffline:
		x.state = extIdle
		s.emit(&omproto.Event{Name: omproto.EventOnline, Objects: []omproto.Ref{{Kind: omproto.KindExt, ID: id}}})
		s.distributeAll()
	}
	return nil
}

// AnswerExt picks up a ringing extension (for the manual policy).
func (s *Sim) AnswerExt(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.exts[id]
	if x == nil {
		return fmt.Errorf("%w: %s", ErrNoSuchExt, id)
	}
	if x.state != extRinging {
		return ErrNotRinging
	}
	s.answerExt(x)
	return nil
}

// HangUpExt hangs up an extension's phone, ending its call.
func (s *Sim) HangUpExt(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.exts[id]
	if x == nil {
		return fmt.Errorf("%w: %s", ErrNoSuchExt, id)
	}
	switch {
	case x.leg != nil && x.leg.viaExt == x:
		s.release(x.leg, "extension hung up")
	case x.leg != nil:
		s.release(x.leg, "extension hung up")
	case x.other != nil:
		s.endExtCall(x)
	case x.callee != nil:
		// The caller of a click-to-call rejects its ringing phone.
		s.endUnansweredExtCall(x, x.callee)
	default:
		s.freeExt(x)
	}
	return nil
}

// ExtState returns an extension's state: idle, ringing, busy or offline.
func (s *Sim) ExtState(id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.exts[id]
	if x == nil {
		return "", fmt.Errorf("%w: %s", ErrNoSuchExt, id)
	}
	return x.stateName(), nil
}
