package engine

import (
	"testing"
	"time"
)

// The wait after each failed fetch doubles from FirstBackoff and stops at
// MaxBackoff.
func TestRecordingBackoff(t *testing.T) {
	m := &Recordings{opt: RecordingOptions{FirstBackoff: 30 * time.Second, MaxBackoff: 5 * time.Minute}}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := m.backoff(i + 1); got != w {
			t.Errorf("after %d failures: %s, want %s", i+1, got, w)
		}
	}
	if got := m.backoff(1000); got != 5*time.Minute {
		t.Errorf("after 1000 failures: %s", got)
	}
}
