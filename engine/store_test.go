package engine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ivrd/ivrd/engine"
)

func openStore(t testing.TB, path string) *engine.BoltStore {
	t.Helper()
	s, err := engine.OpenBolt(path, engine.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoreCallLifecycleSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ivrd.db")
	s := openStore(t, path)
	rec := engine.CallRecord{ID: "c1", Device: "om1", Leg: engine.Leg{Kind: "visitor", ID: "3"}, From: "138", To: "60001",
		CallID: "77", Direction: "in", Flow: "main", FlowHash: "abc", Started: epoch}
	if err := s.StartCall(rec, []byte("return {}")); err != nil {
		t.Fatal(err)
	}
	steps := []engine.Step{
		{Kind: "play", Args: json.RawMessage(`{"chain":"user_welcome"}`), Result: json.RawMessage(`"done"`), At: epoch},
		{Kind: "now", Result: json.RawMessage(`1764061200`), At: epoch},
	}
	if err := s.Append("c1", steps...); err != nil {
		t.Fatal(err)
	}
	if err := s.Append("c1", engine.Step{Kind: "gather", Deadline: epoch.Add(5 * time.Second), Vars: json.RawMessage(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append("nope", engine.Step{Kind: "x"}); !errors.Is(err, engine.ErrNoCall) {
		t.Fatalf("append to an unknown call: %v, want ErrNoCall", err)
	}
	s.Close()

	s = openStore(t, path)
	live, err := s.LiveCalls()
	if err != nil || len(live) != 1 || live[0].ID != "c1" || live[0].Leg.ID != "3" || !live[0].Started.Equal(epoch) {
		t.Fatalf("live calls after reopen = %+v, %v", live, err)
	}
	j, err := s.Journal("c1")
	if err != nil || len(j) != 3 {
		t.Fatalf("journal = %+v, %v", j, err)
	}
	for i, st := range j {
		if st.Seq != int64(i+1) {
			t.Fatalf("step %d has seq %d", i, st.Seq)
		}
	}
	if j[0].Kind != "play" || string(j[0].Result) != `"done"` || !j[2].Deadline.Equal(epoch.Add(5*time.Second)) || string(j[2].Vars) != `{"a":1}` {
		t.Fatalf("journal = %+v", j)
	}
	if src, err := s.FlowSource("abc"); err != nil || string(src) != "return {}" {
		t.Fatalf("flow source = %q, %v", src, err)
	}

	h := engine.HistoryEntry{CallRecord: rec, Ended: epoch.Add(time.Minute), Outcome: engine.OutcomeTransferred, Target: "ext 201",
		Path: []engine.PathEntry{{At: epoch, Kind: "keys", Value: "1"}}, Steps: 3}
	if err := s.EndCall(h); err != nil {
		t.Fatal(err)
	}
	if live, _ := s.LiveCalls(); len(live) != 0 {
		t.Fatalf("live calls after EndCall = %+v", live)
	}
	got, err := s.History("c1")
	if err != nil || got.Outcome != engine.OutcomeTransferred || got.Target != "ext 201" || len(got.Path) != 1 {
		t.Fatalf("history = %+v, %v", got, err)
	}
	if j, err := s.Journal("c1"); err != nil || len(j) != 3 {
		t.Fatalf("journal kept with history = %d steps, %v", len(j), err)
	}
	if _, err := s.History("c2"); !errors.Is(err, engine.ErrNoCall) {
		t.Fatalf("history of an unknown call: %v", err)
	}
}

func TestStoreLockedAndVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ivrd.db")
	openStore(t, path)
	start := time.Now()
	_, err := engine.OpenBolt(path, engine.BoltOptions{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, engine.ErrStoreLocked) {
		t.Fatalf("second open: %v, want ErrStoreLocked", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the second open hung instead of failing")
	}

	other := filepath.Join(t.TempDir(), "old.db")
	db, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucketIfNotExists([]byte("meta"))
		return b.Put([]byte("schema_version"), []byte("99"))
	})
	db.Close()
	if _, err := engine.OpenBolt(other, engine.BoltOptions{}); !errors.Is(err, engine.ErrStoreVersion) {
		t.Fatalf("open of another schema: %v, want ErrStoreVersion", err)
	}
}

func TestStoreGroupCommit(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "ivrd.db"))
	const calls, steps = 50, 20
	for c := 0; c < calls; c++ {
		if err := s.StartCall(engine.CallRecord{ID: "c" + strconv.Itoa(c), Started: epoch}, nil); err != nil {
			t.Fatal(err)
		}
	}
	before := s.Commits()
	var wg sync.WaitGroup
	for c := 0; c < calls; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < steps; i++ {
				if err := s.Append("c"+strconv.Itoa(c), engine.Step{Kind: "k", Result: json.RawMessage(strconv.Itoa(i))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	commits := s.Commits() - before
	if commits >= calls*steps {
		t.Fatalf("%d commits for %d appends: writes were not grouped", commits, calls*steps)
	}
	for c := 0; c < calls; c++ {
		j, err := s.Journal("c" + strconv.Itoa(c))
		if err != nil || len(j) != steps {
			t.Fatalf("call %d: %d steps, %v", c, len(j), err)
		}
		for i, st := range j {
			if string(st.Result) != strconv.Itoa(i) || st.Seq != int64(i+1) {
				t.Fatalf("call %d step %d = %+v: out of order", c, i, st)
			}
		}
	}
	t.Logf("%d appends in %d commits", calls*steps, commits)
}

func TestStoreKeyValue(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "ivrd.db"))
	if _, ok, err := s.Get("survey", "q1"); ok || err != nil {
		t.Fatalf("get of a missing key: %v %v", ok, err)
	}
	if err := s.Put("survey", "q1", []byte(`"good"`)); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Get("survey", "q1"); !ok || err != nil || string(v) != `"good"` {
		t.Fatalf("get = %q %v %v", v, ok, err)
	}
	if _, ok, _ := s.Get("other", "q1"); ok {
		t.Fatal("flows share keys")
	}
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Incr("survey", "count", 1); err != nil {
				t.Error(err)
			}
			if _, err := s.AppendValue("survey", "answers", []byte(`{"q1":5}`)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, err := s.Incr("survey", "count", 0); n != 100 || err != nil {
		t.Fatalf("counter = %d, %v; want 100", n, err)
	}
	v, _, _ := s.Get("survey", "answers")
	var list []map[string]int
	if err := json.Unmarshal(v, &list); err != nil || len(list) != 100 || list[99]["q1"] != 5 {
		t.Fatalf("answers = %d entries, %v", len(list), err)
	}
	if _, err := s.Incr("survey", "q1", 1); err == nil {
		t.Fatal("incr of a non-counter succeeded")
	}
	if _, err := s.AppendValue("survey", "count", []byte("1")); err == nil {
		t.Fatal("append to a non-list succeeded")
	}
}

func TestStorePrune(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "ivrd.db"))
	for i := 0; i < 10; i++ {
		rec := engine.CallRecord{ID: fmt.Sprintf("c%d", i), FlowHash: fmt.Sprintf("h%d", i%2), Started: epoch}
		if err := s.StartCall(rec, []byte("src")); err != nil {
			t.Fatal(err)
		}
		if i < 8 {
			if err := s.EndCall(engine.HistoryEntry{CallRecord: rec, Ended: epoch.Add(time.Duration(i) * time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Calls c8 and c9 are live: their flows h0 and h1 must stay.
	n, err := s.Prune(epoch.Add(10*time.Hour), 5*time.Hour, 0)
	if err != nil || n != 5 {
		t.Fatalf("prune by age dropped %d, %v; want 5 (ended at 0–4 h)", n, err)
	}
	if _, err := s.History("c4"); !errors.Is(err, engine.ErrNoCall) {
		t.Fatal("c4 should be pruned")
	}
	if _, err := s.Journal("c4"); !errors.Is(err, engine.ErrNoCall) {
		t.Fatal("c4's journal should be pruned")
	}
	n, err = s.Prune(epoch.Add(10*time.Hour), 0, 1)
	if err != nil || n != 2 {
		t.Fatalf("prune by count dropped %d, %v; want 2", n, err)
	}
	if _, err := s.History("c7"); err != nil {
		t.Fatal("the newest entry was pruned")
	}
	for _, h := range []string{"h0", "h1"} {
		if _, err := s.FlowSource(h); err != nil {
			t.Fatalf("flow %s needed by a live call was pruned", h)
		}
	}
}

// BenchmarkStoreAppend measures durable journal steps per second with 64
// calls appending at once, with group commit, beside the ceiling of raw
// bbolt batched writes (db.Batch) of the same data on the same disk.
func BenchmarkStoreAppend(b *testing.B) {
	const writers = 64
	step := engine.Step{Kind: "play", Args: json.RawMessage(`{"chain":"user_welcome"}`), Result: json.RawMessage(`"done"`), At: epoch}
	b.Run("group_commit", func(b *testing.B) {
		s := openStore(b, filepath.Join(b.TempDir(), "ivrd.db"))
		for w := 0; w < writers; w++ {
			s.StartCall(engine.CallRecord{ID: "c" + strconv.Itoa(w)}, nil)
		}
		b.ResetTimer()
		runWriters(b, writers, func(w, i int) error { return s.Append("c"+strconv.Itoa(w), step) })
	})
	b.Run("bbolt_batch", func(b *testing.B) {
		db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		enc, _ := json.Marshal(step)
		db.Update(func(tx *bolt.Tx) error {
			for w := 0; w < writers; w++ {
				tx.CreateBucketIfNotExists([]byte("c" + strconv.Itoa(w)))
			}
			return nil
		})
		b.ResetTimer()
		runWriters(b, writers, func(w, i int) error {
			return db.Batch(func(tx *bolt.Tx) error {
				bk := tx.Bucket([]byte("c" + strconv.Itoa(w)))
				n, _ := bk.NextSequence()
				return bk.Put([]byte(strconv.FormatUint(n, 10)), enc)
			})
		})
	})
}

func runWriters(b *testing.B, writers int, write func(w, i int) error) {
	start := time.Now()
	var wg sync.WaitGroup
	per := (b.N + writers - 1) / writers
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if err := write(w, i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*writers)/time.Since(start).Seconds(), "steps/s")
}

func TestStoreListHistoryNewestFirst(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "ivrd.db"))
	if got, err := s.ListHistory(0); err != nil || len(got) != 0 {
		t.Fatalf("history of an empty store = %+v, %v", got, err)
	}
	// Ended out of order: c1 last, c0 first.
	for i, ended := range []time.Duration{time.Hour, 3 * time.Hour, 2 * time.Hour} {
		rec := engine.CallRecord{ID: fmt.Sprintf("c%d", i), Started: epoch}
		if err := s.StartCall(rec, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.EndCall(engine.HistoryEntry{CallRecord: rec, Ended: epoch.Add(ended), Outcome: engine.OutcomeHangup}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.StartCall(engine.CallRecord{ID: "live", Started: epoch}, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit int
		want  string
	}{{0, "c1 c2 c0"}, {-1, "c1 c2 c0"}, {2, "c1 c2"}, {10, "c1 c2 c0"}} {
		got, err := s.ListHistory(tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, h := range got {
			ids = append(ids, h.ID)
		}
		if strings.Join(ids, " ") != tc.want {
			t.Errorf("ListHistory(%d) = %v, want %s", tc.limit, ids, tc.want)
		}
	}
}

func TestStoreCompactToKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "ivrd.db")
	s := openStore(t, src)
	for i := 0; i < 200; i++ {
		rec := engine.CallRecord{ID: fmt.Sprintf("c%d", i), FlowHash: "h", Started: epoch}
		if err := s.StartCall(rec, []byte("return {}")); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(rec.ID, engine.Step{Kind: "play", Args: json.RawMessage(`"` + strings.Repeat("x", 500) + `"`)}); err != nil {
			t.Fatal(err)
		}
		if i < 199 {
			if err := s.EndCall(engine.HistoryEntry{CallRecord: rec, Ended: epoch.Add(time.Duration(i) * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Put("survey", "q1", []byte(`"good"`)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(epoch.Add(time.Hour), 0, 10); err != nil || n != 189 {
		t.Fatalf("prune dropped %d, %v; want 189", n, err)
	}
	dst := filepath.Join(dir, "compact.db")
	if err := s.CompactTo(dst); err != nil {
		t.Fatal(err)
	}
	if err := s.CompactTo(dst); err == nil {
		t.Fatal("compacting over a non-empty file succeeded")
	}
	s.Close()
	before, _ := os.Stat(src)
	after, _ := os.Stat(dst)
	if after.Size() >= before.Size() {
		t.Errorf("compacted file is %d bytes, the original %d", after.Size(), before.Size())
	}

	c := openStore(t, dst)
	if live, err := c.LiveCalls(); err != nil || len(live) != 1 || live[0].ID != "c199" {
		t.Fatalf("live calls in the copy = %+v, %v", live, err)
	}
	if h, err := c.ListHistory(0); err != nil || len(h) != 10 || h[0].ID != "c198" {
		t.Fatalf("history in the copy: %d entries, %v", len(h), err)
	}
	if v, ok, err := c.Get("survey", "q1"); !ok || err != nil || string(v) != `"good"` {
		t.Fatalf("key in the copy = %q %v %v", v, ok, err)
	}
	if _, err := c.FlowSource("h"); err != nil {
		t.Fatal(err)
	}
	// The journal's sequence survives, so the live call's next step does
	// not overwrite its first.
	if err := c.Append("c199", engine.Step{Kind: "hangup"}); err != nil {
		t.Fatal(err)
	}
	j, err := c.Journal("c199")
	if err != nil || len(j) != 2 || j[0].Kind != "play" || j[1].Seq != 2 {
		t.Fatalf("journal of the live call in the copy = %+v, %v", j, err)
	}
}

// TestStepDecodeResultReadsTheJournal: the journal of a real call, read
// with DecodeResult, gives the history's path and outcome.
func TestStepDecodeResultReadsTheJournal(t *testing.T) {
	r := hotel(t, rigOptions{})
	recoveryScript(r, func(string) {})
	hist := mustHistory(t, r)
	if len(hist) != 1 {
		t.Fatalf("%d calls in history, want 1", len(hist))
	}
	h := hist[0]
	j, err := r.store.Journal(h.ID)
	if err != nil {
		t.Fatal(err)
	}
	var path []engine.PathEntry
	outcome := ""
	for _, st := range j {
		res, err := st.DecodeResult()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.R) == 0 {
			t.Errorf("step %d (%s) has no result", st.Seq, st.Kind)
		}
		for _, p := range res.Path {
			// History joins consecutive keys into one entry.
			if n := len(path); n > 0 && p.Kind == "keys" && path[n-1].Kind == "keys" {
				path[n-1].Value += p.Value
				continue
			}
			path = append(path, p)
		}
		outcome = res.Outcome
	}
	if len(path) == 0 || !reflect.DeepEqual(path, h.Path[:min(len(path), len(h.Path))]) {
		t.Errorf("path from the journal:\n %+v\nis not the start of the history's:\n %+v", path, h.Path)
	}
	if outcome != h.Outcome {
		t.Errorf("outcome after the last step = %q, history says %q", outcome, h.Outcome)
	}
	if _, err := (engine.Step{Seq: 1, Result: json.RawMessage(`"done"`)}).DecodeResult(); err == nil {
		t.Error("a result that is not a journal record decoded")
	}
}

// A key/value write and its journal step commit together or not at all.
func TestStoreApplyIsAtomic(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "ivrd.db"))
	if err := s.StartCall(engine.CallRecord{ID: "c1", Started: epoch}, nil); err != nil {
		t.Fatal(err)
	}
	mk := func(n int64) engine.Step {
		return engine.Step{Kind: "store.incr", Result: json.RawMessage(strconv.FormatInt(n, 10))}
	}
	if n, err := s.Apply("c1", engine.KVOp{Op: "incr", Flow: "f", Key: "k", Delta: 1}, mk); err != nil || n != 1 {
		t.Fatalf("apply = %d, %v", n, err)
	}
	// No journal for this call: the step cannot be written, so neither is
	// the counter.
	if _, err := s.Apply("nope", engine.KVOp{Op: "incr", Flow: "f", Key: "k", Delta: 1}, mk); !errors.Is(err, engine.ErrNoCall) {
		t.Fatalf("apply to an unknown call: %v", err)
	}
	if v, _, _ := s.Get("f", "k"); string(v) != "1" {
		t.Fatalf("counter = %s after a failed apply, want 1", v)
	}
	if j, _ := s.Journal("c1"); len(j) != 1 || string(j[0].Result) != "1" {
		t.Fatalf("journal = %+v", j)
	}
}

// TestStoreSearchHistory: ended calls by number and end time, newest
// first, in pages that continue where the last one stopped.
func TestStoreSearchHistory(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "ivrd.db"))
	// c0 … c9 end an hour apart; the even ones come from 13800000001.
	for i := 0; i < 10; i++ {
		from := "13900000002"
		if i%2 == 0 {
			from = "13800000001"
		}
		rec := engine.CallRecord{ID: fmt.Sprintf("c%d", i), From: from, To: "60001", FlowHash: "h", Started: epoch}
		if err := s.StartCall(rec, []byte("src")); err != nil {
			t.Fatal(err)
		}
		if err := s.EndCall(engine.HistoryEntry{CallRecord: rec, Ended: epoch.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(p engine.HistoryPage) string {
		var out []string
		for _, h := range p.Calls {
			out = append(out, h.ID)
		}
		return strings.Join(out, " ")
	}
	at := func(h int) time.Time { return epoch.Add(time.Duration(h) * time.Hour) }
	for _, c := range []struct {
		name string
		q    engine.HistoryQuery
		want string
	}{
		{"all", engine.HistoryQuery{}, "c9 c8 c7 c6 c5 c4 c3 c2 c1 c0"},
		{"number", engine.HistoryQuery{Number: "13800000001"}, "c8 c6 c4 c2 c0"},
		{"part of a number", engine.HistoryQuery{Number: "0002"}, "c9 c7 c5 c3 c1"},
		{"called number", engine.HistoryQuery{Number: "60001", Limit: 2}, "c9 c8"},
		{"since", engine.HistoryQuery{Since: at(7)}, "c9 c8 c7"},
		{"until (exclusive)", engine.HistoryQuery{Until: at(2)}, "c1 c0"},
		{"range and number", engine.HistoryQuery{Number: "138", Since: at(3), Until: at(8)}, "c6 c4"},
		{"none", engine.HistoryQuery{Number: "555"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := s.SearchHistory(c.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(p); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}

	// Pages of two of the calls from 13800000001 cover them all once.
	q := engine.HistoryQuery{Number: "13800000001", Limit: 2}
	var got []string
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("the pages do not end")
		}
		p, err := s.SearchHistory(q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(p))
		if p.Next == "" {
			break
		}
		q.Before = p.Next
	}
	if strings.Join(got, " | ") != "c8 c6 | c4 c2 | c0" {
		t.Fatalf("pages: %q", got)
	}
	if _, err := s.SearchHistory(engine.HistoryQuery{Before: "zz"}); !errors.Is(err, engine.ErrCursor) {
		t.Fatal("a malformed cursor was taken")
	}
}
