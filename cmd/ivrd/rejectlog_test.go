package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func lines(b *syncBuffer) []string {
	return strings.Split(strings.TrimSpace(b.String()), "\n")
}

// A flood of rejected reports gives one line at once per device and
// status, and one line with the count of the rest.
func TestRejectLogSumsUpAFlood(t *testing.T) {
	var buf syncBuffer
	l := newRejectLog(hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace}), time.Hour)
	for i := 0; i < 1000; i++ {
		l.rejected("om1", "10.0.0.9:4000", 401, errors.New("stale signature"))
	}
	l.rejected("om1", "10.0.0.9:4000", 413, errors.New("too big"))
	l.rejected("om2", "10.0.0.7:4000", 401, errors.New("no signature"))
	if got := lines(&buf); len(got) != 3 {
		t.Fatalf("%d lines before the interval ends, want 3 (one per device and status):\n%s", len(got), strings.Join(got, "\n"))
	}
	l.close()
	got := lines(&buf)
	if len(got) != 4 {
		t.Fatalf("%d lines after close, want 4:\n%s", len(got), strings.Join(got, "\n"))
	}
	sum := got[3]
	for _, want := range []string{"more reports rejected", "device=om1", "status=401", "count=999", "last_error=\"stale signature\""} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %s", sum, want)
		}
	}
	// After close each rejection is logged on its own.
	l.rejected("om1", "10.0.0.9:4000", 401, errors.New("stale signature"))
	l.rejected("om1", "10.0.0.9:4000", 401, errors.New("stale signature"))
	if n := len(lines(&buf)); n != 6 {
		t.Errorf("%d lines, want 6", n)
	}
}

// The interval's end logs the count by itself, with no rejection after it.
func TestRejectLogFlushesWhenTheIntervalEnds(t *testing.T) {
	var buf syncBuffer
	l := newRejectLog(hclog.New(&hclog.LoggerOptions{Output: &buf}), 10*time.Millisecond)
	defer l.close()
	l.rejected("om1", "10.0.0.9:4000", 400, errors.New("malformed"))
	l.rejected("om1", "10.0.0.9:4000", 400, errors.New("malformed"))
	poll(t, "the summary line", func() bool {
		lines := lines(&buf)
		return len(lines) == 2 && strings.Contains(lines[1], "count=1")
	})
}
