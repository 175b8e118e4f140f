package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

const metricsToken = "test-metrics-token-0123456789"

// series is one scrape: each sample's value by its name and its labels
// in name order, as `name{a="1",b="2"}`.
type series map[string]float64

var labelRE = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// scrape GETs /metrics with token and parses the exposition text.
func (a *adminStack) scrape(t *testing.T, token string) (int, series) {
	t.Helper()
	req, err := http.NewRequest("GET", a.base+"/metrics", nil)
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
	out := series{}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, out
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		name, labels, _ := strings.Cut(line[:i], "{")
		var kv []string
		for _, m := range labelRE.FindAllStringSubmatch(labels, -1) {
			kv = append(kv, m[1], m[2])
		}
		out[seriesKey(name, kv...)] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// seriesKey names a sample: its name and its labels, given as name, value
// pairs in any order.
func seriesKey(name string, kv ...string) string {
	var pairs []string
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", kv[i], kv[i+1]))
	}
	sort.Strings(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// get returns a sample, failing when the scrape lacks it.
func (s series) get(t *testing.T, name string, kv ...string) float64 {
	t.Helper()
	k := seriesKey(name, kv...)
	v, ok := s[k]
	if !ok {
		var near []string
		for have := range s {
			if strings.HasPrefix(have, name+"{") {
				near = append(near, have)
			}
		}
		sort.Strings(near)
		t.Fatalf("no sample %s; the scrape has %q", k, near)
	}
	return v
}

// TestServeMetrics runs the daemon with its admin listener, sends a call
// through the simulator and reads /metrics over HTTP: the call's start and
// end with its outcome, the reports by kind, the commands by result, the
// Lua steps and the journal's commits; then a refused report and a flow
// that does not load.
func TestServeMetrics(t *testing.T) {
	a := startAdminStack(t, map[string]string{"main": adminMainFlow}, func(c *Config) {
		c.Admin.MetricsToken = metricsToken
	})

	// /metrics takes a bearer token, the admin one or the metrics one;
	// the metrics token opens nothing else.
	if code, _ := a.scrape(t, ""); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", code)
	}
	if code, _ := a.scrape(t, "wrong-token-wrong-token"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d, want 401", code)
	}
	if code, _ := a.scrape(t, adminToken); code != http.StatusOK {
		t.Fatalf("admin token: %d, want 200", code)
	}
	if got := a.req(t, "GET", "/api/v1/flows", metricsToken, "", nil); got != http.StatusUnauthorized {
		t.Fatalf("the metrics token on /api/: %d, want 401", got)
	}

	call, err := a.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the welcome", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	_, m := a.scrape(t, metricsToken)
	if got := m.get(t, "ivrd_calls_live"); got != 1 {
		t.Errorf("ivrd_calls_live during the call: %v, want 1", got)
	}
	if err := call.Press("1"); err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the agent", func(in omsim.CallInfo) bool { return in.Connected == "ext 201" && in.State == "talking" })
	poll(t, "the call to end", func() bool {
		_, m = a.scrape(t, metricsToken)
		return m[seriesKey("ivrd_calls_ended_total", "flow", "main", "direction", "in", "outcome", "transferred")] == 1
	})

	for _, c := range []struct {
		name string
		kv   []string
		want float64
	}{
		{"ivrd_calls_live", nil, 0},
		{"ivrd_calls_started_total", []string{"flow", "main", "direction", "in"}, 1},
		{"ivrd_call_duration_seconds_count", []string{"flow", "main"}, 1},
		{"ivrd_reports_total", []string{"device", "om1", "kind", "incoming"}, 1},
		{"ivrd_reports_total", []string{"device", "om1", "kind", "dtmf"}, 1},
		{"ivrd_om_commands_total", []string{"device", "om1", "command", "play", "result", "ok"}, 1},
		{"ivrd_om_commands_total", []string{"device", "om1", "command", "transfer", "result", "ok"}, 1},
		{"ivrd_om_command_duration_seconds_count", []string{"device", "om1", "command", "transfer"}, 1},
		{"ivrd_flows", []string{"state", "loaded"}, 1},
		{"ivrd_flows", []string{"state", "failed"}, 0},
		{"ivrd_outbound_jobs", []string{"state", "running"}, 0},
		{"ivrd_reports_rejected_total", []string{"device", "om1", "status", "405"}, 0},
	} {
		if got := m.get(t, c.name, c.kv...); got != c.want {
			t.Errorf("%s: %v, want %v", seriesKey(c.name, c.kv...), got, c.want)
		}
	}
	// The menus assigned at the start, at least once.
	if got := m.get(t, "ivrd_om_commands_total", "device", "om1", "command", "assign_menu", "result", "ok"); got < 1 {
		t.Errorf("assign_menu commands: %v", got)
	}
	// The flow's chunk, incoming up to the gather, then on to the transfer.
	if got := m.get(t, "ivrd_lua_step_duration_seconds_count", "flow", "main"); got < 3 {
		t.Errorf("Lua steps of main: %v, want at least 3", got)
	}
	// The call's start, its steps (two store writes, the gather, the
	// transfer) and its end went to the state file.
	if got := m.get(t, "ivrd_store_commit_duration_seconds_count"); got < 3 {
		t.Errorf("commits: %v, want at least 3", got)
	}
	if w, n := m.get(t, "ivrd_store_commit_writes_sum"), m.get(t, "ivrd_store_commit_writes_count"); w < n {
		t.Errorf("commit writes: %v in %v commits", w, n)
	}
	if got := m.get(t, "go_goroutines"); got == 0 {
		t.Error("no Go runtime metrics")
	}

	// A report the listener refuses, and a flow that no longer loads.
	req, _ := http.NewRequest("PUT", a.srv.URL()+"/om/om1", strings.NewReader("<Event/>"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	writeFile(t, filepath.Join(a.srv.cfg.Flows, "main.lua"), "local flow = {\n")
	if err := a.srv.Reload(); err == nil {
		t.Fatal("a broken flow reloaded")
	}
	_, m = a.scrape(t, metricsToken)
	if got := m.get(t, "ivrd_reports_rejected_total", "device", "om1", "status", "405"); got != 1 {
		t.Errorf("rejected reports: %v, want 1", got)
	}
	if got := m.get(t, "ivrd_flow_load_errors_total"); got != 1 {
		t.Errorf("load errors: %v, want 1", got)
	}
	if got := m.get(t, "ivrd_flow_rescans_total"); got < 1 {
		t.Errorf("rescans: %v", got)
	}
	if got := m.get(t, "ivrd_flows", "state", "failed"); got != 1 {
		t.Errorf("failed flows: %v, want 1", got)
	}
}

// TestServeMetricsOutbound: an outbound job answered shows as scheduled,
// done, its attempt answered, and the call as started in direction out.
func TestServeMetricsOutbound(t *testing.T) {
	a := startAdminStack(t, map[string]string{"main": adminMainFlow, "survey": adminSurveyFlow}, nil)
	if err := a.sim.SetNumberPolicy("13800000009", omsim.Policy{Answer: omsim.AnswerAfter, Delay: 50 * time.Millisecond, Keys: "4", KeysDelay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var job engine.Job
	if got := a.req(t, "POST", "/api/v1/calls", adminToken, `{"to":"13800000009","flow":"survey"}`, &job); got != 201 {
		t.Fatalf("dial: %d", got)
	}
	var m series
	poll(t, "the job to end", func() bool {
		_, m = a.scrape(t, adminToken)
		return m[seriesKey("ivrd_outbound_jobs_ended_total", "state", "done")] == 1
	})
	for _, c := range []struct {
		name string
		kv   []string
		want float64
	}{
		{"ivrd_outbound_jobs_scheduled_total", nil, 1},
		{"ivrd_outbound_attempts_total", []string{"outcome", "answered"}, 1},
		{"ivrd_outbound_jobs_retried_total", nil, 0},
		{"ivrd_calls_started_total", []string{"flow", "survey", "direction", "out"}, 1},
		{"ivrd_om_commands_total", []string{"device", "om1", "command", "dial", "result", "ok"}, 1},
		{"ivrd_outbound_jobs", []string{"state", "waiting"}, 0},
		{"ivrd_outbound_jobs", []string{"state", "due"}, 0},
	} {
		if got := m.get(t, c.name, c.kv...); got != c.want {
			t.Errorf("%s: %v, want %v", seriesKey(c.name, c.kv...), got, c.want)
		}
	}
}

func TestParseConfigMetricsToken(t *testing.T) {
	for _, c := range []struct{ name, toml, want string }{
		{"short", "metrics_token = \"abc\"", "admin.metrics_token: shorter than 16 bytes"},
		{"same as the admin token", "metrics_token = \"" + adminToken + "\"", "admin.metrics_token: the same as the admin token"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(oneDevice + "\n[admin]\nlisten = \"127.0.0.1:8081\"\ntoken = \"" + adminToken + "\"\n" + c.toml + "\n"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

func TestCommandResult(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{&engine.Refusal{Reason: engine.ReasonBusy, Code: 6}, "refused"},
		{&engine.Refusal{Reason: engine.ReasonNotFound}, "not_found"},
		{fmt.Errorf("%w: can't find visitor:3", engine.ErrGone), "not_found"},
		{fmt.Errorf("post: %w", os.ErrDeadlineExceeded), "timeout"},
		{fmt.Errorf("%w: i/o timeout", context.DeadlineExceeded), "timeout"},
		{context.Canceled, "canceled"},
		{errors.New("connection refused"), "error"},
	} {
		if got := commandResult(c.err); got != c.want {
			t.Errorf("commandResult(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// BenchmarkMetricsObserver is what the Prometheus observer costs for the
// calls made most: one Lua step and one report.
func BenchmarkMetricsObserver(b *testing.B) {
	m := newMetrics(&Server{})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m.Step("main", 50*time.Microsecond)
		m.Report("om1", engine.EvDTMF)
	}
}

// TestServeMetricsEventsDropped reads the event log's dropped count from
// /metrics: none at first, one after an event published once the log has
// stopped taking them (what a full queue does too).
func TestServeMetricsEventsDropped(t *testing.T) {
	a := startAdminStack(t, map[string]string{"main": adminMainFlow}, nil)
	_, m := a.scrape(t, adminToken)
	if got := m.get(t, "ivrd_events_dropped_total"); got != 0 {
		t.Fatalf("ivrd_events_dropped_total before: %v, want 0", got)
	}
	ev := a.srv.eventLog()
	ev.Close()
	ev.Publish(engine.CallEvent{Kind: engine.KindFlowPrefix + "late"})
	_, m = a.scrape(t, adminToken)
	if got := m.get(t, "ivrd_events_dropped_total"); got != 1 {
		t.Errorf("ivrd_events_dropped_total after: %v, want 1", got)
	}
}
