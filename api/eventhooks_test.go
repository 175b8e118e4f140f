package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
)

const hookSecret = "hook-secret-0123456789"

// hookReceiver is an event webhook's receiver over real loopback HTTP. It
// checks every request's signature and headers, and keeps the events of
// each batch it processed (answered 2xx, or processed and then answered
// too late for ivrd), in the order it processed them.
type hookReceiver struct {
	*httptest.Server
	t      *testing.T
	secret string
	// answer, when set, decides the fate of request n (from 0): it may
	// answer itself (return true: the batch is not processed), or return
	// false to have the batch processed and answered 200.
	answer func(n int, w http.ResponseWriter, r *http.Request) bool

	mu       sync.Mutex
	requests int
	events   []engine.CallEvent // every processed event, in order, duplicates kept
	attempts []int
}

func newHookReceiver(t *testing.T, answer func(int, http.ResponseWriter, *http.Request) bool) *hookReceiver {
	t.Helper()
	rc := &hookReceiver{t: t, secret: hookSecret, answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if !api.VerifySignature([]byte(rc.secret), body, r.Header.Get(api.HeaderSignature)) {
		rc.t.Errorf("a delivery with a bad signature %q", r.Header.Get(api.HeaderSignature))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var b struct {
		Webhook string             `json:"webhook"`
		Events  []engine.CallEvent `json:"events"`
	}
	if err := json.Unmarshal(body, &b); err != nil || len(b.Events) == 0 {
		rc.t.Errorf("body %s: %v", body, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h := r.Header
	if h.Get(api.HeaderWebhook) != b.Webhook || h.Get(api.HeaderEvent) != api.EventBatch ||
		h.Get(api.HeaderFirstEvent) != strconv.FormatUint(b.Events[0].ID, 10) ||
		h.Get(api.HeaderLastEvent) != strconv.FormatUint(b.Events[len(b.Events)-1].ID, 10) {
		rc.t.Errorf("headers %v do not describe the batch %s", h, body)
	}
	attempt, _ := strconv.Atoi(h.Get(api.HeaderAttempt))
	rc.mu.Lock()
	n := rc.requests
	rc.requests++
	rc.mu.Unlock()
	if rc.answer != nil && rc.answer(n, w, r) {
		return
	}
	rc.mu.Lock()
	rc.events = append(rc.events, b.Events...)
	rc.attempts = append(rc.attempts, attempt)
	rc.mu.Unlock()
}

// got returns the processed events' ids, in processing order, and the
// same deduplicated (first occurrence kept).
func (rc *hookReceiver) got() (all, unique []uint64) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	seen := map[uint64]bool{}
	for _, e := range rc.events {
		all = append(all, e.ID)
		if !seen[e.ID] {
			seen[e.ID] = true
			unique = append(unique, e.ID)
		}
	}
	return all, unique
}

func (rc *hookReceiver) count() int {
	_, u := rc.got()
	return len(u)
}

// wantIDs checks that ids are exactly first..last, in order.
func wantIDs(t *testing.T, ids []uint64, first, last uint64) {
	t.Helper()
	if len(ids) != int(last-first+1) {
		t.Fatalf("got %d events, want %d (%d–%d): %v", len(ids), last-first+1, first, last, ids)
	}
	for i, id := range ids {
		if id != first+uint64(i) {
			t.Fatalf("event %d is id %d, want %d (out of order or missing): %v", i, id, first+uint64(i), ids)
		}
	}
}

// hookRig is an event log in a real state file with its webhooks.
type hookRig struct {
	path  string
	store *engine.BoltStore
	log   *engine.EventLog
	hooks *api.EventHooks
	logs  *logLines
}

// openHookRig opens the state file at path, its event log and the
// webhooks; before, when set, runs on the store before the webhooks
// start.
func openHookRig(t *testing.T, path string, hooks []api.EventHook, before func(*engine.BoltStore, *engine.EventLog)) *hookRig {
	t.Helper()
	store, err := engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := engine.OpenEventLog(engine.EventLogOptions{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	rig := &hookRig{path: path, store: store, log: l, logs: &logLines{}}
	if before != nil {
		before(store, l)
	}
	rig.hooks, err = api.StartEventHooks(api.EventHooksOptions{
		Hooks: hooks, Log: l, Store: store, LogEvery: time.Hour,
		Logger: hclog.New(&hclog.LoggerOptions{Output: rig.logs, Level: hclog.Debug}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rig.close)
	return rig
}

// close stops the webhooks, the log and the store, as the daemon does.
func (rig *hookRig) close() {
	rig.hooks.Close()
	rig.log.Close()
	rig.store.Close()
}

// publish logs n events of kind and waits until they are durable.
func (rig *hookRig) publish(t *testing.T, n int, e engine.CallEvent) {
	t.Helper()
	want := rig.log.LastID() + uint64(n)
	for i := 0; i < n; i++ {
		rig.log.Publish(e)
	}
	waitFor(t, "the events to be written", func() bool { return rig.log.LastID() >= want })
}

// hook is a webhook to url with a policy in milliseconds.
func hook(name, url string) api.EventHook {
	return api.EventHook{Name: name, URL: url, Secret: hookSecret, BatchSize: 7,
		Timeout: 200 * time.Millisecond, Backoff: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, GiveUpAfter: time.Minute}
}

// startAtZero gives the webhooks a cursor at 0, as if they had been
// configured before the first event.
func startAtZero(names ...string) func(*engine.BoltStore, *engine.EventLog) {
	return func(s *engine.BoltStore, _ *engine.EventLog) {
		for _, n := range names {
			if err := s.SetHookCursor(n, 0); err != nil {
				panic(err)
			}
		}
	}
}

// A receiver that fails at random — 500s, 503s and 429s with Retry-After,
// dropped connections, answers slower than the timeout — still gets every
// event, signed, and in id order once deduplicated by id.
func TestEventHooksFlakyReceiver(t *testing.T) {
	rnd := rand.New(rand.NewSource(7))
	var rndMu sync.Mutex
	failures := map[string]int{}
	rc := newHookReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		kinds := []string{"500", "retry-after", "429", "dropped", "slow"}
		rndMu.Lock()
		p := rnd.Intn(10)
		if p < len(kinds) {
			failures[kinds[p]]++
		}
		rndMu.Unlock()
		switch p {
		case 0:
			w.WriteHeader(http.StatusInternalServerError)
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		case 3:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		case 4:
			// Processed, but answered after ivrd gave up waiting: a
			// duplicate will come.
			time.Sleep(300 * time.Millisecond)
			return false
		default:
			return false
		}
		return true
	})
	rig := openHookRig(t, filepath.Join(t.TempDir(), "ivrd.db"), []api.EventHook{hook("crm", rc.URL)}, nil)
	kinds := []string{engine.KindCallIncoming, engine.KindCallRinging, engine.KindCallEnded, "flow.lead", engine.KindCdr}
	const total = 300
	for i := 0; i < total; i++ {
		rig.log.Publish(engine.CallEvent{Kind: kinds[i%len(kinds)], Device: "om1", Call: fmt.Sprintf("call-%d", i/5)})
		if i%50 == 0 {
			time.Sleep(10 * time.Millisecond) // live events as well as a backlog
		}
	}
	waitFor(t, "every event at the receiver", func() bool { return rc.count() >= total })
	all, unique := rc.got()
	wantIDs(t, unique, 1, total)
	rndMu.Lock()
	for _, f := range []string{"500", "retry-after", "429", "dropped", "slow"} {
		if failures[f] == 0 {
			t.Errorf("the receiver never failed with %s: the test is not testing it", f)
		}
	}
	rndMu.Unlock()
	if len(all) == len(unique) {
		t.Errorf("no duplicates although answers came too late: %d events", len(all))
	}
	waitFor(t, "the cursor at the end", func() bool {
		st, _ := rig.hooks.HookStatus("crm")
		return st.Cursor == total && st.State == "ok" && st.Failures == 0
	})
	st, _ := rig.hooks.HookStatus("crm")
	if st.Delivered < total || st.LastSuccess.IsZero() {
		t.Errorf("status %+v: want %d delivered and a last success", st, total)
	}
}

// A restart in the middle of a backlog resumes from the cursor kept in
// the state file: nothing is lost, and at most the batch in flight comes
// again.
func TestEventHooksResumeAfterRestart(t *testing.T) {
	var slow sync.Mutex // held to stall the receiver
	rc := newHookReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		slow.Lock()
		slow.Unlock()
		return false
	})
	path := filepath.Join(t.TempDir(), "ivrd.db")
	h := hook("crm", rc.URL)
	h.BatchSize = 5
	h.Timeout = 5 * time.Second
	rig := openHookRig(t, path, []api.EventHook{h}, nil)
	const total = 200
	rig.publish(t, total, engine.CallEvent{Kind: engine.KindCallEnded, Device: "om1"})
	waitFor(t, "a part of the backlog delivered", func() bool { return rc.count() >= 50 })
	slow.Lock() // the request in flight now is cut by the restart
	rig.close()
	_, before := rc.got()
	if len(before) >= total {
		t.Fatalf("the whole backlog went before the restart: %d", len(before))
	}
	slow.Unlock()

	openHookRig(t, path, []api.EventHook{h}, nil)
	waitFor(t, "every event after the restart", func() bool { return rc.count() >= total })
	all, unique := rc.got()
	wantIDs(t, unique, 1, total)
	if dup := len(all) - len(unique); dup > h.BatchSize {
		t.Errorf("%d events came twice; a durable cursor repeats at most one batch (%d)", dup, h.BatchSize)
	}
}

// Each webhook gets the events its filters keep: kinds exact or by
// prefix, devices, extensions.
func TestEventHooksFilters(t *testing.T) {
	rcs := map[string]*hookReceiver{}
	var hooks []api.EventHook
	for _, f := range []struct {
		name                 string
		kinds, devices, exts []string
	}{
		{"calls", []string{"call.*", "cdr"}, nil, nil},
		{"lead", []string{"flow.lead"}, nil, nil},
		{"om2", nil, []string{"om2"}, nil},
		{"desk", []string{"call.ringing"}, nil, []string{"201", "202"}},
		{"all", nil, nil, nil},
	} {
		rc := newHookReceiver(t, nil)
		h := hook(f.name, rc.URL)
		h.Kinds, h.Devices, h.Exts = f.kinds, f.devices, f.exts
		hooks = append(hooks, h)
		rcs[f.name] = rc
	}
	names := []string{"calls", "lead", "om2", "desk", "all"}
	rig := openHookRig(t, filepath.Join(t.TempDir(), "ivrd.db"), hooks, startAtZero(names...))
	evs := []engine.CallEvent{
		{Kind: "call.incoming", Device: "om1"},                // 1
		{Kind: "call.ringing", Device: "om1", Ext: "201"},     // 2
		{Kind: "call.ringing", Device: "om2", Ext: "203"},     // 3
		{Kind: "flow.lead", Device: "om2"},                    // 4
		{Kind: "flow.leader", Device: "om1"},                  // 5
		{Kind: "ext.state", Device: "om1", Ext: "201"},        // 6
		{Kind: "cdr", Device: "om2"},                          // 7
		{Kind: "call.answered", Device: "om1", Ext: "202"},    // 8
		{Kind: "call.ringing", Device: "om1", Ext: "202"},     // 9
		{Kind: "callback.requested", Device: "om1", Ext: "1"}, // 10
	}
	for _, e := range evs {
		rig.log.Publish(e)
	}
	want := map[string][]uint64{
		"calls": {1, 2, 3, 7, 8, 9},
		"lead":  {4},
		"om2":   {3, 4, 7},
		"desk":  {2, 9},
		"all":   {1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
	}
	for _, name := range names {
		waitFor(t, name+" to deal with every event", func() bool {
			st, _ := rig.hooks.HookStatus(name)
			return st.Cursor == uint64(len(evs)) && st.State == "ok"
		})
		_, got := rcs[name].got()
		if fmt.Sprint(got) != fmt.Sprint(want[name]) {
			t.Errorf("%s got %v, want %v", name, got, want[name])
		}
	}
}

// A webhook configured after events were logged starts with the events
// logged from then on.
func TestEventHooksNewWebhookStartsNow(t *testing.T) {
	rc := newHookReceiver(t, nil)
	path := filepath.Join(t.TempDir(), "ivrd.db")
	rig := openHookRig(t, path, nil, nil)
	rig.publish(t, 5, engine.CallEvent{Kind: "cdr"})
	rig.close()
	rig = openHookRig(t, path, []api.EventHook{hook("late", rc.URL)}, nil)
	rig.publish(t, 3, engine.CallEvent{Kind: "cdr"})
	waitFor(t, "the new events", func() bool { return rc.count() >= 3 })
	_, got := rc.got()
	wantIDs(t, got, 6, 8)
}

// Events pruned from the log before the webhook could deliver them are
// recorded as a failure, never skipped silently, and the rest is
// delivered.
func TestEventHooksPrunedBeforeDelivery(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		logged, kept              int
		missingFirst, missingLast uint64
	}{
		{"some left", 30, 10, 1, 20},
		{"none left", 5, 0, 1, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newHookReceiver(t, nil)
			rig := openHookRig(t, filepath.Join(t.TempDir(), "ivrd.db"), []api.EventHook{hook("crm", rc.URL)},
				func(s *engine.BoltStore, l *engine.EventLog) {
					if err := s.SetHookCursor("crm", 0); err != nil {
						t.Fatal(err)
					}
					for i := 0; i < tc.logged; i++ {
						l.Publish(engine.CallEvent{Kind: "cdr"})
					}
					waitFor(t, "the events to be written", func() bool { return l.LastID() >= uint64(tc.logged) })
					if n, err := s.PruneEvents(time.Now(), -1, tc.kept); err != nil || n != tc.logged-tc.kept {
						t.Fatalf("pruned %d, %v; want %d", n, err, tc.logged-tc.kept)
					}
				})
			waitFor(t, "the webhook at the end of the log", func() bool {
				st, _ := rig.hooks.HookStatus("crm")
				return st.Cursor == uint64(tc.logged) && st.State == "ok"
			})
			_, got := rc.got()
			if tc.kept > 0 {
				wantIDs(t, got, uint64(tc.logged-tc.kept+1), uint64(tc.logged))
			} else if len(got) > 0 {
				t.Fatalf("the receiver got %v, want nothing", got)
			}
			fs, total, err := rig.hooks.Failures("crm", 0, 10)
			if err != nil || total != 1 || len(fs) != 1 {
				t.Fatalf("failures %+v, total %d, %v; want one", fs, total, err)
			}
			if f := fs[0]; f.Reason != engine.HookMissing || f.First != tc.missingFirst || f.Last != tc.missingLast ||
				f.Count != int(tc.missingLast-tc.missingFirst+1) || len(f.Events) != 0 {
				t.Fatalf("failure %+v: want events %d–%d missing", f, tc.missingFirst, tc.missingLast)
			}
		})
	}
}

// A receiver down past the policy: its batch is set aside, visible in the
// API with its events' ids, and the deliverer goes on with the next
// events; once the receiver is back, the retry request delivers the batch
// and the failure is gone.
func TestEventHooksFailureAndRetry(t *testing.T) {
	var mu sync.Mutex
	down := true
	rc := newHookReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if down {
			w.WriteHeader(http.StatusBadGateway)
			return true
		}
		return false
	})
	h := hook("crm", rc.URL)
	h.GiveUpAfter = 500 * time.Millisecond
	rig := openHookRig(t, filepath.Join(t.TempDir(), "ivrd.db"), []api.EventHook{h}, func(s *engine.BoltStore, l *engine.EventLog) {
		startAtZero("crm")(s, l)
		for i := 0; i < 3; i++ { // logged before the webhook starts: one batch
			l.Publish(engine.CallEvent{Kind: "call.ended", Device: "om1"})
		}
		waitFor(t, "the events to be written", func() bool { return l.LastID() >= 3 })
	})
	srv := newServer(t, newFake(), func(o *api.Options) { o.EventHooks = rig.hooks; o.Events = rig.log })
	var list api.WebhookList
	waitFor(t, "the webhook retrying", func() bool {
		list = api.WebhookList{}
		do(t, srv, "GET", "/api/v1/webhooks", "", &list)
		return len(list.Webhooks) == 1 && list.Webhooks[0].State == "retrying" && list.Webhooks[0].Attempts > 0
	})
	if w := list.Webhooks[0]; w.Name != "crm" || w.LastStatus != 502 || w.LastError == "" || w.Backlog != 3 || !w.Signed {
		t.Errorf("webhook %+v: want crm retrying after a 502 with a backlog of 3", w)
	}
	var page api.FailurePage
	waitFor(t, "the batch set aside", func() bool {
		page = api.FailurePage{}
		do(t, srv, "GET", "/api/v1/webhooks/crm/failures", "", &page)
		return page.Total == 1
	})
	f := page.Failures[0]
	if f.Reason != engine.HookFailed || fmt.Sprint(f.EventIDs) != "[1 2 3]" || f.Status != 502 || f.Attempts < 2 || f.SetAside.IsZero() {
		t.Fatalf("failure %+v: want events 1–3, failed with 502 after several attempts", f)
	}
	if rc.count() != 0 {
		t.Fatalf("the receiver processed events while down")
	}
	var one api.HookStatus
	waitFor(t, "the webhook failing, its batch set aside", func() bool {
		one = api.HookStatus{}
		do(t, srv, "GET", "/api/v1/webhooks/crm", "", &one)
		return one.State == "failing" && one.Cursor == 3 && one.Backlog == 0 && one.Failures == 1 && one.NextAttempt.IsZero()
	})

	mu.Lock()
	down = false
	mu.Unlock()
	rig.publish(t, 2, engine.CallEvent{Kind: "call.ended", Device: "om1"})
	waitFor(t, "the next events", func() bool { return rc.count() == 2 })
	_, got := rc.got()
	wantIDs(t, got, 4, 5)
	waitFor(t, "the webhook ok again", func() bool {
		one = api.HookStatus{}
		do(t, srv, "GET", "/api/v1/webhooks/crm", "", &one)
		return one.State == "ok" && one.LastError == "" && one.Failures == 1
	})

	var res api.RetryResult
	path := fmt.Sprintf("/api/v1/webhooks/crm/failures/%d/retry", f.ID)
	if st := do(t, srv, "POST", path, "", &res); st != 200 || len(res.Delivered) != 1 || res.Remaining != 0 {
		t.Fatalf("retry: %d %+v; want 200, delivered, none remaining", st, res)
	}
	all, _ := rc.got()
	if fmt.Sprint(all) != "[4 5 1 2 3]" {
		t.Fatalf("the receiver got %v, want 4 5 then the retried 1 2 3", all)
	}
	if st := do(t, srv, "GET", "/api/v1/webhooks/crm/failures", "", &page); st != 200 || page.Total != 0 || len(page.Failures) != 0 {
		t.Fatalf("failures after the retry: %d %+v", st, page)
	}
	if st := do(t, srv, "POST", path, "", nil); st != 404 {
		t.Errorf("retrying it again: %d, want 404", st)
	}
	for _, p := range []string{"/api/v1/webhooks/nope", "/api/v1/webhooks/nope/failures"} {
		if st := do(t, srv, "GET", p, "", nil); st != 404 {
			t.Errorf("GET %s: %d, want 404", p, st)
		}
	}
	if st := do(t, srv, "POST", "/api/v1/webhooks/nope/failures/1/retry", "", nil); st != 404 {
		t.Errorf("retry on an unknown webhook: %d, want 404", st)
	}
	if st := do(t, srv, "GET", "/api/v1/webhooks/crm/failures?after=x", "", nil); st != 400 {
		t.Errorf("?after=x: %d, want 400", st)
	}
	if st := doAuth(t, srv, "GET", "/api/v1/webhooks", "", "", nil); st != 401 {
		t.Errorf("without the token: %d, want 401", st)
	}
}

// A receiver that refuses a batch (a 4xx other than 408 and 429) has it
// set aside after a few attempts; a retry it refuses again answers 502
// and keeps the failure, its attempt counted; the retry of all delivers
// every failure once the receiver takes them; a missing run cannot be
// sent again (409).
func TestEventHooksRefusedAndRetryAll(t *testing.T) {
	var mu sync.Mutex
	refuse := true
	rc := newHookReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return true
		}
		return false
	})
	h := hook("crm", rc.URL)
	h.BatchSize = 2
	rig := openHookRig(t, filepath.Join(t.TempDir(), "ivrd.db"), []api.EventHook{h}, func(s *engine.BoltStore, l *engine.EventLog) {
		s.SetHookCursor("crm", 0)
		for i := 0; i < 3; i++ {
			l.Publish(engine.CallEvent{Kind: "cdr"})
		}
		waitFor(t, "the events to be written", func() bool { return l.LastID() >= 3 })
		s.PruneEvents(time.Now(), -1, 2) // event 1 leaves before delivery
	})
	srv := newServer(t, newFake(), func(o *api.Options) { o.EventHooks = rig.hooks })
	var page api.FailurePage
	waitFor(t, "the missing run and the refused batch set aside", func() bool {
		page = api.FailurePage{}
		do(t, srv, "GET", "/api/v1/webhooks/crm/failures", "", &page)
		return page.Total == 2
	})
	missing, refused := page.Failures[0], page.Failures[1]
	if missing.Reason != engine.HookMissing || refused.Reason != engine.HookFailed || refused.Status != 422 || refused.Attempts != 3 {
		t.Fatalf("failures %+v: want the missing event 1, then 2–3 refused after 3 attempts", page.Failures)
	}
	var e api.Error
	if st := do(t, srv, "POST", fmt.Sprintf("/api/v1/webhooks/crm/failures/%d/retry", refused.ID), "", &e); st != 502 {
		t.Fatalf("retry refused again: %d %+v, want 502", st, e)
	}
	page = api.FailurePage{}
	do(t, srv, "GET", "/api/v1/webhooks/crm/failures?limit=1&after="+strconv.FormatUint(missing.ID, 10), "", &page)
	if len(page.Failures) != 1 || page.Failures[0].Attempts != 4 || page.Next != 0 {
		t.Fatalf("after a failed retry: %+v; want the failure kept with 4 attempts", page)
	}
	if st := do(t, srv, "POST", fmt.Sprintf("/api/v1/webhooks/crm/failures/%d/retry", missing.ID), "", nil); st != 409 {
		t.Fatalf("retry of a missing run: %d, want 409", st)
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	var res api.RetryResult
	if st := do(t, srv, "POST", "/api/v1/webhooks/crm/failures/retry", "", &res); st != 200 || len(res.Delivered) != 1 || res.Remaining != 1 {
		t.Fatalf("retry all: %d %+v; want the refused batch delivered, the missing run left", st, res)
	}
	_, got := rc.got()
	wantIDs(t, got, 2, 3)
	page = api.FailurePage{}
	do(t, srv, "GET", "/api/v1/webhooks/crm/failures?limit=1", "", &page)
	if page.Total != 1 || page.Failures[0].Reason != engine.HookMissing {
		t.Fatalf("left: %+v; want only the missing run", page)
	}
}

// A failing receiver is logged when it starts failing and when it comes
// back, not once per attempt.
func TestEventHooksLogFailingReceiverOnce(t *testing.T) {
	rc := newHookReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		if n < 20 {
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		return false
	})
	rig := openHookRig(t, filepath.Join(t.TempDir(), "ivrd.db"), []api.EventHook{hook("crm", rc.URL)}, startAtZero("crm"))
	rig.publish(t, 1, engine.CallEvent{Kind: "cdr"})
	waitFor(t, "the delivery", func() bool { return rc.count() == 1 })
	waitFor(t, "the recovery logged", func() bool { return countLines(rig.logs.String(), "taking deliveries again") == 1 })
	logs := rig.logs.String()
	if n := countLines(logs, "receiver failing"); n != 1 {
		t.Errorf("%d lines about the failing receiver after 20 failures, want 1:\n%s", n, logs)
	}
	if n := countLines(logs, "still failing"); n != 0 {
		t.Errorf("%d repeated lines within LogEvery, want 0:\n%s", n, logs)
	}
}

func countLines(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return n
}

// A receiver's Retry-After is honoured (up to max_backoff): the next
// attempt waits at least that long, although the backoff is shorter.
func TestEventHooksRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	rc := newHookReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	h := hook("crm", rc.URL)
	h.MaxBackoff = 5 * time.Second
	rig := openHookRig(t, filepath.Join(t.TempDir(), "ivrd.db"), []api.EventHook{h}, startAtZero("crm"))
	rig.publish(t, 1, engine.CallEvent{Kind: "cdr"})
	waitFor(t, "the delivery", func() bool { return rc.count() == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 2 {
		t.Fatalf("%d attempts, want 2", len(at))
	}
	if gap := at[1].Sub(at[0]); gap < 900*time.Millisecond {
		t.Errorf("the second attempt came %v after a Retry-After of 1 s", gap)
	}
}

// Close waits for a retry through the API that is waiting on its receiver,
// ending it, so that the retry records its attempt before the store is
// closed and nothing writes to it after; a retry after Close is refused.
func TestEventHooksCloseEndsRetry(t *testing.T) {
	asked := make(chan struct{}, 1)
	rc := newHookReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) bool {
		asked <- struct{}{}
		<-r.Context().Done() // never answers
		return true
	})
	h := hook("crm", rc.URL)
	h.Timeout = time.Minute
	var failure engine.HookFailure
	rig := openHookRig(t, filepath.Join(t.TempDir(), "ivrd.db"), []api.EventHook{h}, func(s *engine.BoltStore, l *engine.EventLog) {
		var err error
		failure, err = s.SetAside("crm", engine.HookFailure{Reason: engine.HookFailed, First: 1, Last: 1, Count: 1,
			Events: []engine.CallEvent{{ID: 1, Kind: "call.ended", Device: "om1"}}}, 0)
		if err != nil {
			t.Fatal(err)
		}
	})
	retried := make(chan error, 1)
	go func() {
		_, err := rig.hooks.Retry(context.Background(), "crm", failure.ID)
		retried <- err
	}()
	select {
	case <-asked:
	case <-time.After(20 * time.Second): // a hang detector
		t.Fatal("the retry never reached the receiver")
	}
	closed := make(chan struct{})
	go func() {
		rig.hooks.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(20 * time.Second): // a hang detector
		t.Fatal("Close hung on the retry")
	}
	select {
	case err := <-retried:
		var re *api.ReceiverError
		if !errors.As(err, &re) {
			t.Fatalf("the retry ended with %v, want a *ReceiverError", err)
		}
	default:
		t.Fatal("Close returned while a retry was still in flight: it would write to a closed store")
	}
	got, err := rig.store.HookFailure("crm", failure.ID)
	if err != nil || got.Attempts != 1 {
		t.Fatalf("failure %+v (%v): want its attempt recorded", got, err)
	}
	if _, err := rig.hooks.Retry(context.Background(), "crm", failure.ID); !errors.Is(err, engine.ErrShuttingDown) {
		t.Fatalf("a retry after Close: %v, want ErrShuttingDown", err)
	}
}

// A receiver's URL may carry a token in its query string or user info:
// neither shows in GET /api/v1/webhooks, its failures or the log when the
// receiver cannot be reached (the transport's error repeats the URL).
func TestEventHooksUnreachableShowNoURLSecrets(t *testing.T) {
	rc := newHookReceiver(t, nil)
	addr := strings.TrimPrefix(rc.URL, "http://")
	rc.Close() // nothing listens there any more
	h := hook("crm", "http://crm:hunter2@"+addr+"/events?token=tok-4711")
	h.GiveUpAfter = 50 * time.Millisecond
	rig := openHookRig(t, filepath.Join(t.TempDir(), "ivrd.db"), []api.EventHook{h}, startAtZero("crm"))
	srv := newServer(t, newFake(), func(o *api.Options) { o.EventHooks = rig.hooks; o.Events = rig.log })
	rig.publish(t, 1, engine.CallEvent{Kind: "cdr"})
	var page api.FailurePage
	waitFor(t, "the batch set aside", func() bool {
		page = api.FailurePage{}
		do(t, srv, "GET", "/api/v1/webhooks/crm/failures", "", &page)
		return page.Total == 1
	})
	var one api.HookStatus
	do(t, srv, "GET", "/api/v1/webhooks/crm", "", &one)
	if one.URL != "http://"+addr+"/events" || one.LastError == "" {
		t.Errorf("webhook %+v: want the URL without user info or query, and the last error", one)
	}
	shown := map[string]string{"the webhook's last_error": one.LastError, "the failure's error": page.Failures[0].Error, "the log": rig.logs.String()}
	for where, s := range shown {
		for _, secret := range []string{"tok-4711", "hunter2"} {
			if strings.Contains(s, secret) {
				t.Errorf("%s shows %q: %s", where, secret, s)
			}
		}
	}
}
