package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

const webhookSecret = "test-webhook-secret"

// eventReceiver keeps the events of the signed deliveries it gets.
type eventReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	events []engine.CallEvent
	bad    int
}

func newEventReceiver(t *testing.T, secret string) *eventReceiver {
	rc := &eventReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b struct {
			Events []engine.CallEvent `json:"events"`
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if !api.VerifySignature([]byte(secret), body, r.Header.Get(api.HeaderSignature)) || json.Unmarshal(body, &b) != nil {
			rc.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.events = append(rc.events, b.Events...)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *eventReceiver) kinds() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, e := range rc.events {
		out = append(out, e.Kind)
	}
	return out
}

// The daemon posts a call's events to a [[webhook]], signed with [admin]
// webhook_secret when the webhook has no secret of its own, shows the
// webhook in the admin API and counts its deliveries in /metrics.
func TestServeWebhooks(t *testing.T) {
	rc := newEventReceiver(t, webhookSecret)
	a := startAdminStack(t, map[string]string{"main": eventsFlow}, func(c *Config) {
		c.Admin.WebhookSecret = webhookSecret
		c.Webhooks = []WebhookConfig{{Name: "crm", URL: rc.URL + "/ivrd?token=x", Kinds: []string{"call.incoming", "flow.*", "call.ended"}, Devices: []string{"om1"}}}
	})
	call, err := a.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the welcome", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	if err := call.Press("1"); err != nil {
		t.Fatal(err)
	}
	poll(t, "the call's events at the receiver", func() bool { return len(rc.kinds()) >= 3 })
	if got := strings.Join(rc.kinds(), " "); got != "call.incoming flow.lead call.ended" {
		t.Fatalf("the receiver got %s, want call.incoming flow.lead call.ended", got)
	}
	// The receiver keeps a batch before it answers, and the deliverer
	// counts it once the answer is in: wait for the count.
	var list api.WebhookList
	poll(t, "the deliveries counted", func() bool {
		list = api.WebhookList{}
		if st := a.req(t, "GET", "/api/v1/webhooks", adminToken, "", &list); st != 200 || len(list.Webhooks) != 1 {
			t.Fatalf("GET /api/v1/webhooks: %d %+v", st, list)
		}
		return list.Webhooks[0].Delivered >= 3
	})
	w := list.Webhooks[0]
	if w.Name != "crm" || !w.Signed || w.URL != rc.URL+"/ivrd" || w.Delivered < 3 || w.Cursor == 0 {
		t.Errorf("webhook %+v: want crm, signed, its URL without the query, 3 delivered", w)
	}
	_, m := a.scrape(t, adminToken)
	if m[`ivrd_webhook_deliveries_total{result="ok",webhook="crm"}`] < 1 || m[`ivrd_webhook_events_delivered_total{webhook="crm"}`] < 3 {
		t.Errorf("metrics: deliveries %v, events %v", m[`ivrd_webhook_deliveries_total{result="ok",webhook="crm"}`], m[`ivrd_webhook_events_delivered_total{webhook="crm"}`])
	}
	// The filters drop the events after call.ended (rings, the Cdr): the
	// cursor passes them, maybe after this scrape.
	poll(t, "no backlog in /metrics", func() bool {
		_, m = a.scrape(t, adminToken)
		v, ok := m[`ivrd_webhook_backlog{webhook="crm"}`]
		return ok && v == 0
	})
	for _, name := range []string{`ivrd_webhook_failures{webhook="crm"}`, `ivrd_webhook_failing{webhook="crm"}`} {
		if v, ok := m[name]; !ok || v != 0 {
			t.Errorf("%s: %v, %v; want 0", name, v, ok)
		}
	}
	if rc.bad > 0 {
		t.Errorf("%d deliveries with a bad signature", rc.bad)
	}
}

// A webhook with no secret, and no [admin] webhook_secret, is warned
// about at start.
func TestServeWebhookUnsignedWarning(t *testing.T) {
	a := startAdminStack(t, map[string]string{"main": eventsFlow}, func(c *Config) {
		c.Webhooks = []WebhookConfig{{Name: "audit", URL: "http://127.0.0.1:1/x"}}
	})
	for _, line := range strings.Split(a.logs.String(), "\n") {
		if strings.Contains(line, "[WARN]") && strings.Contains(line, "webhook deliveries go out unsigned") && strings.Contains(line, "webhook=audit") {
			return
		}
	}
	t.Errorf("no warning about the unsigned webhook:\n%s", a.logs.String())
}

func TestParseConfigWebhooks(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader(oneDevice + `
[admin]
webhook_secret = "s1"

[[webhook]]
name = "crm"
url = "https://crm.example.com/ivrd"
kinds = ["call.*", "cdr"]
devices = ["om1"]
exts = ["201"]
batch_size = 50
timeout = "2s"
backoff = "500ms"
max_backoff = "1m"
give_up_after = "30m"

[[webhook]]
name = "audit"
url = "http://10.0.0.9:8080/events"
secret = "s2"
`))
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := cfg.webhooks()
	if err != nil || len(hooks) != 2 {
		t.Fatalf("%+v, %v", hooks, err)
	}
	h := hooks[0]
	if h.Secret != "s1" || h.BatchSize != 50 || h.Timeout.String() != "2s" || h.Backoff.String() != "500ms" ||
		h.MaxBackoff.String() != "1m0s" || h.GiveUpAfter.String() != "30m0s" || strings.Join(h.Kinds, ",") != "call.*,cdr" {
		t.Errorf("crm: %+v", h)
	}
	if hooks[1].Secret != "s2" || hooks[1].BatchSize != 0 {
		t.Errorf("audit: %+v (its own secret; the default batch size left to the api)", hooks[1])
	}
}

func TestParseConfigWebhookErrors(t *testing.T) {
	hook := func(extra string) string {
		return oneDevice + "[[webhook]]\nname = \"ok\"\nurl = \"http://10.0.0.9/x\"\n\n[[webhook]]\n" + extra + "\n"
	}
	for _, tc := range []struct{ name, in, want string }{
		{"name missing", hook(`url = "http://10.0.0.9/y"`), "webhook[1].name: "},
		{"name chars", hook("name = \"a b\"\nurl = \"http://10.0.0.9/y\""), "webhook[1].name: "},
		{"name twice", hook("name = \"ok\"\nurl = \"http://10.0.0.9/y\""), "webhook[1].name: "},
		{"url missing", hook(`name = "b"`), "webhook[1].url: "},
		{"url scheme", hook("name = \"b\"\nurl = \"ftp://10.0.0.9/y\""), "webhook[1].url: "},
		{"url host", hook("name = \"b\"\nurl = \"http:///y\""), "webhook[1].url: "},
		{"url credentials hidden", hook("name = \"b\"\nurl = \"gopher://me:pw@h/y?token=t\""), "webhook[1].url: \"gopher://%E2%80%A6@h/y\""},
		{"kinds", hook("name = \"b\"\nurl = \"http://h/y\"\nkinds = [\"call.*.x*\"]"), "webhook[1].kinds: "},
		{"kinds empty", hook("name = \"b\"\nurl = \"http://h/y\"\nkinds = [\"\"]"), "webhook[1].kinds: "},
		{"devices", hook("name = \"b\"\nurl = \"http://h/y\"\ndevices = [\"om9\"]"), "webhook[1].devices: "},
		{"exts", hook("name = \"b\"\nurl = \"http://h/y\"\nexts = [\"front desk\"]"), "webhook[1].exts: "},
		{"batch_size", hook("name = \"b\"\nurl = \"http://h/y\"\nbatch_size = 5000"), "webhook[1].batch_size: "},
		{"timeout", hook("name = \"b\"\nurl = \"http://h/y\"\ntimeout = \"soon\""), "webhook[1].timeout: "},
		{"backoff", hook("name = \"b\"\nurl = \"http://h/y\"\nbackoff = \"-1s\""), "webhook[1].backoff: "},
		{"max_backoff", hook("name = \"b\"\nurl = \"http://h/y\"\nbackoff = \"10s\"\nmax_backoff = \"1s\""), "webhook[1].max_backoff: "},
		{"give_up_after", hook("name = \"b\"\nurl = \"http://h/y\"\ngive_up_after = \"0s\""), "webhook[1].give_up_after: "},
		{"unknown key", hook("name = \"b\"\nurl = \"http://h/y\"\nretries = 3"), "unknown field webhook.retries"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantConfigError(t, tc.in, tc.want) })
	}
}

// ivrd check reports a bad [[webhook]].
func TestCheckReportsWebhookErrors(t *testing.T) {
	out, err := runCheck(t, "-config", checkConfig(t, "http://127.0.0.1:1", repoFlows, "\n[[webhook]]\nname = \"crm\"\nurl = \"crm.example.com\"\n"))
	if err == nil || !strings.Contains(err.Error()+out, "webhook[0].url: ") {
		t.Errorf("check: %v\n%s", err, out)
	}
}

// "ivrd demo -webhook URL" posts the demo calls' events there, signed with
// the secret it prints.
func TestDemoWebhook(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	var sigs []string
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies, sigs = append(bodies, body), append(sigs, r.Header.Get(api.HeaderSignature))
		mu.Unlock()
	}))
	defer rc.Close()
	out, logs := &syncBuffer{}, &syncBuffer{}
	m := &Main{Stdout: out, Stderr: logs}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, []string{"demo", "-flows", repoFlows, "-file-duration", "50ms", "-webhook", rc.URL + "/hook"})
	}()
	defer func() {
		cancel()
		<-done
	}()
	secretRE := regexp.MustCompile(`webhook +every event to http://127\.0\.0\.1:\d+/hook, signed with the secret ([0-9a-f]{32})`)
	poll(t, "the demo's webhook line", func() bool { return secretRE.MatchString(out.String()) })
	secret := secretRE.FindStringSubmatch(out.String())[1]
	poll(t, "a call.incoming at the receiver", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range bodies {
			if strings.Contains(string(b), `"kind":"call.incoming"`) {
				return true
			}
		}
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	for i, b := range bodies {
		if !api.VerifySignature([]byte(secret), b, sigs[i]) {
			t.Fatalf("delivery %d is not signed with the printed secret: %s", i, sigs[i])
		}
	}
}

func TestDemoWebhookBadURL(t *testing.T) {
	m := &Main{Stdout: io.Discard, Stderr: io.Discard}
	err := m.Run(context.Background(), []string{"demo", "-flows", repoFlows, "-webhook", "example.com/hook"})
	if err == nil || !strings.HasPrefix(err.Error(), "demo: -webhook: ") {
		t.Fatalf("got %v, want an error naming -webhook", err)
	}
}

// A daemon stopped while its webhook's receiver is down delivers the
// backlog from its cursor after the next start: none lost, in order.
func TestServeWebhookResumesAfterRestart(t *testing.T) {
	var mu sync.Mutex
	up := false
	var got []engine.CallEvent
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if !up {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var b struct {
			Events []engine.CallEvent `json:"events"`
		}
		if !api.VerifySignature([]byte(webhookSecret), body, r.Header.Get(api.HeaderSignature)) || json.Unmarshal(body, &b) != nil {
			t.Errorf("a bad delivery: %s", body)
		}
		got = append(got, b.Events...)
	}))
	defer rc.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.lua"), eventsFlow)
	state := filepath.Join(t.TempDir(), "ivrd.db")
	edit := func(c *Config) {
		c.State = state
		c.Webhooks = []WebhookConfig{{Name: "crm", URL: rc.URL, Secret: webhookSecret, Kinds: []string{"call.incoming", "flow.*", "call.ended"},
			Backoff: "5ms", MaxBackoff: "20ms"}}
	}
	st := openStack(t, dir, edit, false)
	call, err := st.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the welcome", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	if err := call.Press("1"); err != nil {
		t.Fatal(err)
	}
	poll(t, "the call's end in the log, undelivered", func() bool {
		s, err := st.srv.EventHooks().HookStatus("crm")
		return err == nil && s.State == "retrying" && st.srv.events.LastID() >= 3 && strings.Contains(kindsAfter(t, st.srv, s.Cursor), "call.ended")
	})
	if err := st.srv.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	up = true
	mu.Unlock()

	openStack(t, dir, edit, false)
	poll(t, "the backlog at the receiver", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 3
	})
	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for i, e := range got {
		kinds = append(kinds, e.Kind)
		if i > 0 && e.ID <= got[i-1].ID {
			t.Errorf("event %d came after %d", e.ID, got[i-1].ID)
		}
	}
	if strings.Join(kinds, " ") != "call.incoming flow.lead call.ended" {
		t.Fatalf("the receiver got %v, want call.incoming flow.lead call.ended", kinds)
	}
}

// kindsAfter lists the kinds of the logged events after id.
func kindsAfter(t *testing.T, srv *Server, id uint64) string {
	evs, err := srv.events.After(id, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return strings.Join(out, " ")
}
