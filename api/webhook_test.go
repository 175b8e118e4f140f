package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
)

// receiver is a webhook endpoint over real loopback HTTP: it answers with
// the statuses given, in turn (then 200), and keeps what it received.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	got      []received
}

type received struct {
	body   []byte
	header http.Header
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	rc := &receiver{statuses: statuses}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{body, r.Header.Clone()})
		status := http.StatusOK
		if len(rc.statuses) > 0 {
			status, rc.statuses = rc.statuses[0], rc.statuses[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// waitFor polls cond until it holds, failing after a generous deadline
// (a hang detector, not a speed assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// logLines collects log output.
type logLines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newWebhooks(t *testing.T, secret string) (*api.Webhooks, *logLines) {
	t.Helper()
	logs := &logLines{}
	w := api.NewWebhooks(api.WebhookOptions{
		Secret: secret, Attempts: 3, Backoff: 10 * time.Millisecond, Timeout: time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
	})
	t.Cleanup(func() { w.Close(context.Background()) })
	return w, logs
}

func endedJob(url string) engine.Job {
	return engine.Job{ID: "job-7", To: "13800000001", Flow: "wakeup", State: engine.JobDone, Outcome: engine.DialAnswered,
		Webhook: url, Created: now, Due: now, Ended: now.Add(time.Minute)}
}

func TestWebhookSigned(t *testing.T) {
	rc := newReceiver(t)
	w, _ := newWebhooks(t, "hook-secret")
	w.JobEnded(endedJob(rc.URL + "/ivrd"))
	waitFor(t, "the delivery", func() bool { return len(rc.received()) == 1 })
	got := rc.received()[0]
	var j engine.Job
	if err := json.Unmarshal(got.body, &j); err != nil || j.ID != "job-7" || j.State != engine.JobDone {
		t.Fatalf("body %s: %v", got.body, err)
	}
	sig := got.header.Get(api.HeaderSignature)
	if !strings.HasPrefix(sig, "sha256=") || !api.VerifySignature([]byte("hook-secret"), got.body, sig) {
		t.Fatalf("signature %q does not verify", sig)
	}
	if api.VerifySignature([]byte("other-secret"), got.body, sig) {
		t.Fatalf("the signature verifies under another secret")
	}
	if got.header.Get(api.HeaderEvent) != api.EventJobEnded || got.header.Get(api.HeaderJob) != "job-7" ||
		got.header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", got.header)
	}
}

func TestWebhookUnsignedWithoutSecret(t *testing.T) {
	rc := newReceiver(t)
	w, _ := newWebhooks(t, "")
	w.JobEnded(endedJob(rc.URL))
	waitFor(t, "the delivery", func() bool { return len(rc.received()) == 1 })
	if sig := rc.received()[0].header.Get(api.HeaderSignature); sig != "" {
		t.Fatalf("signature %q without a secret", sig)
	}
}

func TestWebhookRetries(t *testing.T) {
	for _, c := range []struct {
		name     string
		statuses []int
		attempts int
		log      string
	}{
		{"server errors, then delivered", []int{500, 503}, 3, "webhook delivered"},
		{"too many requests, then delivered", []int{429}, 2, "webhook delivered"},
		{"gives up after the last attempt", []int{500, 500, 500, 500}, 3, "giving up"},
		{"a client error is not retried", []int{404}, 1, "giving up"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := newReceiver(t, c.statuses...)
			w, logs := newWebhooks(t, "s")
			w.JobEnded(endedJob(rc.URL))
			waitFor(t, "the outcome in the log", func() bool { return strings.Contains(logs.String(), c.log) })
			w.Close(context.Background())
			got := rc.received()
			if len(got) != c.attempts {
				t.Fatalf("%d attempts, want %d", len(got), c.attempts)
			}
			for i, r := range got {
				if string(r.body) != string(got[0].body) || r.header.Get(api.HeaderSignature) != got[0].header.Get(api.HeaderSignature) {
					t.Fatalf("attempt %d differs from the first", i+1)
				}
			}
		})
	}
}

func TestWebhookUnreachable(t *testing.T) {
	rc := newReceiver(t)
	url := rc.URL
	rc.Close() // nothing listens there any more
	w, logs := newWebhooks(t, "s")
	w.JobEnded(endedJob(url))
	waitFor(t, "giving up", func() bool { return strings.Contains(logs.String(), "giving up") })
	if n := strings.Count(logs.String(), "will retry"); n != 2 {
		t.Fatalf("%d retries logged, want 2:\n%s", n, logs)
	}
}

func TestWebhookNotSetOrClosed(t *testing.T) {
	rc := newReceiver(t)
	w, logs := newWebhooks(t, "s")
	w.JobEnded(endedJob("")) // no webhook: nothing to send
	w.JobEnded(endedJob(rc.URL))
	w.Close(context.Background()) // waits for the queued delivery
	if n := len(rc.received()); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
	w.JobEnded(endedJob(rc.URL))
	if n := len(rc.received()); n != 1 || !strings.Contains(logs.String(), "ivrd is stopping") {
		t.Fatalf("a delivery after Close: %d deliveries; log:\n%s", n, logs)
	}
}

func TestWebhookCloseAbandonsRetries(t *testing.T) {
	rc := newReceiver(t, 500, 500, 500)
	logs := &logLines{}
	w := api.NewWebhooks(api.WebhookOptions{Attempts: 3, Backoff: time.Hour,
		Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})})
	w.JobEnded(endedJob(rc.URL))
	waitFor(t, "the first attempt", func() bool { return len(rc.received()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	w.Close(ctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %s", took)
	}
	if !strings.Contains(logs.String(), "webhook abandoned") {
		t.Fatalf("log:\n%s", logs)
	}
}

// A job's webhook URL may carry a token in its query string or its user
// info: a failed delivery's log lines must show neither.
func TestWebhookFailureLogsNoURLSecrets(t *testing.T) {
	rc := newReceiver(t)
	addr := strings.TrimPrefix(rc.URL, "http://")
	rc.Close() // nothing listens there any more: the transport's error names the URL
	w, logs := newWebhooks(t, "s")
	w.JobEnded(endedJob("http://pms:hunter2@" + addr + "/ivrd?token=tok-4711"))
	waitFor(t, "giving up", func() bool { return strings.Contains(logs.String(), "giving up") })
	for _, secret := range []string{"tok-4711", "hunter2"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs.String(), "http://"+addr+"/ivrd") {
		t.Errorf("the log does not name the receiver:\n%s", logs)
	}
}
