package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

var stateEpoch = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// stepResult encodes a journaled step's result as a session does.
func stepResult(t *testing.T, r string, outcome, target string, path ...engine.PathEntry) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(engine.StepResult{R: json.RawMessage(r), Outcome: outcome, Target: target, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stateFile writes a state file with two live calls (live1 with three
// steps, live2 with none) and two ended ones (ended1 transferred, ended2
// hung up, the newer), and returns its path.
func stateFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ivrd.db")
	s, err := engine.OpenBolt(path, engine.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := func(d time.Duration) time.Time { return stateEpoch.Add(d) }
	live1 := engine.CallRecord{ID: "live1", Device: "om1", Leg: engine.Leg{Kind: engine.LegVisitor, ID: "3"},
		From: "13800000001", To: "60001", CallID: "77", Direction: "in", Flow: "main",
		FlowHash: "0123456789abcdef0123", Started: at(0)}
	live2 := engine.CallRecord{ID: "live2", Device: "om1", Leg: engine.Leg{Kind: engine.LegVisitor, ID: "4"},
		From: "13800000002", To: "60001", Flow: "main", FlowHash: "0123456789abcdef0123", Started: at(time.Minute)}
	ended1 := engine.CallRecord{ID: "ended1", Device: "om1", Leg: engine.Leg{Kind: engine.LegVisitor, ID: "1"},
		From: "13800000009", To: "60002", Flow: "hotel", FlowHash: "fedcba9876543210", Started: at(-time.Hour)}
	ended2 := engine.CallRecord{ID: "ended2", Device: "om1", Leg: engine.Leg{Kind: engine.LegVisitor, ID: "2"},
		From: "13800000008", To: "60001", Flow: "main", FlowHash: "0123456789abcdef0123", Started: at(-30 * time.Minute)}
	for _, rec := range []engine.CallRecord{ended1, ended2, live1, live2} {
		if err := s.StartCall(rec, []byte("return {}")); err != nil {
			t.Fatal(err)
		}
	}
	welcome := engine.PathEntry{At: at(2 * time.Second), Kind: "prompt", Value: "user_welcome+user_menu"}
	pressed := engine.PathEntry{At: at(4 * time.Second), Kind: "keys", Value: "2"}
	if err := s.Append("live1",
		engine.Step{At: at(2 * time.Second), Kind: "play", Args: json.RawMessage(`"user_welcome+user_menu"`), Result: stepResult(t, `"done"`, "", "", welcome)},
		engine.Step{At: at(4 * time.Second), Kind: "gather", Args: json.RawMessage(`{"max": 1}`), Result: stepResult(t, `{"keys":"2"}`, "", "", pressed),
			Vars: json.RawMessage(`{"lang":"fr"}`)},
		engine.Step{At: at(5 * time.Second), Kind: "sleep.start", Args: json.RawMessage(`30`), Result: stepResult(t, `"2026-11-25T09:00:35Z"`, "", ""),
			Deadline: at(35 * time.Second)},
	); err != nil {
		t.Fatal(err)
	}
	transfer := engine.PathEntry{At: at(-time.Hour + 9*time.Second), Kind: "transfer", Value: "ext 201"}
	if err := s.Append("ended1", engine.Step{At: transfer.At, Kind: "transfer", Args: json.RawMessage(`{"ext":"201"}`),
		Result: stepResult(t, `{"ok":true}`, engine.OutcomeTransferred, "ext 201", transfer)}); err != nil {
		t.Fatal(err)
	}
	if err := s.EndCall(engine.HistoryEntry{CallRecord: ended1, Ended: at(-time.Hour + 10*time.Second), Outcome: engine.OutcomeTransferred,
		Target: "ext 201", Path: []engine.PathEntry{transfer}, Steps: 1,
		Cdr: &engine.CdrRecord{ID: "501", Type: "IN", CPN: "13800000009", CDPN: "60002", TimeStart: "20261125080000", TimeEnd: "20261125080130", Duration: 90}}); err != nil {
		t.Fatal(err)
	}
	if err := s.EndCall(engine.HistoryEntry{CallRecord: ended2, Ended: at(-29 * time.Minute), Outcome: engine.OutcomeCallerHangup,
		Path: []engine.PathEntry{{At: at(-29 * time.Minute), Kind: "hangup", Value: "caller"}}}); err != nil {
		t.Fatal(err)
	}
	return path
}

func runState(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out := &syncBuffer{}
	m := &Main{Stdout: out, Stderr: out}
	err := m.Run(context.Background(), append([]string{"state"}, args...))
	return out.String(), err
}

// wantLines checks that out has, for each want, a line holding all of its
// fields in order.
func wantLines(t *testing.T, out string, want ...[]string) {
	t.Helper()
next:
	for _, fields := range want {
		for _, line := range strings.Split(out, "\n") {
			rest, ok := line, true
			for _, f := range fields {
				i := strings.Index(rest, f)
				if i < 0 {
					ok = false
					break
				}
				rest = rest[i+len(f):]
			}
			if ok {
				continue next
			}
		}
		t.Errorf("no line with %q in:\n%s", fields, out)
	}
}

func TestStateList(t *testing.T) {
	path := stateFile(t)
	out, err := runState(t, "-state", path, "ls")
	if err != nil {
		t.Fatalf("state ls: %v\n%s", err, out)
	}
	wantLines(t, out,
		[]string{path + ": 2 live calls"},
		[]string{"live1", "om1", "visitor 3", "13800000001 → 60001", "main@0123456789ab ", "2026-11-25T09:00:00Z", "3", "sleep.start"},
		[]string{"live2", "om1", "visitor 4", "13800000002 → 60001", "main@0123456789ab ", "2026-11-25T09:01:00Z", "0", "-"},
	)
	if strings.Contains(out, "ended1") || strings.Contains(out, "ended2") {
		t.Errorf("ls lists ended calls:\n%s", out)
	}
	// The flag may also follow the command.
	if out2, err := runState(t, "ls", "-state", path); err != nil || out2 != out {
		t.Errorf("state ls -state FILE: %v\n%s", err, out2)
	}

	empty := filepath.Join(t.TempDir(), "empty.db")
	s, err := engine.OpenBolt(empty, engine.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if out, err := runState(t, "-state", empty, "ls"); err != nil || !strings.Contains(out, "no live calls") {
		t.Errorf("ls of an empty file: %v\n%s", err, out)
	}
}

func TestStateShow(t *testing.T) {
	path := stateFile(t)
	t.Run("live", func(t *testing.T) {
		out, err := runState(t, "-state", path, "show", "live1")
		if err != nil {
			t.Fatalf("state show: %v\n%s", err, out)
		}
		wantLines(t, out,
			[]string{"call live1 (live)"},
			[]string{"leg", "visitor 3"},
			[]string{"from → to", "13800000001 → 60001"},
			[]string{"om callid", "77"},
			[]string{"flow", "main@0123456789ab"},
			[]string{"journal: 3 steps"},
			[]string{"1", "09:00:02.000", "play", `"user_welcome+user_menu"`, `→ "done"`},
			[]string{"2", "09:00:04.000", "gather", `{"max":1}`, `→ {"keys":"2"}`, `vars {"lang":"fr"}`},
			[]string{"3", "09:00:05.000", "sleep.start", "30", "deadline 09:00:35.000"},
			// A live call's path comes from its journal.
			[]string{"path: 2 entries"},
			[]string{"09:00:02.000", "prompt", "user_welcome+user_menu"},
			[]string{"09:00:04.000", "keys", "2"},
		)
		if strings.Contains(out, "ended") {
			t.Errorf("a live call shows an end:\n%s", out)
		}
	})
	t.Run("ended", func(t *testing.T) {
		out, err := runState(t, "-state", path, "show", "ended1")
		if err != nil {
			t.Fatalf("state show: %v\n%s", err, out)
		}
		wantLines(t, out,
			[]string{"call ended1 (ended)"},
			[]string{"flow", "hotel@fedcba987654"},
			[]string{"started", "2026-11-25T08:00:00.000Z"},
			[]string{"ended", "2026-11-25T08:00:10.000Z", "(after 10s)"},
			[]string{"outcome", "transferred → ext 201"},
			[]string{"om cdr", "id 501", "90 s"},
			[]string{"journal: 1 step"},
			[]string{"1", "08:00:09.000", "transfer", `{"ext":"201"}`, `→ {"ok":true}`, "[transferred → ext 201]"},
			[]string{"path: 1 entry"},
			[]string{"08:00:09.000", "transfer", "ext 201"},
		)
	})
	t.Run("unknown", func(t *testing.T) {
		_, err := runState(t, "-state", path, "show", "c404")
		if err == nil || !strings.Contains(err.Error(), `no call "c404"`) {
			t.Errorf("show of an unknown call: %v", err)
		}
	})
	t.Run("no id", func(t *testing.T) {
		if _, err := runState(t, "-state", path, "show"); err == nil || !strings.Contains(err.Error(), "call id") {
			t.Errorf("show without an id: %v", err)
		}
	})
}

func TestStateHistory(t *testing.T) {
	path := stateFile(t)
	out, err := runState(t, "-state", path, "history")
	if err != nil {
		t.Fatalf("state history: %v\n%s", err, out)
	}
	wantLines(t, out,
		[]string{path + ": 2 ended calls, newest first"},
		[]string{"ENDED", "CALL", "OUTCOME", "TARGET", "DURATION"},
		[]string{"2026-11-25T08:31:00Z", "ended2", "13800000008 → 60001", "main@0123456789ab", "caller_hangup", "-", "1m0s"},
		[]string{"2026-11-25T08:00:10Z", "ended1", "13800000009 → 60002", "hotel@fedcba987654", "transferred", "ext 201", "10s"},
	)
	if i, j := strings.Index(out, "ended2"), strings.Index(out, "ended1"); i > j {
		t.Errorf("history is not newest first:\n%s", out)
	}
	if strings.Contains(out, "live1") {
		t.Errorf("history lists a live call:\n%s", out)
	}
	out, err = runState(t, "-state", path, "history", "-n", "1")
	if err != nil || !strings.Contains(out, "the 1 most recent ended call,") || !strings.Contains(out, "ended2") || strings.Contains(out, "ended1") {
		t.Errorf("history -n 1: %v\n%s", err, out)
	}
	if _, err := runState(t, "-state", path, "history", "-n", "-1"); err == nil {
		t.Error("history -n -1 was accepted")
	}
}

func TestStateCompact(t *testing.T) {
	path := stateFile(t)
	// Give the file free pages to reclaim: many calls, ended and pruned.
	s, err := engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		rec := engine.CallRecord{ID: fmt.Sprintf("old%d", i), Flow: "main", Started: stateEpoch.Add(-48 * time.Hour)}
		s.StartCall(rec, nil)
		s.Append(rec.ID, engine.Step{Kind: "play", Args: json.RawMessage(`"` + strings.Repeat("x", 800) + `"`)})
		s.EndCall(engine.HistoryEntry{CallRecord: rec, Ended: rec.Started.Add(time.Minute)})
	}
	if n, err := s.Prune(stateEpoch, 24*time.Hour, 0); err != nil || n != 300 {
		t.Fatalf("prune: %d, %v; want 300", n, err)
	}
	s.Close()
	before, _ := os.Stat(path)
	wantShow, err := runState(t, "-state", path, "show", "live1")
	if err != nil {
		t.Fatal(err)
	}

	out, err := runState(t, "-state", path, "compact")
	if err != nil {
		t.Fatalf("state compact: %v\n%s", err, out)
	}
	after, _ := os.Stat(path)
	if after.Size() >= before.Size() {
		t.Errorf("the file is %d bytes after compaction, %d before", after.Size(), before.Size())
	}
	wantLines(t, out, []string{path + " compacted:", byteSize(before.Size()), "→", byteSize(after.Size())})
	if after.Mode().Perm() != before.Mode().Perm() {
		t.Errorf("mode after compaction: %v, was %v", after.Mode().Perm(), before.Mode().Perm())
	}
	if left, _ := filepath.Glob(path + ".compact-*"); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// Everything is still there: the same views, and a store that works.
	if got, err := runState(t, "-state", path, "show", "live1"); err != nil || got != wantShow {
		t.Errorf("show after compaction: %v\n%s\nwant\n%s", err, got, wantShow)
	}
	s, err = engine.OpenBolt(path, engine.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if live, err := s.LiveCalls(); err != nil || len(live) != 2 {
		t.Errorf("live calls after compaction: %+v, %v", live, err)
	}
	if h, err := s.ListHistory(0); err != nil || len(h) != 2 || h[0].ID != "ended2" || h[1].Cdr == nil {
		t.Errorf("history after compaction: %+v, %v", h, err)
	}
	if src, err := s.FlowSource("fedcba9876543210"); err != nil || string(src) != "return {}" {
		t.Errorf("flow source after compaction: %q, %v", src, err)
	}
	if err := s.Append("live1", engine.Step{Kind: "hangup"}); err != nil {
		t.Fatal(err)
	}
	if j, err := s.Journal("live1"); err != nil || len(j) != 4 || j[3].Seq != 4 {
		t.Errorf("journal after compaction and one more step: %+v, %v", j, err)
	}
}

// TestStateHeldByDaemon: while a daemon holds the file, every command says
// so at once and fails; nothing is changed.
func TestStateHeldByDaemon(t *testing.T) {
	path := stateFile(t)
	held, err := engine.OpenBolt(path, engine.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	before, _ := os.Stat(path)
	for _, args := range [][]string{{"ls"}, {"show", "live1"}, {"history"}, {"compact"}} {
		t.Run(args[0], func(t *testing.T) {
			start := time.Now()
			out, err := runState(t, append([]string{"-state", path}, args...)...)
			if err == nil {
				t.Fatalf("state %s succeeded on a held file:\n%s", args[0], out)
			}
			for _, want := range []string{path + " is held by another process", "running \"ivrd serve\"", "stop the daemon"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if d := time.Since(start); d > 900*time.Millisecond {
				t.Errorf("it took %v to say so", d)
			}
		})
	}
	if after, _ := os.Stat(path); !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Error("the held file was changed")
	}
	if left, _ := filepath.Glob(path + ".compact-*"); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestStateFileChoice(t *testing.T) {
	dir := t.TempDir()
	path := stateFile(t)
	config := filepath.Join(dir, "ivrd.toml")
	writeFile(t, config, "state = \""+path+"\"\n"+oneDevice)
	if out, err := runState(t, "-config", config, "ls"); err != nil || !strings.Contains(out, "live1") {
		t.Errorf("state -config: %v\n%s", err, out)
	}
	t.Chdir(dir)
	if out, err := runState(t, "ls"); err != nil || !strings.Contains(out, path+": 2 live calls") {
		t.Errorf("state ls with ./ivrd.toml: %v\n%s", err, out)
	}
	os.Remove(config)
	_, err := runState(t, "ls")
	if err == nil || !strings.Contains(err.Error(), "no state file ivrd.db") {
		t.Errorf("state ls without a configuration or ivrd.db: %v", err)
	}
	if _, err := os.Stat("ivrd.db"); !errors.Is(err, os.ErrNotExist) {
		t.Error("state ls created ivrd.db")
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"both flags", []string{"-config", config, "-state", path, "ls"}, "not both"},
		{"unknown command", []string{"-state", path, "rm"}, `unknown command "rm"`},
		{"no command", []string{"-state", path}, "name a command"},
		{"extra argument", []string{"-state", path, "ls", "x"}, `unexpected argument "x"`},
		{"bad config", []string{"-config", filepath.Join(dir, "missing.toml"), "ls"}, "missing.toml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := runState(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestStateAfterServe: the journal and history a real call leaves, read
// back once the daemon has stopped.
func TestStateAfterServe(t *testing.T) {
	st := startStack(t, repoFlows, nil)
	call, err := st.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the menu", func(in omsim.CallInfo) bool { return heardFile(in, "user_menu") })
	if err := call.Press("2"); err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "a transfer to ext 202", func(in omsim.CallInfo) bool { return in.Connected == "ext 202" })
	deadline := time.Now().Add(5 * time.Second)
	for len(st.srv.Router().Sessions()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the call did not leave the IVR")
		}
		time.Sleep(5 * time.Millisecond)
	}
	path := st.srv.cfg.State
	if _, err := runState(t, "-state", path, "ls"); err == nil || !strings.Contains(err.Error(), "held by another process") {
		t.Fatalf("state ls while the daemon runs: %v", err)
	}
	if err := st.srv.Close(); err != nil {
		t.Fatal(err)
	}

	out, err := runState(t, "-state", path, "history")
	if err != nil {
		t.Fatalf("state history: %v\n%s", err, out)
	}
	wantLines(t, out, []string{"13800000001 → 60001", "main@", "transferred", "ext 202"})
	id := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "transferred") {
			id = strings.Fields(line)[1]
		}
	}
	out, err = runState(t, "-state", path, "show", id)
	if err != nil {
		t.Fatalf("state show %s: %v\n%s", id, err, out)
	}
	wantLines(t, out,
		[]string{"call " + id + " (ended)"},
		[]string{"outcome", "transferred → ext 202"},
		[]string{"play", "user_welcome"},
		[]string{"transfer", "[transferred → ext 202]"},
		[]string{"prompt", "user_welcome"},
		[]string{"keys", "2"},
	)
}
