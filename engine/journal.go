package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// journalRec is what a step leaves in the journal: its result for the
// flow, and the session state after it, so that a replay restores both.
type journalRec struct {
	R       json.RawMessage `json:"r,omitempty"`
	Keys    string          `json:"keys,omitempty"`
	Path    []PathEntry     `json:"path,omitempty"`
	Left    bool            `json:"left,omitempty"`
	HungUp  bool            `json:"hung_up,omitempty"`
	Outcome string          `json:"outcome,omitempty"`
	Target  string          `json:"target,omitempty"`
}

// errKilled unwinds a session whose router crashed (Router.Crash).
var errKilled = errors.New("the router crashed")

// deviceStep lists the steps that send the device a command.
var deviceStep = map[string]bool{
	"play": true, "gather": true, "sleep": true, "transfer": true, "hangup": true, "fallback": true,
	"answer": true,
}

// errLeft unwinds a recovered flow whose call the device shows elsewhere
// (an extension, another leg): it left the IVR while ivrd was down.
var errLeft = errors.New("the call left the IVR while ivrd was down")

// errDiverged is a replayed flow asking for something other than what its
// journal holds.
var errDiverged = errors.New("the flow diverged from its journal")

// replaying reports whether the session answers steps from the journal.
func (s *Session) replaying() bool { return s.pos < len(s.replay) }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Only engine-defined values are journaled; they always encode.
		panic("journal: " + err.Error())
	}
	return b
}

// journaled runs one step of the flow. Live, it runs do and appends the
// step (its result and the session state it leaves) to the journal before
// returning, so before the next command can leave. In replay, it answers
// from the journal without acting, after checking that the flow asks for
// the same step; a different step is a divergence. An error from do (the
// session's context ended) is returned unrecorded, so a replay redoes it.
func journaled[R any](s *Session, kind string, args any, do func() (R, error)) (R, error) {
	var zero R
	a := mustJSON(args)
	if s.replaying() {
		st := s.replay[s.pos]
		if st.Kind != kind || !bytes.Equal(st.Args, a) {
			s.diverged = true
			s.log.Error("the replayed flow diverged from its journal; handing the call to the fallback",
				"step", st.Seq, "journal_kind", st.Kind, "journal_args", s.redact(string(st.Args)),
				"flow_kind", kind, "flow_args", s.redact(string(a)))
			return zero, errDiverged
		}
		s.pos++
		var rec journalRec
		if err := json.Unmarshal(st.Result, &rec); err != nil {
			s.diverged = true
			return zero, errDiverged
		}
		var r R
		if len(rec.R) > 0 {
			if err := json.Unmarshal(rec.R, &r); err != nil {
				s.diverged = true
				return zero, errDiverged
			}
		}
		s.keys = []byte(rec.Keys)
		s.mu.Lock() // Path reads it from other goroutines
		s.path = append(s.path, rec.Path...)
		s.mu.Unlock()
		s.left, s.hungUp, s.outcome, s.target = rec.Left, rec.HungUp, rec.Outcome, rec.Target
		return r, nil
	}
	if s.r.killed.Load() {
		return zero, errKilled
	}
	if s.recovered && !s.liveChecked && !s.left && !s.hungUp && deviceStep[kind] {
		// The journal ran out inside a method (a gather's retry, a long
		// play's next chain, sleep's wait): check the call before acting.
		s.goLive(s.runCtx)
		if s.left && kind != "transfer" {
			return zero, errLeft
		}
	}
	pathStart := len(s.path)
	r, err := do()
	if err != nil {
		return r, err
	}
	s.appendStep(kind, a, r, pathStart)
	return r, nil
}

// appendStep appends a live step to the journal, with call.vars when they
// changed.
func (s *Session) appendStep(kind string, args json.RawMessage, r any, pathStart int) {
	if s.r.store == nil || s.r.killed.Load() || s.noJournal {
		return
	}
	if err := s.r.store.Append(s.ID, s.buildStep(kind, args, r, pathStart)); err != nil {
		s.log.Error("journal append failed; this call would not survive a restart", "step", kind, "error", err)
	}
	s.stepDone()
}

// buildStep makes the journal entry for a live step: its result and the
// session state it leaves, with call.vars when they changed.
func (s *Session) buildStep(kind string, args json.RawMessage, r any, pathStart int) Step {
	st, rec := s.stepParts(kind, args, pathStart)
	rec.R = mustJSON(r)
	st.Result = mustJSON(rec)
	return st
}

// stepParts is a step without its result, and the state part of the
// result.
func (s *Session) stepParts(kind string, args json.RawMessage, pathStart int) (Step, journalRec) {
	rec := journalRec{
		Keys: string(s.keys), Path: s.path[pathStart:],
		Left: s.left, HungUp: s.hungUp, Outcome: s.outcome, Target: s.target,
	}
	st := Step{At: s.r.clk.Now(), Kind: kind, Args: args}
	if vars := s.varsJSON(); vars != nil && !bytes.Equal(vars, s.lastVars) {
		st.Vars = vars
		s.lastVars = vars
	}
	return st, rec
}

func (s *Session) stepDone() {
	s.steps++
	if s.r.afterStep != nil {
		s.r.afterStep(s.ID, len(s.replay)+s.steps)
	}
}

// journaledWrite is journaled for an ivr.store write: live, the write and
// its step go to the store in one transaction, so a crash can neither
// lose the step of a write made nor repeat a write on replay.
func journaledWrite(s *Session, kind string, args any, op KVOp) (int64, error) {
	if s.replaying() {
		return journaled(s, kind, args, func() (int64, error) { return 0, errDiverged })
	}
	if s.r.killed.Load() {
		return 0, errKilled
	}
	if s.noJournal {
		return applyKVDirect(s.r.store, op)
	}
	// Everything but the write's result is taken here, on the session's
	// goroutine; mkStep runs in the store's transaction.
	st, rec := s.stepParts(kind, mustJSON(args), len(s.path))
	n, err := s.r.store.Apply(s.ID, op, func(n int64) Step {
		r := rec
		r.R = mustJSON(n)
		out := st
		out.Result = mustJSON(r)
		return out
	})
	if err != nil {
		return 0, err
	}
	s.stepDone()
	return n, nil
}

// varsJSON encodes call.vars, or nil when they cannot be.
func (s *Session) varsJSON() json.RawMessage {
	if s.callTable == nil {
		return nil
	}
	vars, ok := s.callTable.RawGetString("vars").(*lua.LTable)
	if !ok {
		return nil
	}
	var b bytes.Buffer
	if err := encodeJSON(&b, vars, 0, s.r.limits.MaxVars); err != nil {
		return nil
	}
	return b.Bytes()
}

// goLive runs once, when a recovered call's journal has run out, before its
// first live command. A call that is gone is hung up for the flow; one the
// device shows connected elsewhere has left the IVR — for a pending
// transfer that is the transfer having been carried out before the crash.
func (s *Session) goLive(ctx context.Context) {
	if s.liveChecked {
		return
	}
	s.liveChecked = true
	if !s.checkAlive(ctx) {
		s.hungUp, s.outcome = true, OutcomeCallerHangup
		s.addPath("hangup", "gone while ivrd was down")
		s.setState(ActivityEnded, "")
		return
	}
	if at := s.leftBeforeRestart; at != "" && !s.left && !s.hungUp {
		s.left, s.outcome, s.target = true, OutcomeTransferred, at
	}
}

// checkAlive asks the device whether a recovered call is still there
// (matching callid, from and to, since ids are reused).
func (s *Session) checkAlive(ctx context.Context) bool {
	cctx, cancel := s.queryCtx(ctx)
	defer cancel()
	st, err := s.Device.PBX.Query(cctx, s.Leg)
	switch {
	case errors.Is(err, ErrGone):
		s.log.Info("the recovered call is gone")
		return false
	case err != nil:
		s.log.Warn("cannot ask the device about the recovered call; carrying on", "error", err)
		return true
	case (st.CallID != "" && s.CallID != "" && st.CallID != s.CallID) ||
		(st.From != "" && st.From != s.From) || (st.To != "" && st.To != s.To):
		s.log.Info("the recovered call's id now belongs to another call", "callid", st.CallID)
		return false
	}
	s.log.Info("the recovered call is still up; carrying on live", "replayed_steps", len(s.replay), "connected", st.Connected)
	s.liveConnected = st.Connected
	if kind, id, _ := strings.Cut(st.Connected, " "); kind == "menu" {
		// The prompt playing at the crash may still report its end or
		// keys: the next prompt takes the other menu id, so those are
		// told apart as stale.
		if n, err := strconv.Atoi(id); err == nil {
			s.curMenu, s.avoidMenu = n, n
		}
	}
	if kind, _, _ := strings.Cut(st.Connected, " "); st.Connected != "" && kind != "menu" {
		// Connected to an extension, a group or an outside leg: the
		// transfer under way at the crash had already been carried out.
		s.leftBeforeRestart = st.Connected
	}
	return true
}

// applyKVDirect performs a key/value write outside any call's journal (a job's
// failed handler).
func applyKVDirect(st Store, op KVOp) (int64, error) {
	switch op.Op {
	case "put":
		return 0, st.Put(op.Flow, op.Key, op.Value)
	case "incr":
		return st.Incr(op.Flow, op.Key, op.Delta)
	case "append":
		n, err := st.AppendValue(op.Flow, op.Key, op.Value)
		return int64(n), err
	}
	return 0, fmt.Errorf("unknown key/value operation %q", op.Op)
}
