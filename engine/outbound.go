package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// dialState is what an outbound call's session knows of the attempt that
// placed it, and how it went.
type dialState struct {
	job      string
	attempt  int
	answered bool
	// adoptedAnswered: the call was found answered at a restart, its
	// ANSWERED report lost with the process.
	adoptedAnswered bool
	outcome         string // a Dial… outcome, once known
	code            int
	reason          string
}

// answerResult is the journaled end of the wait for an answer.
type answerResult struct {
	Outcome string `json:"outcome"`
	Code    int    `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// failedGrace is how long an outbound call that the device reported FAILED
// is given for its BYE.
const failedGrace = 5 * time.Second

// outbound runs an outbound call: it waits for the callee to answer (a
// journaled step), then runs the flow's answered(call). A call never
// answered ends without running the flow at all.
func (s *Session) outbound(ctx context.Context, handlers *lua.LTable) error {
	res, err := journaled(s, "answer", nil, func() (answerResult, error) { return s.awaitAnswer(ctx) })
	if err != nil {
		return err
	}
	s.dial.outcome, s.dial.code, s.dial.reason = res.Outcome, res.Code, res.Reason
	if res.Outcome != DialAnswered {
		s.outcome = res.Outcome
		s.hungUp = true // nothing to hang up: the attempt is over
		return nil
	}
	s.dial.answered = true
	fn, ok := handlers.RawGetString("answered").(*lua.LFunction)
	if !ok {
		return fmt.Errorf("%s: the flow has no answered(call) handler for outbound calls", s.Flow.Path)
	}
	L := s.L
	L.Push(fn)
	L.Push(s.callTable)
	err = s.step(ctx, func() error { return L.PCall(1, 1, nil) })
	if err != nil {
		return err
	}
	ret := L.Get(-1)
	L.Pop(1)
	if ret == lua.LString(DialRetry) {
		s.dial.outcome = DialRetry
		s.log.Info("answered, but the flow asks to count the attempt as not done")
	}
	return nil
}

// awaitAnswer waits until the callee answers, the number turns out busy or
// unreachable, or the ring timeout passes (the call is then cleared).
func (s *Session) awaitAnswer(ctx context.Context) (answerResult, error) {
	if s.hungUp {
		// A recovered call found gone: it ended while ivrd was down.
		return answerResult{Outcome: DialInterrupted, Reason: "the call ended while ivrd was down"}, nil
	}
	if kind, id, _ := strings.Cut(s.liveConnected, " "); s.dial.adoptedAnswered || kind == "menu" && s.Device.ownsMenu(id) {
		// Answered: found so at a restart, the ANSWERED report lost
		// with the process (a ringing call is connected to nothing).
		s.addPath("dial", DialAnswered)
		return answerResult{Outcome: DialAnswered}, nil
	}
	s.setState(ActivityDialing, s.To)
	ring := s.after(s.r.dialer.lim.RingTimeout)
	defer ring.cancel()
	var failed *answerResult
	var grace timer
	defer grace.cancel()
	for {
		it, ok := s.next(ctx)
		if !ok {
			return answerResult{}, ctx.Err()
		}
		if it.ev == nil {
			switch it.timer {
			case ring.id:
				s.log.Info("no answer before the ring timeout; clearing the call", "ring_timeout", s.r.dialer.lim.RingTimeout)
				cctx, cancel := s.cmdCtx(ctx)
				if err := s.Device.PBX.Hangup(cctx, s.Leg); err != nil && !errors.Is(err, ErrGone) {
					s.log.Warn("clearing the unanswered call failed", "error", err)
				}
				cancel()
				s.addPath("dial", DialNoAnswer)
				return answerResult{Outcome: DialNoAnswer, Reason: "no answer within " + s.r.dialer.lim.RingTimeout.String()}, nil
			case grace.id:
				s.addPath("dial", failed.Outcome)
				return *failed, nil
			}
			continue
		}
		switch it.ev.Kind {
		case EvAlert:
			s.setState(ActivityRinging, s.To)
		case EvAnswered:
			s.addPath("dial", DialAnswered)
			s.setState(ActivityAnswered, "")
			return answerResult{Outcome: DialAnswered}, nil
		case EvFailed:
			r := answerResult{Outcome: DialFailed, Code: it.ev.Code, Reason: it.ev.Reason}
			if it.ev.Code == failedCalledBusy || it.ev.Code == failedCalledTalking {
				r.Outcome = DialBusy
			}
			failed = &r
			if grace.stop == nil {
				grace = s.after(failedGrace)
			}
		case EvBye:
			outcome := answerResult{Outcome: DialNoAnswer, Reason: "the call ended before it was answered"}
			if failed != nil {
				outcome = *failed
			}
			s.addPath("dial", outcome.Outcome)
			return outcome, nil
		case EvDTMF:
			s.typed(it.ev.Digits)
		}
	}
}

// FAILED codes of omapi.md §4 that mean the callee was busy.
const (
	failedCalledTalking = 4
	failedCalledBusy    = 6
)

// jobHandlerID is the pseudo call id of a job's failed handler; jobs it
// dials are named after it.
func jobHandlerID(jobID string) string { return jobID + "-f" }

// runJobHandler runs flow's failed(job, reason) for a job that gave up, in
// a sandbox of its own with the ivr services and no call. It is not
// journaled: if ivrd stops while it runs, it runs again at the next
// start; the jobs it dials keep the ids they had (so are not made twice),
// but its ivr.store writes are made again.
func (r *Router) runJobHandler(flow *Flow, j Job, reason string) {
	d := r.devices[j.Device]
	if d == nil {
		d = r.sortedDevices()[0]
	}
	s := &Session{
		ID: jobHandlerID(j.ID), Device: d, From: "", To: j.To, Direction: "job", Flow: flow,
		Started: r.clk.Now(), r: r, notify: make(chan struct{}, 1), noJournal: true, inEnded: true,
		chain: j.Chain + 1,
	}
	// call_id is the handler's own id, the Source of the jobs it dials.
	s.log = r.log.With("call_id", s.ID, "job", j.ID, "flow", flow.Name, "flow_hash", flow.ShortHash())
	s.runCtx = r.ctx
	defer s.releaseAll()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("the failed handler panicked", "panic", fmt.Sprint(p))
		}
	}()
	s.L = newSandbox(r.limits, r.modules)
	defer s.L.Close()
	s.overErr = s.L.NewUserData()
	s.installAPI(r.ctx)
	handlers, err := s.loadFlow(r.ctx, "")
	if err != nil {
		s.log.Error("cannot load the flow for its failed handler", "error", err.Error())
		return
	}
	fn, ok := handlers.RawGetString("failed").(*lua.LFunction)
	if !ok {
		s.log.Info("outbound job failed; the flow has no failed handler", "reason", reason)
		return
	}
	L := s.L
	jt := L.NewTable()
	jt.RawSetString("id", lua.LString(j.ID))
	jt.RawSetString("to", lua.LString(j.To))
	jt.RawSetString("flow", lua.LString(j.Flow))
	jt.RawSetString("device", lua.LString(j.Device))
	jt.RawSetString("attempts", lua.LNumber(len(j.Attempts)))
	jt.RawSetString("outcome", lua.LString(j.Outcome))
	jt.RawSetString("vars", s.varsFromJSON(j.Vars))
	L.Push(fn)
	L.Push(jt)
	L.Push(lua.LString(reason))
	if err := s.step(r.ctx, func() error { return L.PCall(2, 0, nil) }); err != nil {
		s.log.Error("the failed handler failed", "error", err.Error())
	}
}

// varsFromJSON turns a JSON object into a Lua table (empty when there is
// none or it does not decode).
func (s *Session) varsFromJSON(raw json.RawMessage) *lua.LTable {
	if len(raw) == 0 {
		return s.L.NewTable()
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		s.log.Warn("the call's vars do not decode; starting with none", "error", err)
		return s.L.NewTable()
	}
	lv, err := toLua(s.L, v, 0)
	if t, ok := lv.(*lua.LTable); ok && err == nil {
		return t
	}
	return s.L.NewTable()
}

// luaDial is ivr.dial{to=, flow=, vars=, at=, tz=, window=, retry=,
// device=, trunk=}: it schedules an outbound job and returns its id. The
// job's id is derived from the call and the journal position, so a replay
// or a crash between the job and its journal step never makes two.
func (s *Session) luaDial(ctx context.Context, L *lua.LState) int {
	const fn = "ivr.dial"
	req := DialRequest{Flow: s.Flow.Name, Device: s.Device.Name, Source: s.ID}
	var at float64
	str := func(name string, dst *string) optFunc {
		return func(v lua.LValue) {
			switch x := v.(type) {
			case lua.LString:
				*dst = string(x)
			case lua.LNumber:
				*dst = x.String()
			default:
				L.RaiseError("%s: %s must be a string, not %s", fn, name, describe(v))
			}
		}
	}
	decodeOptions(L, 1, fn, map[string]optFunc{
		"to": str("to", &req.To), "flow": str("flow", &req.Flow), "tz": str("tz", &req.TZ),
		"window": str("window", &req.Window), "device": str("device", &req.Device), "trunk": str("trunk", &req.Trunk),
		"vars": func(v lua.LValue) {
			t, ok := v.(*lua.LTable)
			if !ok {
				L.RaiseError("%s: vars must be a table, not %s", fn, describe(v))
			}
			var b bytes.Buffer
			if err := encodeJSON(&b, t, 0, s.r.limits.MaxVars); err != nil {
				L.RaiseError("%s: vars: %v", fn, err)
			}
			req.Vars = b.Bytes()
		},
		"at": func(v lua.LValue) {
			n, ok := v.(lua.LNumber)
			// Up to the year 9999, which the journal can write.
			if !ok || math.IsNaN(float64(n)) || n < 0 || n > 253402300799 {
				L.RaiseError("%s: at must be a time in seconds, as ivr.now() gives, not %s", fn, describe(v))
			}
			at = float64(n)
		},
		"retry": func(v lua.LValue) { req.Retry = retryOpt(L, fn, v) },
		"secret": func(v lua.LValue) {
			list, ok := v.(*lua.LTable)
			if !ok {
				L.RaiseError("%s: secret must be a list of var names, not %s", fn, describe(v))
			}
			list.ForEach(func(_, n lua.LValue) {
				name, ok := n.(lua.LString)
				if !ok {
					L.RaiseError("%s: secret must be a list of var names, not a list holding %s", fn, describe(n))
				}
				req.Secret = append(req.Secret, string(name))
			})
		},
	})
	if req.To == "" {
		L.RaiseError("%s: to is required", fn)
	}
	// Vars the flow marked with ivr.secret stay secret in the job as
	// it leaves the process, named or not.
	for _, name := range secretVarNames(req.Vars, s.secrets) {
		if !slices.Contains(req.Secret, name) {
			req.Secret = append(req.Secret, name)
		}
	}
	if at > 0 {
		req.At = time.UnixMilli(int64(at * 1000)).UTC()
	}
	if b, err := json.Marshal(req); err == nil && len(b) > 2*s.r.limits.MaxVars {
		L.RaiseError("%s: the request is too large", fn)
	}
	var id string
	s.blocking(ctx, func() {
		var err error
		id, err = journaled(s, "dial", req, func() (string, error) {
			req := req
			req.ID = s.ID + "-d" + strconv.Itoa(s.pos+s.steps+s.handlerDials)
			if s.noJournal {
				s.handlerDials++
			}
			j, err := s.r.dial(req, s.chain)
			if err != nil {
				return "", err
			}
			return j.ID, nil
		})
		s.raiseDiverged(err)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				L.RaiseError("%s: %s: %s", fn, fe.Field, fe.Msg)
			}
			L.RaiseError("%s: %v", fn, err)
		}
	})
	L.Push(lua.LString(id))
	return 1
}

// retryOpt reads ivr.dial's retry = {attempts=, delay=, backoff=, on=}.
func retryOpt(L *lua.LState, fn string, v lua.LValue) RetryPolicy {
	var p RetryPolicy
	t, ok := v.(*lua.LTable)
	if !ok {
		L.RaiseError("%s: retry must be a table, not %s", fn, describe(v))
	}
	var delay time.Duration
	t.ForEach(func(k, val lua.LValue) {
		name, _ := k.(lua.LString)
		switch name {
		case "attempts":
			intOpt(L, fn, "retry.attempts", 1, 100, &p.Attempts)(val)
		case "delay":
			n, ok := val.(lua.LNumber)
			if !ok || math.IsNaN(float64(n)) || n < 0 || n > 7*24*3600 {
				L.RaiseError("%s: retry.delay must be a number of seconds within 0–604800, not %s", fn, describe(val))
			}
			delay = time.Duration(float64(n) * float64(time.Second))
		case "backoff":
			n, ok := val.(lua.LNumber)
			if !ok || math.IsNaN(float64(n)) || n < 1 || n > 10 {
				L.RaiseError("%s: retry.backoff must be a number within 1–10, not %s", fn, describe(val))
			}
			p.Backoff = float64(n)
		case "on":
			list, ok := val.(*lua.LTable)
			if !ok {
				L.RaiseError("%s: retry.on must be a list of outcomes, not %s", fn, describe(val))
			}
			list.ForEach(func(_, o lua.LValue) {
				p.On = append(p.On, o.String())
			})
		default:
			L.RaiseError("%s: unknown option retry.%s", fn, k.String())
		}
	})
	p.Delay = Duration(delay)
	if err := p.validate(); err != nil {
		L.RaiseError("%s: %v", fn, err)
	}
	return p
}
