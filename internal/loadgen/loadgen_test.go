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
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before {
				if time.Now().After(deadline) {
					buf := make([]byte, 1<<20)
					t.Fatalf("%d goroutines after the run, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
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
