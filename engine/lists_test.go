package engine_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// listRecorder is a recorder that is also told of caller-list decisions.
type listRecorder struct{ *recorder }

func (l listRecorder) ListDecision(list, decision string) { l.add("list %s %s", list, decision) }

// reachFlow counts, in its store, every call its incoming handler sees.
const reachFlow = `
local f = {}
function f.incoming(call)
  ivr.store.incr("reached")
  call:play("user_welcome")
end
return f`

// blockRig is a rig whose router refuses the callers on the list
// "blocked", with the prompt user_blocked.
func blockRig(t *testing.T, o rigOptions) (*rig, listRecorder) {
	t.Helper()
	obs := listRecorder{newRecorder()}
	simEdit := o.sim
	o.sim = func(c *omsim.Config) {
		c.VoiceFiles = omsim.DefaultVoiceFiles()
		c.VoiceFiles["user_blocked"] = 0
		if simEdit != nil {
			simEdit(c)
		}
	}
	edit := o.config
	o.config = func(c *engine.Config) {
		c.Block = engine.Block{List: "blocked", Prompt: "user_blocked"}
		c.Observer = obs
		if edit != nil {
			edit(c)
		}
	}
	r := newRig(t, map[string]string{"main": reachFlow}, o)
	if _, _, err := r.router.Lists().Put("blocked", " 13900000009 ", "spam"); err != nil {
		t.Fatal(err)
	}
	return r, obs
}

func TestBlockedCallerNeverReachesAFlow(t *testing.T) {
	r, obs := blockRig(t, rigOptions{})

	blocked := r.call("13900000009")
	r.advance(5 * time.Second)
	if got, want := heard(blocked), []string{"user_blocked"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("the blocked caller heard %v, want %v", got, want)
	}
	if st := blocked.Info(); st.State != "ended" || st.EndReason != "cleared" {
		t.Fatalf("blocked call = %+v, want ended by ivrd (cleared)", st)
	}
	if v, ok, _ := r.store.Get("main", "reached"); ok {
		t.Fatalf("the flow's incoming ran for a blocked caller (reached = %s)", v)
	}
	if got := obs.matching("started"); len(got) != 0 {
		t.Fatalf("a blocked call started a flow: %v", got)
	}
	if got, want := obs.matching("list"), []string{"list blocked blocked"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("decisions = %v, want %v", got, want)
	}
	if !r.logged("caller on the block list", "call_id=", "from=13900000009", "list=blocked") {
		t.Fatalf("no log line of the refusal: %v", r.logs.all())
	}
	if live, _ := r.store.LiveCalls(); len(live) != 0 {
		t.Fatalf("a blocked call left a live record: %v", live)
	}

	// Someone else reaches the flow.
	other := r.call("13900000001")
	r.advance(5 * time.Second)
	if v, _, _ := r.store.Get("main", "reached"); string(v) != "1" {
		t.Fatalf("reached = %s, want 1 (the caller not on the list)", v)
	}
	if got := heard(other); len(got) == 0 || got[0] != "user_welcome" {
		t.Fatalf("the other caller heard %v", got)
	}

	// Taken off the list, the caller gets through.
	if ok, err := r.router.Lists().Delete("blocked", "13900000009"); !ok || err != nil {
		t.Fatalf("delete = %v, %v", ok, err)
	}
	again := r.call("13900000009")
	r.advance(5 * time.Second)
	if got := heard(again); len(got) == 0 || got[0] != "user_welcome" {
		t.Fatalf("after the delete the caller heard %v", got)
	}
}

func TestBlockedCallerHangingUpDuringThePrompt(t *testing.T) {
	r, _ := blockRig(t, rigOptions{sim: func(c *omsim.Config) { c.FileDuration = 10 * time.Second }})
	c := r.call("13900000009")
	if err := c.HangUp(); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.router.Wait()
	if r.router.Live() != 0 {
		t.Fatal("the blocked call's session is still live")
	}
	if v, ok, _ := r.store.Get("main", "reached"); ok {
		t.Fatalf("the flow ran (reached = %s)", v)
	}
}

func TestBlockedInviteIsRefused(t *testing.T) {
	r, obs := blockRig(t, rigOptions{sim: func(c *omsim.Config) { c.ControlBeforeAnswer = true }})

	blocked := r.call("13900000009")
	r.advance(time.Second)
	if st := blocked.Info(); st.State != "ended" || st.EndReason != "rejected" {
		t.Fatalf("blocked INVITE = %+v, want it rejected unanswered", st)
	}
	if got := heard(blocked); len(got) != 0 {
		t.Fatalf("a refused INVITE heard %v", got)
	}
	if v, ok, _ := r.store.Get("main", "reached"); ok {
		t.Fatalf("the flow ran for a refused INVITE (reached = %s)", v)
	}
	if got := obs.matching("list"); len(got) != 1 {
		t.Fatalf("decisions = %v, want one", got)
	}
	if !r.logged("caller on the block list", "report=INVITE") {
		t.Fatalf("no log line of the refusal: %v", r.logs.all())
	}

	// An INVITE from anyone else is accepted and reaches the flow.
	other := r.call("13900000001")
	r.advance(5 * time.Second)
	if got := heard(other); len(got) == 0 || got[0] != "user_welcome" {
		t.Fatalf("the other caller heard %v (%+v)", got, other.Info())
	}
}

func TestRouteRequiresAList(t *testing.T) {
	const transferTo = `
local f = {}
function f.incoming(call) call:transfer{ ext = "%s" } end
return f`
	obs := listRecorder{newRecorder()}
	r := newRig(t, map[string]string{
		"vip":  fmt.Sprintf(transferTo, "201"),
		"main": fmt.Sprintf(transferTo, "202"),
	}, rigOptions{config: func(c *engine.Config) {
		c.Routes = []engine.Route{{To: "*", List: "vip", Flow: "vip"}, {To: "*", Flow: "main"}}
		c.Observer = obs
	}})
	if _, _, err := r.router.Lists().Put("vip", "+86 138-0000-0001", "gold"); err != nil {
		t.Fatal(err)
	}
	vip := r.call("+8613800000001")
	r.advance(time.Second)
	other := r.call("+8613800000002")
	r.advance(time.Second)
	if got := vip.Info().Connected; got != "ext 201" {
		t.Fatalf("the caller on the list went to %q, want ext 201 (route vip)", got)
	}
	if got := other.Info().Connected; got != "ext 202" {
		t.Fatalf("the caller not on the list went to %q, want ext 202 (the next route)", got)
	}
	want := []string{"list vip member", "list vip not_member"}
	if got := obs.matching("list"); !reflect.DeepEqual(got, want) {
		t.Fatalf("decisions = %v, want %v", got, want)
	}
	if !r.logged("route list consulted", `from="+8613800000002"`, "list=vip", "decision=not_member", "call_id=") {
		t.Fatalf("no log line of the route decision: %v", r.logs.all())
	}
}

func TestListsContainsIsReplayedAfterACrash(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local vip = ivr.lists.contains("vip", call.from)
  call:gather{ prompt = "user_welcome", timeout = 5 }
  if vip then call:transfer{ ext = "201" } else call:transfer{ ext = "202" } end
end
return f`
	r, hit := crashingRig(t, 1, map[string]string{"main": flow})
	if _, _, err := r.router.Lists().Put("vip", "13800000001", ""); err != nil {
		t.Fatal(err)
	}
	call := r.call("13800000001")
	if !hit() {
		t.Fatal("no crash after the first step")
	}
	r.router.Close()
	// While ivrd is down the number leaves the list.
	if ok, err := r.store.DeleteListEntry("vip", "13800000001"); !ok || err != nil {
		t.Fatalf("delete = %v, %v", ok, err)
	}
	if n := r.restart(); n != 1 {
		t.Fatalf("recovered %d calls", n)
	}
	if r.router.Lists().Contains("vip", "13800000001") {
		t.Fatal("the restarted router still has the number on the list")
	}
	r.advance(time.Second)
	r.press(call, "7")
	r.advance(2 * time.Second)
	if got := call.Info().Connected; got != "ext 201" {
		t.Fatalf("the recovered call went to %q, want ext 201: the replay must see the answer it had", got)
	}
	// A new call asks the list as it is now.
	fresh := r.call("13800000001")
	r.advance(time.Second)
	r.press(fresh, "7")
	r.advance(2 * time.Second)
	if got := fresh.Info().Connected; got != "ext 202" {
		t.Fatalf("a new call went to %q, want ext 202", got)
	}
}

func TestListsContainsChecksItsArguments(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local ok, err = pcall(ivr.lists.contains, "no such list!", call.from)
  ivr.store.put("err", tostring(err))
  ivr.store.put("on", ivr.lists.contains("vip", "1 2 3"))
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	if _, _, err := r.router.Lists().Put("vip", "123", ""); err != nil {
		t.Fatal(err)
	}
	r.call("1")
	r.router.Wait()
	if v, _, _ := r.store.Get("main", "on"); string(v) != "true" {
		t.Fatalf("contains(vip, \"1 2 3\") = %s, want true (numbers are normalised)", v)
	}
	if v, _, _ := r.store.Get("main", "err"); !strings.Contains(string(v), "not a list name") {
		t.Fatalf("a bad list name raised %s", v)
	}
}

func TestListsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ivrd.db")
	st, err := engine.OpenBolt(path, engine.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	lists, err := engine.OpenLists(st, func() time.Time { return now }, "blocked")
	if err != nil {
		t.Fatal(err)
	}
	if got := lists.Names(); !reflect.DeepEqual(got, []engine.ListInfo{{Name: "blocked"}}) {
		t.Fatalf("names of a new file = %v, want the declared list, empty", got)
	}
	for _, n := range []string{"+86 139 0000 0009", "13900000008", "13900000007"} {
		if _, created, err := lists.Put("blocked", n, "note "+n); err != nil || !created {
			t.Fatalf("put %s = %v, %v", n, created, err)
		}
	}
	if _, _, err := lists.Put("vip", "200", ""); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if e, created, err := lists.Put("blocked", "13900000008", "changed"); err != nil || created || !e.Added.Equal(now.Add(-time.Hour)) {
		t.Fatalf("re-put = %+v, %v, %v; want the note replaced and the date kept", e, created, err)
	}
	if ok, err := lists.Delete("blocked", "13900000007"); !ok || err != nil {
		t.Fatalf("delete = %v, %v", ok, err)
	}
	if ok, err := lists.Delete("vip", "200"); !ok || err != nil {
		t.Fatalf("delete = %v, %v", ok, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = engine.OpenBolt(path, engine.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lists, err = engine.OpenLists(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	added := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	got, err := lists.Entries("blocked")
	if err != nil {
		t.Fatal(err)
	}
	want := []engine.ListEntry{
		{Number: "+8613900000009", Note: "note +86 139 0000 0009", Added: added},
		{Number: "13900000008", Note: "changed", Added: added},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopening: %+v, want %+v", got, want)
	}
	if !lists.Contains("blocked", "+86-139-0000-0009") {
		t.Fatal("Contains does not normalise the number it is asked")
	}
	if _, err := lists.Entries("vip"); !errors.Is(err, engine.ErrNoList) {
		t.Fatalf("the emptied list vip: %v, want ErrNoList (an empty list that no configuration names goes)", err)
	}

	// An offline compaction (ivrd state compact) keeps them.
	compacted := filepath.Join(t.TempDir(), "compacted.db")
	if err := st.CompactTo(compacted); err != nil {
		t.Fatal(err)
	}
	cst, err := engine.OpenBolt(compacted, engine.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cst.Close()
	all, err := cst.LoadLists()
	if err != nil || !reflect.DeepEqual(all["blocked"], want) {
		t.Fatalf("after compaction: %+v, %v; want %+v", all, err, want)
	}
}

func TestListsRejectBadInput(t *testing.T) {
	lists, err := engine.OpenLists(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ list, number, note, field string }{
		{"bad name", "1", "", "name"},
		{"", "1", "", "name"},
		{"vip", "", "", "number"},
		{"vip", "12/34", "", "number"},
		{"vip", "1+2", "", "number"},
		{"vip", "1", string(make([]byte, 300)), "note"},
	} {
		_, _, err := lists.Put(tc.list, tc.number, tc.note)
		var fe *engine.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("Put(%q, %q) = %v, want an error naming %s", tc.list, tc.number, err, tc.field)
		}
	}
	if _, err := lists.Delete("nope", "1"); !errors.Is(err, engine.ErrNoList) {
		t.Fatalf("delete from an unknown list: %v", err)
	}
}
