package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/ompbx"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

func cdrAt(id, cpn, cdpn string, ended time.Time) engine.Cdr {
	return engine.Cdr{Device: "om1", CallID: "c" + id, Ended: ended, CdrRecord: engine.CdrRecord{
		ID: id, Type: "IN", CPN: cpn, CDPN: cdpn, TimeEnd: ended.Format("20060102150405")}}
}

func cdrIDs(p engine.CdrPage) []string {
	out := []string{}
	for _, c := range p.Cdrs {
		out = append(out, c.ID)
	}
	return out
}

func sameIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
	}
}

// Every call record is kept once, found by time, number and extension,
// paged, pruned with the history's retention, and still there after the
// file is reopened.
func TestStoreKeepsCdrs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ivrd.db")
	s, err := engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	recs := []engine.Cdr{
		cdrAt("a", "13800000001", "201", base),
		cdrAt("b", "200", "13900000002", base.Add(time.Minute)),
		cdrAt("c", "13800000001", "202", base.Add(2*time.Minute)),
		cdrAt("d", "201", "202", base.Add(3*time.Minute)),
	}
	for _, c := range recs {
		kept, err := s.KeepCdr(c, time.Now())
		if err != nil || !kept {
			t.Fatalf("keep %s: kept %v, %v", c.ID, kept, err)
		}
	}
	again := recs[1]
	again.Ended = base.Add(time.Hour) // a resent record arrives later
	if kept, err := s.KeepCdr(again, time.Now()); err != nil || kept {
		t.Fatalf("keep b again: kept %v, %v; want it kept once", kept, err)
	}
	search := func(q engine.CdrQuery) engine.CdrPage {
		t.Helper()
		p, err := s.SearchCdrs(q)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	sameIDs(t, "all", cdrIDs(search(engine.CdrQuery{})), "d", "c", "b", "a")
	sameIDs(t, "number", cdrIDs(search(engine.CdrQuery{Number: "138"})), "c", "a")
	sameIDs(t, "ext 201", cdrIDs(search(engine.CdrQuery{Ext: "201"})), "d", "a")
	sameIDs(t, "ext 20 (exact)", cdrIDs(search(engine.CdrQuery{Ext: "20"})))
	sameIDs(t, "range", cdrIDs(search(engine.CdrQuery{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)})), "c", "b")
	p := search(engine.CdrQuery{Limit: 3})
	sameIDs(t, "page 1", cdrIDs(p), "d", "c", "b")
	if p.Next == "" {
		t.Fatal("page 1 has no next")
	}
	p = search(engine.CdrQuery{Limit: 3, Before: p.Next})
	sameIDs(t, "page 2", cdrIDs(p), "a")
	if p.Next != "" {
		t.Fatalf("page 2 next = %q", p.Next)
	}
	if _, err := s.SearchCdrs(engine.CdrQuery{Before: "zz"}); !errors.Is(err, engine.ErrCursor) {
		t.Fatalf("bad cursor: %v", err)
	}

	// Older than 150 s at base+4m: a and b go.
	if _, err := s.Prune(base.Add(4*time.Minute), 150*time.Second, 0); err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "after max_age", cdrIDs(search(engine.CdrQuery{})), "d", "c")
	if _, err := s.Prune(base.Add(4*time.Minute), 0, 1); err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "after max_count", cdrIDs(search(engine.CdrQuery{})), "d")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err = s.SearchCdrs(engine.CdrQuery{})
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "reopened", cdrIDs(p), "d")
	if p.Cdrs[0].CPN != "201" || p.Cdrs[0].CallID != "cd" || !p.Cdrs[0].Ended.Equal(base.Add(3*time.Minute)) {
		t.Fatalf("reopened record = %+v", p.Cdrs[0])
	}
	if kept, err := s.KeepCdr(recs[3], time.Now()); err != nil || kept {
		t.Fatalf("keep d after reopening: kept %v, %v; want it kept once", kept, err)
	}
}

// Over the simulator: the record of a call the IVR handled is stored and
// names the call, whose history has it too; the record of a call that
// never reached the IVR (extension to extension) is stored as well; a
// record the device sends twice is stored once.
func TestCdrsOfEveryCall(t *testing.T) {
	r := hotel(t, rigOptions{})
	call := r.call("13800000001")
	r.advance(time.Second)
	r.press(call, "1")
	r.advance(20 * time.Second)
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	hs := mustHistory(t, r)
	if len(hs) != 1 {
		t.Fatalf("%d history entries", len(hs))
	}

	client := r.dev.PBX.(*ompbx.PBX).Client
	r.sim.SetFaults(omsim.Faults{DuplicateReports: 100})
	if _, err := client.Connect(context.Background(), omproto.Connect{
		From: omproto.Ref{Kind: omproto.KindExt, ID: "200"}, To: omproto.Ref{Kind: omproto.KindExt, ID: "202"}}); err != nil {
		t.Fatal(err)
	}
	r.advance(30 * time.Second)
	if err := r.sim.HangUpExt("200"); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.router.Wait()

	p, err := r.store.SearchCdrs(engine.CdrQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var ivr, local []engine.Cdr
	for _, c := range p.Cdrs {
		switch {
		case c.CPN == "13800000001":
			ivr = append(ivr, c)
		case c.CPN == "200" && c.CDPN == "202":
			local = append(local, c)
		}
	}
	if len(ivr) != 1 || ivr[0].Call != hs[0].ID || ivr[0].Device != "om1" || ivr[0].CallID != hs[0].CallID {
		t.Fatalf("IVR call's records = %+v, want one naming call %s (callid %s)", ivr, hs[0].ID, hs[0].CallID)
	}
	h, err := r.store.History(hs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if h.Cdr == nil || h.Cdr.ID != ivr[0].ID {
		t.Fatalf("history's cdr = %+v, want %s", h.Cdr, ivr[0].ID)
	}
	if len(local) != 1 || local[0].Call != "" || local[0].Type != "LO" {
		t.Fatalf("extension call's records = %+v, want one, of no IVR call", local)
	}
	if want, _ := time.ParseInLocation("20060102150405", local[0].TimeEnd, time.UTC); !local[0].Ended.Equal(want) {
		t.Fatalf("ended = %s, want TimeEnd %s", local[0].Ended, local[0].TimeEnd)
	}
	// The duplicate reached the router, which kept the record once.
	again := 0
	for _, l := range r.logs.all() {
		if strings.Contains(l, "call record sent again") && strings.Contains(l, "cdr="+local[0].ID) {
			again++
		}
	}
	if again != 1 {
		t.Fatalf("%d duplicate records of %s logged, want 1", again, local[0].ID)
	}
}

// A call record that cannot be kept with its IVR call (its history entry
// does not read) is still stored among all records, in the same write.
func TestCdrKeptWhenItsCallCannotBe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ivrd.db")
	store, err := engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	// The device's callid 77 names ivrd's call c1, whose history entry
	// does not read.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("cdr_index")).Put([]byte("om1/77"), []byte("c1")); err != nil {
			return err
		}
		return tx.Bucket([]byte("history")).Put([]byte("c1"), []byte("{"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	store, err = engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	res, err := store.AttachAndKeepCdr(engine.Cdr{Device: "om1", CallID: "77", Ended: time.Now(),
		CdrRecord: engine.CdrRecord{ID: "c77", Type: "IN", CPN: "13800000001"}}, time.Now())
	if err != nil || res.AttachErr == nil || res.CallID != "" || !res.Kept {
		t.Fatalf("AttachAndKeepCdr = %+v, %v; want kept, with the attach error and no call", res, err)
	}
	p, err := store.SearchCdrs(engine.CdrQuery{Limit: 10})
	if err != nil || len(p.Cdrs) != 1 || p.Cdrs[0].ID != "c77" || p.Cdrs[0].Call != "" {
		t.Fatalf("records = %+v, %v", p.Cdrs, err)
	}
}
