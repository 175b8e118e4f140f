package engine_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// recorder is an engine.Observer that writes down what it is told, one
// line per call, and sums the step times.
type recorder struct {
	mu     sync.Mutex
	events []string
	steps  map[string]int
	stepD  time.Duration
}

func newRecorder() *recorder { return &recorder{steps: map[string]int{}} }

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) CallStarted(flow, direction string, recovered bool) {
	r.add("started %s %s recovered=%v", flow, direction, recovered)
}

func (r *recorder) CallEnded(flow, direction, outcome string, d time.Duration) {
	r.add("ended %s %s %s %s", flow, direction, outcome, d)
}
func (r *recorder) Report(device, kind string)      { r.add("report %s %s", device, kind) }
func (r *recorder) SandboxStop(flow, reason string) { r.add("stop %s %s", flow, reason) }
func (r *recorder) Job(event string)                { r.add("job %s", event) }
func (r *recorder) Attempt(outcome string)          { r.add("attempt %s", outcome) }
func (r *recorder) ClickEnded(typ, outcome string)  { r.add("click %s %s", typ, outcome) }

func (r *recorder) Step(flow string, d time.Duration) {
	r.mu.Lock()
	r.steps[flow]++
	r.stepD += d
	r.mu.Unlock()
}

// matching returns the events starting with prefix, in order.
func (r *recorder) matching(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) stepsOf(flow string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.steps[flow]
}

func observedRig(t *testing.T, flows map[string]string, obs engine.Observer, o rigOptions) *rig {
	t.Helper()
	edit := o.config
	o.config = func(c *engine.Config) {
		c.Observer = obs
		if edit != nil {
			edit(c)
		}
	}
	return newRig(t, flows, o)
}

// TestObserverCall follows one call through the menu to a transfer: the
// observer hears of its start and end with the outcome, each report, and
// the Lua steps.
func TestObserverCall(t *testing.T) {
	rec := newRecorder()
	r := observedRig(t, map[string]string{"main": menuFlow}, rec, rigOptions{})
	c := r.call("13800000001")
	r.advance(2 * time.Second)
	r.press(c, "1")
	r.advance(time.Second)
	r.sim.Settle()
	if err := c.HangUp(); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.router.Wait()

	if got, want := rec.matching("started"), []string{"started main in recovered=false"}; !slices.Equal(got, want) {
		t.Errorf("starts: got %q, want %q", got, want)
	}
	// The key 2 s in, and the transfer at once.
	if got, want := rec.matching("ended"), []string{"ended main in transferred 2s"}; !slices.Equal(got, want) {
		t.Errorf("ends: got %q, want %q", got, want)
	}
	reports := rec.matching("report")
	for _, want := range []string{"report om1 incoming", "report om1 dtmf"} {
		if !slices.Contains(reports, want) {
			t.Errorf("reports %q lack %q", reports, want)
		}
	}
	// Every report the simulator sent. Its BOOTUP, sent as it starts,
	// reaches the router or not depending on who is first: left out.
	sent := 0
	for _, rep := range r.sim.Reports() {
		if rep.Kind != "BOOTUP" {
			sent++
		}
	}
	reports = slices.DeleteFunc(reports, func(r string) bool { return r == "report om1 bootup" })
	if len(reports) != sent {
		t.Errorf("%d reports observed, the simulator sent %d: %q", len(reports), sent, reports)
	}
	// Loading the flow, then incoming's run to the gather and on to the
	// transfer: at least three steps.
	if n := rec.stepsOf("main"); n < 3 {
		t.Errorf("%d steps of main observed, want at least 3", n)
	}
	if stops := rec.matching("stop"); len(stops) != 0 {
		t.Errorf("sandbox stops on a well-behaved flow: %q", stops)
	}
}

// TestObserverSandboxStopAndNoRoute: a flow that loops is stopped by its
// instruction budget and its call goes to the fallback; a call no route
// takes ends with the flow "".
func TestObserverSandboxStopAndNoRoute(t *testing.T) {
	rec := newRecorder()
	loop := "local f = {}\nfunction f.incoming(call) while true do end end\nreturn f\n"
	r := observedRig(t, map[string]string{"main": menuFlow, "loop": loop}, rec, rigOptions{
		config: func(c *engine.Config) {
			c.Routes = []engine.Route{{From: "1390*", Flow: "loop"}, {From: "1380*", Flow: "main"}}
			c.Limits.StepInstructions = 100000
		},
	})
	c := r.call("13900000001")
	if err := c.HangUp(); err != nil { // ext 200, the fallback, is free again
		t.Fatal(err)
	}
	r.sim.Settle()
	r.call("15500000001")
	r.router.Wait()
	if got, want := rec.matching("stop"), []string{"stop loop instructions"}; !slices.Equal(got, want) {
		t.Errorf("stops: got %q, want %q", got, want)
	}
	ends := rec.matching("ended")
	slices.Sort(ends)
	if len(ends) != 2 || !strings.HasPrefix(ends[0], "ended  in fallback ") || !strings.HasPrefix(ends[1], "ended loop in fallback ") {
		t.Errorf("ends: %q; want the loop's and the unrouted call's, both to the fallback", ends)
	}
	starts := rec.matching("started")
	slices.Sort(starts)
	if want := []string{"started  in recovered=false", "started loop in recovered=false"}; !slices.Equal(starts, want) {
		t.Errorf("starts: got %q, want %q", starts, want)
	}
}

// TestObserverJobs: an outbound job answered at the second attempt is
// scheduled, retried once and done; the dialer's stats show it running
// while the first attempt rings.
func TestObserverJobs(t *testing.T) {
	rec := newRecorder()
	r := observedRig(t, map[string]string{"main": wakeFlow}, rec, rigOptions{
		sim: func(c *omsim.Config) {
			c.Numbers = map[string]omsim.Policy{
				"13800000001": {Answer: omsim.AnswerAfter, Delay: 3 * time.Second, Keys: "2", KeysDelay: time.Second},
			}
		},
	})
	retry := engine.RetryPolicy{Attempts: 2, Delay: engine.Duration(time.Minute)}
	j, err := r.router.Dial(engine.DialRequest{To: "13800000001", Flow: "main", Retry: retry})
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	if st := r.router.DialStats(); st.Running != 1 || st.Scheduled != 0 {
		t.Errorf("while the first attempt rings: %+v, want 1 running", st)
	}
	r.run(20*time.Second, time.Second)
	if st := r.router.DialStats(); st.Running != 0 || st.Scheduled != 1 || st.Due != 0 {
		t.Errorf("waiting for the retry: %+v, want 1 scheduled, not due", st)
	}
	r.run(2*time.Minute, time.Second)
	if got := r.job(j.ID); got.State != engine.JobFailed {
		t.Fatalf("job %s: %s (%s)", j.ID, got.State, outcomes(got))
	}
	r.router.Wait()
	want := []string{"job scheduled", "job retried", "job failed"}
	if got := rec.matching("job"); !slices.Equal(got, want) {
		t.Errorf("job events: got %q, want %q", got, want)
	}
	if got, want := rec.matching("attempt"), []string{"attempt retry", "attempt retry"}; !slices.Equal(got, want) {
		t.Errorf("attempts: got %q, want %q", got, want)
	}
	for _, e := range rec.matching("ended") {
		if !strings.HasPrefix(e, "ended main out hangup ") && !strings.HasPrefix(e, "ended main out caller_hangup ") {
			t.Errorf("outbound call end: %q", e)
		}
	}
	if n := len(rec.matching("started main out")); n != 2 {
		t.Errorf("%d outbound calls started, want 2", n)
	}
}

// countingObserver is the cheapest Observer that does something: atomic
// counters. BenchmarkEndToEndObserved measures what calling it costs.
type countingObserver struct{ calls, reports, steps, other atomic.Int64 }

func (o *countingObserver) CallStarted(string, string, bool)                { o.calls.Add(1) }
func (o *countingObserver) CallEnded(string, string, string, time.Duration) { o.calls.Add(1) }
func (o *countingObserver) Report(string, string)                           { o.reports.Add(1) }
func (o *countingObserver) Step(string, time.Duration)                      { o.steps.Add(1) }
func (o *countingObserver) SandboxStop(string, string)                      { o.other.Add(1) }
func (o *countingObserver) Job(string)                                      { o.other.Add(1) }
func (o *countingObserver) Attempt(string)                                  { o.other.Add(1) }
func (o *countingObserver) ClickEnded(string, string)                       { o.other.Add(1) }

// BenchmarkEndToEndObserved is BenchmarkEndToEnd with an Observer set:
// the difference is the engine's cost of telling it.
func BenchmarkEndToEndObserved(b *testing.B) {
	obs := &countingObserver{}
	r := newRigTB(b, map[string]string{"main": menuFlow}, rigOptions{config: func(c *engine.Config) { c.Observer = obs }})
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		c, err := r.sim.PlaceCall("1380000"+strconv.Itoa(i), "60001")
		if err != nil {
			b.Fatal(err)
		}
		r.sim.Settle()
		if err := c.Press("1"); err != nil {
			b.Fatal(err)
		}
		r.sim.Settle()
		r.clk.Advance(time.Second)
		if err := c.HangUp(); err != nil {
			b.Fatal(err)
		}
		r.sim.Settle()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	if obs.reports.Load() == 0 || obs.steps.Load() == 0 {
		b.Fatal("the observer was told nothing")
	}
}
