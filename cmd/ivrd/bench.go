package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/loadgen"
)

// BenchCommand is "ivrd bench": a load test of the engine against simulated
// OMs over loopback, beside a bare responder that makes the same exchanges
// (the ceiling).
type BenchCommand struct {
	main *Main
}

// Run parses the flags, runs the workload against ivrd and then against
// the ceiling, and prints the table. It fails when either run counted an
// error.
func (c *BenchCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ivrd bench", flag.ContinueOnError)
	fs.SetOutput(c.main.Stderr)
	workload := fs.String("workload", string(loadgen.Survey), "survey, menu, wakeup (an outbound storm) or parked")
	devices := fs.Int("devices", loadgen.DefaultDevices, "simulated OMs placing the calls")
	rate := fs.Float64("rate", 0, "calls placed per second over all devices; 0 places them as fast as -concurrency allows")
	concurrency := fs.Int("concurrency", loadgen.DefaultConcurrency, "calls in progress at most (parked: calls being set up at once; wakeup: live outbound calls)")
	duration := fs.Duration("duration", loadgen.DefaultDuration, "how long calls are placed (survey, menu)")
	calls := fs.Int("calls", 0, "calls to park (parked, default 1000) or wake-up jobs in the storm (wakeup, default 500)")
	prompt := fs.Duration("prompt", loadgen.DefaultPrompt, "length of every voice file but silence")
	instant := fs.Bool("instant", false, "voice files play in no time")
	think := fs.Duration("think", loadgen.DefaultThink, "a caller's delay from a prompt's start to its key")
	talk := fs.Duration("talk", loadgen.DefaultTalk, "a caller's delay from a transfer to hanging up")
	dialRate := fs.Float64("dial-rate", 1000, "wakeup: calls dialled per second and device")
	noSync := fs.Bool("nosync", false, "keep the state file on tmpfs (/dev/shm), where the journal's fsync costs nothing")
	dir := fs.String("dir", "", "folder for the state file (default: the system's temporary folder, /dev/shm with -nosync)")
	hostile := fs.Int("hostile", 0, "calls in a hundred sent to hostile flows that the sandbox stops (survey, menu); the table's figures are then the\nordinary calls', and a clean run of the same workload follows for comparison")
	junkRate := fs.Float64("junk-rate", 0, "bad reports per second sent while calls are placed (survey, menu, wakeup): oversized, malformed, unsigned,\nstale-signed and from a source outside the allow list, in turn; the devices then sign their reports and ivrd\nadmits only 127.0.0.1, and a clean run (signed, no bad reports) follows for comparison")
	ceiling := fs.Bool("ceiling", true, "also run the bare responder and print ivrd's ratio to it; with -hostile or -junk-rate it runs the clean\nworkload (it has no sandbox to stop a flow and no log to write) and is compared with ivrd's clean run")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the ivrd run (with -hostile or -junk-rate, the run with them) to this file")
	traceFile := fs.String("trace", "", "write an execution trace of the ivrd run (as -cpuprofile) to this file (go tool trace; keep -duration short)")
	verbose := fs.Bool("v", false, "print progress and ivrd's warnings as they happen")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ivrd bench [flags]\n\n"+
			"Runs ivrd in-process against simulated OMs over loopback with a workload of\n"+
			"callers, then the same workload against a bare responder that makes the same\n"+
			"command exchanges with no engine, Lua or store (the ceiling), and prints\n"+
			"calls/s, reports/s, commands/s, report-to-command latency, live calls,\n"+
			"resident memory per live call and errors for both. The journal is synced\n"+
			"(fsync) unless -nosync.\n\n"+
			"With -hostile N, N calls in a hundred go to hostile flows (an endless loop,\n"+
			"endless recursion, a memory hog, a string bomb, call.vars past their cap) that\n"+
			"the sandbox, with the default [limits], must stop and hand to the fallback;\n"+
			"with -junk-rate R, R bad reports a second arrive beside the devices' own, each\n"+
			"to be refused with its status (the wrong-source ones come from 127.0.0.2, which\n"+
			"Linux's loopback answers to).\n"+
			"Either way ivrd runs twice, clean and with them, and the bench prints the\n"+
			"ordinary calls' figures of both, what became of the hostile calls and of the\n"+
			"bad reports; it fails when an ordinary call, a hostile call or a bad report\n"+
			"did not end as it should.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	w, err := loadgen.ParseWorkload(*workload)
	if err != nil {
		return fmt.Errorf("bench: -workload: %w", err)
	}
	switch {
	case *devices < 1:
		return fmt.Errorf("bench: -devices: %d is less than 1", *devices)
	case *rate < 0:
		return fmt.Errorf("bench: -rate: %v is negative", *rate)
	case *concurrency < 1:
		return fmt.Errorf("bench: -concurrency: %d is less than 1", *concurrency)
	case *duration <= 0:
		return fmt.Errorf("bench: -duration: %v is not positive", *duration)
	case *calls < 0:
		return fmt.Errorf("bench: -calls: %d is negative", *calls)
	case *dialRate <= 0:
		return fmt.Errorf("bench: -dial-rate: %v is not positive", *dialRate)
	case *hostile < 0 || *hostile > 100:
		return fmt.Errorf("bench: -hostile: %d calls in a hundred is not within 0–100", *hostile)
	case *hostile > 0 && w != loadgen.Survey && w != loadgen.Menu:
		return fmt.Errorf("bench: -hostile: the %s workload places no inbound call of its own to send to a hostile flow; use survey or menu", w)
	case *junkRate < 0:
		return fmt.Errorf("bench: -junk-rate: %v is negative", *junkRate)
	case *junkRate > 0 && w == loadgen.Parked:
		return fmt.Errorf("bench: -junk-rate: the parked workload measures memory, which the bad reports' garbage would blur; use survey, menu or wakeup")
	}
	stateParent := *dir
	if stateParent == "" {
		stateParent = os.TempDir()
		if *noSync {
			stateParent = "/dev/shm"
		}
	}
	if *noSync && !loadgen.InMemoryFS(stateParent) {
		return fmt.Errorf("bench: -nosync: %s is not a tmpfs; give one with -dir", stateParent)
	}
	work, err := os.MkdirTemp(stateParent, "ivrd-bench-")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(work)

	limits := loadgen.DialLimits{MaxConcurrent: *concurrency, PerSecond: *dialRate}
	opts := loadgen.Options{
		Workload: w, Devices: *devices, Rate: *rate, Concurrency: *concurrency, Duration: *duration,
		Calls: *calls, Prompt: *prompt, Instant: *instant, Think: *think, Talk: *talk, Dial: limits,
		Hostile: *hostile, JunkRate: *junkRate,
	}
	var progress io.Writer
	if *verbose {
		progress = c.main.Stderr
	}
	opts.Progress = progress
	// clean is the same workload without hostile calls or bad reports,
	// signed as the loaded run's reports are: what the loaded run is
	// compared with, and what the ceiling runs.
	clean := opts
	clean.Hostile, clean.JunkRate, clean.Guarded = 0, 0, *junkRate > 0
	loaded := *hostile > 0 || *junkRate > 0
	out := c.main.Stdout
	// As ivrd serve does; set here so the ceiling runs with it too.
	spareProc()
	load := loadAverage()
	fmt.Fprintf(out, "ivrd bench: %s\n", describeBench(opts, stateParent, *noSync))
	fmt.Fprintf(out, "machine: %d CPUs, GOMAXPROCS %d, load average %s at the start\n\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), load)

	newIvrd := func(sub string) *benchIvrd {
		return &benchIvrd{dir: filepath.Join(work, sub), limits: limits, logs: &warnCounter{echo: progress}}
	}
	// The ceiling runs first, on a fresh process, so that what the ivrd
	// run leaves behind does not weigh on its memory figure; then ivrd's
	// clean run, when there is a loaded one to compare with it.
	var bare, plain loadgen.Result
	if *ceiling {
		if bare, err = loadgen.Run(ctx, &loadgen.Ceiling{Limits: limits}, clean); err != nil {
			return fmt.Errorf("bench: ceiling: %w", err)
		}
	}
	var plainSys *benchIvrd
	if loaded {
		plainSys = newIvrd("clean")
		if plain, err = loadgen.Run(ctx, plainSys, clean); err != nil {
			return fmt.Errorf("bench: ivrd, clean: %w", err)
		}
	}
	sys := newIvrd("ivrd")
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: -cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: -cpuprofile: %w", err)
		}
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return fmt.Errorf("bench: -trace: %w", err)
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return fmt.Errorf("bench: -trace: %w", err)
		}
	}
	mine, err := loadgen.Run(ctx, sys, opts)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if *traceFile != "" {
		trace.Stop()
	}
	if err != nil {
		return fmt.Errorf("bench: ivrd: %w", err)
	}
	results := []loadgen.Result{mine}
	logs := []*warnCounter{sys.logs}
	if loaded {
		results = append(results, plain)
		logs = append(logs, plainSys.logs)
	}
	if *ceiling {
		results = append(results, bare)
	}
	printBench(out, results)
	for i, l := range logs {
		if n := l.count.Load(); n > 0 {
			fmt.Fprintf(out, "%s logged %d warnings or errors (%s); the first: %s\n", rowName(results[i]), n, l.summary(), l.firstLine())
		}
	}
	var failed []string
	for _, r := range results {
		if n := r.ErrorCount(); n > 0 {
			failed = append(failed, fmt.Sprintf("%s: %d errors (%s)", rowName(r), n, r.ErrorSummary()))
		}
		if n := r.Hostile.ErrorCount(); n > 0 {
			failed = append(failed, fmt.Sprintf("%s: %d hostile calls not ended at the fallback (%s)", rowName(r), n, r.Hostile.ErrorSummary()))
		}
		if n := r.Junk.Unexpected(); n > 0 {
			failed = append(failed, fmt.Sprintf("%s: %d bad reports not answered with their status", rowName(r), n))
		}
	}
	if len(failed) > 0 {
		return errors.New("bench: " + strings.Join(failed, "; "))
	}
	return nil
}

// describeBench is the table's heading line: what ran.
func describeBench(o loadgen.Options, stateDir string, noSync bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "workload %s, %d simulated OM", o.Workload, o.Devices)
	if o.Devices > 1 {
		b.WriteString("s")
	}
	switch o.Workload {
	case loadgen.Parked:
		fmt.Fprintf(&b, ", %d calls parked (%d set up at once)", orDefault(o.Calls, loadgen.DefaultParkedCalls), o.Concurrency)
	case loadgen.Wakeup:
		fmt.Fprintf(&b, ", a storm of %d wake-up calls (%d live at most, %.0f dialled/s per OM)", orDefault(o.Calls, loadgen.DefaultWakeupCalls), o.Concurrency, o.Dial.PerSecond)
	default:
		if o.Rate > 0 {
			fmt.Fprintf(&b, ", %.0f calls/s for %s (%d live at most)", o.Rate, o.Duration, o.Concurrency)
		} else {
			fmt.Fprintf(&b, ", as fast as %d live calls go for %s", o.Concurrency, o.Duration)
		}
	}
	if o.Hostile > 0 {
		fmt.Fprintf(&b, ", %d calls in 100 to hostile flows", o.Hostile)
	}
	if o.JunkRate > 0 {
		fmt.Fprintf(&b, ", %.0f bad reports/s, reports signed", o.JunkRate)
	}
	if o.Instant {
		b.WriteString(", instant voice files")
	} else {
		fmt.Fprintf(&b, ", voice files of %s", o.Prompt)
	}
	sync := "synced"
	if noSync {
		sync = "not synced (tmpfs)"
	} else if loadgen.InMemoryFS(stateDir) {
		sync = "synced, but on tmpfs, where fsync costs nothing"
	}
	fmt.Fprintf(&b, ", journal %s in %s", sync, stateDir)
	return b.String()
}

func orDefault(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// printBench prints the results table and its footnotes. results are
// ivrd's run, ivrd's clean run when the first had hostile calls or bad
// reports, and the ceiling's when it ran.
func printBench(w io.Writer, results []loadgen.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\tcalls\tcalls/s\treports/s\tcommands/s\tp50\tp99\tp99.9\tlive avg/max\tRSS/live call\terrors\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.0f\t%.0f\t%s\t%s\t%s\t%.1f/%d\t%s\t%d\t\n",
			rowName(r), r.Calls, r.CallsPerSecond(), r.ReportsPerSecond(), r.CommandsPerSecond(),
			ms(r.Latency.P50), ms(r.Latency.P99), ms(r.Latency.P999),
			r.LiveAvg, r.LiveMax, kib(r.RSSPerCall), r.ErrorCount())
	}
	tw.Flush()
	fmt.Fprintln(w)
	mine := results[0]
	clean, plain, bare := mine, false, (*loadgen.Result)(nil)
	for i := range results[1:] {
		if r := &results[i+1]; r.System == "ceiling" {
			bare = r
		} else {
			clean, plain = *r, true
		}
	}
	if bare != nil && bare.CallsPerSecond() > 0 {
		fmt.Fprintf(w, "%s/ceiling: %.2f of the calls/s, %.2f of the commands/s", rowName(clean), clean.CallsPerSecond()/bare.CallsPerSecond(),
			ratio(clean.CommandsPerSecond(), bare.CommandsPerSecond()))
		if clean.Workload == loadgen.Parked {
			fmt.Fprintf(w, "; ivrd's own resident memory per parked call ≈ %s (ivrd's row less the ceiling's)",
				kib(clean.RSSPerCall-bare.RSSPerCall))
		}
		fmt.Fprintln(w)
	}
	if plain {
		fmt.Fprintf(w, "%s/%s, the ordinary calls: p99 %.2f (%s against %s), p50 %.2f (%s against %s), calls/s %.2f (%.1f against %.1f)\n",
			rowName(mine), rowName(clean),
			ratio(float64(mine.Latency.P99), float64(clean.Latency.P99)), ms(mine.Latency.P99), ms(clean.Latency.P99),
			ratio(float64(mine.Latency.P50), float64(clean.Latency.P50)), ms(mine.Latency.P50), ms(clean.Latency.P50),
			ratio(mine.CallsPerSecond(), clean.CallsPerSecond()), mine.CallsPerSecond(), clean.CallsPerSecond())
	}
	if mine.Options.Hostile > 0 {
		printHostile(w, mine)
	}
	if mine.Options.JunkRate > 0 {
		printJunk(w, mine.Junk)
	}
	for _, r := range results {
		if s := r.ErrorSummary(); s != "" {
			fmt.Fprintf(w, "%s errors: %s\n", rowName(r), s)
		}
		if s := r.Hostile.ErrorSummary(); s != "" {
			fmt.Fprintf(w, "%s hostile calls' errors: %s\n", rowName(r), s)
		}
	}
	fmt.Fprintf(w, "\ncalls: calls that ran their script to the end; /s over the time from the first call placed to the last ended")
	if mine.Workload == loadgen.Parked {
		fmt.Fprintf(w, "\n  (parked: to the last call parked)")
	}
	fmt.Fprintf(w, ".\n"+
		"latency: from the moment the system has read a report off its socket to the moment the\n"+
		"  simulated OM receives the next command for the same call leg (%d samples for %s).\n", mine.Latency.N, rowName(mine))
	if mine.Options.Hostile > 0 {
		fmt.Fprintf(w, "hostile: the %s row's calls, calls/s, latency and errors are the ordinary calls' (the\n"+
			"  hostile calls have their own line); reports/s, commands/s and live calls count both.\n", rowName(mine))
	}
	if mine.Options.JunkRate > 0 {
		fmt.Fprintf(w, "junk: the bad reports are not in reports/s or latency; every run's devices signed their reports.\n")
	}
	if mine.Workload == loadgen.Parked {
		fmt.Fprintf(w, "RSS/live call: (VmRSS with every call parked − VmRSS before the first call) / calls parked,\n"+
			"  both read after returning free memory to the OS; it includes the simulator's share.\n")
	} else {
		fmt.Fprintf(w, "RSS/live call: (VmRSS at the sample with the most calls live − VmRSS before the first call)\n"+
			"  / those calls, when at least 100; garbage not yet collected and the simulator's share\n"+
			"  included (-workload parked gives a careful figure).\n")
	}
}

// rowName names a run in the table: the system, and what it carried
// beside the workload.
func rowName(r loadgen.Result) string {
	name := r.System
	if r.Options.Hostile > 0 {
		name += "+hostile"
	}
	if r.Options.JunkRate > 0 {
		name += "+junk"
	}
	return name
}

// printHostile prints what became of the hostile calls of a run.
func printHostile(w io.Writer, r loadgen.Result) {
	h := r.Hostile
	fmt.Fprintf(w, "hostile calls: %d placed (%d in 100), %d transferred to the fallback (ext %s), %d hung up finding it busy with another",
		h.Placed, r.Options.Hostile, h.Fallback, loadgen.FallbackExt, h.FallbackBusy)
	if h.Outcomes != nil {
		fmt.Fprintf(w, "; %s ended flow failures as %s", r.System, orNone(h.OutcomeSummary()))
		fmt.Fprintf(w, ", its sandbox stopped steps on %s", orNone(h.StopSummary()))
	}
	fmt.Fprintf(w, "; their latency p50 %s, p99 %s, p99.9 %s (%d samples)\n", ms(h.Latency.P50), ms(h.Latency.P99), ms(h.Latency.P999), h.Latency.N)
}

// printJunk prints what the bad reports of a run got, a line per kind.
func printJunk(w io.Writer, j loadgen.JunkResult) {
	fmt.Fprintf(w, "bad reports: %d sent in %.1fs, %.1f/s (%.0f/s asked", j.Sent(), j.Elapsed.Seconds(), j.Achieved(), j.Rate)
	if j.Skipped > 0 {
		fmt.Fprintf(w, "; %d not sent, too many awaiting an answer", j.Skipped)
	}
	fmt.Fprintln(w, ")")
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, c := range j.Kinds {
		var other []string
		statuses := make([]int, 0, len(c.Statuses))
		for st := range c.Statuses {
			statuses = append(statuses, st)
		}
		sort.Ints(statuses)
		for _, st := range statuses {
			if st != c.Kind.Want() {
				other = append(other, fmt.Sprintf("%d got %d", c.Statuses[st], st))
			}
		}
		if c.Failed > 0 {
			other = append(other, fmt.Sprintf("%d got no answer", c.Failed))
		}
		line := fmt.Sprintf("  %s\t%d sent,\t%d got %d", c.Kind, c.Sent, c.Expected(), c.Kind.Want())
		if len(other) > 0 {
			line += ", " + strings.Join(other, ", ")
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func kib(b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fKiB", b/1024)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// loadAverage returns /proc/loadavg's three averages, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// benchIvrd is ivrd as a loadgen.System: a Server in-process, as "ivrd
// serve" runs it, on the run's report listener, with a route to each of
// the hostile flows beside the workload's.
type benchIvrd struct {
	dir    string
	limits loadgen.DialLimits
	// sandbox is [limits]; zero keeps the defaults, as the bench does
	// (tests make them small, so that hostile flows stop fast).
	sandbox LimitsConfig
	logs    *warnCounter
	faults  faultCounter
	srv     *Server
}

func (b *benchIvrd) Name() string { return "ivrd" }

func (b *benchIvrd) Open(ctx context.Context, ln net.Listener, devices []loadgen.Device, w loadgen.Workload) error {
	flows := filepath.Join(b.dir, "flows")
	if err := os.MkdirAll(flows, 0o755); err != nil {
		return err
	}
	if err := loadgen.WriteFlows(flows); err != nil {
		return err
	}
	cfg := DefaultConfig()
	cfg.Flows = flows
	cfg.State = filepath.Join(b.dir, "ivrd.db")
	cfg.LogLevel = "warn"
	for _, d := range devices {
		cfg.Devices = append(cfg.Devices, DeviceConfig{Name: d.Name, URL: d.URL,
			ReportSecret: d.ReportSecret, Allow: d.Allow, Fallback: d.Fallback})
	}
	for _, h := range loadgen.HostileFlows {
		cfg.Routes = append(cfg.Routes, RouteConfig{From: h.From, Flow: h.Name})
	}
	cfg.Routes = append(cfg.Routes, RouteConfig{Flow: w.Flow()})
	cfg.Outbound = OutboundConfig{MaxConcurrent: b.limits.MaxConcurrent, PerSecond: b.limits.PerSecond}
	cfg.Limits = b.sandbox
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "ivrd", Level: hclog.Warn, Output: b.logs})
	b.srv = NewServer(cfg, log)
	b.srv.Listener = ln
	b.srv.Observer = &b.faults
	return b.srv.Open(ctx)
}

func (b *benchIvrd) Dial(device, number string) error {
	_, err := b.srv.Router().Dial(engine.DialRequest{To: number, Flow: string(loadgen.Wakeup), Device: device})
	return err
}

func (b *benchIvrd) Live() int { return b.srv.Router().Live() }

func (b *benchIvrd) Close() error { return b.srv.Close() }

// Faults returns the calls ended as flow failures, by outcome, and the
// sandbox's stops.
func (b *benchIvrd) Faults() (outcomes, stops map[string]int) { return b.faults.counts() }

var _ loadgen.Faulted = (*benchIvrd)(nil)

// faultCounter is the engine.Observer of a bench run: it counts the calls
// that ended as flow failures (handed to the fallback, or failed when the
// fallback refused them too) and the steps the sandbox stopped.
type faultCounter struct {
	mu       sync.Mutex
	outcomes map[string]int
	stops    map[string]int
}

func (f *faultCounter) CallEnded(flow, direction, outcome string, d time.Duration) {
	if outcome != engine.OutcomeFallback && outcome != engine.OutcomeFailed {
		return
	}
	f.mu.Lock()
	if f.outcomes == nil {
		f.outcomes = map[string]int{}
	}
	f.outcomes[outcome]++
	f.mu.Unlock()
}

func (f *faultCounter) SandboxStop(flow, reason string) {
	f.mu.Lock()
	if f.stops == nil {
		f.stops = map[string]int{}
	}
	f.stops[reason]++
	f.mu.Unlock()
}

func (f *faultCounter) counts() (outcomes, stops map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	outcomes, stops = maps.Clone(f.outcomes), maps.Clone(f.stops)
	if outcomes == nil {
		outcomes = map[string]int{}
	}
	if stops == nil {
		stops = map[string]int{}
	}
	return outcomes, stops
}

func (*faultCounter) CallStarted(flow, direction string, recovered bool) {}
func (*faultCounter) Report(device, kind string)                         {}
func (*faultCounter) Step(flow string, d time.Duration)                  {}
func (*faultCounter) Job(event string)                                   {}
func (*faultCounter) Attempt(outcome string)                             {}
func (*faultCounter) ClickEnded(typ, outcome string)                     {}

// warnCounter is ivrd's log output during a bench: it counts the lines
// (the level is warn), by message, keeps the first, and echoes them when
// asked.
type warnCounter struct {
	echo  io.Writer
	count atomic.Int64
	first atomic.Pointer[string]

	mu    sync.Mutex
	byMsg map[string]int
}

func (w *warnCounter) Write(p []byte) (int, error) {
	w.count.Add(1)
	line := strings.TrimSpace(string(p))
	w.first.CompareAndSwap(nil, &line)
	w.mu.Lock()
	if w.byMsg == nil {
		w.byMsg = map[string]int{}
	}
	w.byMsg[logMessage(line)]++
	w.mu.Unlock()
	if w.echo != nil {
		w.echo.Write(p)
	}
	return len(p), nil
}

// logMessage is the level and message of an hclog line, "TIME [WARN]
// NAME: MESSAGE: KEY=VALUE …": "WARN report rejected".
func logMessage(line string) string {
	_, rest, ok := strings.Cut(line, " [")
	if !ok {
		return line
	}
	level, rest, _ := strings.Cut(rest, "]")
	_, rest, _ = strings.Cut(strings.TrimSpace(rest), ": ")
	msg, _, _ := strings.Cut(rest, ": ")
	return level + " " + msg
}

// summary lists the lines by message, the most frequent first:
// "WARN report rejected 9999, ERROR flow failed; … 96".
func (w *warnCounter) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	msgs := make([]string, 0, len(w.byMsg))
	for m := range w.byMsg {
		msgs = append(msgs, m)
	}
	sort.Slice(msgs, func(i, j int) bool {
		if a, b := w.byMsg[msgs[i]], w.byMsg[msgs[j]]; a != b {
			return a > b
		}
		return msgs[i] < msgs[j]
	})
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = fmt.Sprintf("%s %d", m, w.byMsg[m])
	}
	return strings.Join(out, ", ")
}

func (w *warnCounter) firstLine() string {
	if p := w.first.Load(); p != nil {
		return *p
	}
	return ""
}
