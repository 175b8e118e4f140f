package engine

import (
	"context"
	"errors"
	"fmt"
)

// PBX is what the engine needs of one OM device. omproto's Client
// implements it through the adapter in internal/ompbx; engine tests use a
// fake.
// Every method is one command exchange; none is retried by the engine.
type PBX interface {
	// AssignMenu sets voice menu id with settings m.
	AssignMenu(ctx context.Context, id int, m MenuSettings) error
	// Play connects a call leg to menu id with prompt as the per-call
	// voice file chain ("a+b").
	Play(ctx context.Context, leg Leg, menu int, prompt string) error
	// Transfer hands a call leg to a target. A refusal is a *Refusal.
	Transfer(ctx context.Context, leg Leg, to Target) error
	// Dial has menu call an outside number; the callee hears prompt (a
	// per-call chain, as for Play) once answered. It returns the new outer
	// leg and what the device says of it (callid, from, to). A refusal is a *Refusal with
	// Code set.
	Dial(ctx context.Context, menu int, prompt, to, trunk string) (Leg, LegStatus, error)
	// DialFromExt has extension ext call an outside number
	// (click-to-dial): the device rings ext first and dials number once it
	// answers; trunk "" lets the device choose. It returns the new outer
	// leg and what the device says of it, or a zero Leg when the answer
	// names none (the leg then shows in the reports). A refusal is a
	// *Refusal.
	DialFromExt(ctx context.Context, ext, number, trunk string) (Leg, LegStatus, error)
	// ConnectExts has extension from call extension to: from rings first.
	// A refusal is a *Refusal.
	ConnectExts(ctx context.Context, from, to string) error
	// Accept answers a call reported by INVITE.
	Accept(ctx context.Context, leg Leg) error
	// Hangup releases the call of a leg.
	Hangup(ctx context.Context, leg Leg) error
	// VoiceFiles lists the voice files the device holds.
	VoiceFiles(ctx context.Context) ([]string, error)
	// Query asks whether a call leg is live, and which call holds its id
	// now (ids are reused); a leg that is not live is ErrGone.
	Query(ctx context.Context, leg Leg) (LegStatus, error)
	// Outers lists the device's outgoing call legs, with what each is
	// connected to ("" while it rings).
	Outers(ctx context.Context) ([]LegStatus, error)
	// Waiting lists the incoming calls that wait for a command, connected
	// to nothing: calls whose INCOMING came while ivrd was down, as
	// incoming events.
	Waiting(ctx context.Context) ([]Event, error)
}

// LegStatus is what the device says of a live call leg.
type LegStatus struct {
	Leg    Leg // in Outers' answer
	CallID string
	From   string
	To     string
	// Connected is what the leg is connected to, as "kind id" ("menu 41",
	// "ext 201", "outer 3"), or "" when it waits on its own.
	Connected string
}

// ErrGone is a call leg the device no longer has.
var ErrGone = errors.New("the call is gone")

// Leg names a call leg on a device: a visitor (incoming) or an outer
// (outgoing) and its id. Ids are reused by the device after release.
type Leg struct {
	Kind string // LegVisitor or LegOuter
	ID   string
}

// Leg kinds.
const (
	LegVisitor = "visitor"
	LegOuter   = "outer"
)

func (l Leg) String() string { return l.Kind + " " + l.ID }

// MenuSettings are a device menu's settings (omapi.md §6).
type MenuSettings struct {
	VoiceFile  string
	Repeat     int // 0 loops forever
	InfoLength int
	Exit       string
}

// Target is where call:transfer sends a call. Exactly one of the fields
// naming a destination is set.
type Target struct {
	Ext    string
	Group  string
	Queue  string // a group to queue in (Transfer Queue)
	Number string // an outside number
	Trunk  string // optional, with Number
	Menu   string // a device menu the site configured itself
}

func (t Target) String() string {
	switch {
	case t.Ext != "":
		return "ext " + t.Ext
	case t.Group != "":
		return "group " + t.Group
	case t.Queue != "":
		return "queue " + t.Queue
	case t.Number != "":
		if t.Trunk != "" {
			return "number " + t.Number + " via trunk " + t.Trunk
		}
		return "number " + t.Number
	case t.Menu != "":
		return "menu " + t.Menu
	}
	return "nothing"
}

// Reasons a device refuses a transfer, as call:transfer returns them.
const (
	ReasonBusy       = "busy"        // the extension is busy
	ReasonTalking    = "talking"     // the extension is in a call
	ReasonOffline    = "offline"     // the extension is not registered
	ReasonNoTrunk    = "no_trunk"    // no free trunk for an outside number
	ReasonRestricted = "restricted"  // the caller may not call there
	ReasonNoSuchExt  = "no_such_ext" // no such extension
	ReasonNotFound   = "not_found"   // the device knows no such object
	ReasonFailed     = "failed"      // any other failure
)

// Refusal is a device's refusal of a command, with the reason call:transfer
// reports to the flow.
type Refusal struct {
	Reason string // one of the Reason… constants
	Code   int    // the device's FAILED code, when it gave one
	Detail string // the device's own words, for logs
}

func (r *Refusal) Error() string {
	if r.Detail == "" {
		return "refused: " + r.Reason
	}
	return fmt.Sprintf("refused: %s (%s)", r.Reason, r.Detail)
}
