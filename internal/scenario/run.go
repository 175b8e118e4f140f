package scenario

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/internal/ompbx"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// Options tune a run of a suite.
type Options struct {
	// Parallel is how many scenarios run at once (default GOMAXPROCS).
	// Each has its own clock, simulator, engine and state file, so they
	// do not see each other.
	Parallel int
	// Match, when set, picks the scenarios to run.
	Match func(*Scenario) bool
	// Trace keeps the simulated OM's own account of each scenario — every
	// command it received, report it sent, prompt it played — in
	// Result.Trace.
	Trace bool
}

// Result is what became of one scenario.
type Result struct {
	Scenario *Scenario
	// Failures are the expectations that did not hold, and anything else
	// that went wrong (a step that never happened, a scenario that did not
	// finish within its limit), each one line.
	Failures []string
	// Err is set when the scenario could not be run at all.
	Err error
	// Parties are the callers and callees, in order of appearance, with
	// what each heard and did.
	Parties []*Party
	// Jobs are the outbound jobs made, oldest first.
	Jobs []engine.Job
	// Other holds log lines tied to no call (a job's failed handler …).
	Other []Event
	// Virtual is how much virtual time the scenario took; Elapsed how
	// much real time.
	Virtual, Elapsed time.Duration
	// Trace is the simulated OM's log, one line per thing it did, when
	// Options.Trace is set.
	Trace []string
}

// Passed reports whether the scenario ran and every expectation held.
func (r *Result) Passed() bool { return r.Err == nil && len(r.Failures) == 0 }

// Party is one outside party of a scenario: a caller, or a callee of an
// outbound call (one Party per call placed to the number).
type Party struct {
	// Label names it: "call 1 (13800000001 → 60001)", "callee 13800000002, attempt 2".
	Label string
	// Events are what it heard and did, and what ivrd did with its call,
	// in order.
	Events []Event
	// Outcome and Target are the call's end as ivrd recorded it ("" when
	// ivrd has no record of the call).
	Outcome, Target string
	// Path is ivrd's IVR path of the call.
	Path []engine.PathEntry
}

// Event is one line of a party's transcript.
type Event struct {
	At   time.Duration // since the scenario's start
	Verb string        // calls, hears, presses, hangs up, rings, answers, talks, ivrd, log, ended …
	What string
	seq  float64
	hear int // for hears: the index in the call's heard list
}

// Run runs the suite's scenarios and returns their results in order.
func (s *Suite) Run(ctx context.Context, opt Options) []*Result {
	var picked []*Scenario
	for _, sc := range s.Scenarios {
		if opt.Match == nil || opt.Match(sc) {
			picked = append(picked, sc)
		}
	}
	n := opt.Parallel
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	out := make([]*Result, len(picked))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, sc := range picked {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = s.run(ctx, sc, opt.Trace)
		}()
	}
	wg.Wait()
	return out
}

// RunScenario runs one scenario of the suite on a simulator, engine and
// state file of its own.
func (s *Suite) RunScenario(ctx context.Context, sc *Scenario) *Result {
	return s.run(ctx, sc, false)
}

func (s *Suite) run(ctx context.Context, sc *Scenario, trace bool) *Result {
	began := time.Now()
	res := &Result{Scenario: sc}
	r, err := newRig(ctx, s, sc, trace)
	if err != nil {
		res.Err = err
		return res
	}
	r.run(ctx)
	r.collect(res)
	r.close()
	res.Elapsed = time.Since(began)
	return res
}

// rig is one scenario's world: the simulator reporting over loopback HTTP
// to a Receiver feeding the engine's Router, whose commands go back to the
// simulator through an omproto.Client; a bbolt state file in a temporary
// folder; and a virtual clock under all of it.
type rig struct {
	sc     *Scenario
	clk    *clock.Virtual
	sim    *omsim.Sim
	router *engine.Router
	store  *engine.BoltStore
	app    *http.Server
	tmp    string
	logs   *logSink
	start  time.Time

	seq      atomic.Int64 // orders transcript events and log lines
	parties  []*party
	byCall   map[string]*party // by simulator call id
	attempts map[string]int    // calls seen to each callee number
	next     int               // the next scripted call to place (calls sorted by at)
	calls    []*callScript
	failures []string
	traceMu  sync.Mutex
	trace    []string
}

func newRig(ctx context.Context, suite *Suite, sc *Scenario, trace bool) (_ *rig, err error) {
	r := &rig{sc: sc, clk: clock.NewVirtual(sc.start), start: sc.start, byCall: map[string]*party{}, attempts: map[string]int{}}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	r.logs = &logSink{clk: r.clk, seq: &r.seq, start: sc.start}
	log := hclog.NewInterceptLogger(&hclog.LoggerOptions{Name: "ivrd", Output: io.Discard, Level: hclog.Info})
	log.RegisterSink(r.logs)

	var router atomic.Pointer[engine.Router]
	rv := &omproto.Receiver{Handler: func(rep *omproto.Report) {
		if rt := router.Load(); rt != nil {
			rt.Deliver(ompbx.Event(DeviceName, rep))
		}
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("report listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/om/"+DeviceName, rv)
	r.app = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.app.Serve(ln) }()

	cfg := sc.sim
	cfg.ReportURL = "http://" + ln.Addr().String() + "/om/" + DeviceName
	cfg.VoiceFiles = mergeMap(cfg.VoiceFiles, nil)
	cfg.Numbers = mergeMap(cfg.Numbers, nil)
	if cfg.Numbers == nil {
		cfg.Numbers = map[string]omsim.Policy{}
	}
	for _, n := range sc.numbers {
		cfg.Numbers[n] = sc.callees[n][0].policy
	}
	if r.sim, err = omsim.New(cfg, r.clk); err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	if trace {
		r.sim.SetLogf(func(format string, args ...any) {
			r.traceMu.Lock()
			r.trace = append(r.trace, fmt.Sprintf("%8s  %s", clockText(r.since()), fmt.Sprintf(format, args...)))
			r.traceMu.Unlock()
		})
	}
	if err := r.sim.Start("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	client, err := omproto.NewClient(r.sim.URL())
	if err != nil {
		return nil, err
	}
	dev := sc.device
	dev.Name, dev.PBX = DeviceName, &ompbx.PBX{Client: client}

	if r.tmp, err = os.MkdirTemp("", "ivrd-test-"); err != nil {
		return nil, err
	}
	if r.store, err = engine.OpenBolt(filepath.Join(r.tmp, "state.db"), engine.BoltOptions{NoSync: true}); err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	for _, k := range sortedKeys(sc.store) {
		if err := r.store.Put(sc.flow, k, sc.store[k]); err != nil {
			return nil, fmt.Errorf("store.%s: %w", k, err)
		}
	}
	rt, err := engine.NewRouter(engine.Config{
		Devices: []*engine.Device{&dev},
		Routes:  sc.routes,
		Flows:   suite.Flows,
		Clock:   r.clk,
		Logger:  log,
		Store:   r.store,
		Dial:    sc.dial,
	})
	if err != nil {
		return nil, err
	}
	r.router = rt
	rt.Start(ctx)
	router.Store(rt)
	r.sim.Settle()

	r.calls = append([]*callScript(nil), sc.calls...)
	sort.SliceStable(r.calls, func(i, j int) bool { return r.calls[i].at < r.calls[j].at })
	return r, nil
}

func (r *rig) close() {
	if r.router != nil {
		r.router.Close()
	}
	if r.sim != nil {
		r.sim.Close()
	}
	if r.app != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = r.app.Shutdown(ctx)
		cancel()
	}
	if r.store != nil {
		r.store.Close()
	}
	if r.tmp != "" {
		os.RemoveAll(r.tmp)
	}
}

func (r *rig) fail(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *rig) now() time.Time { return r.clk.Now() }

func (r *rig) since() time.Duration { return r.clk.Now().Sub(r.start) }

// maxRounds bounds the rounds of a scenario (settle, act, advance), in case
// something re-arms a timer for the same moment without end.
const maxRounds = 1_000_000

// run plays the scenario: it asks for the dials, then repeatedly lets the
// system settle, lets the parties act, and moves the clock to the next
// moment something is due, until nothing more is to happen.
func (r *rig) run(ctx context.Context) {
	for i, req := range r.sc.dials {
		if req.ID == "" {
			req.ID = fmt.Sprintf("scenario-dial-%d", i+1)
		}
		if _, err := r.router.Dial(req); err != nil {
			r.fail("dial[%d]: the engine refused it: %v", i, err)
		}
	}
	for round := 0; ; round++ {
		if ctx.Err() != nil {
			r.fail("interrupted: %v", ctx.Err())
			return
		}
		if round == maxRounds {
			r.fail("the scenario did not settle after %d rounds at %s", maxRounds, clockText(r.since()))
			return
		}
		r.sim.Settle()
		if r.act() {
			continue
		}
		if r.finished() {
			return
		}
		next, ok := r.nextMoment()
		if stop := r.sc.stop; stop > 0 && (!ok || next.Sub(r.start) > stop) {
			// The scenario ends here, whatever is still going.
			r.clk.AdvanceTo(r.start.Add(stop))
			r.sim.Settle()
			r.observe()
			return
		}
		if !ok {
			return // nothing more can happen; what is missing is reported
		}
		if next.Sub(r.start) > r.sc.limit {
			r.fail("still going after %s of virtual time, the scenario's limit: %s", r.sc.limit, r.pending())
			return
		}
		r.clk.AdvanceTo(next)
	}
}

// act observes the parties, places the calls that are due and runs the
// steps that are due. It reports whether anything was done (then the system
// settles again before anything else).
func (r *rig) act() bool {
	r.observe()
	acted := false
	for r.next < len(r.calls) && r.calls[r.next].at <= r.since() {
		cs := r.calls[r.next]
		r.next++
		r.place(cs)
		acted = true
	}
	for _, p := range r.parties {
		if p.act() {
			acted = true
		}
	}
	return acted
}

// finished reports whether the scenario is over: every call placed, no
// call in ivrd, every job final (its failed handler run), and no step
// waiting for a time of its own.
func (r *rig) finished() bool {
	if r.next < len(r.calls) || r.router.Live() > 0 {
		return false
	}
	jobs, _ := r.router.Jobs()
	for _, j := range jobs {
		if !j.Final() || (j.State == engine.JobFailed && !j.Notified) {
			return false
		}
	}
	for _, p := range r.parties {
		// A call put through to an extension is followed until it is
		// answered (or refused), so the transcript shows where it went.
		if p.waiting() || (p.state == "ringing" && p.connected != "") {
			return false
		}
	}
	return true
}

// nextMoment is the earliest time something is due: a timer, a scripted
// call, a step's wait.
func (r *rig) nextMoment() (time.Time, bool) {
	var next time.Time
	ok := false
	consider := func(t time.Time) {
		if !ok || t.Before(next) {
			next, ok = t, true
		}
	}
	if t, has := r.clk.NextDeadline(); has {
		consider(t)
	}
	if r.next < len(r.calls) {
		consider(r.start.Add(r.calls[r.next].at))
	}
	for _, p := range r.parties {
		if p.waiting() {
			consider(p.due)
		}
	}
	if ok && next.Before(r.now()) {
		next = r.now()
	}
	return next, ok
}

// pending says what kept a scenario from finishing.
func (r *rig) pending() string {
	var what []string
	if n := r.router.Live(); n > 0 {
		what = append(what, fmt.Sprintf("%d call(s) still in ivrd", n))
	}
	jobs, _ := r.router.Jobs()
	for _, j := range jobs {
		if !j.Final() {
			what = append(what, fmt.Sprintf("job %s is %s (due %s)", j.ID, j.State, clockText(j.Due.Sub(r.start))))
		}
	}
	for _, p := range r.parties {
		if p.waiting() {
			what = append(what, fmt.Sprintf("%s waits to %s", p.label, p.sc.steps[p.step]))
		}
	}
	if len(what) == 0 {
		return "timers keep firing"
	}
	return joinList(what)
}

// place places a scripted incoming call.
func (r *rig) place(cs *callScript) {
	n := 1
	for _, c := range r.sc.calls {
		if c == cs {
			break
		}
		n++
	}
	p := &party{r: r, label: fmt.Sprintf("call %d (%s → %s)", n, cs.from, cs.to), sc: &cs.script, kind: "call"}
	c, err := r.sim.PlaceCall(cs.from, cs.to)
	if err != nil {
		r.fail("%s: the simulator would not place it: %v", p.label, err)
		return
	}
	p.call = c
	r.byCall[c.ID()] = p
	r.parties = append(r.parties, p)
	p.add("calls", cs.to)
	p.active, p.base = true, r.now()
}

// observe brings every party up to date with the simulator: new outbound
// calls become callee parties; what each party heard, and how its call
// stands, become transcript events.
func (r *rig) observe() {
	for _, c := range r.sim.Calls() {
		if _, ok := r.byCall[c.ID()]; ok {
			continue
		}
		in := c.Info()
		if in.Direction != "out" {
			continue
		}
		r.attempts[in.To]++
		k := r.attempts[in.To]
		p := &party{r: r, call: c, kind: "callee", sc: &script{},
			label: fmt.Sprintf("callee %s, attempt %d, dialled %s", in.To, k, r.now().In(r.start.Location()).Format("2006-01-02 15:04:05 -0700"))}
		if scripts := r.sc.callees[in.To]; len(scripts) > 0 {
			i := min(k, len(scripts)) - 1
			p.sc, p.callee, p.calleeIdx = &scripts[i].script, scripts[i], i
			// The device reads a number's policy when it dials: set the
			// next attempt's now.
			next := scripts[min(k, len(scripts)-1)]
			if err := r.sim.SetNumberPolicy(in.To, next.policy); err != nil {
				r.fail("%s: %v", p.label, err)
			}
		}
		r.byCall[c.ID()] = p
		r.parties = append(r.parties, p)
	}
	for _, p := range r.parties {
		p.observe()
	}
}

// collect fills the result: transcripts with ivrd's side merged in, the
// jobs, and every expectation checked.
func (r *rig) collect(res *Result) {
	r.observe()
	res.Virtual = r.since()
	hist, err := r.store.ListHistory(0)
	if err != nil {
		r.fail("reading ivrd's history: %v", err)
	}
	byOMCall := map[string]engine.HistoryEntry{}
	for _, h := range hist {
		byOMCall[h.CallID] = h
	}
	for _, p := range r.parties {
		if h, ok := byOMCall[p.callID]; ok && p.callID != "" {
			p.hist = &h
		}
	}
	jobs, err := r.router.Jobs()
	if err != nil {
		r.fail("reading the jobs: %v", err)
	}
	sort.SliceStable(jobs, func(i, j int) bool {
		if !jobs[i].Created.Equal(jobs[j].Created) {
			return jobs[i].Created.Before(jobs[j].Created)
		}
		return jobs[i].ID < jobs[j].ID
	})
	res.Jobs = jobs

	r.check(jobs)
	res.Failures = r.failures
	r.traceMu.Lock()
	res.Trace = append([]string(nil), r.trace...)
	r.traceMu.Unlock()
	res.Parties, res.Other = r.transcripts()
}
