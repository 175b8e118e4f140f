package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
)

// callNow is the clock of the ivrd call tests: 09:00 UTC, 17:00 in
// Shanghai.
var callNow = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// jobsBackend is a daemon with jobs only, for "ivrd call": the API's other
// endpoints are not used.
type jobsBackend struct {
	api.Backend
	mu     sync.Mutex
	jobs   []engine.Job
	dialed []engine.DialRequest
	refuse *engine.FieldError // Dial's answer when set
}

func (b *jobsBackend) Dial(req engine.DialRequest) (engine.Job, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refuse != nil {
		return engine.Job{}, b.refuse
	}
	b.dialed = append(b.dialed, req)
	due := req.At
	if due.IsZero() {
		due = callNow
	}
	j := engine.Job{ID: fmt.Sprintf("job-%d", len(b.jobs)+1), To: req.To, Flow: req.Flow, Vars: req.Vars, Due: due,
		Created: callNow, State: engine.JobScheduled, Retry: req.Retry, Source: req.Source}
	b.jobs = append(b.jobs, j)
	return j, nil
}

func (b *jobsBackend) Jobs() ([]engine.Job, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []engine.Job
	for i := len(b.jobs) - 1; i >= 0; i-- {
		out = append(out, b.jobs[i])
	}
	return out, nil
}

func (b *jobsBackend) Job(id string) (engine.Job, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, j := range b.jobs {
		if j.ID == id {
			return j, nil
		}
	}
	return engine.Job{}, engine.ErrNoJob
}

func (b *jobsBackend) CancelJob(id string) (engine.Job, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, j := range b.jobs {
		if j.ID == id {
			if j.Final() {
				return j, engine.ErrJobOver
			}
			b.jobs[i].State = engine.JobCancelled
			return b.jobs[i], nil
		}
	}
	return engine.Job{}, engine.ErrNoJob
}

// callAPI serves the admin API over b on a loopback port.
func callAPI(t *testing.T, b *jobsBackend) *httptest.Server {
	t.Helper()
	s, err := api.New(b, api.Options{Token: adminToken, Now: func() time.Time { return callNow }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

// runCall runs "ivrd call" in a folder without ivrd.toml and without the
// environment variables, and returns its output.
func runCall(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &CallCommand{main: &Main{Stdout: &out, Stderr: &errOut}, now: func() time.Time { return callNow }}
	err := c.Run(context.Background(), args)
	return out.String(), err
}

// callEnv isolates a test from the caller's environment and ivrd.toml.
func callEnv(t *testing.T) {
	t.Helper()
	t.Setenv(tokenEnv, "")
	t.Setenv(adminEnv, "")
	t.Chdir(t.TempDir())
}

func TestCallPlaces(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	for _, c := range []struct {
		name string
		args []string
		want engine.DialRequest
		out  string
	}{
		{"a wake-up at 07:00 in Shanghai",
			[]string{"-to", "13800000001", "-flow", "wakeup", "--at", "07:00", "--tz", "Asia/Shanghai", "--vars", `{"room":"1203"}`,
				"--retry-attempts", "3", "--retry-delay", "5m", "--window", "07:00-22:00"},
			engine.DialRequest{To: "13800000001", Flow: "wakeup", At: time.Date(2026, 11, 26, 7, 0, 0, 0, shanghai), TZ: "Asia/Shanghai",
				Window: "07:00-22:00", Vars: json.RawMessage(`{"room":"1203"}`), Source: "api",
				Retry: engine.RetryPolicy{Attempts: 3, Delay: engine.Duration(5 * time.Minute)}},
			"job-1 scheduled: 13800000001, flow wakeup, due 2026-11-26 07:00:00 CST (in 14h0m0s)\n"},
		{"now",
			[]string{"-to", "13800000001", "-flow", "code", "-device", "om1", "-trunk", "2", "-id", "code-1", "-webhook", "https://crm.example.com/h",
				"-retry-on", "busy, no_answer", "-retry-backoff", "2", "-vars", `{"code":"4821"}`, "-secret", "code"},
			engine.DialRequest{To: "13800000001", Flow: "code", Device: "om1", Trunk: "2", ID: "code-1", Webhook: "https://crm.example.com/h",
				Source: "api", Retry: engine.RetryPolicy{Backoff: 2, On: []string{"busy", "no_answer"}},
				Vars: json.RawMessage(`{"code":"4821"}`), Secret: []string{"code"}},
			"job-1 scheduled: 13800000001, flow code, now\n"},
		{"an RFC 3339 time, shown in UTC",
			[]string{"-to", "1", "-flow", "wakeup", "-at", "2026-11-25T12:30:00+08:00", "-tz", "UTC"},
			engine.DialRequest{To: "1", Flow: "wakeup", At: time.Date(2026, 11, 25, 4, 30, 0, 0, time.UTC), TZ: "UTC", Source: "api"},
			"job-1 scheduled: 1, flow wakeup, now\n"}, // 04:30 UTC is past: the daemon dials at once
	} {
		t.Run(c.name, func(t *testing.T) {
			callEnv(t)
			b := &jobsBackend{}
			srv := callAPI(t, b)
			out, err := runCall(t, append(c.args, "-admin", srv.URL, "-token", adminToken)...)
			if err != nil {
				t.Fatal(err)
			}
			if len(b.dialed) != 1 {
				t.Fatalf("dialled %d times", len(b.dialed))
			}
			got := b.dialed[0]
			if !got.At.Equal(c.want.At) {
				t.Fatalf("at %s, want %s", got.At, c.want.At)
			}
			got.At, c.want.At = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("request\n got %+v\nwant %+v", got, c.want)
			}
			if out != c.out {
				t.Fatalf("output %q, want %q", out, c.out)
			}
		})
	}
}

func TestCallJSON(t *testing.T) {
	callEnv(t)
	srv := callAPI(t, &jobsBackend{})
	out, err := runCall(t, "-to", "1", "-flow", "wakeup", "-json", "-admin", srv.URL, "-token", adminToken)
	if err != nil {
		t.Fatal(err)
	}
	var j engine.Job
	if err := json.Unmarshal([]byte(out), &j); err != nil || j.ID != "job-1" || j.State != engine.JobScheduled {
		t.Fatalf("output %s: %v", out, err)
	}
}

// TestCallFindsTheAPI: the admin URL and token come from the flags, the
// environment or the configuration file, in that order.
func TestCallFindsTheAPI(t *testing.T) {
	b := &jobsBackend{}
	srv := callAPI(t, b)
	addr := strings.TrimPrefix(srv.URL, "http://")

	t.Run("environment", func(t *testing.T) {
		callEnv(t)
		t.Setenv(tokenEnv, adminToken)
		t.Setenv(adminEnv, addr) // without http://
		if _, err := runCall(t, "-list"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("configuration", func(t *testing.T) {
		callEnv(t)
		dir := t.TempDir()
		tokenFile := filepath.Join(dir, "token")
		writeFile(t, tokenFile, adminToken+"\n")
		config := filepath.Join(dir, "ivrd.toml")
		writeFile(t, config, oneDevice+"\n[admin]\nlisten = \""+addr+"\"\ntoken_file = \""+tokenFile+"\"\n\n[outbound]\ntz = \"Asia/Shanghai\"\n")
		out, err := runCall(t, "-config", config, "-to", "1", "-flow", "wakeup", "-at", "08:00")
		if err != nil {
			t.Fatal(err)
		}
		// 08:00 in the configuration's zone, Shanghai.
		if !strings.Contains(out, "due 2026-11-26 08:00:00 CST") {
			t.Fatalf("output %q", out)
		}
	})
	t.Run("ivrd.toml in the folder", func(t *testing.T) {
		callEnv(t)
		writeFile(t, DefaultConfigPath, oneDevice+"\n[admin]\nlisten = \""+addr+"\"\ntoken = \""+adminToken+"\"\n")
		if _, err := runCall(t, "-list"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("flags over the environment", func(t *testing.T) {
		callEnv(t)
		t.Setenv(tokenEnv, "wrong-token-from-the-environment")
		t.Setenv(adminEnv, "http://127.0.0.1:1")
		if _, err := runCall(t, "-list", "-admin", srv.URL, "-token", adminToken); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCallListShowCancel(t *testing.T) {
	callEnv(t)
	b := &jobsBackend{}
	srv := callAPI(t, b)
	run := func(args ...string) string {
		t.Helper()
		out, err := runCall(t, append(args, "-admin", srv.URL, "-token", adminToken, "-tz", "Asia/Shanghai")...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out
	}
	run("-to", "13800000001", "-flow", "wakeup", "-at", "07:00", "-retry-attempts", "3")
	run("-to", "13800000002", "-flow", "survey")
	b.jobs[1].State, b.jobs[1].Outcome = engine.JobDone, engine.DialAnswered

	out := run("-list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "JOB") ||
		!strings.Contains(lines[1], "job-2") || !strings.Contains(lines[1], "done") || !strings.Contains(lines[1], "answered") ||
		!strings.Contains(lines[2], "job-1") || !strings.Contains(lines[2], "2026-11-26 07:00:00 CST") || !strings.Contains(lines[2], "0/3") {
		t.Fatalf("list:\n%s", out)
	}
	if out := run("-list", "-state", "done"); strings.Contains(out, "job-1") || !strings.Contains(out, "job-2") {
		t.Fatalf("list of done jobs:\n%s", out)
	}
	if out := run("-show", "job-1"); !strings.Contains(out, "13800000001") || !strings.Contains(out, "scheduled") ||
		!strings.Contains(out, "2026-11-26 07:00:00 CST") {
		t.Fatalf("show:\n%s", out)
	}
	if out := run("-cancel", "job-1"); out != "job-1 cancelled: 13800000001, flow wakeup, was due 2026-11-26 07:00:00 CST\n" {
		t.Fatalf("cancel: %q", out)
	}
	if b.jobs[0].State != engine.JobCancelled {
		t.Fatalf("job-1 is %s", b.jobs[0].State)
	}
}

func TestCallErrors(t *testing.T) {
	b := &jobsBackend{}
	srv := callAPI(t, b)
	apiFlags := []string{"-admin", srv.URL, "-token", adminToken}
	for _, c := range []struct {
		name   string
		args   []string
		refuse *engine.FieldError
		want   string
	}{
		{"nothing to do", nil, nil, "give -to and -flow to place a call"},
		{"no flow", []string{"-to", "1"}, nil, "-flow: the flow to run when the callee answers is required"},
		{"no number", []string{"-flow", "wakeup"}, nil, "-to: the number to call is required"},
		{"two things to do", []string{"-to", "1", "-flow", "f", "-list"}, nil, "give one of -to/-flow, -list, -show and -cancel"},
		{"state without list", []string{"-show", "job-1", "-state", "done"}, nil, "-state goes with -list"},
		{"at without a call", []string{"-list", "-at", "07:00"}, nil, "-at goes with -to and -flow"},
		{"an argument", []string{"-to", "1", "-flow", "f", "now"}, nil, `unexpected argument "now"`},
		{"bad at", []string{"-to", "1", "-flow", "f", "-at", "tomorrow"}, nil, `-at: "tomorrow" is not a time`},
		{"bad tz", []string{"-to", "1", "-flow", "f", "-tz", "Mars/Olympus"}, nil, `-tz: unknown time zone "Mars/Olympus"`},
		{"bad vars", []string{"-to", "1", "-flow", "f", "-vars", "[1]"}, nil, "-vars: \"[1]\" is not a JSON object"},
		{"bad window", []string{"-to", "1", "-flow", "f", "-window", "9-5"}, nil, `-window: "9-5" is not like "08:00-21:00"`},
		{"negative attempts", []string{"-to", "1", "-flow", "f", "-retry-attempts", "-1"}, nil, "-retry-attempts: -1 is negative"},
		{"bad delay", []string{"-to", "1", "-flow", "f", "-retry-delay", "soon"}, nil, `invalid value "soon" for flag -retry-delay`},
		{"refused by the daemon", []string{"-to", "1", "-flow", "f", "-retry-attempts", "500"},
			&engine.FieldError{Field: "retry.attempts", Msg: "500 is more than 100"}, "-retry-attempts: 500 is more than 100"},
		{"unknown job", []string{"-cancel", "job-9"}, nil, "call: no such job"},
		{"unknown state", []string{"-list", "-state", "asleep"}, nil, `-state: "asleep" is not a job state`},
	} {
		t.Run(c.name, func(t *testing.T) {
			callEnv(t)
			b.refuse = c.refuse
			_, err := runCall(t, append(c.args, apiFlags...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
	b.refuse = nil

	t.Run("no token", func(t *testing.T) {
		callEnv(t)
		_, err := runCall(t, "-list", "-admin", srv.URL)
		if err == nil || !strings.Contains(err.Error(), "no admin token: give -token, set $IVRD_TOKEN") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("input checked before the daemon is looked for", func(t *testing.T) {
		callEnv(t)
		_, err := runCall(t, "-to", "1", "-flow", "wakeup", "-vars", "{")
		if err == nil || !strings.Contains(err.Error(), "-vars:") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		callEnv(t)
		_, err := runCall(t, "-list", "-admin", srv.URL, "-token", "wrong-token-wrong-token")
		if err == nil || !strings.Contains(err.Error(), "the daemon refused the token") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no daemon", func(t *testing.T) {
		callEnv(t)
		_, err := runCall(t, "-list", "-admin", "http://127.0.0.1:1", "-token", adminToken)
		if err == nil || !strings.Contains(err.Error(), "cannot reach the admin API at http://127.0.0.1:1") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a broken configuration", func(t *testing.T) {
		callEnv(t)
		writeFile(t, DefaultConfigPath, "[admin]\nlisten = \"x\"\n")
		_, err := runCall(t, "-list")
		if err == nil || !strings.Contains(err.Error(), "ivrd.toml") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestCallThroughMain: "ivrd call" is a command of the binary.
func TestCallThroughMain(t *testing.T) {
	callEnv(t)
	srv := callAPI(t, &jobsBackend{})
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut}
	if err := m.Run(context.Background(), []string{"call", "-to", "1", "-flow", "wakeup", "-admin", srv.URL, "-token", adminToken}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "job-1 scheduled") {
		t.Fatalf("output %q", out.String())
	}
}
