package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

const adminToken = "test-admin-token-0123456789"

func TestParseConfigAdminOutboundHTTP(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, "  "+adminToken+"\n")
	in := oneDevice + `
[admin]
listen = "127.0.0.1:8081"
token_file = "` + tokenFile + `"
webhook_secret = "hook"

[outbound]
max_concurrent = 10
per_second = 2          # an integer is a number of calls per second too
per_number = 2
window = "07:00-22:00"
tz = "Asia/Shanghai"
ring_timeout = "45s"

[http]
allow = ["crm.example.com", "10.0.0.5:8080"]
timeout = "2s"
`
	cfg, err := ParseConfig(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := cfg.Admin.token(); tok != adminToken || err != nil {
		t.Errorf("admin token: %q, %v", tok, err)
	}
	dial, err := cfg.Outbound.engine()
	want := engine.DialLimits{MaxConcurrent: 10, PerSecond: 2, PerNumber: 2, Window: "07:00-22:00", TZ: "Asia/Shanghai", RingTimeout: 45 * time.Second}
	if err != nil || dial != want {
		t.Errorf("outbound: %+v, %v; want %+v", dial, err, want)
	}
	if cfg.Outbound.location().String() != "Asia/Shanghai" {
		t.Errorf("outbound zone: %s", cfg.Outbound.location())
	}
	h, err := cfg.HTTP.engine()
	if err != nil || h.Timeout != 2*time.Second || len(h.Allow) != 2 || h.Allow[1] != "10.0.0.5:8080" {
		t.Errorf("http: %+v, %v", h, err)
	}

	// Left out: the admin API is off, limits are the engine's, ivr.http
	// reaches nothing and waits 5 s at most.
	cfg, err = ParseConfig(strings.NewReader(oneDevice))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Admin != (AdminConfig{}) {
		t.Errorf("admin: %+v", cfg.Admin)
	}
	if dial, _ := cfg.Outbound.engine(); dial != (engine.DialLimits{}) {
		t.Errorf("outbound: %+v", dial)
	}
	if h, _ := cfg.HTTP.engine(); h.Timeout != 5*time.Second || len(h.Allow) != 0 {
		t.Errorf("http: %+v", h)
	}
}

func TestParseConfigAdminOutboundHTTPErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, "\n")
	short := filepath.Join(dir, "short")
	writeFile(t, short, "abc\n")
	for _, c := range []struct{ name, toml, want string }{
		{"listen without a token", "[admin]\nlisten = \"127.0.0.1:8081\"", "admin.token: the admin API needs a token"},
		{"short token", "[admin]\nlisten = \"127.0.0.1:8081\"\ntoken = \"abc\"", "admin.token: shorter than 16 bytes"},
		{"token and token_file", "[admin]\ntoken = \"" + adminToken + "\"\ntoken_file = \"" + empty + "\"", "admin.token_file: give token or token_file, not both"},
		{"missing token_file", "[admin]\nlisten = \"127.0.0.1:8081\"\ntoken_file = \"" + filepath.Join(dir, "nope") + "\"", "admin.token_file: open"},
		{"token_file not a regular file", "[admin]\nlisten = \"127.0.0.1:8081\"\ntoken_file = \"" + dir + "\"", "is not a regular file"},
		{"empty token_file", "[admin]\nlisten = \"127.0.0.1:8081\"\ntoken_file = \"" + empty + "\"", "admin.token_file: " + empty + " is empty"},
		{"short token_file", "[admin]\nlisten = \"127.0.0.1:8081\"\ntoken_file = \"" + short + "\"", "admin.token_file: the token in"},
		{"listen not host:port", "[admin]\nlisten = \"8081\"\ntoken = \"" + adminToken + "\"", "admin.listen: \"8081\" is not host:port"},
		{"unknown admin key", "[admin]\nport = 8081", "unknown field admin.port"},
		{"unknown zone", "[outbound]\ntz = \"Mars/Olympus\"", "outbound.tz: unknown time zone \"Mars/Olympus\""},
		{"bad window", "[outbound]\nwindow = \"9-5\"", "outbound.window: \"9-5\" is not like"},
		{"negative concurrency", "[outbound]\nmax_concurrent = -1", "outbound.max_concurrent: -1 is negative"},
		{"negative rate", "[outbound]\nper_second = -0.5", "outbound.per_second: -0.5 is not"},
		{"negative per number", "[outbound]\nper_number = -2", "outbound.per_number: -2 is negative"},
		{"ring timeout", "[outbound]\nring_timeout = \"soon\"", "outbound.ring_timeout: \"soon\" is not a positive duration"},
		{"allow with a scheme", "[http]\nallow = [\"http://crm.example.com\"]", "http.allow[0]: \"http://crm.example.com\" is not a host"},
		{"allow with a bad port", "[http]\nallow = [\"crm.example.com\", \"crm:99999\"]", "http.allow[1]: \"crm:99999\": the port"},
		{"http timeout", "[http]\ntimeout = \"forever\"", "http.timeout: \"forever\" is not a positive duration"},
		{"http timeout too long", "[http]\ntimeout = \"10m\"", "http.timeout: 10m0s is longer than 5m0s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(oneDevice + "\n" + c.toml + "\n"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

func TestListenURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8081": "http://127.0.0.1:8081",
		"0.0.0.0:8081":   "http://127.0.0.1:8081",
		":8081":          "http://127.0.0.1:8081",
		"[::]:8081":      "http://127.0.0.1:8081",
		"[::1]:8081":     "http://[::1]:8081",
		"ivrd.lan:8081":  "http://ivrd.lan:8081",
	} {
		if got := listenURL(in); got != want {
			t.Errorf("listenURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// adminStack is the daemon with its admin API, against a simulator.
type adminStack struct {
	*stack
	base string // the admin API's URL
}

// streamEvents reads GET /api/v1/events?after=0&kind=… (a kind, or a
// prefix ending in '*') until n events have come, and returns them.
func (a *adminStack) streamEvents(t *testing.T, kind string, n int) []engine.CallEvent {
	t.Helper()
	req, _ := http.NewRequest("GET", a.base+"/api/v1/events?after=0&kind="+url.QueryEscape(kind), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/events: %s", resp.Status)
	}
	// A hang detector, not a timing assertion.
	stop := time.AfterFunc(20*time.Second, func() { resp.Body.Close() })
	defer stop.Stop()
	var got []engine.CallEvent
	rd := bufio.NewScanner(resp.Body)
	rd.Buffer(nil, 1<<20)
	for len(got) < n && rd.Scan() {
		line := rd.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var e engine.CallEvent
		if err := json.Unmarshal([]byte(line[6:]), &e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) < n {
		t.Fatalf("the %s events ended after %d, want %d: %v", kind, len(got), n, kindsOf(got))
	}
	return got
}

func startAdminStack(t *testing.T, flows map[string]string, edit func(*Config)) *adminStack {
	t.Helper()
	return openAdminStack(t, flows, edit, false)
}

// openAdminStack is startAdminStack; with phone set, the simulator is also
// the daemon's in-process phone (see openStack).
func openAdminStack(t *testing.T, flows map[string]string, edit func(*Config), phone bool) *adminStack {
	t.Helper()
	dir := t.TempDir()
	for name, src := range flows {
		writeFile(t, filepath.Join(dir, name+".lua"), src)
	}
	st := openStack(t, dir, func(c *Config) {
		c.Admin.Listen = "127.0.0.1:0"
		c.Admin.Token = adminToken
		if edit != nil {
			edit(c)
		}
	}, phone)
	return &adminStack{stack: st, base: "http://" + st.srv.AdminAddr()}
}

// req sends an admin API request and decodes the JSON answer.
func (a *adminStack) req(t *testing.T, method, path, token, body string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// poll waits until cond holds, failing after a deadline: a hang detector,
// well beyond the longest call a test waits out (the verification-code
// call's, about 9 s with its 5 s wait for a key).
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const adminMainFlow = `
local flow = {}
function flow.incoming(call)
  ivr.store.incr("calls")
  ivr.store.append("callers", { from = call.from })
  local key = call:gather{ prompt = "user_welcome", timeout = 5 }
  if key == "1" then return call:transfer{ ext = "201" } end
  call:play("user_bye")
end
return flow
`

const adminSurveyFlow = `
local flow = {}
function flow.incoming(call)
  local score = call:gather{ prompt = "user_survey_q1", timeout = 5, valid = "[1-5]" }
  ivr.store.append("answers", { agent = call.vars.agent, score = tonumber(score) })
  call:play("user_survey_thanks")
end
function flow.answered(call)
  call:play("user_wakeup")
end
return flow
`

// TestServeAdminAPI drives the daemon through its admin API: live calls
// and history, a flow's store, the flows, moving a caller an agent has
// into the survey, and placing an outbound call whose end is told to a
// signed webhook.
func TestServeAdminAPI(t *testing.T) {
	var hookMu sync.Mutex
	var hooks []http.Header
	var hookBodies [][]byte
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		hooks, hookBodies = append(hooks, r.Header.Clone()), append(hookBodies, b)
		hookMu.Unlock()
	}))
	defer receiver.Close()
	a := startAdminStack(t, map[string]string{"main": adminMainFlow, "survey": adminSurveyFlow}, func(c *Config) {
		c.Admin.WebhookSecret = "hook-secret"
	})

	// The token guards /api/, not the probes.
	if got := a.req(t, "GET", "/api/v1/flows", "", "", nil); got != 401 {
		t.Fatalf("no token: %d, want 401", got)
	}
	if got := a.req(t, "GET", "/api/v1/flows", "wrong-token-wrong-token", "", nil); got != 401 {
		t.Fatalf("wrong token: %d, want 401", got)
	}
	if got := a.req(t, "GET", "/readyz", "", "", nil); got != 200 {
		t.Fatalf("/readyz: %d", got)
	}
	var flows api.FlowList
	if got := a.req(t, "GET", "/api/v1/flows", adminToken, "", &flows); got != 200 || len(flows.Flows) != 2 ||
		flows.Flows[0].Name != "main" || len(flows.Flows[0].Hash) != 64 || flows.Flows[1].Name != "survey" {
		t.Fatalf("flows: %d %+v", got, flows)
	}

	// A caller presses 1 and is put through to ext 201.
	call, err := a.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the welcome", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	var live api.CallList
	if got := a.req(t, "GET", "/api/v1/calls", adminToken, "", &live); got != 200 || len(live.Calls) != 1 ||
		live.Calls[0].From != "13800000001" || live.Calls[0].Flow != "main" || !strings.HasPrefix(live.Calls[0].Leg, "visitor ") {
		t.Fatalf("live calls: %d %+v", got, live)
	}
	id := live.Calls[0].ID
	if err := call.Press("1"); err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the agent", func(in omsim.CallInfo) bool { return in.Connected == "ext 201" && in.State == "talking" })
	var ended api.Call
	poll(t, "the call in the history", func() bool {
		return a.req(t, "GET", "/api/v1/calls/"+id, adminToken, "", &ended) == 200 && !ended.Live
	})
	if ended.Outcome != "transferred" || ended.Target != "ext 201" || len(ended.Path) == 0 {
		t.Fatalf("ended call: %+v", ended)
	}
	var store api.Store
	if got := a.req(t, "GET", "/api/v1/stores/main", adminToken, "", &store); got != 200 ||
		compactJSON(store.Values["calls"]) != "1" || compactJSON(store.Values["callers"]) != `[{"from":"13800000001"}]` {
		t.Fatalf("store: %d %+v", got, store)
	}

	// The agent hands the caller to the survey: the call named by ivrd's
	// id goes into the flow on the same leg.
	var moved api.Redirected
	if got := a.req(t, "POST", "/api/v1/calls/"+id+"/flow", adminToken, `{"flow":"survey","vars":{"agent":"201"}}`, &moved); got != 201 ||
		moved.ID == "" || moved.Leg != ended.Leg {
		t.Fatalf("redirect: %d %+v", got, moved)
	}
	waitCall(t, call, "the survey question", func(in omsim.CallInfo) bool { return heardFile(in, "user_survey_q1") })
	if err := call.Press("5"); err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the thanks", func(in omsim.CallInfo) bool { return heardFile(in, "user_survey_thanks") })
	poll(t, "the survey answer", func() bool {
		store = api.Store{}
		a.req(t, "GET", "/api/v1/stores/survey", adminToken, "", &store)
		return compactJSON(store.Values["answers"]) == `[{"agent":"201","score":5}]`
	})

	// An outbound call, told to a webhook when its job ends.
	if err := a.sim.SetNumberPolicy("13800000009", omsim.Policy{Answer: omsim.AnswerAfter, Delay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var job engine.Job
	if got := a.req(t, "POST", "/api/v1/calls", adminToken,
		`{"to":"13800000009","flow":"survey","webhook":"`+receiver.URL+`/hook"}`, &job); got != 201 || job.ID == "" {
		t.Fatalf("dial: %d %+v", got, job)
	}
	poll(t, "the job to end", func() bool {
		a.req(t, "GET", "/api/v1/jobs/"+job.ID, adminToken, "", &job)
		return job.Final()
	})
	if job.State != engine.JobDone {
		t.Fatalf("job: %+v", job)
	}
	poll(t, "the webhook", func() bool {
		hookMu.Lock()
		defer hookMu.Unlock()
		return len(hooks) == 1
	})
	hookMu.Lock()
	sig, body := hooks[0].Get(api.HeaderSignature), hookBodies[0]
	hookMu.Unlock()
	var told engine.Job
	if err := json.Unmarshal(body, &told); err != nil || told.ID != job.ID || told.State != engine.JobDone {
		t.Fatalf("webhook body %s: %v", body, err)
	}
	if !api.VerifySignature([]byte("hook-secret"), body, sig) {
		t.Fatalf("webhook signature %q does not verify", sig)
	}
	var jobs api.JobList
	if got := a.req(t, "GET", "/api/v1/jobs?state=done", adminToken, "", &jobs); got != 200 || len(jobs.Jobs) != 1 {
		t.Fatalf("done jobs: %d %+v", got, jobs)
	}
	if got := a.req(t, "DELETE", "/api/v1/jobs/"+job.ID, adminToken, "", nil); got != 409 {
		t.Fatalf("cancelling an ended job: %d, want 409", got)
	}
}

// TestServeAdminOff: without [admin] listen the daemon serves no admin API,
// and the report listener keeps its probes.
func TestServeAdminOff(t *testing.T) {
	st := startStack(t, repoFlows, nil)
	if st.srv.AdminAddr() != "" {
		t.Fatalf("admin API on %s without [admin] listen", st.srv.AdminAddr())
	}
	resp, err := http.Get(st.srv.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz on the report listener: %d", resp.StatusCode)
	}
}

// TestServeConsoleSession: the daemon's admin listener serves the console
// and holds browsers to its rules — sign in with the token, reads with the
// cookie, changes only with the CSRF token from the same origin — while
// bearer clients go on as before.
func TestServeConsoleSession(t *testing.T) {
	a := startAdminStack(t, map[string]string{"main": adminMainFlow}, nil)
	send := func(method, path, body string, h map[string]string) *http.Response {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, a.base+path, rd)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := send("GET", "/", "", nil); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	id, csrf := consoleSession(t, a)
	cookie := api.SessionCookie + "=" + id
	for _, c := range []struct {
		name         string
		method, path string
		h            map[string]string
		want         int
	}{
		{"no cookie", "GET", "/api/v1/calls", nil, 401},
		{"cookie: read", "GET", "/api/v1/calls", map[string]string{"Cookie": cookie}, 200},
		{"cookie: change without CSRF", "POST", "/api/v1/flows/reload", map[string]string{"Cookie": cookie, "Origin": a.base}, 403},
		{"cookie: wrong CSRF", "POST", "/api/v1/flows/reload", map[string]string{"Cookie": cookie, "Origin": a.base, api.HeaderCSRF: "x" + csrf}, 403},
		{"cookie: cross-origin", "POST", "/api/v1/flows/reload", map[string]string{"Cookie": cookie, "Origin": "http://evil.example", api.HeaderCSRF: csrf}, 403},
		{"cookie: same origin with CSRF", "POST", "/api/v1/flows/reload", map[string]string{"Cookie": cookie, "Origin": a.base, api.HeaderCSRF: csrf}, 200},
		{"bearer, unchanged", "POST", "/api/v1/flows/reload", map[string]string{"Authorization": "Bearer " + adminToken}, 200},
		{"metrics take no cookie", "GET", "/metrics", map[string]string{"Cookie": cookie}, 401},
	} {
		if got := send(c.method, c.path, "", c.h).StatusCode; got != c.want {
			t.Errorf("%s: %s %s: %d, want %d", c.name, c.method, c.path, got, c.want)
		}
	}
}

// A console signed in before a restart of ivrd is still signed in after
// it: the session is kept in the state file.
func TestConsoleSignInOutlivesRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "ivrd.db")
	edit := func(c *Config) { c.State = state }
	signedIn := func(base, cookie string) int {
		req, _ := http.NewRequest("GET", base+"/api/v1/flows", nil)
		req.Header.Set("Cookie", cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	a := openAdminStack(t, map[string]string{"main": adminMainFlow}, edit, false)
	id, _ := consoleSession(t, a)
	cookie := api.SessionCookie + "=" + id
	if code := signedIn(a.base, cookie); code != http.StatusOK {
		t.Fatalf("signed in: %d", code)
	}
	if err := a.srv.Close(); err != nil {
		t.Fatal(err)
	}
	b := openAdminStack(t, map[string]string{"main": adminMainFlow}, edit, false)
	if code := signedIn(b.base, cookie); code != http.StatusOK {
		t.Fatalf("after the restart: %d, want 200", code)
	}
}
