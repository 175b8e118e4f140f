package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
)

// DialLimits bound outbound calling.
type DialLimits struct {
	// MaxConcurrent caps live outbound calls over all devices (default 50).
	MaxConcurrent int
	// PerSecond caps new outbound calls per second per device (default 5).
	PerSecond float64
	// PerNumber caps live calls to one number (default 1).
	PerNumber int
	// Window and TZ are the calling window of jobs that name none
	// ("08:00-21:00" in "Asia/Shanghai"); empty means any time.
	Window, TZ string
	// RingTimeout ends an outbound call that has neither answered nor
	// ended after this long, in case the device never says (default 60 s).
	RingTimeout time.Duration
}

// Dial defaults.
const (
	DefaultMaxConcurrent = 50
	DefaultPerSecond     = 5
	DefaultPerNumber     = 1
	DefaultRingTimeout   = 60 * time.Second
)

func (l DialLimits) withDefaults() DialLimits {
	if l.MaxConcurrent <= 0 {
		l.MaxConcurrent = DefaultMaxConcurrent
	}
	if l.PerSecond <= 0 {
		l.PerSecond = DefaultPerSecond
	}
	if l.PerNumber <= 0 {
		l.PerNumber = DefaultPerNumber
	}
	if l.RingTimeout <= 0 {
		l.RingTimeout = DefaultRingTimeout
	}
	return l
}

// FieldError is a request refused because of one field; Field names it as
// the request spells it ("retry.attempts").
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// ErrNoJob is a job id the store does not hold.
var ErrNoJob = errors.New("no such job")

// ErrJobOver is a job that can no longer be cancelled.
var ErrJobOver = errors.New("the job has already ended")

// ErrInIVR is a call Redirect was asked to move that already runs a flow.
var ErrInIVR = errors.New("the call is in the IVR already")

// ErrShuttingDown is a request refused because ivrd is stopping.
var ErrShuttingDown = errors.New("ivrd is shutting down")

// dialer schedules and places outbound jobs under the limits. Jobs not
// yet final are kept in memory as well as in the store; every change is
// stored before it takes effect, and an attempt is stored as started
// before its number is dialled, so a crash never dials an attempt twice.
type dialer struct {
	r    *Router
	lim  DialLimits
	win  *Window // the default calling window
	jobs JobStore

	mu      sync.Mutex
	pending map[string]*Job // jobs not final, by id
	timer   clock.Timer
	timerAt time.Time
	running bool
	active  int            // attempts dialling or live
	perNum  map[string]int // attempts dialling or live, by number
	// The per-device rate: a token bucket holding up to one second's
	// worth of dials, refilled at PerSecond.
	tokens   map[string]float64
	refilled map[string]time.Time
}

func newDialer(r *Router, lim DialLimits, st Store) (*dialer, error) {
	lim = lim.withDefaults()
	win, err := ParseWindow(lim.Window, lim.TZ)
	if err != nil {
		return nil, fmt.Errorf("dial limits: %w", err)
	}
	d := &dialer{r: r, lim: lim, win: win, pending: map[string]*Job{},
		perNum: map[string]int{}, tokens: map[string]float64{}, refilled: map[string]time.Time{}}
	if st != nil {
		d.jobs = st
	} else {
		d.jobs = &memJobs{jobs: map[string]Job{}}
	}
	return d, nil
}

// window is the calling window of a job.
func (d *dialer) window(j *Job) *Window {
	if j.Window == "" && j.TZ == "" {
		return d.win
	}
	w, err := ParseWindow(j.Window, j.TZ)
	if err != nil || w == nil {
		return d.win // checked when the job was made
	}
	return w
}

// Dial checks a request and schedules its job: it is dialled at once when
// due and its window is open. The job is durable before Dial returns.
func (r *Router) Dial(req DialRequest) (Job, error) { return r.dial(req, 0) }

// MaxFailedChain bounds how many failed handlers in a row may dial: a
// failed handler that dials its own flow would otherwise ring forever.
const MaxFailedChain = 3

// ErrFailedChain is an ivr.dial from a failed handler past MaxFailedChain.
var ErrFailedChain = fmt.Errorf("this job comes from %d failed handlers in a row; a failed handler's job may not dial again", MaxFailedChain)

func (r *Router) dial(req DialRequest, chain int) (Job, error) {
	if chain > MaxFailedChain {
		return Job{}, ErrFailedChain
	}
	j, err := r.newJob(req)
	if err != nil {
		return Job{}, err
	}
	j.Chain = chain
	got, created, err := r.dialer.jobs.CreateJob(j)
	if err != nil {
		return Job{}, fmt.Errorf("dial: %w", err)
	}
	if !created {
		return got, nil // asked before: the same job
	}
	r.log.Info("outbound job scheduled", "job", got.ID, "to", got.To, "flow", got.Flow, "due", got.Due.Format(time.RFC3339), "source", got.Source)
	r.observeJob(JobEventScheduled)
	d := r.dialer
	d.mu.Lock()
	d.pending[got.ID] = &got
	d.mu.Unlock()
	d.kick()
	// The dialer may be changing the job already (an attempt's call id):
	// the caller gets a copy taken under its lock, attempts included.
	d.mu.Lock()
	out := got
	out.Attempts = slices.Clone(got.Attempts)
	d.mu.Unlock()
	return out, nil
}

// newJob checks a request and makes its job.
func (r *Router) newJob(req DialRequest) (Job, error) {
	now := r.clk.Now()
	if req.To == "" {
		return Job{}, &FieldError{"to", "the number to call is required"}
	}
	if len(req.To) > 32 || strings.Trim(req.To, "0123456789*#+") != "" {
		return Job{}, &FieldError{"to", fmt.Sprintf("%q is not a phone number (digits, *, # and a leading +)", req.To)}
	}
	if req.Flow == "" {
		return Job{}, &FieldError{"flow", "the flow to run when the callee answers is required"}
	}
	if _, ok := r.flows.Flow(req.Flow); !ok {
		return Job{}, &FieldError{"flow", fmt.Sprintf("no flow %q is loaded", req.Flow)}
	}
	if req.Device == "" {
		req.Device = r.sortedDevices()[0].Name
	} else if r.devices[req.Device] == nil {
		return Job{}, &FieldError{"device", fmt.Sprintf("no device %q is configured", req.Device)}
	}
	if _, err := ParseWindow(req.Window, req.TZ); err != nil {
		return Job{}, err // a *FieldError
	}
	if err := req.Retry.validate(); err != nil {
		return Job{}, err
	}
	if err := r.checkVars(req.Vars); err != nil {
		return Job{}, err
	}
	for i, n := range req.Secret {
		if n == "" || len(n) > 64 {
			return Job{}, &FieldError{fmt.Sprintf("secret[%d]", i), "names a var that is secret: 1–64 bytes"}
		}
	}
	if len(req.ID) > 128 {
		return Job{}, &FieldError{"id", "is longer than 128 bytes"}
	}
	if strings.Trim(req.ID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		return Job{}, &FieldError{"id", fmt.Sprintf("%q may hold only letters, digits, '.', '_' and '-'", req.ID)}
	}
	due := req.At
	if due.IsZero() || due.Before(now) {
		if !due.IsZero() && now.Sub(due) > time.Minute {
			return Job{}, &FieldError{"at", fmt.Sprintf("%s is in the past", due.Format(time.RFC3339))}
		}
		due = now
	}
	id := req.ID
	if id == "" {
		id = "job-" + r.newCallID()
	}
	return Job{
		ID: id, To: req.To, Flow: req.Flow, Vars: req.Vars, Secret: req.Secret, Device: req.Device, Trunk: req.Trunk,
		TZ: req.TZ, Window: req.Window, Retry: req.Retry.withDefaults(), Webhook: req.Webhook,
		Source: req.Source, Created: now, Due: due, State: JobScheduled,
	}, nil
}

// checkVars checks the vars a call starts with: a JSON object (or none)
// within MaxVars.
func (r *Router) checkVars(vars json.RawMessage) error {
	if len(vars) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(vars, &m); err != nil || m == nil {
		return &FieldError{"vars", "must be a JSON object"}
	}
	if len(vars) > r.limits.MaxVars {
		return &FieldError{"vars", fmt.Sprintf("passes the limit of %d bytes", r.limits.MaxVars)}
	}
	return nil
}

// Jobs returns every job the store holds, newest first.
func (r *Router) Jobs() ([]Job, error) {
	js, err := r.dialer.jobs.ListJobs()
	for i, j := 0, len(js)-1; i < j; i, j = i+1, j-1 {
		js[i], js[j] = js[j], js[i]
	}
	return js, err
}

// Job returns one job.
func (r *Router) Job(id string) (Job, error) { return r.dialer.jobs.GetJob(id) }

// CancelJob cancels a job that has not ended; an attempt under way is not
// hung up, but no other is made.
func (r *Router) CancelJob(id string) (Job, error) {
	d := r.dialer
	d.mu.Lock()
	j := d.pending[id]
	if j == nil {
		d.mu.Unlock()
		got, err := d.jobs.GetJob(id)
		if err != nil {
			return Job{}, err
		}
		return got, ErrJobOver
	}
	if j.Final() {
		// Cancelled already, or failed with its handler still to run.
		out := *j
		d.mu.Unlock()
		return out, ErrJobOver
	}
	dialing := j.State == JobDialing
	j.State, j.Ended, j.Reason = JobCancelled, r.clk.Now(), "cancelled"
	j.Rev++
	if err := d.jobs.PutJob(*j); err != nil {
		d.mu.Unlock()
		return Job{}, fmt.Errorf("cancel %s: %w", id, err)
	}
	if !dialing {
		delete(d.pending, id)
	}
	out := *j
	d.mu.Unlock()
	r.log.Info("outbound job cancelled", "job", id, "attempt_under_way", dialing)
	if !dialing {
		r.observeJob(JobCancelled)
		r.jobEnded(out) // else when the attempt under way ends
	}
	d.kick()
	return out, nil
}

// withCallID adds the call_id of an attempt's call to log arguments, when
// the attempt got as far as a call.
func withCallID(args []any, callID string) []any {
	if callID != "" {
		args = append(args, "call_id", callID)
	}
	return args
}

// observeJob tells the observer of a job event.
func (r *Router) observeJob(event string) {
	if r.obs != nil {
		r.obs.Job(event)
	}
}

func (r *Router) jobEnded(j Job) {
	if r.onJobEnded != nil {
		r.onJobEnded(j)
	}
}

// DialStats is the outbound dialer's state at one moment, for metrics.
type DialStats struct {
	// Scheduled counts the jobs waiting for their next attempt: not yet
	// due, outside their calling window, or due.
	Scheduled int
	// Due counts the scheduled jobs whose time has come and that wait
	// for a free slot (max_concurrent, per_second, per_number).
	Due int
	// Running counts the attempts being dialled or live.
	Running int
}

// DialStats returns the outbound dialer's state now.
func (r *Router) DialStats() DialStats {
	d := r.dialer
	now := r.clk.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	st := DialStats{Running: d.active}
	for _, j := range d.pending {
		if j.State != JobScheduled {
			continue
		}
		st.Scheduled++
		if !j.Due.After(now) {
			st.Due++
		}
	}
	return st
}

// startDialer lets due jobs be dialled.
func (d *dialer) start() {
	d.mu.Lock()
	d.running = true
	d.mu.Unlock()
	d.kick()
}

// stop ends dialling; jobs stay in the store.
func (d *dialer) stop() {
	d.mu.Lock()
	d.running = false
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.mu.Unlock()
}

// resume loads the stored jobs at start. A job that was being dialled
// when ivrd stopped takes its attempt's outcome from the recovered call,
// or from the call's history; with neither, the attempt counts as
// interrupted (it is not dialled again). A job that came due while ivrd
// was down runs now if the window it was due in is still open, and is
// dropped otherwise.
//
// resume loads the jobs and counts the attempts under way at once; what
// it returns finishes the rest (outcomes, adoption, failed handlers) and
// is called once the recovered calls hold their legs.
func (d *dialer) resume(live map[string]int) (func(), error) {
	js, err := d.jobs.ListJobs()
	if err != nil {
		return func() {}, err
	}
	now := d.r.clk.Now()
	var finish []func()
	var orphans []Job
	d.mu.Lock()
	for i := range js {
		j := js[i]
		if j.Final() {
			if j.State == JobFailed && !j.Notified {
				jj := j
				finish = append(finish, func() { d.runFailed(jj) })
				d.pending[j.ID] = &jj // until its failed handler has run
			}
			continue
		}
		jp := &j
		d.pending[j.ID] = jp
		switch j.State {
		case JobDialing:
			n := len(j.Attempts)
			if n == 0 {
				j.State = JobScheduled
				continue
			}
			if live[j.ID] == n {
				d.active++
				d.perNum[j.To]++
				continue // its recovered call reports the outcome
			}
			at := j.Attempts[n-1]
			if at.CallID == "" {
				at.CallID, _ = d.jobs.AttemptCall(j.ID, n)
			}
			if at.CallID != "" && d.r.store != nil {
				if h, err := d.r.store.History(at.CallID); err == nil && h.DialOutcome != "" {
					d.active++
					d.perNum[j.To]++
					a := Attempt{Outcome: h.DialOutcome, Code: h.DialCode, Reason: h.DialReason, CallID: at.CallID}
					finish = append(finish, func() { d.attemptEnded(j.ID, n, a) })
					continue
				}
			}
			d.active++
			d.perNum[j.To]++
			orphans = append(orphans, j)
		case JobScheduled:
			if !j.Due.Before(now.Add(-time.Minute)) {
				continue
			}
			w := d.window(jp)
			if w != nil && (!w.open(now) || !w.closes(j.Due).Equal(w.closes(now))) {
				jp.State, jp.Ended = JobDropped, now
				jp.Reason = fmt.Sprintf("came due at %s while ivrd was down; its calling window %s has closed since",
					j.Due.In(w.Loc).Format("2006-01-02 15:04 MST"), windowText(jp, d.lim))
				jp.Rev++
				if err := d.jobs.PutJob(*jp); err != nil {
					d.r.log.Error("cannot store a dropped job", "job", j.ID, "error", err)
				}
				delete(d.pending, j.ID)
				d.r.log.Warn("outbound job dropped", "job", j.ID, "to", j.To, "reason", jp.Reason)
				d.r.observeJob(JobDropped)
				jj := *jp
				finish = append(finish, func() { d.r.jobEnded(jj) })
			}
		}
	}
	d.mu.Unlock()
	return func() {
		// Adoption first: it asks the device for its outer calls before
		// any outcome below lets a new dial start.
		if len(orphans) > 0 {
			d.adopt(orphans)
		}
		for _, f := range finish {
			f()
		}
	}, nil
}

func windowText(j *Job, lim DialLimits) string {
	w, tz := j.Window, j.TZ
	if w == "" {
		w, tz = lim.Window, lim.TZ
	}
	if tz == "" {
		tz = "UTC"
	}
	return w + " " + tz
}

// kick dials every job that is due, in its window and within the limits,
// and sets the timer for the next one.
func (d *dialer) kick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running || d.r.killed.Load() {
		return
	}
	now := d.r.clk.Now()
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	var starts []*Job
	for _, j := range d.sortedLocked() {
		if j.State != JobScheduled {
			continue
		}
		if j.Due.After(now) {
			later(j.Due)
			continue
		}
		if w := d.window(j); !w.open(now) {
			j.Due = w.next(now)
			j.Rev++
			if err := d.jobs.PutJob(*j); err != nil {
				d.r.log.Error("cannot store a job", "job", j.ID, "error", err)
			}
			d.r.log.Info("outbound job waits for its calling window", "job", j.ID, "due", j.Due.Format(time.RFC3339))
			later(j.Due)
			continue
		}
		if d.active >= d.lim.MaxConcurrent {
			break // an attempt's end kicks again
		}
		if d.perNum[j.To] >= d.lim.PerNumber {
			continue
		}
		if wait := d.takeToken(j.Device, now); wait > 0 {
			later(now.Add(wait))
			continue
		}
		d.markLocked(j, now)
		starts = append(starts, j)
	}
	if len(starts) > 0 && !d.startLocked(starts, now) {
		for _, j := range starts {
			later(j.Due)
		}
	}
	d.armLocked(now, next)
}

// takeToken takes a dial from the device's bucket; with none left it
// returns how long until one is.
func (d *dialer) takeToken(device string, now time.Time) time.Duration {
	rate := d.lim.PerSecond
	burst := max(1, rate)
	tok, ok := d.tokens[device]
	if !ok {
		tok = burst
	} else {
		tok = min(burst, tok+now.Sub(d.refilled[device]).Seconds()*rate)
	}
	d.refilled[device] = now
	if tok < 1 {
		d.tokens[device] = tok
		return time.Duration(math.Ceil((1 - tok) / rate * float64(time.Second)))
	}
	d.tokens[device] = tok - 1
	return 0
}

// markLocked counts a job's next attempt as started, in memory.
func (d *dialer) markLocked(j *Job, now time.Time) {
	n := len(j.Attempts) + 1
	j.Attempts = append(j.Attempts, Attempt{N: n, Started: now})
	j.State = JobDialing
	j.Rev++
	d.active++
	d.perNum[j.To]++
}

func (d *dialer) sortedLocked() []*Job {
	out := make([]*Job, 0, len(d.pending))
	for _, j := range d.pending {
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Due.Equal(out[b].Due) {
			return out[a].Due.Before(out[b].Due)
		}
		return out[a].ID < out[b].ID
	})
	return out
}

func (d *dialer) armLocked(now, next time.Time) {
	if !d.timerAt.IsZero() && d.timerAt.Equal(next) && d.timer != nil {
		return
	}
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.timerAt = next
	if next.IsZero() {
		return
	}
	var t clock.Timer
	t = d.r.clk.AfterFunc(next.Sub(now), func() {
		d.mu.Lock()
		if d.timer == t { // not re-armed since
			d.timer, d.timerAt = nil, time.Time{}
		}
		d.mu.Unlock()
		d.kick()
	})
	d.timer = t
}

// startLocked stores the attempts kick marked, in one transaction, and
// then dials them; when they cannot be stored it undoes the marks.
func (d *dialer) startLocked(js []*Job, now time.Time) bool {
	snaps := make([]Job, len(js))
	for i, j := range js {
		snaps[i] = *j
	}
	if err := d.jobs.PutJobs(snaps...); err != nil {
		// Not durable: dialling now could dial twice after a crash.
		for _, j := range js {
			j.Attempts = j.Attempts[:len(j.Attempts)-1]
			j.State = JobScheduled
			j.Due = now.Add(time.Duration(j.Retry.Delay))
			d.active--
			if d.perNum[j.To]--; d.perNum[j.To] <= 0 {
				delete(d.perNum, j.To)
			}
		}
		d.r.log.Error("cannot store the attempts; dialling later", "jobs", len(js), "error", err)
		return false
	}
	for _, job := range snaps {
		done := d.r.clk.Work()
		go func() {
			defer done()
			d.place(job, len(job.Attempts))
		}()
	}
	return true
}

// place dials attempt n of job j and starts the session that follows it.
func (d *dialer) place(j Job, n int) {
	r := d.r
	var id string // the call's, once the dial is sent: its trace names it
	fail := func(outcome, reason string, code int) {
		r.log.Info("outbound attempt not placed", withCallID([]any{"job", j.ID, "attempt", n, "to", j.To, "outcome", outcome, "reason", reason}, id)...)
		d.attemptEnded(j.ID, n, Attempt{Outcome: outcome, Reason: reason, Code: code})
	}
	dev := r.devices[j.Device]
	if dev == nil {
		fail(DialRejected, fmt.Sprintf("device %q is not configured", j.Device), 0)
		return
	}
	flow, ok := r.flows.Flow(j.Flow)
	if !ok {
		fail(DialRejected, fmt.Sprintf("flow %q is not loaded", j.Flow), 0)
		return
	}
	ctx := r.ctx
	menu, err := dev.menus.get(ctx, dev, parkMenu)
	if err != nil {
		fail(DialFailed, "cannot assign the dial menu: "+err.Error(), 0)
		return
	}
	// The call's id is minted before the dial, so that the dial's trace
	// names the call it places.
	id = r.newCallID()
	r.mu.Lock()
	r.dialing[dev.Name]++
	r.mu.Unlock()
	cctx, cancel := context.WithTimeout(WithCallID(ctx, id), dev.commandTimeout())
	leg, st, err := dev.PBX.Dial(cctx, menu, dev.SilenceFile, j.To, j.Trunk)
	cancel()
	if err != nil {
		r.mu.Lock()
		dropped := r.doneDialingLocked(dev.Name)
		r.mu.Unlock()
		r.traceDropped(dropped)
		var ref *Refusal
		switch {
		case errors.As(err, &ref) && (ref.Reason == ReasonBusy || ref.Reason == ReasonTalking):
			fail(DialBusy, ref.Detail, ref.Code)
		case errors.As(err, &ref):
			fail(DialFailed, ref.Detail, ref.Code)
		default:
			fail(DialFailed, err.Error(), 0)
		}
		return
	}
	d.follow(id, dev, flow, j, n, leg, st, false, true)
}

// follow starts the session of attempt n's call on leg, with ivrd's call
// id id ("" mints one). answered says the device showed the call answered
// already (a call placed before a crash); dialing says a dial Connect of
// this device is counted in r.dialing.
func (d *dialer) follow(id string, dev *Device, flow *Flow, j Job, n int, leg Leg, st LegStatus, answered, dialing bool) {
	r := d.r
	to := j.To
	if st.To != "" {
		to = st.To
	}
	if id == "" {
		id = r.newCallID()
	}
	s := &Session{
		ID: id, Device: dev, Leg: leg, From: st.From, To: to, CallID: st.CallID,
		Direction: "out", Flow: flow, Started: r.clk.Now(), r: r, notify: make(chan struct{}, 1),
		held: []func(){r.clk.Work()}, initVars: j.Vars, secretVars: j.Secret,
		dial: &dialState{job: j.ID, attempt: n, adoptedAnswered: answered},
	}
	s.secrets = secretValues(j.Vars, j.Secret)
	s.activity = Activity{Kind: ActivityDialing, Detail: to, Since: s.Started}
	s.log = r.log.With("call_id", s.ID, "device", dev.Name, "leg", leg.String(), "flow", flow.Name,
		"flow_hash", flow.ShortHash(), "job", j.ID, "attempt", n)
	key := sessionKey{dev.Name, leg}
	r.mu.Lock()
	// This leg's early reports are taken before the dial is counted done:
	// with no other dial in flight on the device, that drops the rest.
	early := r.early[key]
	delete(r.early, key)
	var dropped []Event
	if dialing {
		dropped = r.doneDialingLocked(dev.Name)
	}
	if r.closed {
		r.mu.Unlock()
		s.releaseAll()
		r.traceDropped(append(dropped, early...))
		return
	}
	if old := r.sessions[key]; old != nil {
		old.push(item{ev: &Event{Device: dev.Name, Kind: EvBye, Leg: leg}, done: r.clk.Work()})
	}
	r.sessions[key] = s
	r.wg.Add(1)
	runCtx := r.ctx
	r.mu.Unlock()
	r.traceDropped(dropped)
	for i := range early {
		if s.staleCall(&early[i]) {
			r.traceReport(&early[i], nil)
			continue
		}
		r.traceReport(&early[i], s)
		s.push(item{ev: &early[i], done: r.clk.Work()})
	}
	d.noteCall(j.ID, n, s.ID)
	go s.run(runCtx)
}

// adopt looks on each device for the calls of attempts that were being
// placed when ivrd stopped: the Connect may have reached the device
// before the call was recorded. An outer call to the job's number that no
// session holds, ringing or in one of ivrd's menus, is taken as the
// attempt's call and followed; an attempt with none counts as
// interrupted (and is not dialled again).
func (d *dialer) adopt(orphans []Job) {
	r := d.r
	byDevice := map[string][]LegStatus{}
	asked := map[string]bool{}
	for _, j := range orphans {
		n := len(j.Attempts)
		dev := r.devices[j.Device]
		flow, ok := r.flows.Flow(j.Flow)
		if dev != nil && ok {
			if !asked[dev.Name] {
				asked[dev.Name] = true
				ctx, cancel := context.WithTimeout(r.ctx, dev.commandTimeout())
				legs, err := dev.PBX.Outers(ctx)
				cancel()
				if err != nil {
					r.log.Warn("cannot ask the device for its outbound calls", "device", dev.Name, "error", err)
				}
				byDevice[dev.Name] = legs
			}
			if st, i, found := d.orphanCall(dev, j, byDevice[dev.Name]); found {
				byDevice[dev.Name] = append(byDevice[dev.Name][:i], byDevice[dev.Name][i+1:]...)
				answered := st.Connected != ""
				r.log.Info("found the call of an attempt placed before the restart; following it",
					"job", j.ID, "attempt", n, "leg", st.Leg.String(), "answered", answered)
				d.follow("", dev, flow, j, n, st.Leg, st, answered, false)
				continue
			}
		}
		d.attemptEnded(j.ID, n, Attempt{Outcome: DialInterrupted, Reason: "ivrd stopped while the attempt was being placed"})
	}
}

// orphanCall finds an outer call to j's number that no session holds:
// ringing, or connected to one of the device's menus.
func (d *dialer) orphanCall(dev *Device, j Job, legs []LegStatus) (LegStatus, int, bool) {
	for i, st := range legs {
		if st.To != j.To || st.Leg.Kind != LegOuter {
			continue
		}
		d.r.mu.Lock()
		held := d.r.sessions[sessionKey{dev.Name, st.Leg}] != nil
		d.r.mu.Unlock()
		if held {
			continue
		}
		kind, id, _ := strings.Cut(st.Connected, " ")
		if st.Connected == "" || kind == "menu" && dev.ownsMenu(id) {
			return st, i, true
		}
	}
	return LegStatus{}, 0, false
}

// doneDialingLocked counts a Connect answered; with none left in flight on
// the device, reports kept for legs not yet known are dropped, and
// returned for their trace.
func (r *Router) doneDialingLocked(device string) []Event {
	r.dialing[device]--
	if r.dialing[device] > 0 {
		return nil
	}
	delete(r.dialing, device)
	var dropped []Event
	for k, evs := range r.early {
		if k.device == device {
			dropped = append(dropped, evs...)
			delete(r.early, k)
		}
	}
	return dropped
}

// noteCall records which call an attempt placed.
func (d *dialer) noteCall(jobID string, n int, callID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	j := d.pending[jobID]
	if j == nil || len(j.Attempts) < n {
		return
	}
	// Kept in memory only, to spare a synced write per call: the call's
	// own record names the job and attempt, which is what a restart
	// needs; the attempt's end stores it with the job.
	j.Attempts[n-1].CallID = callID
}

// attemptEnded records attempt n's outcome and decides what follows: done,
// another attempt (after the policy's delay, inside the window), or the
// job's failure and its flow's failed handler.
func (d *dialer) attemptEnded(jobID string, n int, a Attempt) {
	r := d.r
	if r.killed.Load() {
		return
	}
	now := r.clk.Now()
	d.mu.Lock()
	j := d.pending[jobID]
	if j == nil {
		d.mu.Unlock()
		r.log.Error("an attempt ended for a job that is not pending", "job", jobID, "attempt", n)
		return
	}
	d.active--
	if d.perNum[j.To]--; d.perNum[j.To] <= 0 {
		delete(d.perNum, j.To)
	}
	if len(j.Attempts) >= n {
		at := &j.Attempts[n-1]
		at.Ended, at.Outcome, at.Code, at.Reason = now, a.Outcome, a.Code, a.Reason
		if a.CallID != "" {
			at.CallID = a.CallID
		}
	}
	j.Outcome = a.Outcome
	final := true
	switch {
	case j.State == JobCancelled:
	case a.Outcome == DialAnswered:
		j.State, j.Reason = JobDone, ""
	case j.Retry.retries(a.Outcome) && n < j.Retry.Attempts:
		final = false
		j.State = JobScheduled
		j.Due = d.window(j).next(now.Add(j.Retry.delayBefore(n + 1)))
		r.log.Info("outbound attempt ended; dialling again", withCallID([]any{"job", j.ID, "attempt", n, "outcome", a.Outcome, "due", j.Due.Format(time.RFC3339)}, a.CallID)...)
	default:
		j.State = JobFailed
		j.Reason = a.Outcome
		if !j.Retry.retries(a.Outcome) {
			j.Reason = a.Outcome + " (the retry policy does not retry it)"
		} else if n >= j.Retry.Attempts {
			j.Reason = fmt.Sprintf("%s after %d attempts", a.Outcome, n)
		}
	}
	if final {
		j.Ended = now
	}
	j.Rev++
	out := *j
	if final && j.State != JobFailed {
		delete(d.pending, jobID)
	}
	d.mu.Unlock()
	// Written outside the lock, so that attempts ending together share a
	// commit and dialling goes on meanwhile; Rev keeps the order.
	if err := d.jobs.PutJob(out); err != nil {
		r.log.Error("cannot store a job", "job", out.ID, "error", err)
	}
	if r.obs != nil {
		r.obs.Attempt(a.Outcome)
		if final {
			r.obs.Job(out.State)
		} else {
			r.obs.Job(JobEventRetried)
		}
	}
	if final {
		r.log.Info("outbound job ended", withCallID([]any{"job", out.ID, "state", out.State, "outcome", out.Outcome, "attempts", n}, a.CallID)...)
		if out.State == JobFailed {
			done := r.clk.Work()
			go func() {
				defer done()
				d.runFailed(out)
			}()
		} else {
			r.jobEnded(out)
		}
	}
	d.kick()
}

// runFailed runs the flow's failed(job, reason) handler once the job has
// given up, then marks it notified.
func (d *dialer) runFailed(j Job) {
	r := d.r
	if flow, ok := r.flows.Flow(j.Flow); ok {
		r.runJobHandler(flow, j, j.Outcome)
	} else {
		r.log.Warn("the failed job's flow is not loaded; its failed handler does not run", "job", j.ID, "flow", j.Flow)
	}
	if r.killed.Load() {
		return
	}
	d.mu.Lock()
	if p := d.pending[j.ID]; p != nil {
		j = *p
	}
	j.Notified = true
	j.Rev++
	if err := d.jobs.PutJob(j); err != nil {
		r.log.Error("cannot store a job", "job", j.ID, "error", err)
	}
	delete(d.pending, j.ID)
	d.mu.Unlock()
	r.jobEnded(j)
}

// Redirect moves a live device call leg that is not in the IVR (an agent's
// caller) into a flow: the flow's incoming(call) runs for it, with vars as
// call.vars. It returns ivrd's call id.
func (r *Router) Redirect(device string, leg Leg, flow string, vars json.RawMessage) (string, error) {
	s, err := r.redirect(device, leg, flow, vars, "")
	if err != nil {
		return "", err
	}
	return s.ID, nil
}

// redirect is Redirect; from, when set, names where the call came from
// (an agent's transfer: "ext 201"), for the log.
func (r *Router) redirect(device string, leg Leg, flow string, vars json.RawMessage, from string) (*Session, error) {
	d := r.devices[device]
	if d == nil {
		return nil, &FieldError{"device", fmt.Sprintf("no device %q is configured", device)}
	}
	if leg.Kind != LegVisitor && leg.Kind != LegOuter || leg.ID == "" {
		return nil, &FieldError{"leg", "must name a visitor or outer call leg, like \"visitor 14\""}
	}
	fl, ok := r.flows.Flow(flow)
	if !ok {
		return nil, &FieldError{"flow", fmt.Sprintf("no flow %q is loaded", flow)}
	}
	if err := r.checkVars(vars); err != nil {
		return nil, err
	}
	key := sessionKey{device, leg}
	r.mu.Lock()
	busy := r.sessions[key] != nil
	r.mu.Unlock()
	if busy {
		return nil, fmt.Errorf("redirect: %s on %s: %w", leg, device, ErrInIVR)
	}
	// The query is the redirected call's first command: its trace names
	// the call.
	id := r.newCallID()
	ctx, cancel := context.WithTimeout(WithCallID(r.ctx, id), d.commandTimeout())
	st, err := d.PBX.Query(ctx, leg)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("redirect: %s on %s: %w", leg, device, err)
	}
	direction := "in" // a visitor: a call that came in
	if leg.Kind == LegOuter {
		direction = "out"
	}
	s := &Session{
		ID: id, Device: d, Leg: leg, From: st.From, To: st.To, CallID: st.CallID,
		Direction: direction, Flow: fl, Started: r.clk.Now(), r: r, notify: make(chan struct{}, 1),
		held: []func(){r.clk.Work()}, initVars: vars, Origin: from,
	}
	if from != "" {
		s.settled = make(chan struct{}) // an agent's transfer waits for the first command
	}
	s.activity = Activity{Kind: ActivityStarting, Since: s.Started}
	s.log = r.log.With("call_id", s.ID, "device", device, "leg", leg.String(), "flow", fl.Name, "flow_hash", fl.ShortHash())
	r.mu.Lock()
	if r.closed || r.draining {
		r.mu.Unlock()
		s.releaseAll()
		return nil, fmt.Errorf("redirect: %w", ErrShuttingDown)
	}
	if r.sessions[key] != nil {
		r.mu.Unlock()
		s.releaseAll()
		return nil, fmt.Errorf("redirect: %s on %s: %w", leg, device, ErrInIVR)
	}
	r.sessions[key] = s
	r.wg.Add(1)
	runCtx := r.ctx
	r.mu.Unlock()
	if from != "" {
		s.log.Info("call transferred into a flow", "from", s.From, "to", s.To, "transferred_by", from)
	} else {
		s.log.Info("call redirected into a flow", "from", s.From, "to", s.To)
	}
	go s.run(runCtx)
	return s, nil
}
