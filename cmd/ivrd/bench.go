package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
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
	ceiling := fs.Bool("ceiling", true, "also run the bare responder and print ivrd's ratio to it")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the ivrd run to this file")
	traceFile := fs.String("trace", "", "write an execution trace of the ivrd run to this file (go tool trace; keep -duration short)")
	verbose := fs.Bool("v", false, "print progress and ivrd's warnings as they happen")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ivrd bench [flags]\n\n"+
			"Runs ivrd in-process against simulated OMs over loopback with a workload of\n"+
			"callers, then the same workload against a bare responder that makes the same\n"+
			"command exchanges with no engine, Lua or store (the ceiling), and prints\n"+
			"calls/s, reports/s, commands/s, report-to-command latency, live calls,\n"+
			"resident memory per live call and errors for both. The journal is synced\n"+
			"(fsync) unless -nosync.\n\nFlags:\n")
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
	}
	var progress io.Writer
	if *verbose {
		progress = c.main.Stderr
	}
	opts.Progress = progress
	out := c.main.Stdout
	// As ivrd serve does; set here so the ceiling runs with it too.
	spareProc()
	load := loadAverage()
	fmt.Fprintf(out, "ivrd bench: %s\n", describeBench(opts, stateParent, *noSync))
	fmt.Fprintf(out, "machine: %d CPUs, GOMAXPROCS %d, load average %s at the start\n\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), load)

	sys := &benchIvrd{dir: work, limits: limits, logs: &warnCounter{echo: progress}}
	// The ceiling runs first, on a fresh process, so that what the ivrd
	// run leaves behind does not weigh on its memory figure.
	var bare loadgen.Result
	if *ceiling {
		if bare, err = loadgen.Run(ctx, &loadgen.Ceiling{Limits: limits}, opts); err != nil {
			return fmt.Errorf("bench: ceiling: %w", err)
		}
	}
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
	if *ceiling {
		results = append(results, bare)
	}
	printBench(out, results)
	if n := sys.logs.count.Load(); n > 0 {
		fmt.Fprintf(out, "ivrd logged %d warnings or errors; the first: %s\n", n, sys.logs.firstLine())
	}
	var failed []string
	for _, r := range results {
		if n := r.ErrorCount(); n > 0 {
			failed = append(failed, fmt.Sprintf("%s: %d errors (%s)", r.System, n, r.ErrorSummary()))
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

// printBench prints the results table and its footnotes.
func printBench(w io.Writer, results []loadgen.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\tcalls\tcalls/s\treports/s\tcommands/s\tp50\tp99\tp99.9\tlive avg/max\tRSS/live call\terrors\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.0f\t%.0f\t%s\t%s\t%s\t%.1f/%d\t%s\t%d\t\n",
			r.System, r.Calls, r.CallsPerSecond(), r.ReportsPerSecond(), r.CommandsPerSecond(),
			ms(r.Latency.P50), ms(r.Latency.P99), ms(r.Latency.P999),
			r.LiveAvg, r.LiveMax, kib(r.RSSPerCall), r.ErrorCount())
	}
	tw.Flush()
	fmt.Fprintln(w)
	if len(results) == 2 && results[1].CallsPerSecond() > 0 {
		mine, bare := results[0], results[1]
		fmt.Fprintf(w, "ivrd/ceiling: %.2f of the calls/s, %.2f of the commands/s", mine.CallsPerSecond()/bare.CallsPerSecond(),
			ratio(mine.CommandsPerSecond(), bare.CommandsPerSecond()))
		if mine.Workload == loadgen.Parked {
			fmt.Fprintf(w, "; ivrd's own resident memory per parked call ≈ %s (ivrd's row less the ceiling's)",
				kib(mine.RSSPerCall-bare.RSSPerCall))
		}
		fmt.Fprintln(w)
	}
	for _, r := range results {
		if s := r.ErrorSummary(); s != "" {
			fmt.Fprintf(w, "%s errors: %s\n", r.System, s)
		}
	}
	fmt.Fprintf(w, "\ncalls: calls that ran their script to the end; /s over the time from the first call placed to the last ended")
	if results[0].Workload == loadgen.Parked {
		fmt.Fprintf(w, "\n  (parked: to the last call parked)")
	}
	fmt.Fprintf(w, ".\n"+
		"latency: from the moment the system has read a report off its socket to the moment the\n"+
		"  simulated OM receives the next command for the same call leg (%d samples for ivrd).\n", results[0].Latency.N)
	if results[0].Workload == loadgen.Parked {
		fmt.Fprintf(w, "RSS/live call: (VmRSS with every call parked − VmRSS before the first call) / calls parked,\n"+
			"  both read after returning free memory to the OS; it includes the simulator's share.\n")
	} else {
		fmt.Fprintf(w, "RSS/live call: (VmRSS at the sample with the most calls live − VmRSS before the first call)\n"+
			"  / those calls, when at least 100; garbage not yet collected and the simulator's share\n"+
			"  included (-workload parked gives a careful figure).\n")
	}
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
// serve" runs it, on the run's report listener.
type benchIvrd struct {
	dir    string
	limits loadgen.DialLimits
	logs   *warnCounter
	srv    *Server
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
		cfg.Devices = append(cfg.Devices, DeviceConfig{Name: d.Name, URL: d.URL})
	}
	cfg.Routes = []RouteConfig{{Flow: w.Flow()}}
	cfg.Outbound = OutboundConfig{MaxConcurrent: b.limits.MaxConcurrent, PerSecond: b.limits.PerSecond}
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "ivrd", Level: hclog.Warn, Output: b.logs})
	b.srv = NewServer(cfg, log)
	b.srv.Listener = ln
	return b.srv.Open(ctx)
}

func (b *benchIvrd) Dial(device, number string) error {
	_, err := b.srv.Router().Dial(engine.DialRequest{To: number, Flow: string(loadgen.Wakeup), Device: device})
	return err
}

func (b *benchIvrd) Live() int { return b.srv.Router().Live() }

func (b *benchIvrd) Close() error { return b.srv.Close() }

// warnCounter is ivrd's log output during a bench: it counts the lines
// (the level is warn), keeps the first, and echoes them when asked.
type warnCounter struct {
	echo  io.Writer
	count atomic.Int64
	first atomic.Pointer[string]
}

func (w *warnCounter) Write(p []byte) (int, error) {
	w.count.Add(1)
	line := strings.TrimSpace(string(p))
	w.first.CompareAndSwap(nil, &line)
	if w.echo != nil {
		w.echo.Write(p)
	}
	return len(p), nil
}

func (w *warnCounter) firstLine() string {
	if p := w.first.Load(); p != nil {
		return *p
	}
	return ""
}
