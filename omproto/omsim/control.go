package omsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"
)

// ControlHandler serves the simulator's JSON control API under /sim/, for
// people, scripts and the console to act as callers and outside numbers:
//
//	POST /sim/calls                 {"from":"13800000001","to":"60001"} → {"id":"c1"}
//	GET  /sim/calls                 live calls
//	GET  /sim/calls/{id}            one call: state, connection, heard files, keys
//	POST /sim/calls/{id}/keys       {"keys":"1#","gap_ms":200}
//	POST /sim/calls/{id}/hangup
//	POST /sim/calls/{id}/answer     answer an outbound call whose number is "manual"
//	PUT  /sim/numbers/{number}      {"answer":"after","delay":2,"keys":"1"}
//	PUT  /sim/exts/{ext}            {"answer":"busy"} (same fields as numbers)
//	GET  /sim/exts                  extensions: state, call, hold, supervision
//	GET  /sim/exts/{ext}            one extension (ExtInfo)
//	POST /sim/exts/{ext}/answer     pick up a ringing phone (a "manual" extension)
//	POST /sim/exts/{ext}/hangup     hang the phone up, ending its call or its ringing
//	GET  /sim/commands              commands received, newest last
//	GET  /sim/reports               reports generated, newest last
//	PUT  /sim/faults                fault switches (see Faults)
//	GET  /sim/recordings            the paths of the recordings the device holds
//	POST /sim/reboot
//
// Errors are {"error": "…"} with a 4xx status naming the bad field.
func (s *Sim) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sim/calls", s.ctlPlace)
	mux.HandleFunc("GET /sim/calls", s.ctlList)
	mux.HandleFunc("GET /sim/calls/{id}", s.withCall(func(w http.ResponseWriter, r *http.Request, c *Call) {
		writeJSON(w, http.StatusOK, c.Info())
	}))
	mux.HandleFunc("POST /sim/calls/{id}/keys", s.withCall(s.ctlKeys))
	mux.HandleFunc("POST /sim/calls/{id}/hangup", s.withCall(func(w http.ResponseWriter, r *http.Request, c *Call) {
		callResult(w, c, c.HangUp())
	}))
	mux.HandleFunc("POST /sim/calls/{id}/answer", s.withCall(func(w http.ResponseWriter, r *http.Request, c *Call) {
		callResult(w, c, c.Answer())
	}))
	mux.HandleFunc("PUT /sim/numbers/{number}", s.ctlPolicy(false))
	mux.HandleFunc("PUT /sim/exts/{number}", s.ctlPolicy(true))
	mux.HandleFunc("GET /sim/exts", s.ctlExts)
	mux.HandleFunc("GET /sim/exts/{number}", func(w http.ResponseWriter, r *http.Request) {
		in, err := s.ExtInfo(r.PathValue("number"))
		if err != nil {
			writeError(w, http.StatusNotFound, err)
			return
		}
		writeJSON(w, http.StatusOK, in)
	})
	mux.HandleFunc("POST /sim/exts/{number}/answer", s.ctlExtAction(s.AnswerExt))
	mux.HandleFunc("POST /sim/exts/{number}/hangup", s.ctlExtAction(s.HangUpExt))
	mux.HandleFunc("GET /sim/commands", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Commands())
	})
	mux.HandleFunc("GET /sim/reports", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Reports())
	})
	mux.HandleFunc("PUT /sim/faults", s.ctlFaults)
	mux.HandleFunc("GET /sim/recordings", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string][]string{"recordings": s.Recordings()})
	})
	mux.HandleFunc("POST /sim/reboot", func(w http.ResponseWriter, r *http.Request) {
		s.Reboot()
		writeJSON(w, http.StatusOK, map[string]string{"status": "rebooted"})
	})
	mux.HandleFunc("/sim/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such control endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// decodeJSON reads a small JSON body into v, rejecting unknown fields.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("a JSON body is required")
		}
		return fmt.Errorf("bad JSON body: %v", err)
	}
	return nil
}

func (s *Sim) withCall(h func(http.ResponseWriter, *http.Request, *Call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := s.Call(r.PathValue("id"))
		if c == nil {
			writeError(w, http.StatusNotFound, fmt.Errorf("no call with id %q", r.PathValue("id")))
			return
		}
		h(w, r, c)
	}
}

// ctlExtAction runs act on the extension the path names and answers the
// extension as GET /sim/exts/{ext} does.
func (s *Sim) ctlExtAction(act func(id string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("number")
		err := act(id)
		switch {
		case errors.Is(err, ErrNoSuchExt):
			writeError(w, http.StatusNotFound, err)
			return
		case errors.Is(err, ErrNotRinging):
			writeError(w, http.StatusConflict, err)
			return
		case err != nil:
			writeError(w, http.StatusBadRequest, err)
			return
		}
		in, err := s.ExtInfo(id)
		if err != nil {
			writeError(w, http.StatusNotFound, err)
			return
		}
		writeJSON(w, http.StatusOK, in)
	}
}

func callResult(w http.ResponseWriter, c *Call, err error) {
	switch {
	case errors.Is(err, ErrCallEnded), errors.Is(err, ErrNotRinging):
		writeError(w, http.StatusConflict, err)
	case err != nil:
		writeError(w, http.StatusBadRequest, err)
	default:
		writeJSON(w, http.StatusOK, c.Info())
	}
}

func (s *Sim) ctlPlace(w http.ResponseWriter, r *http.Request) {
	var req struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if req.From == "" {
		writeError(w, http.StatusBadRequest, errors.New("from: the caller's number is required"))
		return
	}
	c, err := s.PlaceCall(req.From, req.To)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": c.ID()})
}

func (s *Sim) ctlList(w http.ResponseWriter, r *http.Request) {
	list := []CallInfo{}
	for _, c := range s.LiveCalls() {
		list = append(list, c.Info())
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Sim) ctlKeys(w http.ResponseWriter, r *http.Request, c *Call) {
	var req struct {
		Keys  string `json:"keys"`
		GapMS int    `json:"gap_ms"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if req.Keys == "" {
		writeError(w, http.StatusBadRequest, errors.New("keys: at least one key is required"))
		return
	}
	if req.GapMS < 0 || req.GapMS > 60000 {
		writeError(w, http.StatusBadRequest, errors.New("gap_ms: must be within 0–60000"))
		return
	}
	err := c.PressGap(req.Keys, time.Duration(req.GapMS)*time.Millisecond)
	if errors.Is(err, ErrBadKey) {
		err = fmt.Errorf("keys: %w", err)
	}
	callResult(w, c, err)
}

// policyJSON is a Policy as the control API and configuration files give
// it, with durations in seconds.
type policyJSON struct {
	Answer    string  `json:"answer"`
	Delay     float64 `json:"delay"`
	Keys      string  `json:"keys"`
	KeysDelay float64 `json:"keys_delay"`
	KeysGapMS int     `json:"keys_gap_ms"`
}

func seconds(field string, v float64) (time.Duration, error) {
	if v < 0 || v > 3600 || math.IsNaN(v) {
		return 0, fmt.Errorf("%s: %v is not within 0–3600 seconds", field, v)
	}
	return time.Duration(v * float64(time.Second)), nil
}

func (p policyJSON) policy() (Policy, error) {
	var err error
	out := Policy{Answer: p.Answer, Keys: p.Keys}
	if out.Delay, err = seconds("delay", p.Delay); err != nil {
		return out, err
	}
	if out.KeysDelay, err = seconds("keys_delay", p.KeysDelay); err != nil {
		return out, err
	}
	if p.KeysGapMS < 0 || p.KeysGapMS > 60000 {
		return out, errors.New("keys_gap_ms: must be within 0–60000")
	}
	out.KeysGap = time.Duration(p.KeysGapMS) * time.Millisecond
	return out, nil
}

func (s *Sim) ctlPolicy(isExt bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req policyJSON
		if err := decodeJSON(r, &req); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		p, err := req.policy()
		if err == nil {
			if isExt {
				err = s.SetExtPolicy(r.PathValue("number"), p)
			} else {
				err = s.SetNumberPolicy(r.PathValue("number"), p)
			}
		}
		switch {
		case errors.Is(err, ErrNoSuchExt):
			writeError(w, http.StatusNotFound, err)
		case err != nil:
			writeError(w, http.StatusBadRequest, err)
		default:
			writeJSON(w, http.StatusOK, req)
		}
	}
}

func (s *Sim) ctlExts(w http.ResponseWriter, r *http.Request) {
	out := []ExtInfo{}
	for _, id := range s.cfg.Exts {
		if in, err := s.ExtInfo(id); err == nil {
			out = append(out, in)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) ctlFaults(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CommandDelayMS    int     `json:"command_delay_ms"`
		CommandStatus     int     `json:"command_status"`
		CommandGarbage    bool    `json:"command_garbage"`
		RefuseConnections bool    `json:"refuse_connections"`
		DropReports       int     `json:"drop_reports"`
		DuplicateReports  int     `json:"duplicate_reports"`
		ReorderReports    int     `json:"reorder_reports"`
		DropRate          float64 `json:"drop_rate"`
		DuplicateRate     float64 `json:"duplicate_rate"`
		RecordingsMissing bool    `json:"recordings_missing"`
		RecordingsUnauth  bool    `json:"recordings_unauthorized"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch {
	case req.CommandDelayMS < 0:
		writeError(w, http.StatusBadRequest, errors.New("command_delay_ms: must not be negative"))
		return
	case req.CommandStatus != 0 && (req.CommandStatus < 100 || req.CommandStatus > 599):
		writeError(w, http.StatusBadRequest, errors.New("command_status: not an HTTP status"))
		return
	case req.DropRate < 0 || req.DropRate > 1 || req.DuplicateRate < 0 || req.DuplicateRate > 1:
		writeError(w, http.StatusBadRequest, errors.New("drop_rate, duplicate_rate: must be within 0–1"))
		return
	}
	s.SetFaults(Faults{
		CommandDelay: time.Duration(req.CommandDelayMS) * time.Millisecond, CommandStatus: req.CommandStatus,
		CommandGarbage: req.CommandGarbage, RefuseConnections: req.RefuseConnections,
		DropReports: req.DropReports, DuplicateReports: req.DuplicateReports, ReorderReports: req.ReorderReports,
		DropRate: req.DropRate, DuplicateRate: req.DuplicateRate,
		RecordingsMissing: req.RecordingsMissing, RecordingsUnauthorized: req.RecordingsUnauth,
	})
	writeJSON(w, http.StatusOK, req)
}
