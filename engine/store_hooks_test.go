package engine_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// The webhooks' state in the state file: a cursor per webhook, and failed
// deliveries set aside with the cursor moved in the same write, numbered,
// paged, replaced and removed; all of it still there after a reopen.
func TestHookStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ivrd.db")
	s := openStore(t, path)
	if _, ok, err := s.HookCursor("crm"); ok || err != nil {
		t.Fatalf("a new state file has a cursor: %v %v", ok, err)
	}
	if fs, total, err := s.HookFailures("crm", 0, 10); len(fs) != 0 || total != 0 || err != nil {
		t.Fatalf("a new state file has failures: %v %d %v", fs, total, err)
	}
	if err := s.SetHookCursor("crm", 4); err != nil {
		t.Fatal(err)
	}
	evs := []engine.CallEvent{{ID: 5, Kind: "cdr"}, {ID: 7, Kind: "cdr"}}
	f1, err := s.SetAside("crm", engine.HookFailure{Reason: engine.HookFailed, First: 5, Last: 7, Count: 2, Events: evs, Attempts: 3, SetAside: time.Now()}, 8)
	if err != nil || f1.ID != 1 {
		t.Fatalf("set aside: %+v %v; want id 1", f1, err)
	}
	f2, err := s.SetAside("crm", engine.HookFailure{Reason: engine.HookMissing, First: 9, Last: 12, Count: 4}, 12)
	if err != nil || f2.ID != 2 {
		t.Fatalf("set aside: %+v %v; want id 2", f2, err)
	}
	if _, err := s.SetAside("other", engine.HookFailure{Reason: engine.HookMissing, First: 1, Last: 1, Count: 1}, 1); err != nil {
		t.Fatal(err)
	}
	f1.Attempts, f1.Error = 4, "the receiver answered 503"
	if err := s.PutHookFailure("crm", f1); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		s.PutHookFailure("crm", engine.HookFailure{ID: 9}),
		s.DeleteHookFailure("crm", 9),
		s.DeleteHookFailure("nobody", 1),
	} {
		if !errors.Is(err, engine.ErrNoHookFailure) {
			t.Errorf("an unknown failure: %v, want ErrNoHookFailure", err)
		}
	}
	s.Close()

	s = openStore(t, path)
	if cur, ok, err := s.HookCursor("crm"); cur != 12 || !ok || err != nil {
		t.Fatalf("cursor %d %v %v after a reopen, want 12", cur, ok, err)
	}
	fs, total, err := s.HookFailures("crm", 0, 1)
	if err != nil || total != 2 || len(fs) != 1 || fs[0].ID != 1 || fs[0].Attempts != 4 || len(fs[0].Events) != 2 || fs[0].Events[1].ID != 7 {
		t.Fatalf("first page %+v, total %d, %v", fs, total, err)
	}
	if fs, _, _ := s.HookFailures("crm", 1, 10); len(fs) != 1 || fs[0].ID != 2 || fs[0].Reason != engine.HookMissing {
		t.Fatalf("second page %+v", fs)
	}
	if err := s.DeleteHookFailure("crm", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HookFailure("crm", 1); !errors.Is(err, engine.ErrNoHookFailure) {
		t.Fatalf("a deleted failure: %v", err)
	}
	if f, err := s.HookFailure("crm", 2); err != nil || f.First != 9 {
		t.Fatalf("failure 2: %+v %v", f, err)
	}
}
