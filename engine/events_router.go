package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// The router's side of the event log: which reports and session changes
// become which events. Every publish is a queue append (EventLog.Publish):
// neither the report's goroutine, which the device waits on, nor a call's
// steps wait for the disk.

// publishIncoming tells of a call entering the IVR. r.mu is held.
func (r *Router) publishIncoming(s *Session, ev Event) {
	if r.events == nil {
		return
	}
	r.events.publishData(KindCallIncoming, s.Device.Name, "", s.ID, struct {
		Caller  string `json:"caller"`
		Called  string `json:"called"`
		Trunk   string `json:"trunk,omitempty"`
		Device  string `json:"device"`
		CallID  string `json:"call_id"`
		Flow    string `json:"flow,omitempty"`
		Blocked bool   `json:"blocked,omitempty"`
	}{s.From, s.To, ev.Trunk, s.Device.Name, s.ID, s.routeFlow, s.blocked})
}

// publishReport tells of the rings and answers of a call.
func (r *Router) publishReport(ev Event) {
	if r.events == nil || ev.Ext == "" {
		return
	}
	kind := ""
	switch ev.Kind {
	case EvRing:
		kind = KindCallRinging
	case EvAnswer, EvAnswered:
		kind = KindCallAnswered
	default:
		return
	}
	call := ""
	if ev.Leg.ID != "" {
		r.mu.Lock()
		if s := r.sessions[sessionKey{ev.Device, ev.Leg}]; s != nil && !s.staleCall(&ev) {
			call = s.ID
		}
		r.mu.Unlock()
	}
	r.events.publishData(kind, ev.Device, ev.Ext, call, struct {
		Ext    string `json:"ext"`
		Device string `json:"device"`
		CallID string `json:"call_id,omitempty"`
		Leg    string `json:"leg,omitempty"`
		From   string `json:"from,omitempty"`
		To     string `json:"to,omitempty"`
	}{ev.Ext, ev.Device, call, ev.Leg.ID, ev.From, ev.To})
}

// publishExtState tells of an extension's new state; source is "" for a
// report and "query" for a correction by a query of the device. r.mu is
// held.
func (r *Router) publishExtState(device, ext, was, state, source string) {
	if r.events == nil {
		return
	}
	if was == "" {
		was = "unknown"
	}
	r.events.publishData(KindExtState, device, ext, "", struct {
		Ext    string `json:"ext"`
		Device string `json:"device"`
		State  string `json:"state"`
		Was    string `json:"was"`
		Source string `json:"source,omitempty"`
	}{ext, device, state, was, source})
}

// publishCdr tells of a device's call record.
func (r *Router) publishCdr(c Cdr) {
	if r.events == nil {
		return
	}
	r.events.publishData(KindCdr, c.Device, "", c.Call, c)
}

// publishEnded tells of the call's end, unless the router crashed under
// it (the call stays in the store and ends after the next start).
func (s *Session) publishEnded() {
	ev := s.r.events
	if ev == nil || s.r.killed.Load() {
		return
	}
	outcome := s.outcome
	if outcome == "" {
		outcome = OutcomeFailed
	}
	if s.blocked {
		outcome = "blocked"
	}
	d := s.r.clk.Now().Sub(s.Started)
	ev.publishData(KindCallEnded, s.Device.Name, "", s.ID, struct {
		CallID    string  `json:"call_id"`
		Device    string  `json:"device"`
		Caller    string  `json:"caller"`
		Called    string  `json:"called"`
		Direction string  `json:"direction"`
		Flow      string  `json:"flow,omitempty"`
		Outcome   string  `json:"outcome"`
		Target    string  `json:"target,omitempty"`
		Duration  float64 `json:"duration"` // seconds
	}{s.ID, s.Device.Name, s.From, s.To, s.Direction, s.flowName(), outcome, s.redact(s.target),
		d.Round(time.Millisecond).Seconds()})
}

// emitName is what ivr.emit accepts as a name.
var emitName = regexp.MustCompile(`^[a-z0-9_][a-z0-9_.-]{0,63}$`)

// luaEmit is ivr.emit(name, data): a "flow.<name>" event with data (any
// JSON value, within the store's value limit) and the call's ids. It is a
// journaled step, so a call replayed after a crash does not emit again.
// Every secret the flow has marked is redacted from data.
func (s *Session) luaEmit(L *lua.LState) int {
	name := L.CheckString(1)
	if !emitName.MatchString(name) {
		L.RaiseError("ivr.emit: the name %q is not 1–64 of a-z 0-9 _ . - (starting with a letter, digit or _)", name)
	}
	var data json.RawMessage
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		var b bytes.Buffer
		err := encodeJSON(&b, L.Get(2), 0, s.r.limits.MaxValue)
		if errors.Is(err, errTooBig) || b.Len() > s.r.limits.MaxValue {
			L.RaiseError("ivr.emit: the data passes the limit of %d bytes", s.r.limits.MaxValue)
		}
		if err != nil {
			L.RaiseError("ivr.emit: %v", err)
		}
		data = redactJSON(s, b.Bytes())
	}
	type emitArgs struct {
		Name string          `json:"name"`
		Data json.RawMessage `json:"data,omitempty"`
	}
	_, err := journaled(s, "emit", emitArgs{name, data}, func() (bool, error) {
		body, err := json.Marshal(struct {
			CallID string          `json:"call_id"`
			Flow   string          `json:"flow,omitempty"`
			Data   json.RawMessage `json:"data,omitempty"`
		}{s.ID, s.flowName(), data})
		if err != nil {
			return false, err
		}
		s.r.events.Publish(CallEvent{Kind: KindFlowPrefix + name, Device: s.Device.Name, Call: s.ID, Data: body})
		return true, nil
	})
	s.raiseDiverged(err)
	if err != nil {
		L.RaiseError("ivr.emit: %v", err)
	}
	L.Push(lua.LTrue)
	return 1
}

// redactJSON replaces the call's secrets inside JSON text; should a
// secret's replacement break the JSON (a secret holding a quote), the
// whole value is replaced.
func redactJSON(s *Session, b []byte) json.RawMessage {
	out := []byte(s.redact(string(b)))
	if !json.Valid(out) {
		return json.RawMessage(`"[secret]"`)
	}
	return out
}
