package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
)

// Webhook headers. The body is the job as JSON (engine.Job).
const (
	// HeaderSignature carries "sha256=" and the hex HMAC-SHA256 of the
	// body under the webhook secret, when one is configured.
	HeaderSignature = "X-Ivrd-Signature"
	// HeaderEvent names the event: EventJobEnded.
	HeaderEvent = "X-Ivrd-Event"
	// HeaderJob carries the job's id, so a receiver can tell a retried
	// delivery from a new one.
	HeaderJob = "X-Ivrd-Job"
	// EventJobEnded is a job that will not dial again: done, failed,
	// cancelled or dropped.
	EventJobEnded = "job.ended"
)

// Sign returns the X-Ivrd-Signature value of body under secret:
// "sha256=<hex HMAC-SHA256>".
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature reports whether header is body's signature under secret,
// comparing in constant time. Receivers written in Go may use it.
func VerifySignature(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

// Defaults of WebhookOptions.
const (
	DefaultWebhookAttempts = 5
	DefaultWebhookBackoff  = time.Second
	DefaultWebhookTimeout  = 10 * time.Second
	DefaultWebhookQueue    = 1024
	DefaultWebhookWorkers  = 4
	// maxRetryAfter bounds how long a receiver's Retry-After may make a
	// delivery wait.
	maxRetryAfter = 5 * time.Minute
)

// WebhookOptions tune the delivery of job webhooks. Zero fields take the
// defaults named.
type WebhookOptions struct {
	// Secret signs every delivery (HeaderSignature); empty sends them
	// unsigned.
	Secret string
	// Logger is the parent logger; deliveries log as "webhook".
	Logger hclog.Logger
	// Attempts is the most deliveries tried per job, the first included
	// (default DefaultWebhookAttempts).
	Attempts int
	// Backoff is the wait before the second attempt, doubled for each
	// further one (default DefaultWebhookBackoff). A receiver's
	// Retry-After, when longer, is honoured up to five minutes.
	Backoff time.Duration
	// Timeout bounds one attempt (default DefaultWebhookTimeout).
	Timeout time.Duration
	// Queue is how many deliveries may wait for a worker (default
	// DefaultWebhookQueue); past it, jobs' webhooks are dropped and
	// logged. Workers is how many deliver at once (default
	// DefaultWebhookWorkers).
	Queue   int
	Workers int
	// Client makes the requests (default: a client that does not follow
	// redirects).
	Client *http.Client
}

// Webhooks tells each ended job's webhook URL about it: a JSON POST of the
// job, signed, retried with backoff on network errors, 5xx, 408 and 429.
// Deliveries are held in memory only: a crash loses those not yet made.
type Webhooks struct {
	opt   WebhookOptions
	log   hclog.Logger
	queue chan delivery
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

type delivery struct {
	url, job string
	body     []byte
}

// NewWebhooks starts the delivery workers; Close stops them.
func NewWebhooks(opt WebhookOptions) *Webhooks {
	if opt.Logger == nil {
		opt.Logger = hclog.NewNullLogger()
	}
	if opt.Attempts <= 0 {
		opt.Attempts = DefaultWebhookAttempts
	}
	if opt.Backoff <= 0 {
		opt.Backoff = DefaultWebhookBackoff
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultWebhookTimeout
	}
	if opt.Queue <= 0 {
		opt.Queue = DefaultWebhookQueue
	}
	if opt.Workers <= 0 {
		opt.Workers = DefaultWebhookWorkers
	}
	if opt.Client == nil {
		opt.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	w := &Webhooks{opt: opt, log: opt.Logger.Named("webhook"), queue: make(chan delivery, opt.Queue)}
	w.ctx, w.stop = context.WithCancel(context.Background())
	for i := 0; i < opt.Workers; i++ {
		w.wg.Add(1)
		go w.work()
	}
	return w
}

// JobEnded queues the delivery of j to j.Webhook, if it has one. It never
// blocks: it is engine.Config.JobEnded.
func (w *Webhooks) JobEnded(j engine.Job) {
	if j.Webhook == "" {
		return
	}
	body, err := json.Marshal(j)
	if err != nil {
		w.log.Error("cannot encode the job for its webhook", "job", j.ID, "error", err)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.log.Warn("webhook not sent: ivrd is stopping", "job", j.ID, "url", logURL(j.Webhook))
		return
	}
	select {
	case w.queue <- delivery{url: j.Webhook, job: j.ID, body: body}:
	default:
		w.log.Error("webhook dropped: too many deliveries are waiting", "job", j.ID, "url", logURL(j.Webhook), "queue", cap(w.queue))
	}
}

// Close stops taking deliveries and waits for the queued ones until ctx is
// done; then the rest are abandoned (and logged).
func (w *Webhooks) Close(ctx context.Context) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	close(w.queue)
	w.mu.Unlock()
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		w.stop()
		<-done
	}
	w.stop()
}

func (w *Webhooks) work() {
	defer w.wg.Done()
	for d := range w.queue {
		if w.ctx.Err() != nil {
			w.log.Warn("webhook not sent: ivrd is stopping", "job", d.job, "url", logURL(d.url))
			continue
		}
		w.deliver(d)
	}
}

// deliver tries a delivery until it succeeds, fails for good, runs out of
// attempts or the webhooks are stopped.
func (w *Webhooks) deliver(d delivery) {
	wait := w.opt.Backoff
	for attempt := 1; ; attempt++ {
		retry, after, err := w.post(d, attempt)
		if err == nil {
			w.log.Debug("webhook delivered", "job", d.job, "url", logURL(d.url), "attempt", attempt)
			return
		}
		if !retry || attempt == w.opt.Attempts {
			w.log.Error("webhook not delivered; giving up", "job", d.job, "url", logURL(d.url), "attempts", attempt, "error", err)
			return
		}
		delay := max(wait, after)
		w.log.Warn("webhook not delivered; will retry", "job", d.job, "url", logURL(d.url), "attempt", attempt, "retry_in", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
			w.log.Warn("webhook abandoned: ivrd is stopping", "job", d.job, "url", logURL(d.url), "attempts", attempt)
			return
		}
		wait *= 2
	}
}

// post makes one attempt. It reports whether a failure is worth another
// attempt, and how long the receiver asked to wait (Retry-After).
func (w *Webhooks) post(d delivery, attempt int) (retry bool, after time.Duration, err error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return false, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ivrd")
	req.Header.Set(HeaderEvent, EventJobEnded)
	req.Header.Set(HeaderJob, d.job)
	req.Header.Set("X-Ivrd-Attempt", strconv.Itoa(attempt))
	if w.opt.Secret != "" {
		req.Header.Set(HeaderSignature, Sign([]byte(w.opt.Secret), d.body))
	}
	resp, err := w.opt.Client.Do(req)
	if err != nil {
		return true, 0, unwrapURLError(err) // its text repeats the URL, query string and all
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, 0, nil
	}
	err = fmt.Errorf("the receiver answered %s", resp.Status)
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
			after = min(time.Duration(secs)*time.Second, maxRetryAfter)
		}
		return true, after, err
	}
	return false, 0, err
}

// logURL is a webhook URL as logs show it: scheme, host and path, without
// credentials or a query string, which may carry a token.
func logURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}
