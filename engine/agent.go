package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Agent call control: acting on the call an extension (an agent) is in —
// hold, unhold, hang up, transfer it to another extension, a group or a
// flow — and a supervisor joining it. The router sends the commands
// through the device's AgentPBX and tells the event log what was done.

// AgentPBX is what the engine needs of a device for agent call control.
// A device's PBX that does not implement it answers ErrNoAgentControl.
type AgentPBX interface {
	// ExtCall asks the device for an extension and the calls it holds. An
	// extension the device does not know is a *Refusal with
	// ReasonNotFound.
	ExtCall(ctx context.Context, ext string) (ExtCall, error)
	// Hold puts the call of an extension on hold (on) or takes it off.
	Hold(ctx context.Context, ext string, on bool) error
	// HangupExt releases the call of an extension.
	HangupExt(ctx context.Context, ext string) error
	// Supervise has supervisor join the call of ext in mode (one of the
	// Supervise… constants), or change how it takes part.
	Supervise(ctx context.Context, mode, supervisor, ext string) error
}

// ExtCall is what a device says of an extension and its call.
type ExtCall struct {
	// State is idle, busy (ringing or in a call) or offline.
	State string
	// Legs are the outside call legs the extension rings for or talks
	// with, with their device details; none in a call between two
	// extensions.
	Legs []LegStatus
}

// Agent actions (AgentRequest.Action); the event of each is the
// KindAgent… of the same name.
const (
	AgentHold      = "hold"
	AgentUnhold    = "unhold"
	AgentHangup    = "hangup"
	AgentTransfer  = "transfer"
	AgentSupervise = "supervise"
)

var agentKinds = map[string]string{
	AgentHold: KindAgentHold, AgentUnhold: KindAgentUnhold, AgentHangup: KindAgentHangup,
	AgentTransfer: KindAgentTransfer, AgentSupervise: KindAgentSupervise,
}

// Supervision modes (AgentRequest.Mode), the OM's Monitor, Talk, Listen and
// Bargein.
const (
	SuperviseMonitor = "monitor" // the supervisor hears both sides, silent
	SuperviseTalk    = "talk"    // the supervisor speaks to the agent only
	SuperviseListen  = "listen"  // back to silent
	SuperviseBargein = "bargein" // a three-way call
)

// Errors of agent call control.
var (
	// ErrNoDevice is a device name that is not configured.
	ErrNoDevice = errors.New("no such device")
	// ErrNoExtCall is an extension in no call that the action could act
	// on.
	ErrNoExtCall = errors.New("the extension is in no call")
	// ErrNoAgentControl is a device whose PBX offers no agent call
	// control.
	ErrNoAgentControl = errors.New("the device offers no agent call control")
	// ErrDeviceDown is a device that did not answer (or answered what
	// could not be read); the action may not have been carried out.
	ErrDeviceDown = errors.New("the device did not answer")
)

// ReasonDeviceDown is the reason word of ErrDeviceDown where an answer
// gives one: the API's 502s, an ended click's Reason.
const ReasonDeviceDown = "device_down"

// AgentRequest is one agent action on the call extension Ext of Device is
// in.
type AgentRequest struct {
	Device string
	Ext    string
	Action string // one of the Agent… constants
	// To is where AgentTransfer sends the call's outside leg: Ext or
	// Group. Flow instead starts a session of that flow for the leg, with
	// Vars as call.vars, as POST /api/v1/calls/{id}/flow does.
	To   Target
	Flow string
	Vars json.RawMessage
	// Supervisor and Mode are AgentSupervise's: the extension that joins,
	// and how (one of the Supervise… constants).
	Supervisor string
	Mode       string
}

// AgentResult is what an agent action did, as the event log tells it.
type AgentResult struct {
	Action string `json:"action"`
	Device string `json:"device"`
	Ext    string `json:"ext"`
	// Leg, CallID, From and To are the outside leg of the extension's
	// call, when it has one (the device's ids and numbers).
	Leg    string `json:"leg,omitempty"`
	CallID string `json:"callid,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	// Target is where a transfer sent the call ("ext 202", "group 1",
	// "flow survey"); Call the new IVR call's id after a transfer to a
	// flow.
	Target string `json:"target,omitempty"`
	Call   string `json:"call_id,omitempty"`
	// Supervisor and Mode, after a supervise.
	Supervisor string `json:"supervisor,omitempty"`
	Mode       string `json:"mode,omitempty"`
}

// Agent carries out an agent action: it asks the device for the
// extension's call, sends the command, and publishes "agent.<action>".
// Errors: a *FieldError for a bad request, ErrNoDevice, a *Refusal (the
// device's: ReasonNotFound for an unknown extension), ErrNoExtCall,
// ErrInIVR and ErrShuttingDown (a transfer to a flow), ErrNoAgentControl,
// and ErrDeviceDown wrapping what went wrong on the wire.
func (r *Router) Agent(ctx context.Context, req AgentRequest) (AgentResult, error) {
	res := AgentResult{Action: req.Action, Device: req.Device, Ext: req.Ext}
	if err := r.checkAgent(req); err != nil {
		return res, err
	}
	d := r.devices[req.Device]
	pbx, ok := d.PBX.(AgentPBX)
	if !ok {
		return res, ErrNoAgentControl
	}
	cctx, cancel := context.WithTimeout(ctx, d.commandTimeout())
	defer cancel()
	call, err := pbx.ExtCall(cctx, req.Ext)
	if err != nil {
		return res, deviceErr(err)
	}
	if call.State != ExtBusy {
		return res, fmt.Errorf("%w: extension %s is %s", ErrNoExtCall, req.Ext, call.State)
	}
	if len(call.Legs) > 0 {
		l := call.Legs[0]
		res.Leg, res.CallID, res.From, res.To = l.Leg.String(), l.CallID, l.From, l.To
	}
	switch req.Action {
	case AgentHold, AgentUnhold:
		err = pbx.Hold(cctx, req.Ext, req.Action == AgentHold)
	case AgentHangup:
		err = pbx.HangupExt(cctx, req.Ext)
	case AgentSupervise:
		res.Supervisor, res.Mode = req.Supervisor, req.Mode
		err = pbx.Supervise(cctx, req.Mode, req.Supervisor, req.Ext)
	case AgentTransfer:
		if len(call.Legs) == 0 {
			return res, fmt.Errorf("%w: extension %s talks with no outside caller to transfer", ErrNoExtCall, req.Ext)
		}
		leg := call.Legs[0].Leg
		if req.Flow != "" {
			res.Target = "flow " + req.Flow
			var s *Session
			if s, err = r.redirect(req.Device, leg, req.Flow, req.Vars, "ext "+req.Ext); err != nil {
				break
			}
			res.Call = s.ID
			// Answer once the flow's first command has taken the caller from
			// the extension (or the call has ended), so that the agent's next
			// action — a hang-up, most likely — finds the extension free
			// rather than cutting the caller off. A first command may need a
			// menu assigned first: two exchanges.
			wait := time.NewTimer(2 * d.commandTimeout())
			select {
			case <-s.settled:
			case <-wait.C:
				s.log.Warn("the flow's first command has not returned yet; answering the transfer anyway", "transferred_by", "ext "+req.Ext)
			case <-ctx.Done():
			}
			wait.Stop()
			break
		}
		res.Target = req.To.String()
		err = d.PBX.Transfer(cctx, leg, req.To)
	}
	if err != nil {
		return res, deviceErr(err)
	}
	r.events.publishData(agentKinds[req.Action], req.Device, req.Ext, res.Call, res)
	return res, nil
}

// checkAgent checks a request before anything is sent.
func (r *Router) checkAgent(req AgentRequest) error {
	if r.devices[req.Device] == nil {
		return fmt.Errorf("%w: %q", ErrNoDevice, req.Device)
	}
	if req.Ext == "" {
		return &FieldError{"ext", "the extension is required"}
	}
	switch req.Action {
	case AgentHold, AgentUnhold, AgentHangup:
	case AgentTransfer:
		if req.To.Queue != "" || req.To.Number != "" || req.To.Menu != "" || req.To.Trunk != "" {
			return &FieldError{"to", "an agent's call goes to an ext, a group or a flow"}
		}
		given := ""
		for _, f := range []struct{ name, v string }{{"ext", req.To.Ext}, {"group", req.To.Group}, {"flow", req.Flow}} {
			switch {
			case f.v == "":
			case given != "":
				return &FieldError{f.name, "name one of ext, group and flow; " + given + " is given already"}
			default:
				given = f.name
			}
		}
		if given == "" {
			return &FieldError{"ext", "name where the call goes: one of ext, group and flow"}
		}
		if req.To.Ext == req.Ext && req.Ext != "" {
			return &FieldError{"ext", "the call is on extension " + req.Ext + " already"}
		}
		if req.Flow != "" {
			if _, ok := r.flows.Flow(req.Flow); !ok {
				return &FieldError{"flow", fmt.Sprintf("no flow %q is loaded", req.Flow)}
			}
			if err := r.checkVars(req.Vars); err != nil {
				return err
			}
		} else if len(req.Vars) > 0 {
			return &FieldError{"vars", "vars go with a transfer to a flow"}
		}
	case AgentSupervise:
		switch req.Mode {
		case SuperviseMonitor, SuperviseTalk, SuperviseListen, SuperviseBargein:
		default:
			return &FieldError{"mode", "must be monitor, talk, listen or bargein"}
		}
		if req.Supervisor == "" {
			return &FieldError{"supervisor", "the supervising extension is required"}
		}
		if req.Supervisor == req.Ext {
			return &FieldError{"supervisor", "an extension cannot supervise its own call"}
		}
	default:
		return &FieldError{"action", fmt.Sprintf("unknown action %q", req.Action)}
	}
	return nil
}

// deviceErr passes the device's refusals and the engine's own errors
// through, and marks anything else as the device not answering.
func deviceErr(err error) error {
	var ref *Refusal
	var fe *FieldError
	switch {
	case errors.As(err, &ref), errors.As(err, &fe), errors.Is(err, ErrInIVR), errors.Is(err, ErrShuttingDown),
		errors.Is(err, ErrGone), errors.Is(err, ErrNoExtCall), errors.Is(err, ErrNoAgentControl):
		return err
	}
	return fmt.Errorf("%w: %w", ErrDeviceDown, err)
}
