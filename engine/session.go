package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	lua "github.com/yuin/gopher-lua"
)

// Outcomes of a call, as ended's summary gives them.
const (
	OutcomeTransferred  = "transferred"
	OutcomeHangup       = "hangup"        // the flow hung up
	OutcomeCallerHangup = "caller_hangup" // the caller hung up
	OutcomeFailed       = "failed"        // the flow failed and the fallback failed too
	OutcomeFallback     = "fallback"      // the flow failed; the call went to the fallback
)

// PathEntry is one step of a call's IVR path: a prompt heard, keys
// pressed, a timer, a transfer.
type PathEntry struct {
	At time.Time `json:"at"`
	// Kind: prompt (played to its end), prompt_interrupted (cut off by a
	// key), prompt_hangup (cut off by the caller hanging up), keys,
	// noinput, invalid, transfer, hangup, fallback, error.
	Kind  string `json:"kind"`
	Value string `json:"value,omitempty"`
}

// errCallOver unwinds a flow whose call has ended or left the IVR. It is
// normal termination, not a flow error.
var errCallOver = errors.New("call is over")

// item is one thing a session waits for: a device event, or a timer.
type item struct {
	ev    *Event
	timer int // timer id, when ev is nil
	done  func()
}

// Session is one call running its flow: one goroutine, one Lua state, the
// flow version current when the call started.
type Session struct {
	ID        string
	Device    *Device
	Leg       Leg
	From, To  string
	CallID    string
	Direction string
	Flow      *Flow
	Started   time.Time
	// Origin is where a call moved into the IVR came from ("ext 201"
	// after an agent's transfer to a flow); "" for others.
	Origin string

	r         *Router
	log       hclog.Logger
	runCtx    context.Context // the session's context, for checks made inside journaled steps
	invite    bool            // the call came as INVITE and must be accepted first
	routeFlow string          // the flow the route named, for logs when it is missing
	blocked   bool            // the caller is on the block list: refused, no flow
	// byeRouted is set when the router hands the session a BYE: the call
	// is on its way out, and its leg id may come back for a new call
	// before the session has finished.
	byeRouted atomic.Bool

	mu     sync.Mutex
	inbox  []item
	notify chan struct{}
	held   []func() // work tokens of consumed items, released when the session next waits
	closed bool     // the session has finished; pushes are dropped
	// activity is what the call is doing now, for status pages; path and
	// secrets (below) change under mu too.
	activity Activity

	// Owned by the session goroutine.
	L         *lua.LState
	callTable *lua.LTable
	apiCtx    context.Context // the context of the flow's commands (installAPI)
	keys      []byte          // keys typed ahead, kept for the next gather
	hungUp    bool            // the caller hung up (BYE)
	left      bool            // the call left the IVR (transfer, hang-up by the flow)
	outcome   string
	target    string
	path      []PathEntry
	secrets   []string
	timerSeq  int
	inEnded   bool
	cpuUsed   time.Duration
	stepStart time.Time
	budget    *budget
	instrUsed int64
	stepToken uint64
	overErr   *lua.LUserData
	curMenu   int // the menu id of the current or last prompt
	avoidMenu int // a recovered call's menu at the restart (nextMenu)

	// Journal and replay (see journal.go).
	replay      []Step // the journal of a recovered call, answered in order
	pos         int    // the next step of replay
	recovered   bool   // the session resumes a call from the store
	liveChecked bool   // the device was asked whether the recovered call is up
	diverged    bool   // the replay asked for a step the journal does not hold
	// leftBeforeRestart is where the device says a recovered call is, when
	// that is not one of the IVR's menus: the transfer under way at the
	// crash had been carried out.
	leftBeforeRestart string
	// liveConnected is what the device showed the recovered call
	// connected to ("menu 41"), when it was asked.
	liveConnected string
	lastVars      []byte // call.vars as last journaled
	steps         int    // steps journaled
	// secretChains are prompt chains built from secrets (say_digits of a
	// value passed to ivr.secret), traced redacted.
	secretChains []string

	// Liveness (liveness.go): when the device last said something about
	// the call, since when a prompt plays, and the pending check.
	lastHeard   time.Time
	promptSince time.Time
	liveTimer   interface{ Stop() bool }

	// dial is set on an outbound call: the job attempt that placed it.
	dial *dialState
	// settled, when not nil, is closed once the call's first command to
	// the device has returned (the leg is where the flow sent it) or the
	// session has ended: an agent's transfer into a flow answers then, so
	// that the agent's next action finds the caller gone from the
	// extension.
	settled    chan struct{}
	settleOnce sync.Once
	// initVars are call.vars at the start (an outbound job's, a
	// redirected call's), a JSON object; secretVars names the secret ones.
	initVars   json.RawMessage
	secretVars []string
	// noJournal marks a job's failed handler: no call, no journal.
	noJournal    bool
	handlerDials int
	chain        int // for a failed handler: its job's Chain + 1
}

// staleCall reports whether a report names another call than the
// session's: a late report about an earlier call on the same leg id.
func (s *Session) staleCall(ev *Event) bool {
	return ev.CallID != "" && s.CallID != "" && ev.CallID != s.CallID
}

// push hands a session an item; it never blocks. Items pushed after the
// session finished are dropped, their work token released.
func (s *Session) push(it item) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if it.done != nil {
			it.done()
		}
		return
	}
	s.inbox = append(s.inbox, it)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// popLocked takes the first queued item, keeping its work token until the
// session next waits. The caller holds s.mu.
func (s *Session) popLocked() (item, bool) {
	if len(s.inbox) == 0 {
		return item{}, false
	}
	it := s.inbox[0]
	s.inbox[0] = item{}
	s.inbox = s.inbox[1:]
	if it.done != nil {
		s.held = append(s.held, it.done)
	}
	return it, true
}

// next returns the next item, blocking until one comes or ctx ends. Before
// blocking it releases the work tokens of what it consumed, so a virtual
// clock sees the session settled only once it waits again.
func (s *Session) next(ctx context.Context) (item, bool) {
	for {
		s.mu.Lock()
		it, ok := s.popLocked()
		s.mu.Unlock()
		if ok {
			if it.ev == nil && it.timer == livenessTimer {
				if lost, ok := s.checkLiveness(ctx); ok {
					return lost, true
				}
				continue
			}
			if it.ev != nil {
				s.heard(it.ev)
			}
			return it, true
		}
		s.armLiveness()
		s.mu.Lock()
		if len(s.inbox) > 0 {
			s.mu.Unlock()
			continue
		}
		held := s.held
		s.held = nil
		s.mu.Unlock()
		for _, d := range held {
			d()
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return item{}, false
		}
	}
}

// poll takes what has queued for the call without waiting, before a new
// command: a BYE ends the call (so no command goes to a call that is
// gone); keys are kept for the next gather; an EndOfAnn or timer left from
// an earlier wait is dropped. It reports whether the caller has hung up.
func (s *Session) poll() bool {
	for !s.hungUp {
		s.mu.Lock()
		it, ok := s.popLocked()
		s.mu.Unlock()
		if !ok {
			break
		}
		if it.ev == nil && it.timer == livenessTimer {
			s.liveTimer = nil // checked at the next wait
			continue
		}
		if it.ev != nil {
			s.heard(it.ev)
		}
		if s.isBye(it) {
			break
		}
		if it.ev != nil && it.ev.Kind == EvDTMF {
			s.typed(it.ev.Digits)
		}
	}
	return s.hungUp
}

// gone reports whether a failed command failed because the call is gone:
// the device no longer knows its leg, or its BYE is already queued. The
// call is then over, hung up by the caller.
func (s *Session) gone(err error) bool {
	if errors.Is(err, ErrGone) {
		if !s.hungUp {
			s.hungUp, s.outcome = true, OutcomeCallerHangup
			s.addPath("hangup", "caller")
			s.setState(ActivityEnded, "")
		}
		return true
	}
	return s.poll()
}

// releaseAll ends every work token the session holds or has queued, and
// closes the inbox.
func (s *Session) releaseAll() {
	s.mu.Lock()
	s.closed = true
	held := s.held
	s.held = nil
	for _, it := range s.inbox {
		if it.done != nil {
			held = append(held, it.done)
		}
	}
	s.inbox = nil
	s.mu.Unlock()
	for _, d := range held {
		d()
	}
}

// What a live call can be doing (Activity.Kind).
const (
	ActivityStarting     = "starting"     // routed; the flow has not sent a command yet
	ActivityRecovering   = "recovering"   // replaying its journal after a restart
	ActivityPlaying      = "playing"      // a prompt plays (Detail: the chain, secrets redacted)
	ActivityWaitingKeys  = "waiting_keys" // a gather waits for keys after its prompt
	ActivityTransferring = "transferring" // a transfer was asked of the device (Detail: the target)
	ActivitySleeping     = "sleeping"     // call:sleep, parked in silence
	ActivityDialing      = "dialing"      // an outbound call placed (Detail: the number)
	ActivityRinging      = "ringing"      // the callee's phone rings (Detail: the number)
	ActivityAnswered     = "answered"     // the callee picked up; the flow starts
	ActivityHTTP         = "http"         // waiting for an ivr.http backend (Detail: its host)
	ActivityEnded        = "ended"        // the call has left the flow
)

// Activity is what a live call is doing now and since when, for status
// pages (the console's live calls).
type Activity struct {
	Kind   string    `json:"kind"`
	Detail string    `json:"detail,omitempty"`
	Since  time.Time `json:"since"`
}

// String reads the activity as words ("playing user_welcome").
func (a Activity) String() string {
	switch a.Kind {
	case ActivityWaitingKeys:
		return "waiting for keys"
	case ActivityTransferring:
		return "transferring to " + a.Detail
	case ActivityHTTP:
		return "waiting for " + a.Detail
	}
	if a.Detail != "" {
		return a.Kind + " " + a.Detail
	}
	return a.Kind
}

// setState records what the call is doing, for status pages.
func (s *Session) setState(kind, detail string) {
	now := s.r.clk.Now()
	s.mu.Lock()
	s.activity = Activity{Kind: kind, Detail: detail, Since: now}
	s.mu.Unlock()
}

// State returns what the call is doing now, in words.
func (s *Session) State() string { return s.Activity().String() }

// Activity returns what the call is doing now and since when.
func (s *Session) Activity() Activity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.activity
}

// Path returns the call's IVR path so far, secrets redacted: what the
// history will hold when the call ends. Safe from any goroutine.
func (s *Session) Path() []PathEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.redactedPath()
}

// timer is a pending session timer; stop cancels it.
type timer struct {
	id   int
	stop func() bool
}

// after starts a timer whose firing arrives in the inbox.
func (s *Session) after(d time.Duration) timer {
	s.timerSeq++
	id := s.timerSeq
	clk := s.r.clk
	t := clk.AfterFunc(d, func() {
		s.push(item{timer: id, done: clk.Work()})
	})
	return timer{id: id, stop: t.Stop}
}

func (t *timer) cancel() {
	if t.stop != nil {
		t.stop()
	}
	t.id, t.stop = 0, nil
}

// addPath records a step of the path. The session goroutine owns path and
// secrets; it changes them under mu so that Path may read them from
// elsewhere.
func (s *Session) addPath(kind, value string) {
	e := PathEntry{At: s.r.clk.Now(), Kind: kind, Value: s.redact(value)}
	s.mu.Lock()
	s.path = append(s.path, e)
	s.mu.Unlock()
}

// redactedPath is the path with every secret marked so far redacted,
// including values recorded before the flow marked them.
//
// Keys come from the device one report at a time; consecutive "keys"
// entries are joined first, so that a number the caller typed and the
// flow then marked with ivr.secret is redacted whole.
func (s *Session) redactedPath() []PathEntry {
	out := make([]PathEntry, 0, len(s.path))
	for _, p := range s.path {
		if n := len(out); n > 0 && p.Kind == "keys" && out[n-1].Kind == "keys" {
			out[n-1].Value += p.Value
			continue
		}
		out = append(out, p)
	}
	for i := range out {
		out[i].Value = s.redact(out[i].Value)
	}
	return out
}

// redact replaces every secret the flow marked with [secret].
func (s *Session) redact(v string) string {
	for _, sec := range s.secrets {
		if sec != "" {
			v = strings.ReplaceAll(v, sec, "[secret]")
		}
	}
	return v
}

func (s *Session) isSecret(v string) bool {
	for _, sec := range s.secrets {
		if sec == v {
			return true
		}
	}
	return false
}

// run is the session goroutine.
func (s *Session) run(ctx context.Context) {
	// Every command the call sends derives from this context: its trace
	// names the call.
	ctx = WithCallID(ctx, s.ID)
	s.runCtx = ctx
	defer s.releaseAll()
	defer s.r.finish(s)
	defer s.stopLiveness()
	defer s.publishEnded()
	defer s.settle()
	if s.blocked {
		s.refuse(ctx)
		return
	}
	if obs := s.r.obs; obs != nil {
		obs.CallStarted(s.flowName(), s.Direction, s.recovered)
		defer s.observeEnd(obs) // deferred first, so it runs after a panic's fallback
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("session panicked; handing the call to the fallback", "panic", fmt.Sprint(p))
			s.fallback(ctx, fmt.Sprint(p))
		}
	}()
	if s.invite {
		cctx, cancel := s.cmdCtx(ctx)
		err := s.Device.PBX.Accept(cctx, s.Leg)
		cancel()
		if err != nil {
			s.log.Error("accepting the INVITE failed", "error", err)
			return
		}
	}
	if s.Flow == nil {
		if s.routeFlow == "" {
			s.log.Warn("no route for the call; handing it to the fallback", "from", s.From, "to", s.To)
		} else {
			s.log.Error("the route's flow is not loaded; handing the call to the fallback", "flow", s.routeFlow)
		}
		s.fallback(ctx, "no flow")
		return
	}
	if s.recovered {
		s.log.Info("call recovered; replaying its journal", "from", s.From, "to", s.To, "steps", len(s.replay))
	} else {
		s.log.Info("call started", "from", s.From, "to", s.To)
		if st := s.r.store; st != nil {
			if err := st.StartCall(s.record(), s.Flow.Source); err != nil {
				s.log.Error("cannot record the call; it would not survive a restart", "error", err)
			}
		}
	}
	defer s.endCall()
	s.L = newSandbox(s.r.limits, s.r.modules)
	defer s.L.Close()
	s.overErr = s.L.NewUserData()
	s.installAPI(ctx)

	if len(s.initVars) > 0 {
		s.callTable.RawSetString("vars", s.varsFromJSON(s.initVars))
	}
	required := "incoming" // a call the device put through: its flow must take it
	if s.dial != nil {
		required = "" // an outbound call's answered(call) is optional
	}
	handlers, err := s.loadFlow(ctx, required)
	if err == nil {
		if s.dial != nil {
			err = s.outbound(ctx, handlers)
		} else {
			err = s.callHandler(ctx, handlers, "incoming")
		}
	}
	if s.r.killed.Load() {
		return // a crash: nothing more is said or written
	}
	switch {
	case s.diverged:
		if !s.left && !s.hungUp {
			s.pos = len(s.replay) // what is left of the journal no longer applies
			s.endStepFallback(ctx, "diverged")
		}
	case err == nil, errors.Is(err, errCallOver), errors.Is(err, errLeft):
		if !s.left && !s.hungUp {
			// incoming returned with the call still in the IVR: a hang-up,
			// journaled like call:hangup so a replay does not repeat it.
			_, _ = journaled(s, "hangup", nil, func() (bool, error) {
				if !s.poll() {
					s.hangup(ctx)
				}
				return true, nil
			})
		}
	default:
		s.log.Error("flow failed; handing the call to the fallback", "error", s.redact(err.Error()))
		s.addPath("error", err.Error())
		if !s.left && !s.hungUp {
			s.endStepFallback(ctx, err.Error())
		}
	}
	if s.outcome == "" {
		s.outcome = OutcomeCallerHangup
	}
	s.inEnded = true
	if handlers != nil && (s.dial == nil || s.dial.answered) {
		if err := s.callEnded(ctx, handlers); err != nil && !errors.Is(err, errCallOver) {
			s.log.Error("ended handler failed", "error", s.redact(err.Error()))
		}
	}
	if s.replaying() && !s.diverged {
		s.log.Error("the replayed flow ended before its journal did: it diverged", "steps_left", len(s.replay)-s.pos)
	}
	s.log.Info("call ended", "outcome", s.outcome, "target", s.target,
		"duration", s.r.clk.Now().Sub(s.Started).Round(time.Millisecond))
}

// flowName is the flow the call runs, or the one its route names when
// that is not loaded; "" when it has no route.
func (s *Session) flowName() string {
	if s.Flow != nil {
		return s.Flow.Name
	}
	return s.routeFlow
}

// observeEnd tells the observer the call has ended, unless the router
// crashed under it (the call stays in the store, for the next start).
func (s *Session) observeEnd(obs Observer) {
	if s.r.killed.Load() {
		return
	}
	outcome := s.outcome
	if outcome == "" {
		outcome = OutcomeFailed // ended before the flow could run: the INVITE was not accepted
	}
	obs.CallEnded(s.flowName(), s.Direction, outcome, s.r.clk.Now().Sub(s.Started))
}

// endStepFallback hands a failed call to the fallback as a journaled step,
// after making sure a recovered call is still there and still in the IVR.
func (s *Session) endStepFallback(ctx context.Context, why string) {
	_, _ = journaled(s, "fallback", nil, func() (bool, error) {
		if s.left || s.hungUp || s.poll() {
			return true, nil
		}
		s.fallback(ctx, why)
		return true, nil
	})
	if s.recovered && s.left && s.outcome == OutcomeTransferred && s.leftBeforeRestart != "" {
		s.outcome = OutcomeFallback // it was the fallback that had moved the call
	}
}

// record is the call as the store keeps it.
func (s *Session) record() CallRecord {
	rec := CallRecord{ID: s.ID, Device: s.Device.Name, Leg: s.Leg, From: s.From, To: s.To, CallID: s.CallID,
		Direction: s.Direction, Flow: s.Flow.Name, FlowHash: s.Flow.Hash, Started: s.Started, Vars: s.initVars,
		SecretVars: s.secretVars, StdlibHash: s.r.libHash, Origin: s.Origin}
	if s.dial != nil {
		rec.Job, rec.Attempt = s.dial.job, s.dial.attempt
	}
	return rec
}

// endCall moves the call to history and, for an outbound call, tells the
// dialer how its attempt went.
func (s *Session) endCall() {
	if s.Flow == nil || s.r.killed.Load() {
		return
	}
	var a Attempt
	if s.dial != nil {
		a = Attempt{Outcome: s.dial.outcome, Code: s.dial.code, Reason: s.dial.reason, CallID: s.ID}
		if a.Outcome == "" {
			// The flow or the session failed before the answer was known.
			a.Outcome, a.Reason = DialFailed, "the call ended before its outcome was known: "+s.outcome
		}
	}
	if st := s.r.store; st != nil {
		rec := s.record()
		// History leaves the state file (the API shows it): the vars go
		// with their secrets redacted.
		rec.Vars = redactValues(redactVars(rec.Vars, rec.SecretVars), s.secrets)
		h := HistoryEntry{CallRecord: rec, Ended: s.r.clk.Now(), Outcome: s.outcome, Target: s.target,
			Path: s.redactedPath(), Steps: len(s.replay) + s.steps,
			DialOutcome: a.Outcome, DialCode: a.Code, DialReason: a.Reason}
		if err := st.EndCall(h); err != nil {
			s.log.Error("cannot move the call to history", "error", err)
		}
	}
	if s.dial != nil {
		s.r.dialer.attemptEnded(s.dial.job, s.dial.attempt, a)
	}
}

// loadFlow runs the flow's chunk and returns its handler table, which
// must hold the handler required names ("" for none).
func (s *Session) loadFlow(ctx context.Context, required string) (*lua.LTable, error) {
	L := s.L
	L.Push(L.NewFunctionFromProto(s.Flow.Proto))
	if err := s.step(ctx, func() error { return L.PCall(0, 1, nil) }); err != nil {
		return nil, err
	}
	v := L.Get(-1)
	L.Pop(1)
	t, ok := v.(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("%s: the flow must return a table of handlers, not a %s", s.Flow.Path, v.Type())
	}
	if _, ok := t.RawGetString(required).(*lua.LFunction); !ok && required != "" {
		return nil, fmt.Errorf("%s: the flow has no %s(call) handler", s.Flow.Path, required)
	}
	return t, nil
}

func (s *Session) callHandler(ctx context.Context, handlers *lua.LTable, name string, args ...lua.LValue) error {
	fn, ok := handlers.RawGetString(name).(*lua.LFunction)
	if !ok {
		return nil
	}
	L := s.L
	L.Push(fn)
	L.Push(s.callTable)
	for _, a := range args {
		L.Push(a)
	}
	return s.step(ctx, func() error { return L.PCall(1+len(args), 0, nil) })
}

func (s *Session) callEnded(ctx context.Context, handlers *lua.LTable) error {
	L := s.L
	sum := L.NewTable()
	sum.RawSetString("outcome", lua.LString(s.outcome))
	dur, _ := journaled(s, "ended", nil, func() (float64, error) {
		return s.r.clk.Now().Sub(s.Started).Seconds(), nil
	})
	sum.RawSetString("duration", lua.LNumber(dur))
	if s.target != "" {
		sum.RawSetString("target", lua.LString(s.target))
	}
	path := L.NewTable()
	for _, p := range s.redactedPath() {
		e := L.NewTable()
		e.RawSetString("kind", lua.LString(p.Kind))
		e.RawSetString("value", lua.LString(p.Value))
		e.RawSetString("at", lua.LNumber(float64(p.At.UnixMilli())/1000))
		path.Append(e)
	}
	sum.RawSetString("path", path)
	return s.callHandler(ctx, handlers, "ended", sum)
}

// step runs Lua code under the budgets: StepInstructions (and StepCPU of
// wall clock) for this step, and what remains of the call's. Blocking calls
// end a step and start another.
func (s *Session) step(ctx context.Context, f func() error) error {
	s.beginStep(ctx)
	err := f()
	reason := s.endStep()
	if err == nil {
		return nil
	}
	if ae, ok := err.(*lua.ApiError); ok && ae.Object == s.overErr {
		return errCallOver
	}
	if reason != stopNone {
		if obs := s.r.obs; obs != nil {
			if why := stopReason(reason); why != "" {
				obs.SandboxStop(s.flowName(), why)
			}
		}
		lim := s.r.limits
		return fmt.Errorf("flow stopped: %s (budgets: %d instructions per step, %d per call, %s per step; used %d instructions, %s)",
			stopText[reason], lim.StepInstructions, lim.CallInstructions, lim.StepCPU,
			s.instrUsed, s.cpuUsed.Round(time.Millisecond))
	}
	return errors.New(luaError(err))
}

func (s *Session) beginStep(ctx context.Context) {
	lim := s.r.limits
	instr := lim.StepInstructions
	if left := lim.CallInstructions - s.instrUsed; left < instr {
		instr = left
	}
	wall := lim.StepCPU
	if left := lim.CallCPU - s.cpuUsed; left < wall {
		wall = left
	}
	s.stepStart = time.Now()
	s.budget = newBudget(ctx, instr, wall)
	b := s.budget
	s.stepToken = s.r.watchdog.enter(func() { b.stop(stopHeap) })
	s.L.SetContext(b)
}

// endStep closes the current step and returns why it was stopped, if it
// was.
func (s *Session) endStep() int32 {
	b := s.budget
	if b == nil {
		return stopNone
	}
	s.budget = nil
	s.r.watchdog.leave(s.stepToken)
	s.instrUsed += b.used
	d := time.Since(s.stepStart)
	s.cpuUsed += d
	if obs := s.r.obs; obs != nil {
		obs.Step(s.flowName(), d)
	}
	return b.reason()
}

// blocking wraps a blocking call made from Lua: the current step ends
// while it waits, and a new one begins when it returns.
func (s *Session) blocking(ctx context.Context, f func()) {
	s.checkVars() // in the step, so a flow that catches the error goes on under its budget
	s.endStep()
	f()
	s.beginStep(ctx)
}

// checkVars enforces the cap on call.vars' encoded size.
func (s *Session) checkVars() {
	vars, ok := s.callTable.RawGetString("vars").(*lua.LTable)
	if !ok {
		return
	}
	n, err := encodedSize(vars, s.r.limits.MaxVars)
	if err != nil {
		s.L.RaiseError("call.vars: %v", err)
	}
	if n > s.r.limits.MaxVars {
		s.L.RaiseError("call.vars: encoded size passes the limit of %d bytes", s.r.limits.MaxVars)
	}
}

// over raises the error that unwinds a flow whose call is over.
func (s *Session) over(method string) {
	if s.inEnded {
		s.L.RaiseError("call:%s cannot be used in ended()", method)
	}
	s.L.Error(s.overErr, 0)
}

// ---- commands ----

func (s *Session) cmdCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	cctx, cancel := context.WithTimeout(ctx, s.Device.commandTimeout())
	if s.settled == nil {
		return cctx, cancel // no one waits for the first command
	}
	return cctx, func() {
		cancel()
		s.settle()
	}
}

// queryCtx is cmdCtx for a question to the device, which moves no call.
func (s *Session) queryCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.Device.commandTimeout())
}

// settle closes settled, once.
func (s *Session) settle() {
	if s.settled != nil {
		s.settleOnce.Do(func() { close(s.settled) })
	}
}

// hangup ends the call from the IVR.
func (s *Session) hangup(ctx context.Context) {
	cctx, cancel := s.cmdCtx(ctx)
	defer cancel()
	if err := s.Device.PBX.Hangup(cctx, s.Leg); err != nil {
		if s.gone(err) {
			return
		}
		s.log.Warn("hang-up failed", "error", err)
	}
	s.left = true
	s.outcome = OutcomeHangup
	s.addPath("hangup", "")
	s.setState(ActivityEnded, "")
}

// fallback sends a call whose flow failed to the device's fallback: the
// operator extension, or a hang-up.
func (s *Session) fallback(ctx context.Context, why string) {
	s.left = true
	cctx, cancel := s.cmdCtx(ctx)
	defer cancel()
	if ext := s.Device.Fallback; ext != "" {
		err := s.Device.PBX.Transfer(cctx, s.Leg, Target{Ext: ext})
		if err == nil {
			s.outcome = OutcomeFallback
			s.target = "ext " + ext
			s.addPath("fallback", "ext "+ext)
			s.setState(ActivityEnded, "")
			return
		}
		s.log.Error("fallback transfer failed; hanging up", "ext", ext, "error", err)
	}
	if err := s.Device.PBX.Hangup(cctx, s.Leg); err != nil {
		s.log.Error("fallback hang-up failed", "error", err)
		s.outcome = OutcomeFailed
	} else if ext := s.Device.Fallback; ext == "" {
		s.outcome = OutcomeFallback
	} else {
		s.outcome = OutcomeFailed
	}
	s.addPath("fallback", "hangup")
	s.setState(ActivityEnded, "")
}

// isBye ends the call for the flow when the item is the caller's BYE, and
// reports whether it was.
func (s *Session) isBye(it item) bool {
	if it.ev != nil && it.ev.Kind == EvBye {
		s.hungUp = true
		s.outcome = OutcomeCallerHangup
		s.addPath("hangup", "caller")
		s.setState(ActivityEnded, "")
		return true
	}
	return false
}

// playChain connects the call to a menu with one chain of at most ten files
// and waits until it has played (EndOfAnn), a key stops it, or the caller
// hangs up. Keys go to s.keys.
func (s *Session) playChain(ctx context.Context, chain string) (result string, err error) {
	if s.poll() {
		return "hangup", nil
	}
	menu, err := s.nextMenu(ctx)
	if err != nil {
		return "", err
	}
	cctx, cancel := s.cmdCtx(ctx)
	if s.isSecretChain(chain) {
		cctx = WithSecret(cctx)
	}
	err = s.Device.PBX.Play(cctx, s.Leg, menu, chain)
	cancel()
	if err != nil {
		if s.gone(err) {
			return "hangup", nil // the call was gone when the command arrived
		}
		return "", fmt.Errorf("play: %w", err)
	}
	s.promptStarted()
	s.setState(ActivityPlaying, s.redact(chain))
	for {
		it, ok := s.next(ctx)
		if !ok {
			return "", ctx.Err()
		}
		if it.ev != nil && it.ev.Kind == EvBye {
			s.addPath("prompt_hangup", s.shownChain(chain)) // before isBye's hang-up
		}
		if s.isBye(it) {
			return "hangup", nil
		}
		if it.ev == nil {
			continue
		}
		stale := s.stale(it.ev)
		switch {
		case it.ev.Kind == EvEndOfAnn && !stale:
			return "done", nil
		case it.ev.Kind == EvDTMF:
			s.typed(it.ev.Digits)
			if !stale {
				return "interrupted", nil
			}
		}
	}
}

// nextMenu returns the menu for the next prompt: play and gather alternate
// between two ids with the same settings, so that a report from the
// previous prompt (keys typed before this one began, an EndOfAnn already
// in flight) is told apart by its menu id. With a single id in the range
// the two cannot be told apart.
//
// A recovered call also avoids, while a third id is to be had, the menu
// the device showed it in at the restart: reports of the prompt playing
// then may come late (the device retries those ivrd missed), and must
// stay stale for the whole call. With two ids its first prompt still
// takes the other one (the one it was in counts as its current menu), and
// the next comes back, alternating; when the other id holds other
// settings (the park menu), the call plays in the one it was in, as every
// call on a single id does, rather than fail.
func (s *Session) nextMenu(ctx context.Context) (int, error) {
	want := 2
	if s.avoidMenu != 0 {
		want = 3
	}
	ids, err := s.Device.menus.ids(ctx, s.Device, playMenu, want)
	if err != nil {
		return 0, err
	}
	id := ids[0]
	for _, c := range ids {
		if c != s.curMenu && c != s.avoidMenu {
			id = c
			break
		}
	}
	if id == s.curMenu && len(ids) > 1 {
		for _, c := range ids {
			if c != s.curMenu {
				id = c
				break
			}
		}
	}
	s.curMenu = id
	return id, nil
}

// stale reports whether a DTMF or EndOfAnn came from a prompt before the
// current one.
func (s *Session) stale(ev *Event) bool {
	return ev.Menu != "" && s.curMenu != 0 && ev.Menu != strconv.Itoa(s.curMenu)
}

// shownChain is a chain as the path shows it: [secret] when it was built
// from a secret.
func (s *Session) shownChain(chain string) string {
	if s.isSecretChain(chain) {
		return "[secret]"
	}
	return chain
}

func (s *Session) isSecretChain(chain string) bool {
	for _, sec := range s.secretChains {
		if sec == chain {
			return true
		}
	}
	return false
}

// typed records keys pressed.
func (s *Session) typed(digits string) {
	if digits == "" || digits == "T" {
		return
	}
	s.keys = append(s.keys, digits...)
	s.addPath("keys", digits)
}

// play plays files (chains of at most ten, each one journaled step) and
// reports done, interrupted, hangup or failed.
func (s *Session) play(ctx context.Context, files []string) (string, error) {
	for _, chain := range chains(files) {
		res, err := journaled(s, "play", chain, func() (string, error) {
			res, err := s.playChain(ctx, chain)
			if err != nil {
				if ctx.Err() != nil {
					return "", err
				}
				s.log.Warn("play failed", "error", err)
				return "failed", nil
			}
			switch res {
			case "done":
				s.addPath("prompt", s.shownChain(chain))
			case "interrupted":
				s.addPath("prompt_interrupted", s.shownChain(chain))
			}
			return res, nil
		})
		if err != nil || res != "done" {
			return res, err
		}
	}
	return "done", nil
}

// maxChain is how many files one prompt chains (omapi.md assumption 2).
const maxChain = 10

func chains(files []string) []string {
	var out []string
	for len(files) > 0 {
		n := len(files)
		if n > maxChain {
			n = maxChain
		}
		out = append(out, strings.Join(files[:n], "+"))
		files = files[n:]
	}
	return out
}

func chainFiles(chain string) []string { return strings.Split(chain, "+") }

// sleep waits d with the call parked; keys are kept for the next gather.
// The deadline is journaled first, so a recovered call keeps it.
func (s *Session) sleep(ctx context.Context, d time.Duration) (bool, error) {
	secs := d.Seconds()
	deadline, err := journaled(s, "sleep.start", secs, func() (time.Time, error) {
		return s.r.clk.Now().Add(d), nil
	})
	if err != nil {
		return false, err
	}
	return journaled(s, "sleep", secs, func() (bool, error) {
		if s.poll() {
			return false, nil
		}
		// Park the call in a menu looping the silence file, so the device
		// neither hands it on (API_RESPONSE_TO) nor plays anything.
		if err := s.park(ctx); err != nil {
			if ctx.Err() != nil {
				return false, err
			}
			s.log.Warn("cannot park the call for sleep", "error", err)
		}
		t := s.after(max(deadline.Sub(s.r.clk.Now()), 0))
		defer t.cancel()
		s.setState(ActivitySleeping, "")
		for {
			it, ok := s.next(ctx)
			if !ok {
				return false, ctx.Err()
			}
			if s.isBye(it) {
				return false, nil
			}
			if it.ev == nil && it.timer == t.id {
				return true, nil
			}
			if it.ev != nil && it.ev.Kind == EvDTMF {
				s.typed(it.ev.Digits)
			}
		}
	})
}

// parkMenu loops its prompt (the silence file) until the next command,
// still reporting each key.
var parkMenu = MenuSettings{Repeat: 0, InfoLength: 1}

// park puts the call in the park menu, silent.
func (s *Session) park(ctx context.Context) error {
	id, err := s.Device.menus.get(ctx, s.Device, parkMenu)
	if err != nil {
		return err
	}
	cctx, cancel := s.cmdCtx(ctx)
	defer cancel()
	if err := s.Device.PBX.Play(cctx, s.Leg, id, s.Device.SilenceFile); err != nil {
		return err
	}
	s.curMenu = id
	return nil
}

// transfer hands the call to a target.
func (s *Session) transfer(ctx context.Context, t Target) error {
	cctx, cancel := s.cmdCtx(ctx)
	defer cancel()
	s.setState(ActivityTransferring, t.String())
	err := s.Device.PBX.Transfer(cctx, s.Leg, t)
	if err != nil {
		s.addPath("transfer_failed", t.String())
		return err
	}
	s.left = true
	s.outcome = OutcomeTransferred
	s.target = t.String()
	s.addPath("transfer", t.String())
	s.setState(ActivityEnded, "")
	return nil
}
