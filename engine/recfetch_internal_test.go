package engine

import (
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
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

// DeviceUp, which runs on a device's BOOTUP report, does not wait for a
// write of a recording's state (mu is held across it), and the next pass
// sees the device up.
func TestRecordingDeviceUpDoesNotWaitForWrites(t *testing.T) {
	m := &Recordings{log: hclog.NewNullLogger(), wake: make(chan struct{}, 1), up: map[string]bool{}}
	m.mu.Lock() // a write in progress
	defer m.mu.Unlock()
	done := make(chan struct{})
	go func() {
		m.DeviceUp("om1")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a hang detector
		t.Fatal("DeviceUp waited for a write to the state file")
	}
	m.upMu.Lock()
	defer m.upMu.Unlock()
	if !m.up["om1"] {
		t.Fatalf("up = %v, want om1", m.up)
	}
}
