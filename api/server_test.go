package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
)

const token = "s3cret-token-for-tests"

// now is the clock the test servers read "at" against: 09:00 UTC, 17:00 in
// Shanghai.
var now = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// fakeBackend is a daemon as the API sees it, in memory.
type fakeBackend struct {
	mu          sync.Mutex
	jobs        []engine.Job // newest last
	dialed      []engine.DialRequest
	live        []api.Call
	history     map[string]engine.HistoryEntry
	flows       []api.FlowInfo
	reloads     int
	reloadErr   error
	kv          map[string]map[string]json.RawMessage
	kvErr       error
	redirects   []string
	redirectErr error
	notReady    bool
	searches    []engine.HistoryQuery
}

func (f *fakeBackend) Dial(req engine.DialRequest) (engine.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.To == "" {
		return engine.Job{}, &engine.FieldError{Field: "to", Msg: "the number to call is required"}
	}
	f.dialed = append(f.dialed, req)
	id := req.ID
	if id == "" {
		id = fmt.Sprintf("job-%d", len(f.jobs)+1)
	}
	due := req.At
	if due.IsZero() {
		due = now
	}
	j := engine.Job{ID: id, To: req.To, Flow: req.Flow, Vars: req.Vars, State: engine.JobScheduled, Due: due, Created: now, Source: req.Source, Webhook: req.Webhook}
	f.jobs = append(f.jobs, j)
	return j, nil
}

func (f *fakeBackend) Jobs() ([]engine.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]engine.Job, 0, len(f.jobs))
	for i := len(f.jobs) - 1; i >= 0; i-- {
		out = append(out, f.jobs[i])
	}
	return out, nil
}

func (f *fakeBackend) Job(id string) (engine.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, j := range f.jobs {
		if j.ID == id {
			return j, nil
		}
	}
	return engine.Job{}, engine.ErrNoJob
}

func (f *fakeBackend) CancelJob(id string) (engine.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, j := range f.jobs {
		if j.ID == id {
			if j.Final() {
				return j, engine.ErrJobOver
			}
			f.jobs[i].State = engine.JobCancelled
			return f.jobs[i], nil
		}
	}
	return engine.Job{}, engine.ErrNoJob
}

func (f *fakeBackend) Redirect(device string, leg engine.Leg, flow string, vars json.RawMessage) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.redirectErr != nil {
		return "", f.redirectErr
	}
	f.redirects = append(f.redirects, fmt.Sprintf("%s|%s|%s|%s", device, leg, flow, vars))
	return "call-new", nil
}

func (f *fakeBackend) LiveCalls() []api.Call { return f.liveCalls() }

func (f *fakeBackend) liveCalls() []api.Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.Call(nil), f.live...)
}

func (f *fakeBackend) setLive(calls ...api.Call) {
	f.mu.Lock()
	f.live = calls
	f.mu.Unlock()
}

func (f *fakeBackend) History(id string) (engine.HistoryEntry, error) {
	if h, ok := f.history[id]; ok {
		return h, nil
	}
	return engine.HistoryEntry{}, fmt.Errorf("history of %s: %w", id, engine.ErrNoCall)
}

func (f *fakeBackend) LiveCall(id string) (api.Call, bool) {
	for _, c := range f.liveCalls() {
		if c.ID == id {
			return c, true
		}
	}
	return api.Call{}, false
}

func (f *fakeBackend) SearchHistory(q engine.HistoryQuery) (engine.HistoryPage, error) {
	f.mu.Lock()
	f.searches = append(f.searches, q)
	f.mu.Unlock()
	var out engine.HistoryPage
	for _, id := range []string{"call-4", "call-3", "call-2", "call-1"} {
		if h, ok := f.history[id]; ok && (q.Limit == 0 || len(out.Calls) < q.Limit) {
			out.Calls = append(out.Calls, h)
		}
	}
	return out, nil
}

func (f *fakeBackend) Flows() []api.FlowInfo { return f.flows }

func (f *fakeBackend) ReloadFlows() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	return f.reloadErr
}

func (f *fakeBackend) KV(flow string) (map[string]json.RawMessage, error) {
	if f.kvErr != nil {
		return nil, f.kvErr
	}
	return f.kv[flow], nil
}

func (f *fakeBackend) Ready() bool { return !f.notReady }

func newFake() *fakeBackend {
	started := now.Add(-time.Minute)
	return &fakeBackend{
		live: []api.Call{{ID: "call-live", Live: true, Device: "om1", Leg: "visitor 3", From: "13800000001", To: "60001",
			Direction: "in", Flow: "main", FlowHash: "abc", State: "playing user_welcome", Started: started}},
		history: map[string]engine.HistoryEntry{
			"call-1": {CallRecord: engine.CallRecord{ID: "call-1", Device: "om1", Leg: engine.Leg{Kind: "visitor", ID: "7"},
				From: "13800000002", To: "60001", Direction: "in", Flow: "main", FlowHash: "abc", Started: started},
				Ended: now, Outcome: "transferred", Target: "ext 201", Steps: 4,
				Path: []engine.PathEntry{{At: started, Kind: "prompt", Value: "user_welcome"}, {At: started, Kind: "keys", Value: "1"}}},
		},
		flows: []api.FlowInfo{{Name: "main", Hash: "abc", Path: "flows/main.lua"}, {Name: "survey", Error: "flows/survey.lua:3: syntax error"}},
		kv:    map[string]map[string]json.RawMessage{"survey": {"answers": json.RawMessage(`[{"q1":5}]`), "count": json.RawMessage(`7`)}},
	}
}

// newServer serves the API over fake on a loopback port.
func newServer(t *testing.T, fake *fakeBackend, edit func(*api.Options)) *httptest.Server {
	t.Helper()
	opt := api.Options{Token: token, Now: func() time.Time { return now }, MaxBody: 4096}
	if edit != nil {
		edit(&opt)
	}
	s, err := api.New(fake, opt)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request with the token and decodes the JSON answer into out
// (when not nil); it returns the status.
func do(t *testing.T, srv *httptest.Server, method, path, body string, out any) int {
	t.Helper()
	return doAuth(t, srv, method, path, body, "Bearer "+token, out)
}

func doAuth(t *testing.T, srv *httptest.Server, method, path, body, auth string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(path, "/api/") && ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, want application/json (body %s)", method, path, ct, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: answer %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

func TestNewNeedsAToken(t *testing.T) {
	if _, err := api.New(newFake(), api.Options{}); !errors.Is(err, api.ErrNoToken) {
		t.Fatalf("New without a token: %v, want ErrNoToken", err)
	}
}

func TestAuth(t *testing.T) {
	srv := newServer(t, newFake(), nil)
	for _, c := range []struct {
		name, auth string
		want       int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusUnauthorized},
		{"token prefix", "Bearer " + token[:5], http.StatusUnauthorized},
		{"other scheme", "Basic " + token, http.StatusUnauthorized},
		{"right token", "Bearer " + token, http.StatusOK},
		{"scheme in lower case", "bearer " + token, http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			var e api.Error
			got := doAuth(t, srv, "GET", "/api/v1/flows", "", c.auth, &e)
			if got != c.want {
				t.Fatalf("status %d, want %d", got, c.want)
			}
			if c.want == http.StatusUnauthorized && e.Msg == "" {
				t.Fatalf("401 without an error message")
			}
		})
	}
	// Unknown paths under /api/ need the token too: no probing.
	if got := doAuth(t, srv, "GET", "/api/v1/nothing", "", "", nil); got != http.StatusUnauthorized {
		t.Fatalf("unknown path without a token: %d, want 401", got)
	}
	resp, err := http.Get(srv.URL + "/api/v1/jobs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Fatalf("WWW-Authenticate %q", got)
	}
}

func TestProbes(t *testing.T) {
	fake := newFake()
	srv := newServer(t, fake, nil)
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	if code, body := get("/healthz"); code != 200 || body != "ok" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 200 || body != "ready" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	fake.notReady = true
	if code, body := get("/readyz"); code != 503 || body != "draining" {
		t.Fatalf("/readyz while draining: %d %q", code, body)
	}
}

func TestUnknownEndpointAndMethod(t *testing.T) {
	srv := newServer(t, newFake(), nil)
	var e api.Error
	if got := do(t, srv, "GET", "/api/v1/nothing", "", &e); got != 404 || e.Msg == "" {
		t.Fatalf("unknown endpoint: %d %+v", got, e)
	}
	e = api.Error{}
	if got := do(t, srv, "PUT", "/api/v1/jobs", "", &e); got != 405 || !strings.Contains(e.Msg, "GET") {
		t.Fatalf("wrong method: %d %+v", got, e)
	}
}

func TestDial(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	for _, c := range []struct {
		name, body string
		want       engine.DialRequest
	}{
		{"now", `{"to":"13800000001","flow":"wakeup"}`,
			engine.DialRequest{To: "13800000001", Flow: "wakeup", Source: "api"}},
		{"RFC 3339 with everything", `{"to":"13800000001","flow":"wakeup","vars":{"room":"1203"},"at":"2026-11-26T07:00:00+08:00",
		  "tz":"Asia/Shanghai","window":"07:00-22:00","retry":{"attempts":3,"delay":"5m","backoff":2,"on":["busy"]},
		  "device":"om1","trunk":"1","webhook":"https://crm.example.com/hook","id":"wake-1203"}`,
			engine.DialRequest{To: "13800000001", Flow: "wakeup", Vars: json.RawMessage(`{"room":"1203"}`),
				At: time.Date(2026, 11, 26, 7, 0, 0, 0, shanghai), TZ: "Asia/Shanghai", Window: "07:00-22:00",
				Retry:  engine.RetryPolicy{Attempts: 3, Delay: engine.Duration(5 * time.Minute), Backoff: 2, On: []string{"busy"}},
				Device: "om1", Trunk: "1", Webhook: "https://crm.example.com/hook", ID: "wake-1203", Source: "api"}},
		// 09:00 UTC is 17:00 in Shanghai: 07:00 there is tomorrow; 18:00
		// is still today.
		{"time of day tomorrow", `{"to":"1","flow":"wakeup","at":"07:00","tz":"Asia/Shanghai"}`,
			engine.DialRequest{To: "1", Flow: "wakeup", At: time.Date(2026, 11, 26, 7, 0, 0, 0, shanghai), TZ: "Asia/Shanghai", Source: "api"}},
		{"time of day today", `{"to":"1","flow":"wakeup","at":"18:00","tz":"Asia/Shanghai"}`,
			engine.DialRequest{To: "1", Flow: "wakeup", At: time.Date(2026, 11, 25, 18, 0, 0, 0, shanghai), TZ: "Asia/Shanghai", Source: "api"}},
		{"time of day in the server's zone", `{"to":"1","flow":"wakeup","at":"10:30"}`,
			engine.DialRequest{To: "1", Flow: "wakeup", At: time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC), Source: "api"}},
		{"retry delay in seconds, nulls", `{"to":"1","flow":"wakeup","retry":{"delay":90,"on":null},"vars":null}`,
			engine.DialRequest{To: "1", Flow: "wakeup", Retry: engine.RetryPolicy{Delay: engine.Duration(90 * time.Second)}, Source: "api"}},
		{"source is the API's", `{"to":"1","flow":"wakeup"}`,
			engine.DialRequest{To: "1", Flow: "wakeup", Source: "api"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := newFake()
			srv := newServer(t, fake, nil)
			var j engine.Job
			if got := do(t, srv, "POST", "/api/v1/calls", c.body, &j); got != http.StatusCreated {
				t.Fatalf("status %d, want 201", got)
			}
			if len(fake.dialed) != 1 {
				t.Fatalf("backend dialled %d times", len(fake.dialed))
			}
			got := fake.dialed[0]
			if !got.At.Equal(c.want.At) {
				t.Fatalf("at %s, want %s", got.At, c.want.At)
			}
			got.At, c.want.At = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("request\n got %+v\nwant %+v", got, c.want)
			}
			if j.ID == "" || j.To != c.want.To {
				t.Fatalf("answer %+v", j)
			}
		})
	}
}

func TestDialBadRequests(t *testing.T) {
	for _, c := range []struct {
		name, body string
		status     int
		field, msg string
	}{
		{"empty body", ``, 400, "", "the body is empty"},
		{"not JSON", `{"to":`, 400, "", "is not JSON"},
		{"an array", `[1,2]`, 400, "", "must be a JSON object"},
		{"two values", `{"to":"1","flow":"f"} {}`, 400, "", "more than one JSON value"},
		{"unknown field", `{"to":"1","flow":"f","tp":"2"}`, 400, "tp", "unknown field"},
		{"unknown retry field", `{"to":"1","flow":"f","retry":{"tries":3}}`, 400, "retry.tries", "unknown field"},
		{"retry not an object", `{"to":"1","flow":"f","retry":3}`, 400, "retry", "must be a JSON object"},
		{"to a number", `{"to":13800000001,"flow":"f"}`, 400, "to", "must be a string"},
		{"vars not an object", `{"to":"1","flow":"f","vars":[1]}`, 400, "vars", "must be a JSON object"},
		{"retry attempts not a number", `{"to":"1","flow":"f","retry":{"attempts":"x"}}`, 400, "retry.attempts", "whole number"},
		{"retry delay", `{"to":"1","flow":"f","retry":{"delay":"soon"}}`, 400, "retry.delay", "soon"},
		{"retry on", `{"to":"1","flow":"f","retry":{"on":"busy"}}`, 400, "retry.on", "list of outcomes"},
		{"at", `{"to":"1","flow":"f","at":"tomorrow"}`, 400, "at", `"tomorrow" is not a time`},
		{"tz", `{"to":"1","flow":"f","at":"07:00","tz":"Mars/Base"}`, 400, "tz", "unknown time zone"},
		{"webhook", `{"to":"1","flow":"f","webhook":"ftp://x/y"}`, 400, "webhook", "not an http"},
		{"refused by the engine", `{"flow":"f"}`, 400, "to", "required"},
		{"too big", `{"to":"1","flow":"f","vars":{"x":"` + strings.Repeat("a", 5000) + `"}}`, 413, "", "passes 4096 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := newFake()
			srv := newServer(t, fake, nil)
			var e api.Error
			got := do(t, srv, "POST", "/api/v1/calls", c.body, &e)
			if got != c.status || e.Field != c.field || !strings.Contains(e.Msg, c.msg) {
				t.Fatalf("got %d %+v; want %d field %q, message with %q", got, e, c.status, c.field, c.msg)
			}
			if c.field != "to" && len(fake.dialed) != 0 {
				t.Fatalf("the backend was asked to dial %+v", fake.dialed)
			}
		})
	}
}

func TestDialSameIDTwice(t *testing.T) {
	fake := newFake()
	srv := newServer(t, fake, nil)
	body := `{"to":"1","flow":"wakeup","id":"wake-1203"}`
	var a, b engine.Job
	if got := do(t, srv, "POST", "/api/v1/calls", body, &a); got != 201 {
		t.Fatalf("first: %d", got)
	}
	if got := do(t, srv, "POST", "/api/v1/calls", body, &b); got != 200 {
		t.Fatalf("again: %d, want 200 with the job already made", got)
	}
	if a.ID != "wake-1203" || b.ID != a.ID || len(fake.dialed) != 1 {
		t.Fatalf("jobs %s, %s; dialled %d times", a.ID, b.ID, len(fake.dialed))
	}
}

func TestJobs(t *testing.T) {
	fake := newFake()
	srv := newServer(t, fake, nil)
	for i := 0; i < 3; i++ {
		do(t, srv, "POST", "/api/v1/calls", fmt.Sprintf(`{"to":"%d","flow":"wakeup","webhook":"https://u:pw@crm.example.com/hook?token=hooktoken42"}`, i), nil)
	}
	fake.jobs[0].State = engine.JobDone
	// Every answer shows a job's webhook without the credentials and
	// query string it was given.
	const shownHook = "https://crm.example.com/hook"
	for _, path := range []string{"/api/v1/jobs", "/api/v1/jobs/job-1"} {
		var body json.RawMessage
		if got := do(t, srv, "GET", path, "", &body); got != 200 || strings.Contains(string(body), "hooktoken") ||
			strings.Contains(string(body), "pw@") || !strings.Contains(string(body), `"`+shownHook+`"`) {
			t.Fatalf("GET %s: %d %s", path, got, body)
		}
	}

	var list api.JobList
	if got := do(t, srv, "GET", "/api/v1/jobs", "", &list); got != 200 || len(list.Jobs) != 3 || list.Jobs[0].ID != "job-3" {
		t.Fatalf("jobs: %d %+v", got, list)
	}
	list = api.JobList{}
	if got := do(t, srv, "GET", "/api/v1/jobs?state=done", "", &list); got != 200 || len(list.Jobs) != 1 || list.Jobs[0].ID != "job-1" {
		t.Fatalf("done jobs: %d %+v", got, list)
	}
	list = api.JobList{}
	if got := do(t, srv, "GET", "/api/v1/jobs?limit=2", "", &list); got != 200 || len(list.Jobs) != 2 {
		t.Fatalf("2 jobs: %d %+v", got, list)
	}
	var e api.Error
	if got := do(t, srv, "GET", "/api/v1/jobs?state=asleep", "", &e); got != 400 || e.Field != "state" {
		t.Fatalf("bad state: %d %+v", got, e)
	}
	e = api.Error{}
	if got := do(t, srv, "GET", "/api/v1/jobs?limit=-1", "", &e); got != 400 || e.Field != "limit" {
		t.Fatalf("bad limit: %d %+v", got, e)
	}

	var j engine.Job
	if got := do(t, srv, "GET", "/api/v1/jobs/job-2", "", &j); got != 200 || j.ID != "job-2" {
		t.Fatalf("job-2: %d %+v", got, j)
	}
	if got := do(t, srv, "GET", "/api/v1/jobs/job-9", "", nil); got != 404 {
		t.Fatalf("unknown job: %d", got)
	}

	// Cancel: 200, then 409 (it has ended), 404 for an unknown id.
	j = engine.Job{}
	if got := do(t, srv, "DELETE", "/api/v1/jobs/job-2", "", &j); got != 200 || j.State != engine.JobCancelled || j.Webhook != shownHook {
		t.Fatalf("cancel: %d %+v", got, j)
	}
	e = api.Error{}
	if got := do(t, srv, "DELETE", "/api/v1/jobs/job-2", "", &e); got != 409 || !strings.Contains(e.Msg, "cancelled") {
		t.Fatalf("cancel again: %d %+v", got, e)
	}
	if got := do(t, srv, "DELETE", "/api/v1/jobs/job-9", "", nil); got != 404 {
		t.Fatalf("cancel unknown: %d", got)
	}
}

func TestCalls(t *testing.T) {
	srv := newServer(t, newFake(), nil)
	var list api.CallList
	if got := do(t, srv, "GET", "/api/v1/calls", "", &list); got != 200 || len(list.Calls) != 1 ||
		list.Calls[0].ID != "call-live" || list.Calls[0].Leg != "visitor 3" || list.Calls[0].State != "playing user_welcome" || !list.Calls[0].Live {
		t.Fatalf("live calls: %d %+v", got, list)
	}
	var c api.Call
	if got := do(t, srv, "GET", "/api/v1/calls/call-live", "", &c); got != 200 || !c.Live || c.Flow != "main" {
		t.Fatalf("live call: %d %+v", got, c)
	}
	c = api.Call{}
	if got := do(t, srv, "GET", "/api/v1/calls/call-1", "", &c); got != 200 || c.Live || c.Outcome != "transferred" ||
		c.Leg != "visitor 7" || len(c.Path) != 2 || c.Path[1].Value != "1" || c.Ended.IsZero() {
		t.Fatalf("ended call: %d %+v", got, c)
	}
	if got := do(t, srv, "GET", "/api/v1/calls/call-9", "", nil); got != 404 {
		t.Fatalf("unknown call: %d", got)
	}
	list = api.CallList{}
	if got := do(t, srv, "GET", "/api/v1/history?limit=5", "", &list); got != 200 || len(list.Calls) != 1 || list.Calls[0].ID != "call-1" {
		t.Fatalf("history: %d %+v", got, list)
	}
	var e api.Error
	if got := do(t, srv, "GET", "/api/v1/history?limit=5000", "", &e); got != 400 || e.Field != "limit" {
		t.Fatalf("history limit: %d %+v", got, e)
	}
}

func TestRedirect(t *testing.T) {
	for _, c := range []struct {
		name, id, body string
		backendErr     error
		status         int
		field, msg     string
		redirected     string
	}{
		{"a device leg", "om1:visitor:14", `{"flow":"survey","vars":{"agent":"201"}}`, nil, 201, "", "",
			`om1|visitor 14|survey|{"agent":"201"}`},
		{"an outer leg without vars", "om1:outer:2", `{"flow":"survey"}`, nil, 201, "", "", `om1|outer 2|survey|`},
		{"a call ivrd transferred", "call-1", `{"flow":"survey"}`, nil, 201, "", "", `om1|visitor 7|survey|`},
		{"a call in the IVR", "call-live", `{"flow":"survey"}`, nil, 409, "", "is in the IVR", ""},
		{"a leg in the IVR", "om1:visitor:3", `{"flow":"survey"}`, nil, 409, "", "is in the IVR already", ""},
		{"an unknown call", "call-9", `{"flow":"survey"}`, nil, 404, "", "DEVICE:KIND:ID", ""},
		{"no flow", "om1:visitor:14", `{}`, nil, 400, "flow", "required", ""},
		{"vars not an object", "om1:visitor:14", `{"flow":"survey","vars":"x"}`, nil, 400, "vars", "JSON object", ""},
		{"leg in the body", "om1:visitor:14", `{"flow":"survey","leg":"visitor 15"}`, nil, 400, "leg", "unknown field", ""},
		{"the leg is gone", "om1:visitor:14", `{"flow":"survey"}`, fmt.Errorf("redirect: visitor 14 on om1: %w", engine.ErrGone), 404, "", "gone", ""},
		{"refused by the engine", "om1:visitor:14", `{"flow":"nope"}`, &engine.FieldError{Field: "flow", Msg: `no flow "nope" is loaded`}, 400, "flow", "no flow", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := newFake()
			fake.redirectErr = c.backendErr
			srv := newServer(t, fake, nil)
			var out struct {
				api.Error
				api.Redirected
			}
			got := do(t, srv, "POST", "/api/v1/calls/"+c.id+"/flow", c.body, &out)
			if got != c.status || out.Field != c.field || !strings.Contains(out.Msg, c.msg) {
				t.Fatalf("got %d %+v; want %d field %q message with %q", got, out.Error, c.status, c.field, c.msg)
			}
			if c.redirected != "" {
				if len(fake.redirects) != 1 || fake.redirects[0] != c.redirected {
					t.Fatalf("backend redirected %q, want %q", fake.redirects, c.redirected)
				}
				if out.ID != "call-new" || out.Flow != "survey" {
					t.Fatalf("answer %+v", out.Redirected)
				}
			} else if len(fake.redirects) != 0 {
				t.Fatalf("backend redirected %q", fake.redirects)
			}
		})
	}
}

func TestParseLegRef(t *testing.T) {
	for _, c := range []struct {
		in     string
		device string
		leg    engine.Leg
		ok     bool
	}{
		{"om1:visitor:14", "om1", engine.Leg{Kind: "visitor", ID: "14"}, true},
		{"front-desk:outer:3", "front-desk", engine.Leg{Kind: "outer", ID: "3"}, true},
		{"om1:ext:201", "", engine.Leg{}, false},
		{"om1:visitor:", "", engine.Leg{}, false},
		{"20261125T090000-1-abcdef", "", engine.Leg{}, false},
		{"a:b:visitor:1", "", engine.Leg{}, false},
	} {
		d, leg, ok := api.ParseLegRef(c.in)
		if d != c.device || leg != c.leg || ok != c.ok {
			t.Errorf("ParseLegRef(%q) = %q, %v, %v; want %q, %v, %v", c.in, d, leg, ok, c.device, c.leg, c.ok)
		}
	}
}

func TestFlows(t *testing.T) {
	fake := newFake()
	srv := newServer(t, fake, nil)
	var list api.FlowList
	if got := do(t, srv, "GET", "/api/v1/flows", "", &list); got != 200 || !reflect.DeepEqual(list.Flows, fake.flows) {
		t.Fatalf("flows: %d %+v", got, list)
	}
	// A reload whose failures are files that do not load lists them.
	fake.reloadErr = errors.New("flows/survey.lua:3: syntax error")
	list = api.FlowList{}
	if got := do(t, srv, "POST", "/api/v1/flows/reload", "", &list); got != 200 || len(list.Flows) != 2 || list.Flows[1].Error == "" || fake.reloads != 1 {
		t.Fatalf("reload: %d %+v, %d reloads", got, list, fake.reloads)
	}
	// A folder that cannot be read is the server's failure.
	fake.flows = fake.flows[:1]
	fake.reloadErr = errors.New("read flows folder: permission denied")
	var e api.Error
	if got := do(t, srv, "POST", "/api/v1/flows/reload", "", &e); got != 500 || !strings.Contains(e.Msg, "permission denied") {
		t.Fatalf("reload of an unreadable folder: %d %+v", got, e)
	}
}

func TestStores(t *testing.T) {
	fake := newFake()
	srv := newServer(t, fake, nil)
	var st api.Store
	if got := do(t, srv, "GET", "/api/v1/stores/survey", "", &st); got != 200 || st.Flow != "survey" ||
		compact(st.Values["answers"]) != `[{"q1":5}]` || compact(st.Values["count"]) != "7" {
		t.Fatalf("store: %d %+v", got, st)
	}
	st = api.Store{}
	if got := do(t, srv, "GET", "/api/v1/stores/main", "", &st); got != 200 || st.Values == nil || len(st.Values) != 0 {
		t.Fatalf("empty store: %d %+v", got, st)
	}
	var v api.StoreValue
	if got := do(t, srv, "GET", "/api/v1/stores/survey/count", "", &v); got != 200 || compact(v.Value) != "7" || v.Key != "count" {
		t.Fatalf("store key: %d %+v", got, v)
	}
	if got := do(t, srv, "GET", "/api/v1/stores/survey/nope", "", nil); got != 404 {
		t.Fatalf("missing key: %d", got)
	}
	var e api.Error
	if got := do(t, srv, "GET", "/api/v1/stores/..%2Fetc", "", &e); got != 400 || e.Field != "flow" {
		t.Fatalf("bad flow name: %d %+v", got, e)
	}
	fake.kvErr = api.ErrNotAvailable
	if got := do(t, srv, "GET", "/api/v1/stores/survey", "", nil); got != 501 {
		t.Fatalf("store listing not available: %d, want 501", got)
	}
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "not JSON: " + string(raw)
	}
	return b.String()
}

func TestClient(t *testing.T) {
	fake := newFake()
	srv := newServer(t, fake, nil)
	c := &api.Client{BaseURL: srv.URL + "/", Token: token}
	ctx := context.Background()
	at := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	j, err := c.Dial(ctx, engine.DialRequest{To: "13800000001", Flow: "wakeup", At: at, Vars: json.RawMessage(`{"room":"1203"}`),
		Retry: engine.RetryPolicy{Attempts: 3, Delay: engine.Duration(5 * time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	if !j.Due.Equal(at) || fake.dialed[0].Retry.Delay != engine.Duration(5*time.Minute) || string(fake.dialed[0].Vars) != `{"room":"1203"}` {
		t.Fatalf("job %+v from request %+v", j, fake.dialed[0])
	}
	jobs, err := c.Jobs(ctx, engine.JobScheduled)
	if err != nil || len(jobs) != 1 || jobs[0].ID != j.ID {
		t.Fatalf("jobs: %+v, %v", jobs, err)
	}
	if got, err := c.Job(ctx, j.ID); err != nil || got.ID != j.ID {
		t.Fatalf("job: %+v, %v", got, err)
	}
	if got, err := c.CancelJob(ctx, j.ID); err != nil || got.State != engine.JobCancelled {
		t.Fatalf("cancel: %+v, %v", got, err)
	}
	var e *api.Error
	if _, err := c.CancelJob(ctx, j.ID); !errors.As(err, &e) || e.Status != 409 {
		t.Fatalf("cancel again: %v, want a 409 *api.Error", err)
	}
	if _, err := c.Dial(ctx, engine.DialRequest{Flow: "wakeup"}); !errors.As(err, &e) || e.Status != 400 || e.Field != "to" {
		t.Fatalf("dial without a number: %v, want a 400 naming to", err)
	}
	bad := &api.Client{BaseURL: srv.URL, Token: "wrong"}
	if _, err := bad.Jobs(ctx, ""); !errors.As(err, &e) || e.Status != 401 {
		t.Fatalf("wrong token: %v, want a 401 *api.Error", err)
	}
}
