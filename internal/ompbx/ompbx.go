// Package ompbx joins omproto to the engine: PBX implements engine.PBX with
// an omproto.Client, and Event turns a device report into an engine.Event.
// It is the one place where OM XML and the engine meet; cmd/ivrd and the
// integration tests use it.
package ompbx

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto"
)

// PBX drives one OM device through an omproto.Client.
type PBX struct {
	Client *omproto.Client
}

var _ engine.PBX = (*PBX)(nil)

func ref(l engine.Leg) omproto.Ref {
	return omproto.Ref{Kind: omproto.Kind(l.Kind), ID: l.ID}
}

// AssignMenu sets a voice menu.
func (p *PBX) AssignMenu(ctx context.Context, id int, m engine.MenuSettings) error {
	_, err := p.Client.AssignMenu(ctx, omproto.AssignMenu{
		ID: strconv.Itoa(id), VoiceFile: m.VoiceFile, Repeat: m.Repeat, InfoLength: m.InfoLength, Exit: m.Exit,
	})
	return refusal(err)
}

// Play connects a leg to a menu with a per-call prompt.
func (p *PBX) Play(ctx context.Context, leg engine.Leg, menu int, prompt string) error {
	_, err := p.Client.Connect(ctx, omproto.Connect{
		From: ref(leg), To: omproto.Ref{Kind: omproto.KindMenu, ID: strconv.Itoa(menu)}, VoiceFile: prompt,
	})
	return legRefusal(err, leg)
}

// legRefusal is refusal, but a device that no longer knows the call leg
// itself ("can't find visitor:14") means the call is gone: engine.ErrGone.
func legRefusal(err error, leg engine.Leg) error {
	if errors.Is(err, omproto.ErrNotFound) && strings.Contains(err.Error(), leg.Kind+":"+leg.ID) {
		return fmt.Errorf("%w: %v", engine.ErrGone, err)
	}
	return refusal(err)
}

// Transfer hands a leg to a target.
func (p *PBX) Transfer(ctx context.Context, leg engine.Leg, t engine.Target) error {
	var err error
	switch {
	case t.Ext != "":
		_, err = p.Client.Connect(ctx, omproto.Connect{From: ref(leg), To: omproto.Ref{Kind: omproto.KindExt, ID: t.Ext}})
	case t.Group != "":
		_, err = p.Client.Connect(ctx, omproto.Connect{From: ref(leg), To: omproto.Ref{Kind: omproto.KindGroup, ID: t.Group}})
	case t.Queue != "":
		err = p.Client.Queue(ctx, ref(leg), omproto.Ref{Kind: omproto.KindGroup, ID: t.Queue})
	case t.Number != "":
		_, err = p.Client.Connect(ctx, omproto.Connect{From: ref(leg), Trunk: t.Trunk, To: omproto.Ref{Kind: omproto.KindOuter, To: t.Number}})
	case t.Menu != "":
		_, err = p.Client.Connect(ctx, omproto.Connect{From: ref(leg), To: omproto.Ref{Kind: omproto.KindMenu, ID: t.Menu}})
	default:
		return &engine.Refusal{Reason: engine.ReasonFailed, Detail: "no target"}
	}
	return legRefusal(err, leg)
}

// Dial has a menu call an outside number.
func (p *PBX) Dial(ctx context.Context, menu int, prompt, to, trunk string) (engine.Leg, engine.LegStatus, error) {
	ev, err := p.Client.Connect(ctx, omproto.Connect{
		From: omproto.Ref{Kind: omproto.KindMenu, ID: strconv.Itoa(menu)}, Trunk: trunk,
		To: omproto.Ref{Kind: omproto.KindOuter, To: to}, VoiceFile: prompt,
	})
	if err != nil {
		return engine.Leg{}, engine.LegStatus{}, refusal(err)
	}
	if leg, st, ok := outerOf(ev); ok {
		return leg, st, nil
	}
	// Over analogue trunks the outer's id may come only in a later
	// TRANSIENT report (omapi.md §4); ivrd needs it in the answer.
	return engine.Leg{}, engine.LegStatus{}, fmt.Errorf("dial %s: the device's answer names no outer call", to)
}

// outerOf returns the outer call a Connect's answer names.
func outerOf(ev *omproto.Event) (engine.Leg, engine.LegStatus, bool) {
	if ev == nil {
		return engine.Leg{}, engine.LegStatus{}, false
	}
	for _, c := range ev.Calls {
		if c.Kind == omproto.KindOuter && c.ID != "" {
			return engine.Leg{Kind: engine.LegOuter, ID: c.ID}, engine.LegStatus{CallID: c.CallID, From: c.From, To: c.To}, true
		}
	}
	return engine.Leg{}, engine.LegStatus{}, false
}

// DialFromExt has an extension call an outside number: the device rings the
// extension first (Transfer Connect ext → outer).
func (p *PBX) DialFromExt(ctx context.Context, ext, number, trunk string) (engine.Leg, engine.LegStatus, error) {
	ev, err := p.Client.Connect(ctx, omproto.Connect{
		From: omproto.Ref{Kind: omproto.KindExt, ID: ext}, Trunk: trunk, To: omproto.Ref{Kind: omproto.KindOuter, To: number},
	})
	if err != nil {
		return engine.Leg{}, engine.LegStatus{}, refusal(err)
	}
	// Over analogue trunks the outer may be named only in a later
	// TRANSIENT report; the engine then learns it from the reports (an
	// empty leg).
	leg, st, _ := outerOf(ev)
	return leg, st, nil
}

// ConnectExts has one extension call another (Transfer Connect ext → ext).
func (p *PBX) ConnectExts(ctx context.Context, from, to string) error {
	_, err := p.Client.Connect(ctx, omproto.Connect{
		From: omproto.Ref{Kind: omproto.KindExt, ID: from}, To: omproto.Ref{Kind: omproto.KindExt, ID: to},
	})
	return refusal(err)
}

// Accept answers an INVITE.
func (p *PBX) Accept(ctx context.Context, leg engine.Leg) error {
	return refusal(p.Client.Accept(ctx, leg.ID))
}

// Hangup clears a leg's call.
func (p *PBX) Hangup(ctx context.Context, leg engine.Leg) error {
	return legRefusal(p.Client.Clear(ctx, ref(leg)), leg)
}

// VoiceFiles lists the device's voice files.
func (p *PBX) VoiceFiles(ctx context.Context) ([]string, error) {
	return p.Client.VoiceFiles(ctx)
}

// Query asks the device about a call leg.
func (p *PBX) Query(ctx context.Context, leg engine.Leg) (engine.LegStatus, error) {
	st, err := p.Client.Query(ctx, omproto.Kind(leg.Kind), leg.ID)
	if errors.Is(err, omproto.ErrNotFound) {
		return engine.LegStatus{}, engine.ErrGone
	}
	if err != nil {
		return engine.LegStatus{}, err
	}
	for _, c := range st.Calls {
		if c.ID == leg.ID && string(c.Kind) == leg.Kind {
			ls := engine.LegStatus{CallID: c.CallID, From: c.From, To: c.To}
			if len(c.Peers) > 0 {
				ls.Connected = string(c.Peers[0].Kind) + " " + c.Peers[0].ID
			}
			return ls, nil
		}
	}
	return engine.LegStatus{}, engine.ErrGone
}

// Outers lists the device's outer call legs.
func (p *PBX) Outers(ctx context.Context) ([]engine.LegStatus, error) {
	st, err := p.Client.Query(ctx, omproto.KindOuter, "")
	if errors.Is(err, omproto.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []engine.LegStatus
	for _, c := range st.Calls {
		if c.Kind != omproto.KindOuter || c.ID == "" {
			continue
		}
		ls := engine.LegStatus{Leg: engine.Leg{Kind: engine.LegOuter, ID: c.ID}, CallID: c.CallID, From: c.From, To: c.To}
		if len(c.Peers) > 0 {
			ls.Connected = string(c.Peers[0].Kind) + " " + c.Peers[0].ID
		}
		out = append(out, ls)
	}
	return out, nil
}

// Waiting lists the visitors the device holds connected to nothing: calls
// that wait for a command.
func (p *PBX) Waiting(ctx context.Context) ([]engine.Event, error) {
	st, err := p.Client.Query(ctx, omproto.KindVisitor, "")
	if errors.Is(err, omproto.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []engine.Event
	for _, c := range st.Calls {
		// Ringing (an INVITE not yet accepted) or connected to anything:
		// not waiting for the app.
		if c.Kind != omproto.KindVisitor || c.ID == "" || len(c.Peers) > 0 || c.State == "progress" {
			continue
		}
		out = append(out, engine.Event{Kind: engine.EvIncoming, Leg: engine.Leg{Kind: engine.LegVisitor, ID: c.ID},
			From: c.From, To: c.To, CallID: c.CallID})
	}
	return out, nil
}

// refusal turns the device's refusals into *engine.Refusal with the reason
// a flow sees; transport errors pass through.
func refusal(err error) error {
	if err == nil {
		return nil
	}
	var oe *omproto.Error
	switch {
	case errors.As(err, &oe):
		return &engine.Refusal{Reason: Reason(oe.Code), Code: oe.Code, Detail: oe.Error()}
	case errors.Is(err, omproto.ErrNotFound):
		return &engine.Refusal{Reason: engine.ReasonNotFound, Detail: err.Error()}
	}
	return err
}

// Reason maps a FAILED code to the reason call:transfer returns.
func Reason(code int) string {
	switch code {
	case omproto.CodeCalledBusy:
		return engine.ReasonBusy
	case omproto.CodeCalledTalking:
		return engine.ReasonTalking
	case omproto.CodeCalledOffline, omproto.CodeCallingExtOffline:
		return engine.ReasonOffline
	case omproto.CodeNoFreeTrunk:
		return engine.ReasonNoTrunk
	case omproto.CodeCallerRestricted:
		return engine.ReasonRestricted
	case omproto.CodeNoSuchExtension:
		return engine.ReasonNoSuchExt
	}
	return engine.ReasonFailed
}

var eventKinds = map[string]string{
	omproto.EventIncoming: engine.EvIncoming, omproto.EventInvite: engine.EvInvite,
	omproto.EventDTMF: engine.EvDTMF, omproto.EventEndOfAnn: engine.EvEndOfAnn,
	omproto.EventBye: engine.EvBye, omproto.EventRing: engine.EvRing, omproto.EventAlert: engine.EvAlert,
	omproto.EventAnswer: engine.EvAnswer, omproto.EventAnswered: engine.EvAnswered,
	omproto.EventBusy: engine.EvBusy, omproto.EventIdle: engine.EvIdle,
	omproto.EventOnline: engine.EvOnline, omproto.EventOffline: engine.EvOffline,
	omproto.EventBootup: engine.EvBootup, omproto.EventConfigChange: engine.EvConfigChange,
	omproto.EventFailed: engine.EvFailed, omproto.EventTransient: engine.EvTransient,
	omproto.EventQueue: engine.EvQueue, omproto.EventDivert: engine.EvDivert,
}

// Event converts a report from the named device. Unknown events keep their
// own name as Kind.
func Event(device string, r *omproto.Report) engine.Event {
	ev := engine.Event{Device: device}
	switch {
	case r.Cdr != nil:
		c := r.Cdr
		ev.Kind = engine.EvCdr
		ev.CallID = c.CallID
		ev.From, ev.To = c.CPN, c.CDPN
		ev.Cdr = &engine.CdrRecord{ID: c.ID, Type: c.Type, Route: c.Route, CPN: c.CPN, CDPN: c.CDPN,
			TimeStart: c.TimeStart, TimeEnd: c.TimeEnd, Duration: c.Duration, Recording: c.Recording}
		return ev
	case r.Event == nil:
		ev.Kind = r.Kind()
		return ev
	}
	e := r.Event
	ev.Kind = e.Name
	if k, ok := eventKinds[e.Name]; ok {
		ev.Kind = k
	}
	if c := e.Call(); c != nil {
		ev.Leg = engine.Leg{Kind: string(c.Kind), ID: c.ID}
		ev.From, ev.To, ev.CallID = c.From, c.To, c.CallID
	}
	ev.Digits = e.Info
	ev.Menu = e.Menu()
	ev.Ext = e.Ext()
	ev.Trunk = e.Trunk()
	if e.Failure != nil {
		ev.Code, ev.Reason = e.Failure.Code, e.Failure.Reason
	}
	if e.Name == omproto.EventFailed {
		ev.Cause = Reason(ev.Code)
	}
	return ev
}

// Deliverer is what receives converted events (the engine's Router).
type Deliverer interface {
	Deliver(engine.Event)
}

// Handler returns an omproto.Receiver handler that converts each report
// from device and delivers it.
func Handler(device string, to Deliverer) func(*omproto.Report) {
	return func(r *omproto.Report) { to.Deliver(Event(device, r)) }
}

// TracingHandler is Handler that also hands the engine each report's XML
// (engine.Event.Wire), which the engine writes at trace level with the
// call it routes the report to.
func TracingHandler(device string, to Deliverer) func(*omproto.Report) {
	return func(r *omproto.Report) {
		ev := Event(device, r)
		ev.Wire = string(r.Encode())
		to.Deliver(ev)
	}
}

var _ engine.AgentPBX = (*PBX)(nil)

// ExtCall asks the device for an extension (Query ext) and the outside
// legs of its call.
func (p *PBX) ExtCall(ctx context.Context, ext string) (engine.ExtCall, error) {
	st, err := p.Client.Query(ctx, omproto.KindExt, ext)
	if err != nil {
		return engine.ExtCall{}, refusal(err)
	}
	for _, x := range st.Exts {
		if x.ID != ext {
			continue
		}
		out := engine.ExtCall{State: extState(x.State)}
		for _, c := range x.Calls {
			if (c.Kind != omproto.KindVisitor && c.Kind != omproto.KindOuter) || c.ID == "" {
				continue
			}
			out.Legs = append(out.Legs, engine.LegStatus{Leg: engine.Leg{Kind: string(c.Kind), ID: c.ID},
				CallID: c.CallID, From: c.From, To: c.To, Connected: "ext " + ext})
		}
		if len(out.Legs) > 0 {
			// A device that lists a call says the extension is in it,
			// whatever word it uses for the extension's state.
			out.State = engine.ExtBusy
		}
		return out, nil
	}
	return engine.ExtCall{}, &engine.Refusal{Reason: engine.ReasonNotFound, Detail: "the answer does not name extension " + ext}
}

// extState reads the device's word for an extension's state; a word
// ivrd does not know is busy, so that the action is tried and the device
// itself answers whether there is a call.
func extState(word string) string {
	if st, ok := engine.ExtWord(word); ok {
		return st
	}
	return engine.ExtBusy
}

// Hold holds (on) or unholds an extension's call.
func (p *PBX) Hold(ctx context.Context, ext string, on bool) error {
	if on {
		return refusal(p.Client.Hold(ctx, ext))
	}
	return refusal(p.Client.Unhold(ctx, ext))
}

// HangupExt clears an extension's call.
func (p *PBX) HangupExt(ctx context.Context, ext string) error {
	return refusal(p.Client.Clear(ctx, omproto.Ref{Kind: omproto.KindExt, ID: ext}))
}

// Supervise sends Monitor, Talk, Listen or Bargein, the supervisor first
// (omproto.Supervise).
func (p *PBX) Supervise(ctx context.Context, mode, supervisor, ext string) error {
	verbs := map[string]string{engine.SuperviseMonitor: omproto.VerbMonitor, engine.SuperviseTalk: omproto.VerbTalk,
		engine.SuperviseListen: omproto.VerbListen, engine.SuperviseBargein: omproto.VerbBargein}
	verb, ok := verbs[mode]
	if !ok {
		return fmt.Errorf("supervise: unknown mode %q", mode)
	}
	_, err := p.Client.Do(ctx, omproto.Supervise{Action: verb, First: supervisor, Second: ext})
	return refusal(err)
}
