package loadgen_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/ivrd/ivrd/internal/loadgen"
)

// TestCeilingWorkloads drives each workload against the ceiling with a
// few calls: every call runs its script to the end without an error, the
// reports and commands are counted and timed, and nothing is left running.
// ivrd's side is cmd/ivrd's TestBench.
func TestCeilingWorkloads(t *testing.T) {
	for _, tc := range []struct {
		opts      loadgen.Options
		wantCalls int // exactly, or at least one when 0
	}{
		{loadgen.Options{Workload: loadgen.Survey, Concurrency: 4, Duration: 500 * time.Millisecond}, 0},
		{loadgen.Options{Workload: loadgen.Menu, Rate: 20, Concurrency: 4, Duration: 500 * time.Millisecond}, 0},
		{loadgen.Options{Workload: loadgen.Parked, Calls: 40, Concurrency: 8}, 40},
		{loadgen.Options{Workload: loadgen.Wakeup, Calls: 10, Devices: 2}, 10},
	} {
		t.Run(string(tc.opts.Workload), func(t *testing.T) {
			before := runtime.NumGoroutine()
			res, err := loadgen.Run(context.Background(), &loadgen.Ceiling{}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if n := res.ErrorCount(); n > 0 {
				t.Errorf("%d errors: %s", n, res.ErrorSummary())
			}
			if tc.wantCalls > 0 && res.Calls != tc.wantCalls || res.Calls == 0 {
				t.Errorf("calls: got %d, want %d (0: some)", res.Calls, tc.wantCalls)
			}
			if res.Reports == 0 || res.Commands == 0 || res.Latency.N == 0 {
				t.Errorf("reports %d, commands %d, latency samples %d: want each counted", res.Reports, res.Commands, res.Latency.N)
			}
			if res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
				t.Errorf("latency percentiles out of order: %+v", res.Latency)
			}
			if tc.opts.Workload == loadgen.Parked && res.LiveForRSS != tc.wantCalls {
				t.Errorf("memory measured with %d calls live, want %d", res.LiveForRSS, tc.wantCalls)
			}
			waitGoroutines(t, before)
		})
	}
}

// waitGoroutines fails the test when the goroutines running do not come
// back down to before within a few seconds.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after the run, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCeilingJunk runs the survey against the ceiling, whose receivers
// check sources and signatures as ivrd's do, with bad reports of every
// kind beside the devices' own signed ones: each bad report gets its
// kind's status, every call completes, and the bad reports stay out of
// the reports counted. ivrd's side is cmd/ivrd's TestBenchJunk.
func TestCeilingJunk(t *testing.T) {
	before := runtime.NumGoroutine()
	res, err := loadgen.Run(context.Background(), &loadgen.Ceiling{}, loadgen.Options{
		Workload: loadgen.Survey, Rate: 20, Concurrency: 8, Duration: time.Second, JunkRate: 200,
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.ErrorCount(); n > 0 {
		t.Errorf("%d errors: %s", n, res.ErrorSummary())
	}
	if res.Calls == 0 {
		t.Error("no call completed")
	}
	if !res.Options.Guarded {
		t.Error("a run with bad reports is not guarded (signed reports, allow list)")
	}
	checkJunk(t, res.Junk)
	// A survey call is 10 or 11 reports, and each device boots once: the
	// 120 or so bad reports that decode, counted, would pass this.
	if max := uint64(11*res.Calls + 2); res.Reports > max {
		t.Errorf("%d reports counted for %d calls, want at most %d: bad reports counted among them?", res.Reports, res.Calls, max)
	}
	waitGoroutines(t, before)
}

// checkJunk asserts that bad reports of every kind were sent and that each
// got its kind's status.
func checkJunk(t *testing.T, j loadgen.JunkResult) {
	t.Helper()
	if len(j.Kinds) != len(loadgen.JunkKinds) {
		t.Fatalf("counts for %d kinds of bad report, want %d", len(j.Kinds), len(loadgen.JunkKinds))
	}
	for _, c := range j.Kinds {
		if c.Sent == 0 {
			t.Errorf("%s: none sent", c.Kind)
		}
		if c.Expected() != c.Sent || c.Failed > 0 {
			t.Errorf("%s: %d sent, %d got %d; statuses %v, %d with no answer", c.Kind, c.Sent, c.Expected(), c.Kind.Want(), c.Statuses, c.Failed)
		}
	}
	if j.Achieved() <= 0 || j.Elapsed <= 0 {
		t.Errorf("achieved rate %v over %v, want both positive", j.Achieved(), j.Elapsed)
	}
}

// TestRunRefusesOptions checks that options that cannot go together are
// refused before anything runs.
func TestRunRefusesOptions(t *testing.T) {
	for _, o := range []loadgen.Options{
		{Workload: loadgen.Survey, Hostile: 101},
		{Workload: loadgen.Survey, Hostile: -1},
		{Workload: loadgen.Wakeup, Hostile: 10},
		{Workload: loadgen.Parked, Hostile: 10},
		{Workload: loadgen.Parked, JunkRate: 100},
		{Workload: loadgen.Survey, JunkRate: -1},
	} {
		if _, err := loadgen.Run(context.Background(), &loadgen.Ceiling{}, o); err == nil {
			t.Errorf("Run with %s, hostile %d, junk rate %v: no error", o.Workload, o.Hostile, o.JunkRate)
		}
	}
}

// TestParseWorkload checks the workload names and the error for others.
func TestParseWorkload(t *testing.T) {
	for _, w := range loadgen.Workloads {
		got, err := loadgen.ParseWorkload(string(w))
		if err != nil || got != w {
			t.Errorf("ParseWorkload(%q) = %q, %v", w, got, err)
		}
	}
	if _, err := loadgen.ParseWorkload("storm"); err == nil {
		t.Error("ParseWorkload(storm) succeeded")
	}
}
