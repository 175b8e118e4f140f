package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/internal/clock"
)

// Click-to-call: an operator (or a CRM) asks the device to ring one of
// its extensions and, once it answers, to call an outside number (a dial)
// or another extension (a connect). The call never enters the IVR; the
// engine follows it from the device's reports, which reach the Router for
// legs no session holds, and publishes each step as a "dial.*" event.

// Click types (Click.Type).
const (
	ClickDial    = "dial"    // an extension calls an outside number
	ClickConnect = "connect" // an extension calls another extension
)

// Click states (Click.State), in the order a call goes through them.
const (
	ClickPlacing     = "placing"      // the command is on its way to the device
	ClickPlaced      = "placed"       // the device took it
	ClickExtRinging  = "ext_ringing"  // the calling extension rings
	ClickExtAnswered = "ext_answered" // the calling extension answered
	ClickRinging     = "ringing"      // the far end (number or second extension) rings
	ClickAnswered    = "answered"     // the far end answered: both sides talk
	ClickEnded       = "ended"        // over; Outcome says how
)

// Click outcomes (Click.Outcome, set once the click has ended).
const (
	ClickOutcomeAnswered  = "answered"  // both sides talked
	ClickOutcomeNoAnswer  = "no_answer" // a side did not answer (Reason says which)
	ClickOutcomeBusy      = "busy"      // a side was busy or in a call
	ClickOutcomeFailed    = "failed"    // the device refused or could not place the call
	ClickOutcomeCancelled = "cancelled" // ended through ivrd (DELETE) before it was answered
	ClickOutcomeUnknown   = "unknown"   // ended unseen, before it was answered (ClickReasonUnseen)
)

// Reasons of a click's end that are not the device's FAILED reasons.
const (
	ClickReasonExtNoAnswer = "ext_no_answer"  // the calling extension never answered
	ClickReasonNoAnswer    = "no_answer"      // the far end never answered
	ClickReasonDeviceDown  = ReasonDeviceDown // the device did not answer the command
	ClickReasonCancelled   = "cancelled"      // ended through ivrd
	ClickReasonUnseen      = "ended_unseen"   // found gone by a check: ivrd was down, or the report was lost
)

// Kinds of the click-to-call events; each carries the Click as it stands.
const (
	KindDialPlaced      = "dial.placed"       // the device took the command
	KindDialExtRinging  = "dial.ext_ringing"  // the calling extension rings
	KindDialExtAnswered = "dial.ext_answered" // the calling extension answered
	KindDialRinging     = "dial.ringing"      // the far end rings
	KindDialAnswered    = "dial.answered"     // the far end answered
	KindDialEnded       = "dial.ended"        // the call ended (outcome, reason, duration)
	KindDialFailed      = "dial.failed"       // the device refused the command or did not answer it
	KindDialCdr         = "dial.cdr"          // the device's call record arrived
)

// DefaultClicksKept is how many clicks are remembered (and kept in the
// state file); the oldest go first.
const DefaultClicksKept = 1000

// ErrNoClick is a click id that is not (or no longer) kept.
var ErrNoClick = errors.New("no such click-to-call")

// ClickRequest asks for a click-to-call. Device may be empty when one
// device is configured.
type ClickRequest struct {
	Type   string // ClickDial or ClickConnect
	Device string
	Ext    string // the extension that rings first (a connect's from_ext)
	Number string // a dial's outside number (omapi.md §3 syntax)
	Trunk  string // a dial's trunk; "" lets the device choose
	ToExt  string // a connect's second extension
	Source string // who asked ("api"), for the log
}

// Click is one click-to-call and where it stands, as GET /api/v1/dials
// shows it and the dial.* events carry it.
type Click struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Device string `json:"device"`
	Ext    string `json:"ext"`
	Number string `json:"number,omitempty"`
	Trunk  string `json:"trunk,omitempty"`
	ToExt  string `json:"to_ext,omitempty"`
	// Leg is the outer leg id the device gave a dial and CallID its
	// callid (the device reuses leg ids; the callid tells calls apart).
	Leg    string `json:"leg,omitempty"`
	CallID string `json:"callid,omitempty"`
	State  string `json:"state"`
	// Outcome, Reason and Code say how an ended click ended: Reason is a
	// refusal reason (busy, offline, no_trunk …, as call:transfer gives
	// them) or one of the ClickReason… words; Code the device's FAILED
	// code, when it gave one.
	Outcome string    `json:"outcome,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Code    int       `json:"code,omitempty"`
	Placed  time.Time `json:"placed"`
	// ExtAnswered, Answered and Ended are when the calling extension
	// answered, the far end answered and the call ended.
	ExtAnswered time.Time `json:"ext_answered,omitzero"`
	Answered    time.Time `json:"answered,omitzero"`
	Ended       time.Time `json:"ended,omitzero"`
	// Duration is the seconds both sides talked (answered to ended);
	// absent before the end and when nobody saw it.
	Duration float64    `json:"duration,omitempty"`
	Cdr      *CdrRecord `json:"cdr,omitempty"`

	// cancelling: ivrd has asked the device to end the call, so the BYE
	// that follows ends it as cancelled.
	cancelling bool
	// seen is when the click last changed in this process (zero for one
	// loaded from the state file).
	seen time.Time
}

// ClickStore keeps clicks across restarts; BoltStore implements it. A
// Router whose store does not keeps them in memory.
type ClickStore interface {
	// PutClicks stores clicks (replacing those with the same id) and
	// removes the ids in drop, durably.
	PutClicks(put []Click, drop []string) error
	// LoadClicks returns every stored click, oldest first.
	LoadClicks() ([]Click, error)
}

// maxClickNumber is the longest number a click-to-dial takes.
const maxClickNumber = 64

var (
	trunkSyntax = regexp.MustCompile(`^[0-9A-Za-z_.-]{1,32}$`)
	// A number: digits (with * and #), an optional dial prefix before one
	// comma ("9,13012345678"), digits sent after answer after two or more
	// commas ("13012345678,,1"; omapi.md §3).
	numberSyntax = regexp.MustCompile(`^\+?[0-9*#]+(,[0-9*#]+)?(,,+[0-9*#]+)*$`)
)

// clicks follows the click-to-calls of a Router.
type clicks struct {
	r     *Router
	log   hclog.Logger
	store ClickStore // nil: memory only
	kept  int

	mu    sync.Mutex
	all   []*Click // oldest first, at most kept
	byID  map[string]*Click
	live  []*Click            // not ended, oldest first
	early map[*Click][]Event  // reports that came before the command's answer
	dirty map[string]struct{} // to write
	drop  []string            // to remove from the store
	// started and stopped: the writer goroutine's life (changed starts
	// it; after close, changes are written by nobody).
	started, stopped bool
	// check is how often live dials are looked at (the least
	// Device.Reconcile); checking is set once the start's check is over,
	// checkTimer is set while a click is live, and checks counts the
	// checks running, which close waits for.
	check      time.Duration
	checking   bool
	checkTimer clock.Timer
	checks     sync.WaitGroup
	// downDevices are the devices a check could not ask, logged once.
	downDevices map[string]bool
	wake        chan struct{}
	done        chan struct{}
	stop        chan struct{}
	once        sync.Once
}

func newClicks(r *Router, store Store) (*clicks, error) {
	// Checked as often as the device that waits least (Device.Reconcile)
	// needs.
	check := time.Duration(0)
	for _, d := range r.devices {
		if check == 0 || d.reconcile() < check {
			check = d.reconcile()
		}
	}
	t := &clicks{r: r, log: r.log.Named("clicks"), kept: DefaultClicksKept, check: check, byID: map[string]*Click{},
		downDevices: map[string]bool{},
		early:       map[*Click][]Event{}, dirty: map[string]struct{}{},
		wake: make(chan struct{}, 1), done: make(chan struct{}), stop: make(chan struct{})}
	if cs, ok := store.(ClickStore); ok {
		t.store = cs
		stored, err := cs.LoadClicks()
		if err != nil {
			return nil, fmt.Errorf("load clicks: %w", err)
		}
		for i := range stored {
			c := stored[i]
			t.add(&c)
		}
	}
	return t, nil
}

// add remembers a click, forgetting the oldest past kept. t.mu is held
// (or t is not shared yet).
func (t *clicks) add(c *Click) {
	t.all = append(t.all, c)
	t.byID[c.ID] = c
	if c.State != ClickEnded {
		t.live = append(t.live, c)
		t.armCheck()
	}
	for len(t.all) > t.kept {
		old := t.all[0]
		t.all = t.all[1:]
		delete(t.byID, old.ID)
		delete(t.dirty, old.ID)
		t.drop = append(t.drop, old.ID)
		t.forgetLive(old)
	}
}

func (t *clicks) forgetLive(c *Click) {
	for i, l := range t.live {
		if l == c {
			t.live = append(t.live[:i:i], t.live[i+1:]...)
			return
		}
	}
}

// changed queues c for the store and publishes kind with c as it is now.
// t.mu is held, so that events about one click are numbered in order.
func (t *clicks) changed(c *Click, kind string) {
	c.seen = t.r.clk.Now()
	t.dirty[c.ID] = struct{}{}
	if !t.started && !t.stopped {
		// Started with the first click, so that a Router that never
		// sees one runs no goroutine for it.
		t.started = true
		go t.writer()
	}
	select {
	case t.wake <- struct{}{}:
	default:
	}
	if kind != "" {
		t.r.events.publishData(kind, c.Device, c.Ext, "", c)
	}
}

// writer stores changed clicks off the report's goroutine: the device
// waits for the answer to one report before it sends the next.
func (t *clicks) writer() {
	defer close(t.done)
	for {
		select {
		case <-t.wake:
			t.flush()
		case <-t.stop:
			t.flush()
			return
		}
	}
}

func (t *clicks) flush() {
	t.mu.Lock()
	put := make([]Click, 0, len(t.dirty))
	for id := range t.dirty {
		if c := t.byID[id]; c != nil {
			put = append(put, *c)
		}
	}
	drop := t.drop
	t.dirty, t.drop = map[string]struct{}{}, nil
	t.mu.Unlock()
	if t.store == nil || (len(put) == 0 && len(drop) == 0) {
		return
	}
	if err := t.store.PutClicks(put, drop); err != nil {
		t.log.Error("cannot keep click-to-calls in the state file", "count", len(put), "error", err)
	}
}

// close writes what is queued and stops the writer.
func (t *clicks) close() {
	t.mu.Lock()
	started := t.started
	t.stopped = true
	if t.checkTimer != nil {
		t.checkTimer.Stop()
		t.checkTimer = nil
	}
	t.mu.Unlock()
	t.checks.Wait()
	if !started {
		return
	}
	t.once.Do(func() { close(t.stop) })
	<-t.done
}

// newClickID mints a click id that sorts by time.
func (t *clicks) newClickID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "d" + t.r.clk.Now().UTC().Format("20060102T150405.000000") + "-" + hex.EncodeToString(b[:])
}

// checkClick validates a request and returns its device.
func (r *Router) checkClick(req *ClickRequest) (*Device, error) {
	var d *Device
	switch {
	case req.Device != "":
		if d = r.devices[req.Device]; d == nil {
			return nil, &FieldError{"device", fmt.Sprintf("no device %q is configured", req.Device)}
		}
	case len(r.devices) == 1:
		d = r.sortedDevices()[0]
		req.Device = d.Name
	default:
		return nil, &FieldError{"device", fmt.Sprintf("%d devices are configured; name one", len(r.devices))}
	}
	extField := "ext"
	if req.Type == ClickConnect {
		extField = "from_ext"
	}
	checkExt := func(field, v string) error {
		if v == "" {
			return &FieldError{field, "is required"}
		}
		if !ValidExt(v) {
			return &FieldError{field, fmt.Sprintf("%q is not an extension number (1–16 digits)", v)}
		}
		return nil
	}
	if err := checkExt(extField, req.Ext); err != nil {
		return nil, err
	}
	switch req.Type {
	case ClickDial:
		if req.Number == "" {
			return nil, &FieldError{"number", "is required"}
		}
		if len(req.Number) > maxClickNumber {
			return nil, &FieldError{"number", fmt.Sprintf("is longer than %d characters", maxClickNumber)}
		}
		if !numberSyntax.MatchString(req.Number) {
			return nil, &FieldError{"number", fmt.Sprintf("%q is not a number to dial: digits, * and #, "+
				"with an optional prefix before one comma (9,13012345678) and digits to send after answer "+
				"after two commas (13012345678,,1)", req.Number)}
		}
		if req.Trunk != "" && !trunkSyntax.MatchString(req.Trunk) {
			return nil, &FieldError{"trunk", fmt.Sprintf("%q is not a trunk id", req.Trunk)}
		}
	case ClickConnect:
		if err := checkExt("to_ext", req.ToExt); err != nil {
			return nil, err
		}
		if req.ToExt == req.Ext {
			return nil, &FieldError{"to_ext", "is the same extension as from_ext"}
		}
	default:
		return nil, &FieldError{"type", fmt.Sprintf("%q is neither dial nor connect", req.Type)}
	}
	return d, nil
}

// PlaceClick asks the device for a click-to-call and returns the click
// as the device's answer left it; the click is then followed from the
// device's reports. Bad requests are *FieldError. A refusal is a
// *Refusal, a device that does not answer ErrDeviceDown; both come with
// the click, ended and kept, so that GET shows it.
func (r *Router) PlaceClick(ctx context.Context, req ClickRequest) (Click, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return Click{}, ErrShuttingDown
	}
	d, err := r.checkClick(&req)
	if err != nil {
		return Click{}, err
	}
	t := r.clicks
	c := &Click{ID: t.newClickID(), Type: req.Type, Device: d.Name, Ext: req.Ext, Number: req.Number,
		Trunk: req.Trunk, ToExt: req.ToExt, State: ClickPlacing, Placed: r.clk.Now().UTC()}
	// Known before the command leaves: the reports it causes may come
	// before its answer.
	t.mu.Lock()
	t.add(c)
	t.early[c] = nil
	t.mu.Unlock()

	cctx, cancel := context.WithTimeout(ctx, d.commandTimeout())
	var leg Leg
	var st LegStatus
	if req.Type == ClickDial {
		leg, st, err = d.PBX.DialFromExt(cctx, req.Ext, req.Number, req.Trunk)
	} else {
		err = d.PBX.ConnectExts(cctx, req.Ext, req.ToExt)
	}
	cancel()

	t.mu.Lock()
	defer t.mu.Unlock()
	early := t.early[c]
	delete(t.early, c)
	if err != nil {
		var ref *Refusal
		if errors.As(err, &ref) {
			t.end(c, refusalOutcome(ref.Reason), ref.Reason, ref.Code, KindDialFailed)
			r.log.Info("click-to-call refused", "click", c.ID, "device", d.Name, "ext", c.Ext, "reason", ref.Reason, "code", ref.Code)
			return *c, err
		}
		t.end(c, ClickOutcomeFailed, ClickReasonDeviceDown, 0, KindDialFailed)
		r.log.Warn("click-to-call: the device did not answer", "click", c.ID, "device", d.Name, "error", err)
		return *c, fmt.Errorf("%w: device %s: %v", ErrDeviceDown, d.Name, err)
	}
	if leg.ID != "" {
		c.Leg, c.CallID = leg.ID, st.CallID
	}
	c.State = ClickPlaced
	t.changed(c, KindDialPlaced)
	r.log.Debug("click-to-call placed", "click", c.ID, "type", c.Type, "device", d.Name, "ext", c.Ext,
		"leg", c.Leg, "callid", c.CallID, "source", req.Source)
	for _, ev := range early {
		if c.State != ClickEnded && t.owns(c, &ev) {
			t.apply(c, ev)
		}
	}
	return *c, nil
}

// Click returns a click by id, or ErrNoClick.
func (r *Router) Click(id string) (Click, error) {
	t := r.clicks
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.byID[id]
	if c == nil {
		return Click{}, ErrNoClick
	}
	return *c, nil
}

// Clicks returns up to limit clicks, newest first.
func (r *Router) Clicks(limit int) []Click {
	t := r.clicks
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []Click{}
	for i := len(t.all) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, *t.all[i])
	}
	return out
}

// CancelClick ends a click that has not ended by clearing the calling
// extension's call on the device (AgentPBX.HangupExt). ErrNoClick, or
// ErrClickOver with the click when it has ended already; ErrNoAgentControl
// for a device whose PBX cannot clear an extension's call.
func (r *Router) CancelClick(ctx context.Context, id string) (Click, error) {
	t := r.clicks
	t.mu.Lock()
	c := t.byID[id]
	if c == nil {
		t.mu.Unlock()
		return Click{}, ErrNoClick
	}
	if c.State == ClickEnded || c.State == ClickPlacing {
		snap := *c
		t.mu.Unlock()
		return snap, ErrClickOver
	}
	c.cancelling = true
	snap := *c
	t.mu.Unlock()
	d := r.devices[snap.Device]
	if d == nil {
		return snap, fmt.Errorf("%w: %q is no longer configured", ErrNoDevice, snap.Device)
	}
	pbx, ok := d.PBX.(AgentPBX)
	if !ok {
		t.mu.Lock()
		c.cancelling = false
		t.mu.Unlock()
		return snap, ErrNoAgentControl
	}
	cctx, cancel := context.WithTimeout(ctx, d.commandTimeout())
	err := pbx.HangupExt(cctx, snap.Ext)
	cancel()
	var ref *Refusal
	if err != nil && !errors.As(err, &ref) {
		t.mu.Lock()
		c.cancelling = false
		t.mu.Unlock()
		return snap, fmt.Errorf("%w: device %s: %v", ErrDeviceDown, d.Name, err)
	}
	// Whether or not the device still had the call (a refusal), the
	// click ends here; a BYE that follows finds it ended.
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.State != ClickEnded {
		t.endCancelled(c)
	}
	r.log.Debug("click-to-call cancelled", "click", c.ID, "device", c.Device, "ext", c.Ext)
	return *c, nil
}

// recheck asks the device about live dials: every one when the router
// starts (those kept from before a restart), and when periodic those the
// device has not reported on for its Reconcile. One whose outer leg is
// gone, or holds another call now, ended unseen: ivrd was down, or the
// report of its end was lost. It ends as answered or unknown, reason
// ended_unseen. A connect names no leg to ask about and is left as it is.
func (t *clicks) recheck(ctx context.Context, periodic bool) {
	now := t.r.clk.Now()
	t.mu.Lock()
	var todo []Click
	for _, c := range t.live {
		if c.Type != ClickDial || c.Leg == "" || c.State == ClickPlacing {
			continue
		}
		if d := t.r.devices[c.Device]; periodic && d != nil && now.Sub(c.seen) < d.reconcile() {
			continue
		}
		todo = append(todo, *c)
	}
	t.mu.Unlock()
	for _, snap := range todo {
		d := t.r.devices[snap.Device]
		if d == nil {
			continue
		}
		if ctx.Err() != nil || t.r.killed.Load() {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, d.commandTimeout())
		st, err := d.PBX.Query(cctx, Leg{Kind: LegOuter, ID: snap.Leg})
		cancel()
		t.deviceAnswered(ctx, snap, err)
		gone := errors.Is(err, ErrGone) || (err == nil && snap.CallID != "" && st.CallID != "" && st.CallID != snap.CallID)
		if !gone || t.r.killed.Load() {
			continue
		}
		t.mu.Lock()
		// Not if a report came meanwhile: the device has told the click's
		// fate itself.
		if c := t.byID[snap.ID]; c != nil && c.State != ClickEnded && c.seen.Equal(snap.seen) {
			outcome := ClickOutcomeUnknown
			if !c.Answered.IsZero() {
				outcome = ClickOutcomeAnswered
			}
			t.end(c, outcome, ClickReasonUnseen, 0, KindDialEnded)
		}
		t.mu.Unlock()
	}
}

// deviceAnswered logs a device that could not be asked about a click
// once until it answers again, not once per click and check.
func (t *clicks) deviceAnswered(ctx context.Context, c Click, err error) {
	down := err != nil && !errors.Is(err, ErrGone) && ctx.Err() == nil
	t.mu.Lock()
	was := t.downDevices[c.Device]
	if down {
		t.downDevices[c.Device] = true
	} else {
		delete(t.downDevices, c.Device)
	}
	t.mu.Unlock()
	switch {
	case down && !was:
		t.log.Warn("cannot ask the device about its click-to-calls; will ask again", "click", c.ID, "device", c.Device, "error", err)
	case !down && was && err == nil:
		t.log.Info("the device answers about its click-to-calls again", "device", c.Device)
	}
}

// startChecks starts the periodic checks of live dials, once the start's
// check is over.
func (t *clicks) startChecks() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checking = true
	t.armCheck()
}

// armCheck arms the next periodic check while a click is live, so that a
// router with none runs no timer (a scenario on the virtual clock ends
// when nothing is due). t.mu is held.
func (t *clicks) armCheck() {
	if !t.checking || t.stopped || t.r.killed.Load() || t.check <= 0 || t.checkTimer != nil || len(t.live) == 0 {
		return
	}
	t.checkTimer = t.r.clk.AfterFunc(t.check, t.checkDue)
}

// checkDue asks about the live dials their device has said nothing of for
// its Reconcile, then arms the next check. checkTimer stays set until
// then, so that checks never overlap.
func (t *clicks) checkDue() {
	t.mu.Lock()
	if t.stopped || t.r.killed.Load() {
		t.checkTimer = nil
		t.mu.Unlock()
		return
	}
	t.checks.Add(1)
	t.mu.Unlock()
	defer t.checks.Done()
	t.recheck(t.r.ctx, true)
	t.mu.Lock()
	t.checkTimer = nil
	t.armCheck()
	t.mu.Unlock()
}

// ErrClickOver is a click that has already ended.
var ErrClickOver = errors.New("the click-to-call has already ended")

// refusalOutcome is the outcome of a click the device refused for reason.
func refusalOutcome(reason string) string {
	switch reason {
	case ReasonBusy, ReasonTalking:
		return ClickOutcomeBusy
	}
	return ClickOutcomeFailed
}

// end ends a click and publishes kind. t.mu is held.
func (t *clicks) end(c *Click, outcome, reason string, code int, kind string) {
	now := t.r.clk.Now().UTC()
	c.State, c.Outcome, c.Reason, c.Code, c.Ended = ClickEnded, outcome, reason, code, now
	// A call that ended unseen ended at a time nobody knows.
	if !c.Answered.IsZero() && reason != ClickReasonUnseen {
		c.Duration = now.Sub(c.Answered).Round(time.Millisecond).Seconds()
	}
	t.forgetLive(c)
	t.changed(c, kind)
	if t.r.obs != nil {
		t.r.obs.ClickEnded(c.Type, c.Outcome)
	}
	if kind == KindDialEnded {
		t.log.Info("click-to-call ended", "click", c.ID, "device", c.Device, "ext", c.Ext,
			"outcome", c.Outcome, "reason", c.Reason, "duration", c.Duration)
	}
}

// endCancelled ends a click ivrd asked the device to end: an answered
// call was still answered. t.mu is held.
func (t *clicks) endCancelled(c *Click) {
	outcome := ClickOutcomeCancelled
	if !c.Answered.IsZero() {
		outcome = ClickOutcomeAnswered
	}
	t.end(c, outcome, ClickReasonCancelled, 0, KindDialEnded)
}

// clickRank orders the states; a report never moves a click back.
var clickRank = map[string]int{ClickPlacing: 0, ClickPlaced: 1, ClickExtRinging: 2, ClickExtAnswered: 3,
	ClickRinging: 4, ClickAnswered: 5, ClickEnded: 6}

var clickKinds = map[string]string{ClickExtRinging: KindDialExtRinging, ClickExtAnswered: KindDialExtAnswered,
	ClickRinging: KindDialRinging, ClickAnswered: KindDialAnswered}

// advance moves c on to state. t.mu is held.
func (t *clicks) advance(c *Click, state string) {
	if clickRank[state] <= clickRank[c.State] {
		return
	}
	now := t.r.clk.Now().UTC()
	switch state {
	case ClickExtAnswered:
		c.ExtAnswered = now
	case ClickAnswered:
		c.Answered = now
		if c.ExtAnswered.IsZero() {
			c.ExtAnswered = now
		}
	}
	c.State = state
	t.changed(c, clickKinds[state])
}

// observe follows the clicks a device report is about. It never blocks.
func (t *clicks) observe(ev Event) {
	switch ev.Kind {
	case EvRing, EvAnswer, EvAlert, EvAnswered, EvFailed, EvBye, EvTransient:
	case EvCdr:
		t.observeCdr(ev)
		return
	default:
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.live) - 1; i >= 0; i-- {
		c := t.live[i]
		if !t.owns(c, &ev) {
			continue
		}
		if early, placing := t.early[c]; placing {
			t.early[c] = append(early, ev)
			return
		}
		t.apply(c, ev)
		return
	}
}

// owns reports whether a report is about click c: by its outer leg and
// callid (leg ids are reused), or, for reports that name no call, by its
// extensions. A dial whose leg is not known yet (its command's answer has
// not come, or named none) takes the outer leg of a report on its
// extension.
func (t *clicks) owns(c *Click, ev *Event) bool {
	if c.Device != ev.Device {
		return false
	}
	switch ev.Leg.Kind {
	case LegOuter:
		if c.Type != ClickDial || ev.Leg.ID == "" {
			return false
		}
		if c.Leg == "" {
			return ev.Ext != "" && ev.Ext == c.Ext
		}
		return c.Leg == ev.Leg.ID && (ev.CallID == "" || c.CallID == "" || ev.CallID == c.CallID)
	case "":
		return ev.Ext != "" && (ev.Ext == c.Ext || (c.Type == ClickConnect && ev.Ext == c.ToExt))
	}
	return false
}

// apply moves a click on for one of its reports. t.mu is held.
func (t *clicks) apply(c *Click, ev Event) {
	if c.Type == ClickDial && ev.Leg.Kind == LegOuter && c.Leg == "" {
		c.Leg, c.CallID = ev.Leg.ID, ev.CallID
	}
	if c.CallID == "" && ev.Leg.Kind == LegOuter && ev.CallID != "" {
		c.CallID = ev.CallID
	}
	farExt := c.Type == ClickConnect && ev.Ext == c.ToExt
	switch ev.Kind {
	case EvTransient:
		t.changed(c, "")
	case EvRing:
		if farExt {
			t.advance(c, ClickRinging)
		} else {
			t.advance(c, ClickExtRinging)
		}
	case EvAnswer:
		if farExt {
			t.advance(c, ClickAnswered)
		} else {
			t.advance(c, ClickExtAnswered)
		}
	case EvAlert:
		t.advance(c, ClickRinging)
	case EvAnswered:
		t.advance(c, ClickAnswered)
	case EvFailed:
		reason := ev.Cause
		if reason == "" {
			reason = ReasonFailed
		}
		t.end(c, refusalOutcome(reason), reason, ev.Code, KindDialEnded)
	case EvBye:
		switch {
		case c.cancelling:
			t.endCancelled(c)
		case !c.Answered.IsZero():
			t.end(c, ClickOutcomeAnswered, "", 0, KindDialEnded)
		case c.ExtAnswered.IsZero():
			t.end(c, ClickOutcomeNoAnswer, ClickReasonExtNoAnswer, 0, KindDialEnded)
		default:
			t.end(c, ClickOutcomeNoAnswer, ClickReasonNoAnswer, 0, KindDialEnded)
		}
	}
}

// cdrLookback is how many of the newest clicks a call record is matched
// against.
const cdrLookback = 64

// observeCdr attaches a device's call record to the click it is about: a
// dial's by callid, a connect's (an internal record, whose callid no
// report named) by its two extensions.
func (t *clicks) observeCdr(ev Event) {
	if ev.Cdr == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.all) - 1; i >= 0 && i >= len(t.all)-cdrLookback; i-- {
		c := t.all[i]
		if c.Device != ev.Device || c.Cdr != nil {
			continue
		}
		match := false
		switch c.Type {
		case ClickDial:
			match = c.CallID != "" && c.CallID == ev.CallID
		case ClickConnect:
			match = c.State == ClickEnded && ev.Cdr.CPN == c.Ext && ev.Cdr.CDPN == c.ToExt
		}
		if match {
			rec := *ev.Cdr
			c.Cdr = &rec
			t.changed(c, KindDialCdr)
			return
		}
	}
}
