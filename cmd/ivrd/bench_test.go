package main

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
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
