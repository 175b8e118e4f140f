package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	lua "github.com/yuin/gopher-lua"

	"github.com/ivrd/ivrd/internal/clock"
)

// Route chooses the flow for an incoming call. Device, To and From are
// glob patterns (path.Match: "6000*", "*"); empty matches anything. The
// first matching route wins.
type Route struct {
	Device string
	To     string
	From   string
	Flow   string
	// List, when set, names a caller list the caller must be on: a route
	// whose list does not hold the caller does not match, and the next
	// route is tried.
	List string
}

func (rt Route) matches(device, to, from string) bool {
	return glob(rt.Device, device) && glob(rt.To, to) && glob(rt.From, from)
}

func glob(pattern, s string) bool {
	if pattern == "" || pattern == "*" {
		return true
	}
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}

// Config is what a Router is built from.
type Config struct {
	Devices []*Device
	Routes  []Route
	Flows   FlowSource
	// Clock is the time source (default clock.Real{}).
	Clock clock.Clock
	// Logger is the parent logger (default: none).
	Logger hclog.Logger
	Limits Limits
	// HeapLimit stops running Lua steps when the process heap passes it,
	// in bytes; zero turns the watchdog off.
	HeapLimit uint64
	// Modules are the Lua modules flows may require; nil offers the
	// embedded stdlib (StdlibModules), an empty map none.
	Modules map[string]*lua.FunctionProto
	// Store keeps calls durable; nil keeps them in memory only.
	Store Store
	// AfterStep, when set, is called after each journal append with the
	// call's id and how many steps it has journaled. The crash tests use
	// it to stop the process at a chosen journal position.
	AfterStep func(callID string, steps int)
	// Dial bounds outbound calling.
	Dial DialLimits
	// HTTP is what ivr.http may reach.
	HTTP HTTPOptions
	// JobEnded, when set, is told each outbound job's end (done, failed,
	// dropped, cancelled), after the job is stored. It must not block.
	JobEnded func(Job)
	// CdrKept, when set, is told each call record kept in the store
	// (Recordings.Wake learns of new recordings so). It must not block.
	CdrKept func(Cdr)
	// Observer, when set, is told of calls, reports, Lua steps, sandbox
	// stops and outbound jobs, for metrics (see Observer).
	Observer Observer
	// Lists are the caller lists (routes' List, Block, ivr.lists); nil
	// opens them from Store when it keeps lists (a BoltStore does), else
	// keeps them in memory.
	Lists *Lists
	// Block refuses the callers on a list before routing.
	Block Block
	// Events, when set, is told of calls, rings, answers, extension
	// states, call records and flows' ivr.emit (see EventLog).
	Events *EventLog
}

// Router maps each live OM call to its Session and delivers the device's
// reports: in order per call, never blocking the receiver, a slow call
// never delaying another.
type Router struct {
	clk       clock.Clock
	log       hclog.Logger
	devices   map[string]*Device
	routes    []Route
	flows     FlowSource
	limits    Limits
	modules   map[string]*lua.FunctionProto
	watchdog  *watchdog
	store     Store
	afterStep func(string, int)
	http      HTTPOptions // what ivr.http may reach
	obs       Observer    // nil: nothing is told
	lists     *Lists
	block     Block
	events    *EventLog // nil: no events
	killed    atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[sessionKey]*Session
	// invites remembers the callid of each INVITE taken, so that the
	// INCOMING that may follow is not taken for a new call; a BYE for
	// the leg forgets it.
	invites map[sessionKey]string
	exts    map[string]map[string]string // device → ext → state
	// extSeen is, per device and extension, the extGen of its last
	// report, so that a query's answer does not undo a newer report.
	extSeen map[string]map[string]uint64
	extGen  uint64
	closed  bool

	// Draining (see Drain): no new call is started; drained closes when
	// the last live session has ended; declined remembers the calls left
	// to the device, so each is logged once.
	draining bool
	drained  chan struct{}
	declined map[sessionKey]string // → the device's callid

	seq     atomic.Uint64
	unknown atomic.Uint64

	dialer     *dialer
	onJobEnded func(Job)
	onCdrKept  func(Cdr)
	libHash    string // the stdlib's hash, journaled with each call
	// dialing counts, per device, dial Connects not yet answered; while
	// one is in flight, reports for outer legs no session holds yet are
	// kept in early, for the session the answer will start.
	dialing map[string]int
	early   map[sessionKey][]Event
	// clicks follows the click-to-calls (PlaceClick).
	clicks *clicks
	// ended keeps, per leg, the call that last ended on it, so that the
	// trace of a report coming after its session has finished (the BYE of
	// a call handed to an extension) still names the call. Kept only when
	// the log is at trace level; the device reuses leg ids lowest first,
	// so it holds about as many entries as its most calls at once.
	ended map[sessionKey]endedCall
}

// endedCall is a call that has left its session: the device's callid and
// the session's logger.
type endedCall struct {
	callid string
	log    hclog.Logger
}

// maxEarly bounds the reports kept for one outer leg not yet known.
const maxEarly = 32

type sessionKey struct {
	device string
	leg    Leg
}

// NewRouter checks the configuration and builds a Router. Start it before
// delivering events.
func NewRouter(cfg Config) (*Router, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Flows == nil {
		return nil, fmt.Errorf("engine: no flows")
	}
	r := &Router{
		clk:       cfg.Clock,
		log:       cfg.Logger.Named("engine"),
		devices:   map[string]*Device{},
		routes:    cfg.Routes,
		flows:     cfg.Flows,
		limits:    cfg.Limits.withDefaults(),
		modules:   modulesOr(cfg.Modules),
		libHash:   libHashOf(cfg.Modules),
		watchdog:  newWatchdog(cfg.HeapLimit),
		store:     cfg.Store,
		afterStep: cfg.AfterStep,
		http:      cfg.HTTP,
		obs:       cfg.Observer,
		block:     cfg.Block,
		events:    cfg.Events,
		sessions:  map[sessionKey]*Session{},
		invites:   map[sessionKey]string{},
		exts:      map[string]map[string]string{},
		extSeen:   map[string]map[string]uint64{},
		dialing:   map[string]int{},
		early:     map[sessionKey][]Event{},
		ended:     map[sessionKey]endedCall{},

		onJobEnded: cfg.JobEnded,
		onCdrKept:  cfg.CdrKept,
	}
	var err error
	if r.dialer, err = newDialer(r, cfg.Dial, cfg.Store); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if len(cfg.Devices) == 0 {
		return nil, fmt.Errorf("engine: no devices")
	}
	for _, d := range cfg.Devices {
		if err := d.fill(); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		if r.devices[d.Name] != nil {
			return nil, fmt.Errorf("engine: device %s: the name is used twice", d.Name)
		}
		r.devices[d.Name] = d
		r.exts[d.Name] = map[string]string{}
		r.extSeen[d.Name] = map[string]uint64{}
	}
	for i, rt := range cfg.Routes {
		for _, p := range []string{rt.Device, rt.To, rt.From} {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("engine: route %d: bad pattern %q", i+1, p)
			}
		}
		if rt.Flow == "" {
			return nil, fmt.Errorf("engine: route %d: flow is empty", i+1)
		}
	}
	if err := r.openLists(cfg); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if r.clicks, err = newClicks(r, cfg.Store); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return r, nil
}

// Start assigns each device's menus and starts the heap watchdog. A device
// that does not answer is logged, not fatal: menus are assigned again on
// first use and on BOOTUP.
func (r *Router) Start(ctx context.Context) {
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.watchdog.run(r.ctx, 50*time.Millisecond)
	for _, d := range r.sortedDevices() {
		if _, err := d.menus.get(ctx, d, playMenu); err != nil {
			r.log.Error("cannot assign menus; will retry on first call and on BOOTUP", "device", d.Name, "error", err)
		}
	}
	r.dialer.start()
	r.wg.Add(1)
	settled := r.clk.Work() // on the virtual clock, a test's Settle waits for the check
	go func() {
		defer r.wg.Done()
		defer settled()
		r.clicks.recheck(r.ctx, false)
		r.clicks.startChecks()
	}()
}

func (r *Router) sortedDevices() []*Device {
	out := make([]*Device, 0, len(r.devices))
	for _, d := range r.devices {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close ends every session's context and waits for the sessions to stop.
func (r *Router) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.dialer.stop()
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	r.clicks.close()
}

// Crash stops every session where it is, as if the process had died: no
// further command is sent (one already on the wire completes) and nothing
// more is written to the store. It does not wait; Close does. For crash
// tests.
func (r *Router) Crash() {
	r.killed.Store(true)
	r.dialer.stop()
	if r.cancel != nil {
		r.cancel()
	}
}

// Wait blocks until no session is running.
func (r *Router) Wait() { r.wg.Wait() }

// Drain stops taking new calls, for a graceful shutdown: from now on an
// INCOMING or INVITE for a call that has no session gets no command at all,
// so the device's own response timeout (API_RESPONSE_TO) hands it on as it
// would without ivrd — to the operator. Reports for live sessions keep
// flowing and their flows run to the end. The returned channel is closed
// once no session is live; calling Drain again returns the same channel.
//
// To stop before that, call Crash and then Close: the sessions still live
// stop without another command or store write, stay in the store, and
// Recover resumes them at the next start.
func (r *Router) Drain() <-chan struct{} {
	r.dialer.stop() // due jobs wait in the store for the next start
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.draining {
		r.draining = true
		r.drained = make(chan struct{})
		r.declined = map[sessionKey]string{}
		r.closeDrainedLocked()
	}
	return r.drained
}

// closeDrainedLocked closes the drained channel once the last session has
// ended. r.mu is held.
func (r *Router) closeDrainedLocked() {
	if !r.draining || len(r.sessions) > 0 {
		return
	}
	select {
	case <-r.drained:
	default:
		close(r.drained)
	}
}

// Live returns the number of live sessions.
func (r *Router) Live() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// Deliver hands the router a device report. It never blocks.
func (r *Router) Deliver(ev Event) {
	d := r.devices[ev.Device]
	if d == nil {
		r.traceReport(&ev, nil)
		r.log.Warn("report from an unknown device", "device", ev.Device, "kind", ev.Kind)
		return
	}
	if r.obs != nil {
		r.obs.Report(d.Name, ev.Kind)
	}
	r.trackExt(ev)
	r.publishReport(ev)
	r.clicks.observe(ev)
	switch ev.Kind {
	case EvIncoming, EvInvite:
		r.startCall(d, ev)
	case EvBootup:
		r.traceReport(&ev, nil)
		r.log.Info("device booted; assigning menus again", "device", d.Name)
		// No call survives a reboot: the device forgets them without a
		// BYE, so the sessions on it end here.
		r.mu.Lock()
		for key, s := range r.sessions {
			if key.device == d.Name {
				s.push(item{ev: &Event{Device: d.Name, Kind: EvBye, Leg: key.leg}, done: r.clk.Work()})
			}
		}
		r.mu.Unlock()
		done := r.clk.Work()
		go func() {
			defer done()
			if err := d.menus.reassign(r.ctx, d); err != nil {
				r.log.Error("re-assigning menus after BOOTUP failed", "device", d.Name, "error", err)
			}
		}()
	case EvCdr:
		r.log.Debug("call record", "device", d.Name, "callid", ev.CallID)
		if r.store != nil && ev.Cdr != nil {
			r.attachCdr(d, ev)
		} else {
			r.traceReport(&ev, nil)
			if ev.Cdr != nil {
				r.publishCdr(Cdr{CdrRecord: *ev.Cdr, Device: ev.Device, CallID: ev.CallID, Ended: r.clk.Now()})
			}
		}
	default:
		if !callEvent(ev.Kind) || ev.Leg.ID == "" {
			r.traceReport(&ev, nil)
			return
		}
		r.mu.Lock()
		key := sessionKey{d.Name, ev.Leg}
		s := r.sessions[key]
		if ev.Kind == EvBye && (ev.CallID == "" || r.invites[key] == ev.CallID) {
			delete(r.invites, key)
		}
		// An outer leg no session holds, or one whose session is an
		// earlier call the device gave the same id (it reuses them at
		// once): while a dial is in flight this may be the leg it is
		// creating, kept for the session its answer starts (which
		// traces it).
		stale := s != nil && s.staleCall(&ev)
		if (s == nil || stale) && ev.Leg.Kind == LegOuter && r.dialing[d.Name] > 0 && len(r.early[key]) < maxEarly {
			r.early[key] = append(r.early[key], ev)
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		if s == nil {
			r.traceReport(&ev, nil)
			r.unknown.Add(1)
			r.log.Debug("report for no live call", "device", d.Name, "kind", ev.Kind, "leg", ev.Leg.String())
			return
		}
		if stale {
			// A late report about the call that had this id before.
			r.traceReport(&ev, nil)
			r.unknown.Add(1)
			r.log.Debug("report for an earlier call on the same leg id", "device", d.Name, "kind", ev.Kind,
				"leg", ev.Leg.String(), "callid", ev.CallID, "call_id", s.ID)
			return
		}
		e := ev
		r.traceReport(&e, s)
		if ev.Kind == EvBye {
			s.byeRouted.Store(true)
		}
		s.push(item{ev: &e, done: r.clk.Work()})
	}
}

// traceReport writes a report as it came from the device, at trace level,
// when the adapter kept it (Event.Wire): through the logger of s, the
// session it was routed to, so that the line names the call as the
// session's own lines do; through the router's when it belongs to no
// call. Each report is traced once, where the router has decided whose it
// is — for an early report of a dial, when the dial's answer has started
// its session.
func (r *Router) traceReport(ev *Event, s *Session) {
	if ev.Wire == "" {
		return
	}
	if s != nil {
		s.log.Trace("report", "kind", ev.Kind, "xml", ev.Wire)
		return
	}
	if ev.CallID != "" && ev.Leg.ID != "" {
		r.mu.Lock()
		c, ok := r.ended[sessionKey{ev.Device, ev.Leg}]
		r.mu.Unlock()
		if ok && c.callid == ev.CallID {
			c.log.Trace("report", "kind", ev.Kind, "xml", ev.Wire)
			return
		}
	}
	r.log.Trace("report", "device", ev.Device, "kind", ev.Kind, "xml", ev.Wire)
}

// traceDropped traces early reports no session took.
func (r *Router) traceDropped(evs []Event) {
	for i := range evs {
		r.traceReport(&evs[i], nil)
	}
}

// attachCdr keeps a call record off the report's goroutine: the OM waits
// for the answer to one report before it sends the next, so waiting here
// for a durable commit would hold up every call on the device. A record
// that arrives after Close is written before Deliver returns. The record's
// trace is written once the store has said which call it belongs to.
func (r *Router) attachCdr(d *Device, ev Event) {
	got := r.clk.Now()
	attach := func() {
		if r.killed.Load() {
			r.traceReport(&ev, nil)
			return
		}
		id := r.keepCdr(d, ev, got)
		if ev.Wire != "" && id != "" {
			r.log.Trace("report", "device", ev.Device, "kind", ev.Kind, "call_id", id, "xml", ev.Wire)
		} else {
			r.traceReport(&ev, nil)
		}
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		attach()
		return
	}
	r.wg.Add(1)
	r.mu.Unlock()
	done := r.clk.Work()
	go func() {
		defer r.wg.Done()
		defer done()
		attach()
	}()
}

// UnknownReports counts call reports that matched no live call.
func (r *Router) UnknownReports() uint64 { return r.unknown.Load() }

func (r *Router) trackExt(ev Event) {
	if ev.Ext == "" {
		return
	}
	state := ""
	switch ev.Kind {
	case EvBusy, EvAnswer:
		state = ExtBusy
	case EvIdle, EvOnline:
		state = ExtIdle
	case EvOffline:
		state = ExtOffline
	case EvRing:
		state = ExtRinging
	default:
		return
	}
	r.mu.Lock()
	was := r.exts[ev.Device][ev.Ext]
	r.exts[ev.Device][ev.Ext] = state
	r.extGen++
	r.extSeen[ev.Device][ev.Ext] = r.extGen
	if was != state {
		// Published under the lock, so that two reports about one
		// extension are numbered in the order they were applied.
		r.publishExtState(ev.Device, ev.Ext, was, state, "")
	}
	r.mu.Unlock()
}

// ExtState returns the last known state of an extension: idle, busy,
// ringing, offline, or unknown.
func (r *Router) ExtState(device, ext string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.exts[device][ext]; ok {
		return st
	}
	return "unknown"
}

// newCallID mints an id unique forever: time, a process-wide sequence and
// random bits.
func (r *Router) newCallID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", r.clk.Now().UTC().Format("20060102T150405"), r.seq.Add(1), hex.EncodeToString(b[:]))
}

// route returns the first route that matches the call; callID names the
// call in the log lines of list decisions.
func (r *Router) route(device, to, from, callID string) (Route, bool) {
	for _, rt := range r.routes {
		if rt.matches(device, to, from) && r.onRouteList(rt, from, callID) {
			return rt, true
		}
	}
	return Route{}, false
}

func (r *Router) startCall(d *Device, ev Event) {
	if ev.Leg.ID == "" {
		r.traceReport(&ev, nil)
		r.log.Warn("incoming call without an id; the device's firmware is too old for ivrd", "device", d.Name, "from", ev.From)
		return
	}
	key := sessionKey{d.Name, ev.Leg}
	done := r.clk.Work()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		done()
		r.traceReport(&ev, nil)
		return
	}
	if ev.Kind == EvIncoming && ev.CallID != "" && r.invites[key] == ev.CallID {
		// The INCOMING that follows an accepted INVITE: one call (omapi.md
		// assumption 8), whether its session still runs or has ended.
		delete(r.invites, key)
		s := r.sessions[key]
		if s != nil && s.CallID != ev.CallID {
			s = nil
		}
		r.mu.Unlock()
		done()
		r.traceReport(&ev, s)
		return
	}
	if old := r.sessions[key]; old != nil && ev.CallID != "" && old.CallID == ev.CallID && old.State() != "ended" {
		// The same report again (a device retry, a duplicate on the
		// network): the call already has its session.
		r.mu.Unlock()
		done()
		r.traceReport(&ev, old)
		r.log.Debug("duplicate report of a call already taken", "device", d.Name, "kind", ev.Kind, "leg", ev.Leg.String(), "call_id", old.ID)
		return
	}
	delete(r.invites, key)
	if old := r.sessions[key]; old != nil {
		// The id was reused: the old call ended without our seeing its
		// BYE. Tell its session, and start the new call.
		level := hclog.Warn
		if old.State() == "ended" || old.byeRouted.Load() {
			level = hclog.Debug // it was on its way out
		}
		r.log.Log(level, "call id reused while its session ran; ending the old session", "device", d.Name, "leg", ev.Leg.String(), "old_call_id", old.ID)
		old.push(item{ev: &Event{Device: d.Name, Kind: EvBye, Leg: ev.Leg}})
	}
	if r.draining {
		// No command, not even a refusal: the device's timeout hands the
		// call on. An INVITE and its INCOMING are one call, logged once.
		if r.declined[key] != ev.CallID || ev.CallID == "" {
			r.declined[key] = ev.CallID
			r.log.Info("draining: not taking the call; the OM's timeout will hand it on",
				"device", d.Name, "leg", ev.Leg.String(), "callid", ev.CallID, "from", ev.From, "to", ev.To)
		}
		r.mu.Unlock()
		done()
		r.traceReport(&ev, nil)
		return
	}
	if ev.Kind == EvInvite && ev.CallID != "" {
		r.invites[key] = ev.CallID
	}
	s := &Session{
		ID: r.newCallID(), Device: d, Leg: ev.Leg, From: ev.From, To: ev.To, CallID: ev.CallID,
		Direction: "in", Started: r.clk.Now(), r: r, notify: make(chan struct{}, 1),
		invite: ev.Kind == EvInvite, held: []func(){done},
	}
	s.activity = Activity{Kind: ActivityStarting, Since: s.Started}
	if s.blocked = r.isBlocked(ev.From); s.blocked {
		delete(r.invites, key) // a refused INVITE has no INCOMING to follow
	} else if rt, ok := r.route(d.Name, ev.To, ev.From, s.ID); ok {
		s.Flow, _ = r.flows.Flow(rt.Flow)
		s.routeFlow = rt.Flow
	}
	args := []any{"call_id", s.ID, "device", d.Name, "leg", ev.Leg.String()}
	if s.Flow != nil {
		args = append(args, "flow", s.Flow.Name, "flow_hash", s.Flow.ShortHash())
	}
	s.log = r.log.With(args...)
	r.sessions[key] = s
	r.wg.Add(1)
	ctx := r.ctx
	// Before the session runs, so that call.incoming comes before every
	// other event of the call.
	r.publishIncoming(s, ev)
	r.mu.Unlock()
	r.traceReport(&ev, s)
	go s.run(ctx)
}

// Recover resumes every call the store holds, each on the flow version it
// started with: the flow is replayed from its journal, then goes on live.
// Call it after Start and before delivering reports.
func (r *Router) Recover(ctx context.Context) (int, error) {
	if r.store == nil {
		return 0, nil
	}
	recs, err := r.store.LiveCalls()
	if err != nil {
		return 0, fmt.Errorf("recover: %w", err)
	}
	// The jobs are loaded before any recovered call runs, so that an
	// outbound call that ends at once finds its job.
	live := map[string]int{}
	for _, rec := range recs {
		if rec.Job != "" {
			live[rec.Job] = rec.Attempt
		}
	}
	finishJobs, err := r.dialer.resume(live)
	if err != nil {
		r.log.Error("cannot read the outbound jobs", "error", err)
	}
	n := 0
	for _, rec := range recs {
		if err := r.recoverCall(rec); err != nil {
			// Left in the store it would be retried, and fail, at every
			// start: it goes to history as failed, with the reason.
			r.log.Error("cannot recover a call; moving it to history as failed", "call_id", rec.ID, "error", err)
			h := HistoryEntry{CallRecord: rec, Ended: r.clk.Now(), Outcome: OutcomeFailed,
				Path: []PathEntry{{At: r.clk.Now(), Kind: "error", Value: "not recovered: " + err.Error()}}}
			if err := r.store.EndCall(h); err != nil {
				r.log.Error("cannot move the call to history", "call_id", rec.ID, "error", err)
			}
			if rec.Job != "" {
				r.dialer.attemptEnded(rec.Job, rec.Attempt, Attempt{Outcome: DialFailed, CallID: rec.ID,
					Reason: "the call could not be recovered: " + err.Error()})
			}
			continue
		}
		n++
	}
	if n > 0 {
		r.log.Info("calls recovered", "count", n)
	}
	// Outcomes of attempts ivrd cannot follow any more, and calls placed
	// but not recorded, once the recovered calls hold their legs.
	finishJobs()
	r.dialer.kick()
	// Calls whose INCOMING came while ivrd was down (or was lost with it)
	// still wait for a command until the device's timeout: take them.
	for _, d := range r.sortedDevices() {
		cctx, cancel := context.WithTimeout(ctx, d.commandTimeout())
		waiting, err := d.PBX.Waiting(cctx)
		cancel()
		if err != nil {
			r.log.Warn("cannot ask the device for waiting calls", "device", d.Name, "error", err)
			continue
		}
		for _, ev := range waiting {
			r.mu.Lock()
			s := r.sessions[sessionKey{d.Name, ev.Leg}]
			r.mu.Unlock()
			if s != nil && (ev.CallID == "" || s.CallID == ev.CallID) {
				continue // the recovered call itself
			}
			// A new call on an id a recovered call held: startCall ends
			// the stale session and takes the new call.
			ev.Device = d.Name
			r.log.Info("taking a call that waited while ivrd was down", "device", d.Name, "leg", ev.Leg.String(), "from", ev.From)
			r.startCall(d, ev)
		}
	}
	return n, nil
}

func (r *Router) recoverCall(rec CallRecord) error {
	d := r.devices[rec.Device]
	if d == nil {
		return fmt.Errorf("device %q is no longer configured", rec.Device)
	}
	src, err := r.store.FlowSource(rec.FlowHash)
	if err != nil {
		return err
	}
	flow, err := CompileFlow(rec.Flow, "flows/"+rec.Flow+".lua", src)
	if err != nil {
		return err
	}
	journal, err := r.store.Journal(rec.ID)
	if err != nil {
		return err
	}
	s := &Session{
		ID: rec.ID, Device: d, Leg: rec.Leg, From: rec.From, To: rec.To, CallID: rec.CallID,
		Direction: rec.Direction, Flow: flow, Started: rec.Started, Origin: rec.Origin, r: r, notify: make(chan struct{}, 1),
		replay: journal, recovered: true, held: []func(){r.clk.Work()},
		initVars: rec.Vars, secretVars: rec.SecretVars, secrets: secretValues(rec.Vars, rec.SecretVars),
	}
	s.activity = Activity{Kind: ActivityRecovering, Since: r.clk.Now()}
	if rec.Job != "" {
		s.dial = &dialState{job: rec.Job, attempt: rec.Attempt}
	}
	if rec.StdlibHash != "" && rec.StdlibHash != r.libHash {
		// The binary was upgraded under the call: a module it used may
		// behave differently now, which the replay reports as a
		// divergence if it matters.
		r.log.Warn("the stdlib changed since the call started; replaying on the new one", "call_id", rec.ID,
			"stdlib_then", shortHash(rec.StdlibHash), "stdlib_now", shortHash(r.libHash))
	}
	s.log = r.log.With("call_id", s.ID, "device", d.Name, "leg", rec.Leg.String(), "flow", flow.Name, "flow_hash", flow.ShortHash())
	key := sessionKey{d.Name, rec.Leg}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.ctx == nil {
		s.releaseAll()
		return fmt.Errorf("the router is not running")
	}
	if old := r.sessions[key]; old != nil {
		// Two calls in the store on one device id: the older ended
		// without its BYE reaching ivrd (LiveCalls is oldest first).
		r.log.Warn("two recovered calls on one device id; the older one has ended", "old_call_id", old.ID, "call_id", s.ID)
		old.push(item{ev: &Event{Device: d.Name, Kind: EvBye, Leg: rec.Leg}, done: r.clk.Work()})
	}
	r.sessions[key] = s
	r.wg.Add(1)
	go s.run(r.ctx)
	return nil
}

// finish removes an ended session.
func (r *Router) finish(s *Session) {
	r.mu.Lock()
	key := sessionKey{s.Device.Name, s.Leg}
	if r.sessions[key] == s {
		delete(r.sessions, key)
	}
	if s.CallID != "" && r.log.IsTrace() {
		r.ended[key] = endedCall{callid: s.CallID, log: s.log}
	}
	r.closeDrainedLocked()
	r.mu.Unlock()
	r.wg.Done()
}

// Sessions returns the live sessions.
func (r *Router) Sessions() []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Session, 0, len(r.sessions))
	for _, s := range r.sessions {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
