package engine_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// httpBackend is a flow's HTTP backend over real loopback HTTP; it counts the
// requests it answers.
type httpBackend struct {
	*httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	reqs []seenRequest
}

type seenRequest struct {
	method, path, body string
	header             http.Header
}

func newHTTPBackend(t *testing.T, h http.HandlerFunc) *httpBackend {
	t.Helper()
	b := &httpBackend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		b.mu.Lock()
		b.reqs = append(b.reqs, seenRequest{r.Method, r.URL.Path, string(body), r.Header.Clone()})
		b.mu.Unlock()
		b.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *httpBackend) host() string {
	u, _ := url.Parse(b.URL)
	return u.Host
}

func (b *httpBackend) requests() []seenRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seenRequest(nil), b.reqs...)
}

// httpRig is a rig whose flows may call the given hosts; URL in the flow
// source is replaced by the backend's base URL.
func httpRig(t *testing.T, flow string, b *httpBackend, opts engine.HTTPOptions) *rig {
	t.Helper()
	return newRig(t, map[string]string{"main": strings.ReplaceAll(flow, "URL", b.URL)},
		rigOptions{config: func(c *engine.Config) { c.HTTP = opts }})
}

// flowStored reads a value the flow put in its ivr.store.
func flowStored(t *testing.T, r *rig, key string) any {
	t.Helper()
	r.router.Wait()
	raw, ok, err := r.store.Get("main", key)
	if err != nil || !ok {
		t.Fatalf("ivr.store %q: found %v, error %v", key, ok, err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHTTPGetAllowedHost(t *testing.T) {
	b := newHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Room-State", "occupied")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"guest":"Chloé","nights":3}`)
	})
	const flow = `
local flow = {}
function flow.incoming(call)
  local r, why = ivr.http.get("URL/rooms/1203?x=1", { headers = { ["X-Api-Key"] = "k1", room = 1203 }, json = true })
  ivr.store.put("got", { status = r.status, body = r.body, state = r.headers["x-room-state"],
                         guest = r.json.guest, nights = r.json.nights })
end
return flow
`
	r := httpRig(t, flow, b, engine.HTTPOptions{Allow: []string{"127.0.0.1"}})
	r.call("13800000001")
	got := flowStored(t, r, "got")
	want := map[string]any{"status": 200.0, "body": `{"guest":"Chloé","nights":3}`, "state": "occupied", "guest": "Chloé", "nights": 3.0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("flow got %v, want %v", got, want)
	}
	reqs := b.requests()
	if len(reqs) != 1 {
		t.Fatalf("backend saw %d requests, want 1", len(reqs))
	}
	if q := reqs[0]; q.method != "GET" || q.path != "/rooms/1203" || q.header.Get("X-Api-Key") != "k1" ||
		q.header.Get("Room") != "1203" || q.header.Get("Accept") != "application/json" {
		t.Fatalf("backend saw %s %s %v", q.method, q.path, q.header)
	}
}

func TestHTTPPost(t *testing.T) {
	b := newHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusAccepted)
		w.Write(body)
	})
	const flow = `
local flow = {}
function flow.incoming(call)
  local a = ivr.http.post("URL/survey", { room = "1203", score = 5, tags = { "quiet", "clean" } }, { json = true })
  local b = ivr.http.post("URL/note", "late checkout", { headers = { ["Content-Type"] = "text/x-note" } })
  local c = ivr.http.post("URL/empty")
  ivr.store.put("got", { a_status = a.status, a_score = a.json.score, a_tag = a.json.tags[2],
                         b_body = b.body, b_type = b.headers["content-type"], c_status = c.status })
end
return flow
`
	r := httpRig(t, flow, b, engine.HTTPOptions{Allow: []string{b.host()}})
	r.call("13800000001")
	got := flowStored(t, r, "got")
	want := map[string]any{"a_status": 202.0, "a_score": 5.0, "a_tag": "clean",
		"b_body": "late checkout", "b_type": "text/x-note", "c_status": 202.0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("flow got %v, want %v", got, want)
	}
	reqs := b.requests()
	if len(reqs) != 3 {
		t.Fatalf("backend saw %d requests, want 3", len(reqs))
	}
	if q := reqs[0]; q.method != "POST" || q.body != `{"room":"1203","score":5,"tags":["quiet","clean"]}` ||
		q.header.Get("Content-Type") != "application/json" {
		t.Fatalf("JSON post: backend saw %s %q %q", q.method, q.body, q.header.Get("Content-Type"))
	}
}

// TestHTTPRefused: requests the configuration or the arguments do not
// allow raise an error naming what is wrong; the backend is never asked.
func TestHTTPRefused(t *testing.T) {
	b := newHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {})
	otherPort := strings.Split(b.host(), ":")[0] + ":1"
	for _, c := range []struct {
		name, call string
		allow      []string
		want       string
	}{
		{"host not allowed", `ivr.http.get("http://crm.example.com/x")`, []string{"127.0.0.1"}, `host "crm.example.com" is not allowed`},
		{"port not allowed", `ivr.http.get("URL/x")`, []string{otherPort}, `host "` + b.host() + `" is not allowed`},
		{"nothing allowed", `ivr.http.get("URL/x")`, nil, "no host is allowed"},
		{"not http", `ivr.http.get("ftp://127.0.0.1/x")`, []string{"127.0.0.1"}, `"ftp://127.0.0.1/x" is not an http:// or https:// URL`},
		{"no URL", `ivr.http.get(42)`, []string{"127.0.0.1"}, "the URL must be a string"},
		{"unknown option", `ivr.http.get("URL/x", { retries = 3 })`, []string{"127.0.0.1"}, `unknown option "retries"`},
		{"bad timeout", `ivr.http.get("URL/x", { timeout = -1 })`, []string{"127.0.0.1"}, "timeout must be within 0–3600 seconds"},
		{"bad header name", `ivr.http.get("URL/x", { headers = { ["a b"] = "1" } })`, []string{"127.0.0.1"}, "is not a header name"},
		{"managed header", `ivr.http.get("URL/x", { headers = { host = "evil" } })`, []string{"127.0.0.1"}, "Host is set by ivrd"},
		{"header line break", `ivr.http.get("URL/x", { headers = { a = "1\r\nb: 2" } })`, []string{"127.0.0.1"}, "holds a line break"},
		{"table body without json", `ivr.http.post("URL/x", { a = 1 })`, []string{"127.0.0.1"}, "pass json = true"},
		{"body with no JSON form", `ivr.http.post("URL/x", { f = print }, { json = true })`, []string{"127.0.0.1"}, "cannot be sent as JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			flow := `
local flow = {}
function flow.incoming(call)
  local ok, err = pcall(function() return ` + c.call + ` end)
  ivr.store.put("err", ok and "no error" or err)
end
return flow
`
			r := httpRig(t, flow, b, engine.HTTPOptions{Allow: c.allow})
			r.call("13800000001")
			got, _ := flowStored(t, r, "err").(string)
			if !strings.Contains(got, c.want) || !strings.Contains(got, "ivr.http.") {
				t.Fatalf("error %q, want it to name %q", got, c.want)
			}
		})
	}
	if n := b.hits.Load(); n != 0 {
		t.Fatalf("the backend was asked %d times", n)
	}
}

func TestHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	b := newHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		case <-time.After(10 * time.Second):
		}
	})
	const flow = `
local flow = {}
function flow.incoming(call)
  local r, why = ivr.http.get("URL/slow", { timeout = TIMEOUT })
  ivr.store.put("got", { r = r ~= nil, why = why })
end
return flow
`
	for _, c := range []struct {
		name    string
		option  string
		limit   time.Duration
		atLeast time.Duration
	}{
		{"the flow's timeout", "0.2", 0, 200 * time.Millisecond},
		{"capped by the configuration", "30", 300 * time.Millisecond, 300 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httpRig(t, strings.ReplaceAll(flow, "TIMEOUT", c.option), b,
				engine.HTTPOptions{Allow: []string{b.host()}, Timeout: c.limit})
			start := time.Now()
			r.call("13800000001")
			got := flowStored(t, r, "got")
			took := time.Since(start)
			if want := map[string]any{"r": false, "why": "timeout"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("flow got %v, want %v", got, want)
			}
			if took < c.atLeast || took > 5*time.Second {
				t.Fatalf("the request took %s; want about %s", took, c.atLeast)
			}
		})
	}
}

func TestHTTPFailureIsAResult(t *testing.T) {
	b := newHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write(make([]byte, engine.MaxHTTPBody+1))
		case "/redirect":
			http.Redirect(w, r, "http://crm.example.com/", http.StatusFound)
		default:
			http.Error(w, "no such room", http.StatusNotFound)
		}
	})
	const flow = `
local flow = {}
function flow.incoming(call)
  local nf = ivr.http.get("URL/missing")
  local big, why_big = ivr.http.get("URL/big")
  local red, why_red, detail = ivr.http.get("URL/redirect")
  ivr.store.put("got", { nf = nf.status, big = big == nil, why_big = why_big,
                         red = red == nil, why_red = why_red, detail = detail })
end
return flow
`
	r := httpRig(t, flow, b, engine.HTTPOptions{Allow: []string{b.host()}})
	r.call("13800000001")
	got := flowStored(t, r, "got").(map[string]any)
	if got["nf"] != 404.0 || got["big"] != true || got["why_big"] != "too_large" || got["red"] != true || got["why_red"] != "failed" {
		t.Fatalf("flow got %v", got)
	}
	if d, _ := got["detail"].(string); !strings.Contains(d, "crm.example.com, a host that is not allowed") {
		t.Fatalf("redirect detail %q does not name the host", d)
	}
}

// TestHTTPNotRepeatedAfterRestart: a request journaled before a crash is
// answered from the journal when the call is recovered; the backend is not
// asked again, and the flow sees the same answer.
func TestHTTPNotRepeatedAfterRestart(t *testing.T) {
	var b *httpBackend
	b = newHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {
		// The first answer names the greeting; a repeated request would
		// hear another one.
		if b.hits.Load() == 1 {
			io.WriteString(w, "user_welcome")
			return
		}
		io.WriteString(w, "user_bye")
	})
	const flow = `
local flow = {}
function flow.incoming(call)
  local r = ivr.http.get("URL/greeting")
  call:play(r.body)
  call:sleep(10)
  call:play(r.body)
end
return flow
`
	r := httpRig(t, flow, b, engine.HTTPOptions{Allow: []string{b.host()}})
	call := r.call("13800000001")
	r.advance(5 * time.Second) // the first prompt has played; the call sleeps
	if got := promptsHeard(call); !reflect.DeepEqual(got, []string{"user_welcome"}) {
		t.Fatalf("before the crash the caller heard %v", got)
	}
	r.router.Crash()
	r.router.Close()
	if n := r.restart(); n != 1 {
		t.Fatalf("recovered %d calls, want 1", n)
	}
	r.advance(15 * time.Second)
	r.router.Wait()
	if got := promptsHeard(call); !reflect.DeepEqual(got, []string{"user_welcome", "user_welcome"}) {
		t.Fatalf("the caller heard %v; want the journaled answer twice", got)
	}
	if n := b.hits.Load(); n != 1 {
		t.Fatalf("the backend was asked %d times, want once", n)
	}
	var steps []string
	for _, h := range mustHistory(t, r) {
		j, err := r.store.Journal(h.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range j {
			steps = append(steps, st.Kind)
		}
	}
	if len(steps) == 0 || steps[0] != "http" {
		t.Fatalf("journal %v; want it to start with the http step", steps)
	}
}

// promptsHeard lists the files a caller heard, without the silence of a
// parked call.
func promptsHeard(c *omsim.Call) []string {
	var out []string
	for _, f := range heard(c) {
		if !strings.HasPrefix(f, "silence") {
			out = append(out, f)
		}
	}
	return out
}

func TestCheckHTTPAllow(t *testing.T) {
	for _, c := range []struct {
		entry string
		ok    bool
	}{
		{"crm.example.com", true}, {"10.0.0.5:8080", true}, {"[::1]:8080", true}, {"[::1]", true},
		{"http://crm.example.com", false}, {"crm.example.com/x", false}, {"", false},
		{"host:0", false}, {"host:99999", false}, {"host:http", false}, {"::1", false}, {"a b", false},
	} {
		if err := engine.CheckHTTPAllow(c.entry); (err == nil) != c.ok {
			t.Errorf("CheckHTTPAllow(%q) = %v; want ok=%v", c.entry, err, c.ok)
		}
	}
}
