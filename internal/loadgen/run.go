package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// Defaults of Options; a zero field means the default.
const (
	DefaultDevices     = 1
	DefaultConcurrency = 64
	DefaultDuration    = 10 * time.Second
	DefaultParkedCalls = 1000
	DefaultWakeupCalls = 500
	DefaultPrompt      = 10 * time.Millisecond
	DefaultThink       = 20 * time.Millisecond
	DefaultTalk        = 20 * time.Millisecond
	DefaultAnswer      = 5 * time.Millisecond
	DefaultCallTimeout = 15 * time.Second
	DefaultDrain       = 15 * time.Second
)

// Options shape a run.
type Options struct {
	Workload Workload // default Survey
	// Devices is how many simulated OMs place the calls (default 1).
	Devices int
	// Rate is the calls placed per second over all devices; zero places
	// them as fast as Concurrency allows (a closed loop).
	Rate float64
	// Concurrency caps the calls in progress (default 64). With Parked
	// it caps the calls being set up at once.
	Concurrency int
	// Duration is how long calls are placed (default 10 s); Parked and
	// Wakeup place Calls instead.
	Duration time.Duration
	// Calls is how many calls Parked parks (default 1000) and how many
	// jobs the Wakeup storm holds (default 500).
	Calls int
	// Prompt is the length of every voice file but silence (default
	// 10 ms); Instant makes them play in no time.
	Prompt  time.Duration
	Instant bool
	// Think is how long a caller waits after a prompt starts before
	// pressing its key (default 20 ms), Talk how long after a transfer
	// before hanging up (default 20 ms), Answer how long an extension or
	// a wake-up guest rings before answering (default 5 ms).
	Think, Talk, Answer time.Duration
	// CallTimeout is how long a call may take before it counts as an
	// error (default 15 s); Drain how long the calls still in progress
	// get after the load (default 15 s).
	CallTimeout, Drain time.Duration
	// Dial paces the wake-up storm (default: Concurrency at once, 1000
	// per second and device).
	Dial DialLimits
	// Hostile is how many calls in a hundred go to the HostileFlows, in
	// turn, instead of the workload's flow (Survey and Menu only; 0
	// none). Result's figures are then the ordinary calls', and
	// Result.Hostile tells what became of the others.
	Hostile int
	// JunkRate is how many bad reports a second (JunkKinds, in turn, over
	// the devices) are sent to the system while the calls are placed; 0
	// none. It implies Guarded. Not with Parked, whose memory figure the
	// junk's garbage would blur.
	JunkRate float64
	// Guarded makes the devices sign their reports and tells the system
	// to require the signature and to take reports only from 127.0.0.1.
	Guarded bool
	// Progress, when set, receives a line now and then.
	Progress io.Writer
}

func (o Options) withDefaults() Options {
	if o.Workload == "" {
		o.Workload = Survey
	}
	if o.Devices <= 0 {
		o.Devices = DefaultDevices
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if o.Calls <= 0 {
		o.Calls = DefaultParkedCalls
		if o.Workload == Wakeup {
			o.Calls = DefaultWakeupCalls
		}
	}
	if o.Prompt <= 0 {
		o.Prompt = DefaultPrompt
	}
	if o.Instant {
		o.Prompt = time.Nanosecond // the simulator reads zero as its default
	}
	if o.Think <= 0 {
		o.Think = DefaultThink
	}
	if o.Talk <= 0 {
		o.Talk = DefaultTalk
	}
	if o.Answer <= 0 {
		o.Answer = DefaultAnswer
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.Drain <= 0 {
		o.Drain = DefaultDrain
	}
	if o.Dial.MaxConcurrent <= 0 {
		o.Dial.MaxConcurrent = o.Concurrency
	}
	if o.Dial.PerSecond <= 0 {
		o.Dial.PerSecond = 1000
	}
	if o.JunkRate > 0 {
		o.Guarded = true
	}
	return o
}

// check refuses options that cannot go together.
func (o Options) check() error {
	switch {
	case o.Hostile < 0 || o.Hostile > 100:
		return fmt.Errorf("hostile: %d calls in a hundred is not within 0–100", o.Hostile)
	case o.Hostile > 0 && o.Workload != Survey && o.Workload != Menu:
		return fmt.Errorf("hostile: the %s workload places no call of its own to send to a hostile flow (survey and menu do)", o.Workload)
	case o.JunkRate < 0:
		return fmt.Errorf("junk rate: %v is negative", o.JunkRate)
	case o.JunkRate > 0 && o.Workload == Parked:
		return errors.New("junk rate: the parked workload measures memory, which the bad reports' garbage would blur")
	}
	return nil
}

// minLiveForRSS is the fewest live calls a memory-per-call figure is
// worked out from outside Parked: below it, the noise of the heap swamps it.
const minLiveForRSS = 100

// Result is what a run measured.
type Result struct {
	System   string
	Workload Workload
	// Options are the run's, defaults filled in.
	Options Options
	// Calls completed as scripted, over Elapsed: from the first call
	// placed to the last one ended.
	Calls   int
	Elapsed time.Duration
	// Reports the system read, commands the devices received.
	Reports, Commands uint64
	// Latency is from a report read by the system to the device receiving
	// the next command for the same call leg.
	Latency Percentiles
	// LiveAvg and LiveMax are the calls in progress, sampled while the
	// load ran.
	LiveAvg float64
	LiveMax int
	// RSSBase is the process's resident memory before the first call,
	// RSSLive with LiveForRSS calls live; RSSPerCall is the difference
	// per call. Parked measures after parking every call, both sides
	// after returning free memory to the system; the others at the
	// sample with the most calls live, if at least 100 (else zero).
	RSSBase, RSSLive uint64
	LiveForRSS       int
	RSSPerCall       float64
	// Errors counts what went wrong, by kind.
	Errors map[string]int
	// Hostile tells what became of the calls sent to hostile flows
	// (Options.Hostile); the figures above leave them out.
	Hostile HostileResult
	// Junk counts the bad reports sent and their answers
	// (Options.JunkRate).
	Junk JunkResult
}

// Percentiles summarise latency samples.
type Percentiles struct {
	N                   int
	P50, P99, P999, Max time.Duration
}

func percentiles(s []time.Duration) Percentiles {
	if len(s) == 0 {
		return Percentiles{}
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration {
		i := int(q*float64(len(s)) + 0.5)
		if i >= len(s) {
			i = len(s) - 1
		}
		return s[i]
	}
	return Percentiles{N: len(s), P50: at(0.50), P99: at(0.99), P999: at(0.999), Max: s[len(s)-1]}
}

// CallsPerSecond, ReportsPerSecond and CommandsPerSecond are the rates
// over Elapsed.
func (r Result) CallsPerSecond() float64    { return perSecond(float64(r.Calls), r.Elapsed) }
func (r Result) ReportsPerSecond() float64  { return perSecond(float64(r.Reports), r.Elapsed) }
func (r Result) CommandsPerSecond() float64 { return perSecond(float64(r.Commands), r.Elapsed) }

func perSecond(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// ErrorCount is the sum of Errors.
func (r Result) ErrorCount() int { return sumCounts(r.Errors) }

// ErrorSummary lists the errors by kind, "kind n, …", or "" for none.
func (r Result) ErrorSummary() string { return summarize(r.Errors) }

// legKey names a call leg on a device.
type legKey struct {
	device string
	kind   omproto.Kind
	id     string
}

// run is one measured run against one system.
type run struct {
	opts   Options
	sys    System
	devs   []*device
	byName map[string]*device

	reports, commands atomic.Uint64
	completed         atomic.Int64
	live              atomic.Int64 // calls in progress, as the callers see them
	firstConnects     atomic.Int64 // Parked: calls that heard their prompt
	lastEnd           atomic.Int64 // unix nanos of the last call's end

	mu         sync.Mutex
	pending    map[legKey]time.Time // report read, not yet answered
	lat        []time.Duration      // ordinary calls'
	errs       map[string]int       // ordinary calls' and the run's
	hostileLat []time.Duration
	hostileErr map[string]int

	slots    chan struct{} // one per call in progress
	placed   atomic.Int64  // calls placed, ordinary and hostile
	seq      atomic.Int64  // ordinary calls placed
	hostiles atomic.Int64  // hostile calls placed
	fallback atomic.Int64  // hostile calls that reached the fallback
	// hostile calls that found the fallback busy
	fallbackBusy atomic.Int64
}

// device is one simulated OM and its callers.
type device struct {
	r      *run
	name   string
	sim    *omsim.Sim
	simH   http.Handler
	srv    *http.Server
	ln     net.Listener
	closed atomic.Bool

	mu    sync.Mutex
	calls map[string]*call // by visitor id, while live
}

// call is one caller.
type call struct {
	dev     *device
	n       int // among the ordinary calls, or among the hostile ones
	hostile bool
	leg     string
	sc      *omsim.Call
	slot    bool // holds a slot of run.slots

	mu       sync.Mutex
	timers   []*time.Timer
	prompted bool
	ended    bool
	// fallbackBusy: a hostile call whose transfer to the fallback was
	// refused; the system is to hang it up.
	fallbackBusy bool
}

// Run drives opts.Workload against sys and measures it. It returns once
// every call has ended (or Drain has passed) and the system, the
// simulators and their listeners are closed.
func Run(ctx context.Context, sys System, opts Options) (Result, error) {
	opts = opts.withDefaults()
	res := Result{System: sys.Name(), Workload: opts.Workload, Options: opts}
	if err := opts.check(); err != nil {
		return res, err
	}
	r := &run{
		opts:       opts,
		sys:        sys,
		byName:     map[string]*device{},
		pending:    map[legKey]time.Time{},
		errs:       map[string]int{},
		hostileErr: map[string]int{},
		slots:      make(chan struct{}, opts.Concurrency),
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	reportBase := "http://" + ln.Addr().String() + "/om/"
	var specs []Device
	defer r.closeDevices()
	for i := 0; i < opts.Devices; i++ {
		d, err := r.newDevice("om"+strconv.Itoa(i+1), reportBase)
		if err != nil {
			ln.Close()
			return res, err
		}
		spec := Device{Name: d.name, URL: "http://" + d.ln.Addr().String(), Fallback: FallbackExt}
		if opts.Guarded {
			spec.ReportSecret, spec.Allow = reportSecret, []string{deviceSource}
		}
		specs = append(specs, spec)
	}
	if err := sys.Open(ctx, &tapListener{Listener: ln, r: r}, specs, opts.Workload); err != nil {
		ln.Close()
		return res, fmt.Errorf("%s: %w", sys.Name(), err)
	}
	sysClosed := false
	defer func() {
		if !sysClosed {
			sys.Close()
		}
	}()
	for _, d := range r.devs {
		d.sim.Boot()
	}

	res.RSSBase = settledRSS()
	start := time.Now()
	r.lastEnd.Store(start.UnixNano())
	var sampler sampler
	sampler.start(r, 100*time.Millisecond)
	var junk *junkSender
	if opts.JunkRate > 0 {
		urls := make([]string, len(r.devs))
		for i, d := range r.devs {
			urls[i] = reportBase + d.name
		}
		junk = startJunk(opts.JunkRate, urls)
	}

	switch opts.Workload {
	case Parked:
		r.park(ctx, &res)
	case Wakeup:
		r.storm(ctx)
	default:
		r.placeFor(ctx, opts.Duration)
	}
	if junk != nil {
		res.Junk = junk.stop()
	}
	sampler.stop()
	r.drain(ctx)
	res.Elapsed = time.Duration(r.lastEnd.Load() - start.UnixNano())
	if opts.Workload != Parked {
		res.RSSLive, res.LiveForRSS = sampler.rssAtMax, sampler.liveMax
		if sampler.liveMax >= minLiveForRSS && sampler.rssAtMax > res.RSSBase {
			res.RSSPerCall = float64(sampler.rssAtMax-res.RSSBase) / float64(sampler.liveMax)
		}
	}
	res.LiveAvg, res.LiveMax = sampler.avg(), sampler.liveMax

	if n := r.waitSystemIdle(r.opts.Drain); n > 0 {
		r.fail("calls left in the system", n)
	}
	if f, ok := sys.(Faulted); ok && opts.Hostile > 0 {
		res.Hostile.Outcomes, res.Hostile.Stops = f.Faults()
	}
	r.waitReportsDelivered(5 * time.Second)
	sysClosed = true
	if err := sys.Close(); err != nil {
		r.fail("system close failed", 1)
	}
	r.closeDevices()
	r.tallyDevices()

	res.Calls = int(r.completed.Load())
	res.Reports, res.Commands = r.reports.Load(), r.commands.Load()
	res.Hostile.Placed, res.Hostile.Fallback = int(r.hostiles.Load()), int(r.fallback.Load())
	res.Hostile.FallbackBusy = int(r.fallbackBusy.Load())
	r.mu.Lock()
	res.Latency = percentiles(r.lat)
	res.Errors = r.errs
	res.Hostile.Latency = percentiles(r.hostileLat)
	res.Hostile.Errors = r.hostileErr
	r.mu.Unlock()
	return res, ctx.Err()
}

func (r *run) progress(format string, args ...any) {
	if r.opts.Progress != nil {
		fmt.Fprintf(r.opts.Progress, format+"\n", args...)
	}
}

func (r *run) fail(kind string, n int) {
	if n == 0 {
		return
	}
	r.mu.Lock()
	r.errs[kind] += n
	r.mu.Unlock()
}

// failCall counts what went wrong with call c: among the hostile calls'
// errors when it is one, so that they never count against the ordinary
// calls.
func (r *run) failCall(c *call, kind string) {
	if c == nil || !c.hostile {
		r.fail(kind, 1)
		return
	}
	r.mu.Lock()
	r.hostileErr[kind]++
	r.mu.Unlock()
}

// newDevice starts a simulated OM reporting to reportBase+name, its
// command side behind the run's timing wrapper.
func (r *run) newDevice(name, reportBase string) (*device, error) {
	o := r.opts
	cfg := omsim.DefaultConfig()
	cfg.ReportURL = reportBase + name
	if o.Guarded {
		cfg.ReportSecret = reportSecret
	}
	cfg.FileDuration = o.Prompt
	cfg.VoiceFiles = omsim.DefaultVoiceFiles()
	for f := range cfg.VoiceFiles {
		cfg.VoiceFiles[f] = 0 // FileDuration
	}
	// Silence loops under outbound calls until the first prompt: it
	// keeps its real length so that it does not spin.
	cfg.VoiceFiles[promptSilence] = omsim.DefaultSilenceDuration
	cfg.Exts, cfg.Operator = nil, "2000"
	cfg.ExtPolicies = map[string]omsim.Policy{}
	for i := 2000; i <= 2999; i++ {
		x := strconv.Itoa(i)
		cfg.Exts = append(cfg.Exts, x)
		cfg.ExtPolicies[x] = omsim.Policy{Answer: omsim.AnswerAfter, Delay: o.Answer}
	}
	cfg.Exts = append(cfg.Exts, FallbackExt)
	cfg.ExtPolicies[FallbackExt] = omsim.Policy{Answer: omsim.AnswerAfter, Delay: o.Answer}
	cfg.Outside = omsim.Policy{Answer: omsim.AnswerAfter, Delay: o.Answer, Keys: "1", KeysDelay: o.Think}
	sim, err := omsim.New(cfg, clock.Real{})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &device{r: r, name: name, sim: sim, simH: sim.Handler(), ln: ln, calls: map[string]*call{}}
	d.srv = &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second}
	go d.srv.Serve(ln)
	r.devs = append(r.devs, d)
	r.byName[name] = d
	return d, nil
}

func (r *run) closeDevices() {
	for _, d := range r.devs {
		if d.closed.Swap(true) {
			continue
		}
		d.sim.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		d.srv.Shutdown(ctx)
		cancel()
	}
}

// tallyDevices counts the reports the system did not take and the
// commands the devices refused.
func (r *run) tallyDevices() {
	for _, d := range r.devs {
		for _, rep := range d.sim.Reports() {
			if why, ok := strings.CutPrefix(rep.Result, "failed: "); ok {
				if i := strings.LastIndex(why, ": "); i >= 0 {
					why = why[i+2:] // the cause, without the URL
				}
				r.fail("reports not taken ("+why+")", 1)
			}
		}
		for _, c := range d.sim.Commands() {
			switch {
			case c.Status != http.StatusOK:
				r.fail("commands answered HTTP "+strconv.Itoa(c.Status), 1)
			case strings.Contains(c.Answer, "FAILED") && !toFallback(c.Body):
				// A refused transfer to the fallback is counted with
				// its call, hostile or not.
				r.fail("commands refused", 1)
			}
		}
		for _, c := range d.sim.Calls() {
			if c.Info().EndReason == "operator unavailable" {
				r.fail("calls sent to the operator", 1)
			}
		}
	}
}

// ---- reports and commands ----

// reportRead is called by the tap with each report the system has read.
func (r *run) reportRead(dev string, rep *omproto.Report, at time.Time) {
	r.reports.Add(1)
	ev := rep.Event
	if ev == nil {
		return
	}
	c := ev.Call()
	if c == nil || !c.Kind.IsCall() {
		return
	}
	k := legKey{dev, c.Kind, c.ID}
	r.mu.Lock()
	if ev.Name == omproto.EventBye {
		delete(r.pending, k)
	} else {
		r.pending[k] = at
	}
	r.mu.Unlock()
}

// toFallback says whether a command is a transfer to the fallback.
func toFallback(body string) bool {
	cmd, _, err := omproto.DecodeCommand([]byte(body))
	if err != nil {
		return false
	}
	c, ok := cmd.(omproto.Connect)
	return ok && c.To.Kind == omproto.KindExt && c.To.ID == FallbackExt
}

// commandLeg is the call leg a command acts on, if any.
func commandLeg(cmd omproto.Command) (omproto.Ref, bool) {
	switch c := cmd.(type) {
	case omproto.Connect:
		if c.From.Kind.IsCall() {
			return c.From, true
		}
	case omproto.Clear:
		if c.Target.Kind.IsCall() {
			return c.Target, true
		}
	}
	return omproto.Ref{}, false
}

// ServeHTTP is the device's command side: it times each command against
// the report it answers, lets the simulator carry it out, and then plays
// the caller's part.
func (d *device) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/xml" {
		d.simH.ServeHTTP(w, req)
		return
	}
	now := time.Now()
	body, err := io.ReadAll(io.LimitReader(req.Body, 64<<10))
	if err != nil {
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	r := d.r
	r.commands.Add(1)
	cmd, _, derr := omproto.DecodeCommand(body)
	var c *call
	if derr == nil {
		if ref, ok := commandLeg(cmd); ok {
			if ref.Kind == omproto.KindVisitor {
				d.mu.Lock()
				c = d.calls[ref.ID]
				d.mu.Unlock()
			}
			k := legKey{d.name, ref.Kind, ref.ID}
			r.mu.Lock()
			if t, ok := r.pending[k]; ok {
				delete(r.pending, k)
				if c != nil && c.hostile {
					r.hostileLat = append(r.hostileLat, now.Sub(t))
				} else {
					r.lat = append(r.lat, now.Sub(t))
				}
			}
			r.mu.Unlock()
		}
	}
	answer := &answerRecorder{ResponseWriter: w}
	d.simH.ServeHTTP(answer, req)
	if derr == nil {
		d.caller(cmd, c, bytes.Contains(answer.body, []byte("FAILED")))
	}
}

// answerRecorder keeps what the simulator answers a command.
type answerRecorder struct {
	http.ResponseWriter
	body []byte
}

func (a *answerRecorder) Write(p []byte) (int, error) {
	a.body = append(a.body, p...)
	return a.ResponseWriter.Write(p)
}

// caller plays the caller's part after a command was carried out: a key
// for a prompt, a hang-up after a transfer, the end of the call after a
// Clear. A hostile call should end at the fallback extension (or, when
// another holds it, hung up), and an ordinary one never. refused says the
// device answered the command FAILED.
func (d *device) caller(cmd omproto.Command, c *call, refused bool) {
	r := d.r
	switch cmd := cmd.(type) {
	case omproto.Connect:
		switch {
		case cmd.From.Kind == omproto.KindMenu && cmd.To.Kind == omproto.KindOuter:
			r.live.Add(1) // a wake-up call dialled
		case c == nil:
		case cmd.To.Kind == omproto.KindMenu:
			if cmd.VoiceFile == "user_noinput" || cmd.VoiceFile == "user_invalid" {
				r.failCall(c, "prompts repeated (gather timed out)")
			}
			c.mu.Lock()
			first := !c.prompted
			c.prompted = true
			c.mu.Unlock()
			if first && r.opts.Workload == Parked {
				r.firstConnects.Add(1)
				c.releaseSlot()
			}
			if key := r.opts.Workload.callerKey(c.n, cmd.VoiceFile); key != "" {
				c.after(r.opts.Think, func() { c.sc.Press(key) })
			}
		case cmd.To.Kind == omproto.KindExt:
			ok := true
			switch {
			case c.hostile && cmd.To.ID == FallbackExt && refused:
				r.fallbackBusy.Add(1)
				c.mu.Lock()
				c.fallbackBusy = true
				c.mu.Unlock()
				return // the system hangs up
			case c.hostile && cmd.To.ID == FallbackExt:
				// The caller hangs up at once, while the fallback
				// rings: it is one extension, and the next hostile
				// call should find it free.
				r.fallback.Add(1)
				c.sc.HangUp()
				c.end(true)
				return
			case c.hostile:
				r.failCall(c, "hostile calls transferred elsewhere than the fallback")
			case cmd.To.ID == FallbackExt:
				r.failCall(c, "calls sent to the fallback")
				ok = false
			}
			c.after(r.opts.Talk, func() {
				c.sc.HangUp()
				c.end(ok)
			})
		}
	case omproto.Clear:
		switch {
		case cmd.Target.Kind == omproto.KindOuter:
			r.live.Add(-1)
			r.completed.Add(1)
			r.lastEnd.Store(time.Now().UnixNano())
		case c != nil:
			c.mu.Lock()
			busy := c.fallbackBusy
			c.mu.Unlock()
			if c.hostile && !busy {
				r.failCall(c, "hostile calls hung up, not sent to the fallback")
			}
			c.end(true)
		}
	}
}

// ---- callers ----

// place places one call from the next caller on a device, holding a slot
// (acquired by the caller of place).
func (r *run) place(d *device) error {
	c := &call{dev: d, slot: true}
	var from string
	if i := int(r.placed.Add(1)) - 1; r.opts.Hostile > 0 && isHostile(i, r.opts.Hostile) {
		c.hostile, c.n = true, int(r.hostiles.Add(1))-1
		from = hostileCaller(c.n%len(HostileFlows), c.n)
	} else {
		c.n = int(r.seq.Add(1))
		from = fmt.Sprintf("138%08d", c.n)
	}
	d.mu.Lock()
	sc, err := d.sim.PlaceCall(from, "")
	if err == nil {
		c.sc = sc
		_, c.leg = sc.Leg()
		d.calls[c.leg] = c
	}
	d.mu.Unlock()
	if err != nil {
		<-r.slots
		if c.hostile {
			r.hostiles.Add(-1)
		}
		return err
	}
	r.live.Add(1)
	if r.opts.Workload != Parked {
		c.after(r.opts.CallTimeout, func() {
			r.failCall(c, "calls timed out")
			c.sc.HangUp()
			c.end(false)
		})
	}
	return nil
}

// after runs f after delay unless the call has ended by then.
func (c *call) after(delay time.Duration, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	c.timers = append(c.timers, time.AfterFunc(delay, func() {
		c.mu.Lock()
		ended := c.ended
		c.mu.Unlock()
		if !ended {
			f()
		}
	}))
}

// end ends the call for the caller: its timers stop, its slot frees; ok
// counts an ordinary call completed.
func (c *call) end(ok bool) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	for _, t := range c.timers {
		t.Stop()
	}
	c.timers = nil
	c.mu.Unlock()
	d, r := c.dev, c.dev.r
	d.mu.Lock()
	if d.calls[c.leg] == c {
		delete(d.calls, c.leg)
	}
	d.mu.Unlock()
	c.releaseSlot()
	r.live.Add(-1)
	if ok {
		if !c.hostile {
			r.completed.Add(1)
		}
		r.lastEnd.Store(time.Now().UnixNano())
	}
}

func (c *call) releaseSlot() {
	c.mu.Lock()
	held := c.slot
	c.slot = false
	c.mu.Unlock()
	if held {
		<-c.dev.r.slots
	}
}

// placeFor places calls for d: at Rate, or as fast as slots free up, on
// the devices in turn.
func (r *run) placeFor(ctx context.Context, d time.Duration) {
	start := time.Now()
	deadline := start.Add(d)
	next := 0
	for placed := 0; ; placed++ {
		if r.opts.Rate > 0 {
			due := start.Add(time.Duration(float64(placed) / r.opts.Rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
		}
		if time.Now().After(deadline) {
			return
		}
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return
		case <-time.After(time.Until(deadline)):
			return
		}
		if err := r.place(r.devs[next]); err != nil {
			r.fail("calls not placed", 1)
		}
		next = (next + 1) % len(r.devs)
	}
}

// park places Calls calls that stay parked, measures the memory they
// hold, and hangs them up.
func (r *run) park(ctx context.Context, res *Result) {
	next := 0
	for i := 0; i < r.opts.Calls; i++ {
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if err := r.place(r.devs[next]); err != nil {
			r.fail("calls not placed", 1)
		}
		next = (next + 1) % len(r.devs)
	}
	want := int64(r.opts.Calls)
	// Every call has heard its prompt, and the reports have stopped.
	deadline := time.Now().Add(r.opts.CallTimeout)
	last, stable := r.reports.Load(), 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		n := r.reports.Load()
		if n == last && r.firstConnects.Load() >= want {
			if stable++; stable >= 4 {
				break
			}
		} else {
			stable = 0
		}
		last = n
	}
	if got := r.firstConnects.Load(); got < want {
		r.fail("calls never prompted", int(want-got))
	}
	parkedAt := time.Now().UnixNano()
	defer r.lastEnd.Store(parkedAt) // calls/s is the rate calls were parked at
	res.RSSLive = settledRSS()
	res.LiveForRSS = int(r.live.Load())
	if res.LiveForRSS > 0 && res.RSSLive > res.RSSBase {
		res.RSSPerCall = float64(res.RSSLive-res.RSSBase) / float64(res.LiveForRSS)
	}
	r.progress("%s: %d calls parked, resident %d MiB (%d MiB before)", r.sys.Name(), res.LiveForRSS, res.RSSLive>>20, res.RSSBase>>20)
	// The callers hang up; that is each parked call's scripted end.
	for _, d := range r.devs {
		d.mu.Lock()
		calls := make([]*call, 0, len(d.calls))
		for _, c := range d.calls {
			calls = append(calls, c)
		}
		d.mu.Unlock()
		for _, c := range calls {
			c.sc.HangUp()
			c.end(true)
		}
	}
}

// storm asks the system for Calls wake-up calls at once, spread over the
// devices, and waits for them to end.
func (r *run) storm(ctx context.Context) {
	for i := 0; i < r.opts.Calls; i++ {
		d := r.devs[i%len(r.devs)]
		if err := r.sys.Dial(d.name, fmt.Sprintf("139%08d", i+1)); err != nil {
			r.fail("jobs refused", 1)
		}
	}
	// Wait while calls keep ending, CallTimeout at most since the last.
	deadline, done := time.Now().Add(r.opts.CallTimeout), r.completed.Load()
	for done < int64(r.opts.Calls) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		if n := r.completed.Load(); n > done {
			done, deadline = n, time.Now().Add(r.opts.CallTimeout)
		}
	}
	if n := int64(r.opts.Calls) - r.completed.Load(); n > 0 {
		r.fail("wake-up calls not done", int(n))
	}
}

// drain waits for the calls in progress to end, then hangs up those left.
func (r *run) drain(ctx context.Context) {
	deadline := time.Now().Add(r.opts.Drain)
	for r.callersLive() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	for _, d := range r.devs {
		d.mu.Lock()
		calls := make([]*call, 0, len(d.calls))
		for _, c := range d.calls {
			calls = append(calls, c)
		}
		d.mu.Unlock()
		for _, c := range calls {
			r.failCall(c, "calls unfinished after the drain")
			c.sc.HangUp()
			c.end(false)
		}
	}
	r.hangUpDevices()
}

// hangUpDevices ends the calls still live on the devices (wake-up calls
// the system left in silence, say), counting each as an error.
func (r *run) hangUpDevices() {
	for _, d := range r.devs {
		for _, c := range d.sim.LiveCalls() {
			if c.HangUp() == nil {
				r.fail("calls left live on the device", 1)
			}
		}
	}
}

func (r *run) callersLive() int {
	n := 0
	for _, d := range r.devs {
		d.mu.Lock()
		n += len(d.calls)
		d.mu.Unlock()
	}
	return n
}

// waitReportsDelivered waits until each device has delivered the reports
// it made (the last BYEs and Cdrs), so that none meets a closed listener.
func (r *run) waitReportsDelivered(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for _, d := range r.devs {
		for time.Now().Before(deadline) {
			reps := d.sim.Reports()
			if len(reps) == 0 || reps[len(reps)-1].Result != "" {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// waitSystemIdle waits for the system to hold no call, as long as it keeps
// ending some: it gives up when timeout passes with no call ended, and
// returns how many it still holds.
func (r *run) waitSystemIdle(timeout time.Duration) int {
	last := r.sys.Live()
	deadline := time.Now().Add(timeout)
	for last > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		if n := r.sys.Live(); n < last {
			last, deadline = n, time.Now().Add(timeout)
		}
	}
	return max(last, 0)
}

// ---- sampling ----

// sampler records live calls and resident memory while the load runs.
type sampler struct {
	stopc    chan struct{}
	done     chan struct{}
	n        int
	sum      int64
	liveMax  int
	rssAtMax uint64
}

func (s *sampler) start(r *run, every time.Duration) {
	s.stopc, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
			live := int(r.live.Load())
			s.n++
			s.sum += int64(live)
			if live >= s.liveMax {
				s.liveMax, s.rssAtMax = live, RSS()
			}
		}
	}()
}

func (s *sampler) stop() {
	close(s.stopc)
	<-s.done
}

func (s *sampler) avg() float64 {
	if s.n == 0 {
		return 0
	}
	return float64(s.sum) / float64(s.n)
}
