package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/ivrd/ivrd/engine"
)

// Agents is agent call control: acting on the call an extension is in
// (engine.Router.Agent). Without it the agent endpoints answer 501.
type Agents interface {
	// Agent carries out one action on an extension's call.
	Agent(ctx context.Context, req engine.AgentRequest) (engine.AgentResult, error)
}

// agentRoutes adds the agent call control endpoints, all about the call
// extension {ext} of device {name} is in.
func (s *Server) agentRoutes(routes map[string]func(*http.Request) (int, any, error)) {
	const base = "POST /api/v1/devices/{name}/extensions/{ext}/"
	for _, action := range []string{engine.AgentHold, engine.AgentUnhold, engine.AgentHangup} {
		routes[base+action] = func(r *http.Request) (int, any, error) {
			if err := s.emptyBody(r); err != nil {
				return 0, nil, err
			}
			return s.agent(r, engine.AgentRequest{Action: action})
		}
	}
	routes[base+engine.AgentTransfer] = s.agentTransfer
	routes[base+engine.AgentSupervise] = s.agentSupervise
}

// emptyBody accepts no body, or an empty JSON object.
func (s *Server) emptyBody(r *http.Request) error {
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.opt.MaxBody))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	_, err = objectFields(data, "")
	return err
}

// POST …/extensions/{ext}/transfer {"ext"} | {"group"} | {"flow"[, "vars"]}
func (s *Server) agentTransfer(r *http.Request) (int, any, error) {
	f, err := s.readBody(r, "", "ext", "group", "flow", "vars")
	if err != nil {
		return 0, nil, err
	}
	req := engine.AgentRequest{Action: engine.AgentTransfer}
	for _, c := range []struct {
		name string
		v    *string
	}{{"ext", &req.To.Ext}, {"group", &req.To.Group}, {"flow", &req.Flow}} {
		if err := field(f, c.name, "", c.v, "a string"); err != nil {
			return 0, nil, err
		}
		if c.name != "flow" && *c.v != "" && !engine.ValidExt(*c.v) {
			return 0, nil, badField(c.name, "must be a number")
		}
	}
	if raw, ok := f["vars"]; ok && string(raw) != "null" {
		if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			return 0, nil, badField("vars", "must be a JSON object")
		}
		req.Vars = json.RawMessage(raw)
	}
	status, res, err := s.agent(r, req)
	if err == nil && req.Flow != "" {
		status = http.StatusCreated // a new call in the IVR
	}
	return status, res, err
}

// POST …/extensions/{ext}/supervise {"supervisor", "mode"}
func (s *Server) agentSupervise(r *http.Request) (int, any, error) {
	f, err := s.readBody(r, "", "supervisor", "mode")
	if err != nil {
		return 0, nil, err
	}
	req := engine.AgentRequest{Action: engine.AgentSupervise}
	if err := field(f, "supervisor", "", &req.Supervisor, "a string"); err != nil {
		return 0, nil, err
	}
	if err := field(f, "mode", "", &req.Mode, "a string"); err != nil {
		return 0, nil, err
	}
	if !engine.ValidExt(req.Supervisor) {
		return 0, nil, badField("supervisor", "the supervising extension's number is required")
	}
	return s.agent(r, req)
}

// agent fills in the device and extension of the path and carries the
// request out.
func (s *Server) agent(r *http.Request, req engine.AgentRequest) (int, any, error) {
	if s.opt.Agents == nil {
		return 0, nil, fmt.Errorf("agent call control: %w", ErrNotAvailable)
	}
	req.Device, req.Ext = r.PathValue("name"), r.PathValue("ext")
	if !engine.ValidExt(req.Ext) {
		return 0, nil, badField("ext", "the extension in the path must be a number")
	}
	res, err := s.opt.Agents.Agent(r.Context(), req)
	if err != nil {
		return 0, nil, agentError(req, err)
	}
	s.log.Info("agent action", "device", req.Device, "ext", req.Ext, "action", req.Action, "leg", res.Leg,
		"target", res.Target, "supervisor", res.Supervisor, "mode", res.Mode, "call_id", res.Call, "remote", r.RemoteAddr)
	return http.StatusOK, res, nil
}

// agentError gives the engine's errors of an agent action their answer
// (errorOf answers the rest: an unknown device, one without agent call
// control, one that does not answer).
func agentError(req engine.AgentRequest, err error) error {
	var ref *engine.Refusal
	switch {
	case errors.Is(err, engine.ErrNoDevice):
		return noDevice(req.Device)
	case errors.As(err, &ref) && ref.Reason == engine.ReasonNotFound:
		return &Error{Status: http.StatusNotFound, Msg: "the device does not know it: " + ref.Detail, Reason: ref.Reason}
	case errors.As(err, &ref):
		return &Error{Status: http.StatusConflict, Msg: "device " + req.Device + " " + ref.Error(), Reason: ref.Reason}
	case errors.Is(err, engine.ErrNoExtCall):
		return &Error{Status: http.StatusConflict, Msg: err.Error(), Reason: "no_call"}
	case errors.Is(err, engine.ErrGone):
		return &Error{Status: http.StatusConflict, Msg: "the call ended meanwhile: " + err.Error(), Reason: "gone"}
	}
	return err
}
