package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// TestServePrunesHistoryAtStart: [history] applies as the daemon opens the
// state file: calls ended longer ago than max_age go, then all but the
// newest max_count.
func TestServePrunesHistoryAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ivrd.db")
	s, err := engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// old0–old3 ended 40 days ago, new0–new4 within the last hour (new4
	// last).
	for i := 0; i < 9; i++ {
		id, ended := fmt.Sprintf("old%d", i), now.Add(-40*24*time.Hour)
		if i >= 4 {
			id, ended = fmt.Sprintf("new%d", i-4), now.Add(time.Duration(i-9)*time.Minute)
		}
		rec := engine.CallRecord{ID: id, Flow: "main", Started: ended.Add(-time.Minute)}
		if err := s.StartCall(rec, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.EndCall(engine.HistoryEntry{CallRecord: rec, Ended: ended}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	st := startStack(t, repoFlows, func(c *Config) {
		c.State = path
		c.History = HistoryConfig{MaxAge: "720h", MaxCount: 3}
	})
	hist, err := st.srv.store.ListHistory(0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range hist {
		ids = append(ids, h.ID)
	}
	if got, want := strings.Join(ids, " "), "new4 new3 new2"; got != want {
		t.Errorf("history after start: %s, want %s", got, want)
	}
	if logs := st.logs.String(); !strings.Contains(logs, "history pruned: dropped=6") {
		t.Errorf("the prune was not logged:\n%s", logs)
	}
}

// TestServeKeepsHistoryWithinLimits: nothing to drop, nothing logged.
func TestServeKeepsHistoryWithinLimits(t *testing.T) {
	st := startStack(t, repoFlows, nil)
	if logs := st.logs.String(); strings.Contains(logs, "history pruned") {
		t.Errorf("a prune of nothing was logged:\n%s", logs)
	}
}
