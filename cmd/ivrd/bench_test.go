package main

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/loadgen"
	"github.com/ivrd/ivrd/omproto"
)

// TestBench runs "ivrd bench" for a second with a few calls: the table
// comes out with a row for ivrd and one for the ceiling, each with calls
// completed and no error, and the run leaves no goroutine behind. It
// asserts nothing about speed.
func TestBench(t *testing.T) {
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut}
	// The signal watcher Run starts once per process is not the bench's.
	if err := m.Run(context.Background(), []string{"help"}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	before := runtime.NumGoroutine()
	err := m.Run(context.Background(), []string{"bench", "-duration", "1s", "-concurrency", "8", "-dir", t.TempDir()})
	if err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 11 && (f[0] == "ivrd" || f[0] == "ceiling") && rows[f[0]] == nil {
			rows[f[0]] = f
		}
	}
	for _, sys := range []string{"ivrd", "ceiling"} {
		f, ok := rows[sys]
		if !ok {
			t.Fatalf("no %s row in the table:\n%s", sys, out.String())
		}
		if calls, err := strconv.Atoi(f[1]); err != nil || calls == 0 {
			t.Errorf("%s: calls %q, want a positive count:\n%s", sys, f[1], out.String())
		}
		if errs := f[len(f)-1]; errs != "0" {
			t.Errorf("%s: errors %s, want 0:\n%s", sys, errs, out.String())
		}
	}
	if !strings.Contains(out.String(), "ivrd/ceiling:") {
		t.Errorf("no ratio line:\n%s", out.String())
	}

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after the bench, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBenchFlags checks that bad flags are refused with the flag named.
func TestBenchFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-workload", "storm"}, "-workload"},
		{[]string{"-devices", "0"}, "-devices"},
		{[]string{"-rate", "-1"}, "-rate"},
		{[]string{"-concurrency", "0"}, "-concurrency"},
		{[]string{"-hostile", "101"}, "-hostile"},
		{[]string{"-hostile", "10", "-workload", "wakeup"}, "-hostile"},
		{[]string{"-hostile", "10", "-workload", "parked"}, "-hostile"},
		{[]string{"-junk-rate", "-1"}, "-junk-rate"},
		{[]string{"-junk-rate", "100", "-workload", "parked"}, "-junk-rate"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var out bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &out}
		err := m.Run(context.Background(), append([]string{"bench"}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bench %v: got %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}

// TestBenchHostile runs the survey through ivrd with one call in four sent
// to the hostile flows, on small budgets so that they are stopped fast:
// every ordinary call completes without an error, every hostile call is
// stopped and ends at the fallback (or, when another hostile call holds
// it, is hung up), the sandbox stopped the two that burn instructions,
// and the share of hostile calls is the one asked for.
func TestBenchHostile(t *testing.T) {
	sys := &benchIvrd{dir: t.TempDir(), logs: &warnCounter{},
		sandbox: LimitsConfig{StepInstructions: 200_000, CallInstructions: 2_000_000}}
	const share = 25
	res, err := loadgen.Run(context.Background(), sys, loadgen.Options{
		Workload: loadgen.Survey, Concurrency: 8, Duration: 1500 * time.Millisecond, Hostile: share,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := res.Hostile
	if n := res.ErrorCount(); n > 0 {
		t.Errorf("ordinary calls: %d errors: %s", n, res.ErrorSummary())
	}
	if n := h.ErrorCount(); n > 0 {
		t.Errorf("hostile calls: %d errors: %s", n, h.ErrorSummary())
	}
	if res.Calls == 0 || res.Latency.N == 0 {
		t.Fatalf("%d ordinary calls completed, %d latency samples: want some", res.Calls, res.Latency.N)
	}
	if h.Placed < len(loadgen.HostileFlows) {
		t.Fatalf("%d hostile calls placed, want at least one per hostile flow (%d)", h.Placed, len(loadgen.HostileFlows))
	}
	if want := (res.Calls + h.Placed) * share / 100; h.Placed != want {
		t.Errorf("%d hostile calls among %d, want %d (%d in 100)", h.Placed, res.Calls+h.Placed, want, share)
	}
	if h.Fallback+h.FallbackBusy != h.Placed {
		t.Errorf("%d hostile calls reached the fallback and %d found it busy, want %d in all", h.Fallback, h.FallbackBusy, h.Placed)
	}
	if h.Outcomes[engine.OutcomeFallback] != h.Fallback || h.Outcomes[engine.OutcomeFailed] != h.FallbackBusy {
		t.Errorf("ivrd's flow failures %v, want fallback %d and failed %d", h.Outcomes, h.Fallback, h.FallbackBusy)
	}
	// The hostile calls go to the flows in turn: the endless loop (0) and
	// the memory hog (2) are the ones a budget stops.
	budgeted := (h.Placed+4)/5 + (h.Placed+2)/5
	stops := 0
	for _, n := range h.Stops {
		stops += n
	}
	if stops != budgeted {
		t.Errorf("the sandbox stopped %d steps (%v), want %d: the endless loops and the memory hogs", stops, h.Stops, budgeted)
	}
	if h.Latency.N == 0 {
		t.Error("no latency sample for the hostile calls")
	}
}

// TestBenchJunk runs the survey through ivrd with bad reports of every
// kind beside the devices' own signed ones: each gets its kind's status
// from the receivers, which count them as the sender does, the ordinary
// calls complete without an error, and the log sums them up.
func TestBenchJunk(t *testing.T) {
	logs := &warnCounter{}
	sys := &benchIvrd{dir: t.TempDir(), logs: logs}
	res, err := loadgen.Run(context.Background(), sys, loadgen.Options{
		Workload: loadgen.Survey, Rate: 20, Concurrency: 8, Duration: 1500 * time.Millisecond, JunkRate: 200,
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.ErrorCount(); n > 0 {
		t.Errorf("%d errors: %s", n, res.ErrorSummary())
	}
	if res.Calls == 0 {
		t.Fatal("no call completed")
	}
	sent := map[loadgen.JunkKind]uint64{}
	for _, c := range res.Junk.Kinds {
		sent[c.Kind] = uint64(c.Sent)
		if c.Sent == 0 || c.Expected() != c.Sent || c.Failed > 0 {
			t.Errorf("%s: %d sent, %d got %d; statuses %v, %d with no answer", c.Kind, c.Sent, c.Expected(), c.Kind.Want(), c.Statuses, c.Failed)
		}
	}
	var got omproto.ReceiverStats
	for _, rv := range sys.srv.receivers() {
		st := rv.Stats()
		got.TooLarge += st.TooLarge
		got.Malformed += st.Malformed
		got.Unauthorized += st.Unauthorized
		got.Forbidden += st.Forbidden
		got.Method += st.Method
	}
	want := omproto.ReceiverStats{
		TooLarge:     sent[loadgen.JunkOversized],
		Malformed:    sent[loadgen.JunkMalformed],
		Unauthorized: sent[loadgen.JunkUnsigned] + sent[loadgen.JunkStale],
		Forbidden:    sent[loadgen.JunkForeign],
	}
	if got != want {
		t.Errorf("ivrd's receivers rejected %+v, want %+v", got, want)
	}
	// The log has the first rejection of each status (413, 400, 401 and
	// 403 from the one device) and then their counts (rejectLog): the
	// receivers' counters above have every one.
	logs.mu.Lock()
	first, more := logs.byMsg["WARN report rejected"], logs.byMsg["WARN more reports rejected"]
	logs.mu.Unlock()
	if first != 4 || more > 4 {
		t.Errorf("%d rejections logged at once and %d counts, want 4 and at most 4 (%s)", first, more, logs.summary())
	}
}

// TestBenchJunkTable runs "ivrd bench -junk-rate" for a second: the table
// has a row for ivrd with the bad reports and one for its clean run, the
// ordinary calls' comparison line, and a line per kind of bad report.
func TestBenchJunkTable(t *testing.T) {
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut}
	err := m.Run(context.Background(), []string{"bench", "-duration", "1s", "-rate", "20", "-concurrency", "8",
		"-junk-rate", "100", "-ceiling=false", "-dir", t.TempDir()})
	if err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"ivrd+junk ", "\n       ivrd ", "ivrd+junk/ivrd, the ordinary calls: p99 ", "bad reports: "} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in the output:\n%s", want, text)
		}
	}
	for _, k := range loadgen.JunkKinds {
		if !strings.Contains(text, "\n  "+k.String()+" ") {
			t.Errorf("no line for %s bad reports:\n%s", k, text)
		}
	}
}

// TestPrintBenchHostile checks the lines a run with hostile calls adds to
// the table: the comparison with the clean run and what became of the
// hostile calls.
func TestPrintBenchHostile(t *testing.T) {
	opts := loadgen.Options{Workload: loadgen.Survey, Hostile: 10}
	loaded := loadgen.Result{System: "ivrd", Workload: loadgen.Survey, Options: opts, Calls: 90, Elapsed: time.Second,
		Latency: loadgen.Percentiles{N: 400, P50: time.Millisecond, P99: 8 * time.Millisecond},
		Hostile: loadgen.HostileResult{Placed: 10, Fallback: 9, FallbackBusy: 1,
			Outcomes: map[string]int{"fallback": 9, "failed": 1}, Stops: map[string]int{"instructions": 4}}}
	opts.Hostile = 0
	clean := loadgen.Result{System: "ivrd", Workload: loadgen.Survey, Options: opts, Calls: 100, Elapsed: time.Second,
		Latency: loadgen.Percentiles{N: 400, P50: time.Millisecond, P99: 4 * time.Millisecond}}
	var out bytes.Buffer
	printBench(&out, []loadgen.Result{loaded, clean})
	for _, want := range []string{
		"ivrd+hostile/ivrd, the ordinary calls: p99 2.00 (8.00ms against 4.00ms), p50 1.00",
		"hostile calls: 10 placed (10 in 100), 9 transferred to the fallback (ext 3000), 1 hung up finding it busy",
		"ivrd ended flow failures as failed 1, fallback 9, its sandbox stopped steps on instructions 4",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the output:\n%s", want, out.String())
		}
	}
}
