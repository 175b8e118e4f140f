package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// TestServeVerificationCodeStaysSecret places a verification-code call
// through the admin API, with the example's flow, on a daemon logging at
// trace level (the XML of every command and report), and looks for the
// code everywhere it could leak: every API answer about the job and the
// call, the job's webhook, and every log line. The callee must still hear
// it.
func TestServeVerificationCodeStaysSecret(t *testing.T) {
	const code = "730519"
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "verify", "verify.lua"))
	if err != nil {
		t.Fatal(err)
	}
	hook := newHookReceiver(t)
	a := startAdminStack(t, map[string]string{"main": adminMainFlow, "verify": string(src)}, func(c *Config) {
		c.LogLevel = "trace"
		c.Admin.WebhookSecret = "hook-secret"
	})
	if err := a.sim.SetNumberPolicy("13800000021", omsim.Policy{Answer: omsim.AnswerAfter, Delay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var answers []string
	var job engine.Job
	body := `{"to":"13800000021","flow":"verify","vars":{"code":"` + code + `","order":"A-17"},"secret":["code"],"webhook":"` + hook.url + `"}`
	raw := a.rawReq(t, "POST", "/api/v1/calls", body, 201)
	answers = append(answers, raw)
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		t.Fatal(err)
	}
	poll(t, "the job to end", func() bool {
		raw := a.rawReq(t, "GET", "/api/v1/jobs/"+job.ID, "", 200)
		answers = append(answers, raw)
		return json.Unmarshal([]byte(raw), &job) == nil && job.Final()
	})
	if job.State != engine.JobDone {
		t.Fatalf("job: %+v", job)
	}
	var vars map[string]string
	if err := json.Unmarshal(job.Vars, &vars); err != nil || vars["order"] != "A-17" || vars["code"] != "[secret]" {
		t.Errorf("the job's vars as the API shows them: %s", job.Vars)
	}
	callID := job.Attempts[0].CallID
	var c api.Call
	poll(t, "the call in the history", func() bool {
		raw := a.rawReq(t, "GET", "/api/v1/calls/"+callID, "", 200)
		answers = append(answers, raw)
		return json.Unmarshal([]byte(raw), &c) == nil && !c.Live
	})
	answers = append(answers,
		a.rawReq(t, "GET", "/api/v1/jobs", "", 200),
		a.rawReq(t, "GET", "/api/v1/history", "", 200),
		a.rawReq(t, "GET", "/api/v1/calls", "", 200),
		a.rawReq(t, "GET", "/api/v1/stores/verify", "", 200))
	answers = append(answers, hook.wait(t, 1)...)

	// The callee heard the code, digit by digit.
	calls := a.sim.CallsTo("13800000021")
	if len(calls) != 1 {
		t.Fatalf("%d calls placed", len(calls))
	}
	var digits strings.Builder
	for _, h := range calls[0].Heard() {
		if d, ok := strings.CutPrefix(h.File, "user_digit_"); ok {
			digits.WriteString(d)
		}
	}
	if !strings.Contains(digits.String(), code+code+code) {
		t.Fatalf("the callee heard digits %q, want the code three times", digits.String())
	}
	// … and nothing else shows it, in any form the engine sends it.
	chain := make([]string, 0, len(code))
	for _, d := range code {
		chain = append(chain, "user_digit_"+string(d))
	}
	forms := []string{code, strings.Join(chain, "+silence+"), "user_digit_7+"}
	logs := a.logs.String()
	if !strings.Contains(logs, "<Transfer") {
		t.Fatal("the log has no command XML: trace level is not on")
	}
	// The commands that play the code are traced, their voice files hidden.
	if !strings.Contains(logs, "<voicefile>[secret]</voicefile>") {
		t.Error("no command of the code is traced with its voice files shown as [secret]")
	}
	for _, f := range forms {
		for i, ans := range answers {
			if strings.Contains(ans, f) {
				t.Errorf("API answer %d shows %q: %s", i, f, ans)
			}
		}
		if strings.Contains(logs, f) {
			for _, l := range strings.Split(logs, "\n") {
				if strings.Contains(l, f) {
					t.Errorf("a log line shows %q: %s", f, l)
				}
			}
		}
	}
	if !strings.Contains(strings.Join(answers, "\n"), "[secret]") {
		t.Error("no answer shows [secret] where the code was")
	}
}

// rawReq sends an authorised admin API request and returns the answer's
// body, failing unless the status is want.
func (a *adminStack) rawReq(t *testing.T, method, path, body string, want int) string {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, want)
	}
	return string(data)
}

// hookReceiver records webhook bodies.
type hookReceiver struct {
	url    string
	mu     sync.Mutex
	bodies []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/hook"
	return h
}

// wait returns the bodies once n have come.
func (h *hookReceiver) wait(t *testing.T, n int) []string {
	t.Helper()
	poll(t, "the webhook", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.bodies) >= n
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

func TestRedactVoiceFiles(t *testing.T) {
	for in, want := range map[string]string{
		`<Control attribute="Connect"><visitor id="1"/><menu id="41"/><VoiceFile>user_digit_7+silence+user_digit_3</VoiceFile></Control>`: `<Control attribute="Connect"><visitor id="1"/><menu id="41"/><VoiceFile>[secret]</VoiceFile></Control>`,
		`<Response><Failed code="1">can't find voicefile:user_digit_7</Failed></Response>`:                                                `<Response><Failed code="1">can't find voicefile:[secret]</Failed></Response>`,
		`<Control attribute="Clear"><visitor id="1"/></Control>`:                                                                          `<Control attribute="Clear"><visitor id="1"/></Control>`,
	} {
		if got := string(redactVoiceFiles([]byte(in))); got != want {
			t.Errorf("redactVoiceFiles(%s) = %s, want %s", in, got, want)
		}
	}
}
