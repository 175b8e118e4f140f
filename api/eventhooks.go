package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/clock"
)

// Outgoing webhooks of the event log: each configured webhook has one
// deliverer, which reads the log in id order from a cursor kept in the
// state file and POSTs the events its filters keep, in batches, one
// request at a time. The cursor moves only after a 2xx, so a crash or a
// restart sends a batch again rather than losing it: delivery is at least
// once, and a receiver deduplicates by event id.

// Headers of an event webhook delivery, besides HeaderSignature (the
// HMAC-SHA256 of the body, as for job webhooks) and X-Ivrd-Attempt.
const (
	// HeaderWebhook names the configured webhook.
	HeaderWebhook = "X-Ivrd-Webhook"
	// HeaderFirstEvent and HeaderLastEvent carry the ids of the batch's
	// first and last events.
	HeaderFirstEvent = "X-Ivrd-First-Event"
	HeaderLastEvent  = "X-Ivrd-Last-Event"
	// HeaderAttempt counts the attempts at a batch, from 1.
	HeaderAttempt = "X-Ivrd-Attempt"
	// EventBatch is HeaderEvent of an event webhook delivery.
	EventBatch = "events"
)

// Defaults of EventHook.
const (
	DefaultHookBatch       = 100
	MaxHookBatch           = 1000
	DefaultHookTimeout     = 10 * time.Second
	DefaultHookBackoff     = time.Second
	DefaultHookMaxBackoff  = 5 * time.Minute
	DefaultHookGiveUpAfter = time.Hour
	// DefaultHookLogEvery is how often a receiver that keeps failing is
	// logged again (EventHooksOptions.LogEvery).
	DefaultHookLogEvery = time.Minute
	// hookRefusedAttempts is how many attempts a batch gets when the
	// receiver refuses it (a 4xx other than 408 and 429) before it is set
	// aside: a receiver being redeployed may answer 404 for a moment.
	hookRefusedAttempts = 3
	// hookPage is how many logged events a deliverer reads at a time.
	hookPage = 500
	// hookSkipSave is how often a cursor moved only past events the
	// filters drop is written: losing such a move in a crash re-reads
	// those events and sends none of them.
	hookSkipSave = time.Second
)

// EventHook is one outgoing webhook of the event log ([[webhook]] in
// ivrd.toml). Zero fields take the defaults named.
type EventHook struct {
	// Name names the webhook in the API, the metrics and the logs;
	// required, unique.
	Name string
	// URL receives the POSTs (http or https).
	URL string
	// Secret signs every delivery (HeaderSignature); empty sends them
	// unsigned.
	Secret string
	// Kinds are the event kinds sent: exact ("cdr") or a prefix ending in
	// "*" ("call.*"); empty sends every kind. Devices and Exts keep the
	// events about those devices and extensions; empty keeps all.
	Kinds   []string
	Devices []string
	Exts    []string
	// BatchSize is the most events one POST carries (default
	// DefaultHookBatch, at most MaxHookBatch).
	BatchSize int
	// Timeout bounds one attempt (default DefaultHookTimeout).
	Timeout time.Duration
	// Backoff is the wait after a batch's first failed attempt, doubled
	// after each further one up to MaxBackoff (defaults
	// DefaultHookBackoff, DefaultHookMaxBackoff). A receiver's
	// Retry-After is honoured up to MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// GiveUpAfter is how long a batch is retried before it is set aside
	// as a failed delivery (default DefaultHookGiveUpAfter).
	GiveUpAfter time.Duration
}

func (h *EventHook) fill() {
	if h.BatchSize <= 0 {
		h.BatchSize = DefaultHookBatch
	}
	h.BatchSize = min(h.BatchSize, MaxHookBatch)
	if h.Timeout <= 0 {
		h.Timeout = DefaultHookTimeout
	}
	if h.Backoff <= 0 {
		h.Backoff = DefaultHookBackoff
	}
	if h.MaxBackoff <= 0 {
		h.MaxBackoff = DefaultHookMaxBackoff
	}
	h.MaxBackoff = max(h.MaxBackoff, h.Backoff)
	if h.GiveUpAfter <= 0 {
		h.GiveUpAfter = DefaultHookGiveUpAfter
	}
}

// Match reports whether the webhook sends e.
func (h *EventHook) Match(e engine.CallEvent) bool {
	if len(h.Devices) > 0 && !contains(h.Devices, e.Device) {
		return false
	}
	if len(h.Exts) > 0 && !contains(h.Exts, e.Ext) {
		return false
	}
	if len(h.Kinds) == 0 {
		return true
	}
	for _, k := range h.Kinds {
		if p, ok := strings.CutSuffix(k, "*"); ok {
			if strings.HasPrefix(e.Kind, p) {
				return true
			}
		} else if e.Kind == k {
			return true
		}
	}
	return false
}

// HookObserver counts what the webhooks do (the daemon's metrics).
type HookObserver interface {
	// HookAttempt is one POST: result is "ok" (2xx), "error" (network
	// error or timeout), "retry" (5xx, 408, 429) or "refused" (another
	// answer).
	HookAttempt(webhook, result string)
	// HookDelivered counts events a receiver took.
	HookDelivered(webhook string, events int)
	// HookSetAside is a failed delivery set aside: reason is
	// engine.HookFailed or engine.HookMissing.
	HookSetAside(webhook, reason string)
}

// EventHooksOptions configure EventHooks.
type EventHooksOptions struct {
	Hooks []EventHook
	// Log is the event log the webhooks read; Store keeps their cursors
	// and failed deliveries. Both required.
	Log   *engine.EventLog
	Store engine.HookStore
	// Logger is the parent logger; deliverers log as "webhook".
	Logger   hclog.Logger
	Observer HookObserver
	// Client makes the requests (default: one that does not follow
	// redirects).
	Client *http.Client
	// LogEvery is how often a receiver that keeps failing is logged again
	// (default DefaultHookLogEvery): its first failure, then one line per
	// period with the count, then its recovery.
	LogEvery time.Duration
}

// EventHooks runs the event log's outgoing webhooks.
type EventHooks struct {
	opt    EventHooksOptions
	log    hclog.Logger
	hooks  []*hookRunner
	byName map[string]*hookRunner
	// ctx ends at Close; wg counts the deliverers and the retries in
	// flight, which Close waits for; closed (under mu) refuses new
	// retries once Close has begun.
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
}

// Errors of EventHooks.
var (
	// ErrNoWebhook is a webhook name the configuration does not have.
	ErrNoWebhook = errors.New("no such webhook")
	// ErrNothingToSend is a failure whose events left the log before they
	// could be delivered.
	ErrNothingToSend = errors.New("the events of this failure left the log before they were delivered; there is nothing to send again")
)

// ReceiverError is a delivery the receiver did not take.
type ReceiverError struct {
	Status int // the HTTP status, 0 when none came
	Err    error
}

func (e *ReceiverError) Error() string { return e.Err.Error() }
func (e *ReceiverError) Unwrap() error { return e.Err }

// StartEventHooks starts one deliverer per webhook; Close stops them. A
// webhook the state file has no cursor for starts with the events logged
// from now on.
func StartEventHooks(opt EventHooksOptions) (*EventHooks, error) {
	if opt.Log == nil || opt.Store == nil {
		return nil, errors.New("event webhooks: an event log and a store are required")
	}
	if opt.Logger == nil {
		opt.Logger = hclog.NewNullLogger()
	}
	if opt.Client == nil {
		opt.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opt.LogEvery <= 0 {
		opt.LogEvery = DefaultHookLogEvery
	}
	hs := &EventHooks{opt: opt, log: opt.Logger.Named("webhook"), byName: map[string]*hookRunner{}}
	for _, h := range opt.Hooks {
		h.fill()
		if _, dup := hs.byName[h.Name]; dup || h.Name == "" {
			return nil, fmt.Errorf("event webhooks: the name %q is empty or given twice", h.Name)
		}
		cur, ok, err := opt.Store.HookCursor(h.Name)
		if err != nil {
			return nil, fmt.Errorf("webhook %s: reading its cursor: %w", h.Name, err)
		}
		if !ok {
			cur = opt.Log.LastID()
			if err := opt.Store.SetHookCursor(h.Name, cur); err != nil {
				return nil, fmt.Errorf("webhook %s: writing its cursor: %w", h.Name, err)
			}
		}
		r := &hookRunner{h: h, hs: hs, log: hs.log.With("webhook", h.Name, "url", logURL(h.URL)), cursor: cur, saved: cur, savedAt: time.Now()}
		hs.hooks = append(hs.hooks, r)
		hs.byName[h.Name] = r
	}
	hs.ctx, hs.stop = context.WithCancel(context.Background())
	for _, r := range hs.hooks {
		hs.wg.Add(1)
		go r.run(hs.ctx)
	}
	return hs, nil
}

// Close stops the deliverers and ends the retries in flight, and returns
// once they have stopped writing to the store: a delivery in flight is
// abandoned, to be sent again at the next start; a retry's attempt is
// counted. Retries after Close are refused (engine.ErrShuttingDown).
func (hs *EventHooks) Close() {
	if hs == nil {
		return
	}
	hs.mu.Lock()
	hs.closed = true
	hs.mu.Unlock()
	hs.stop()
	hs.wg.Wait()
}

// HookStatus is a webhook as GET /api/v1/webhooks shows it.
type HookStatus struct {
	Name string `json:"name"`
	// URL is the receiver without credentials or query string.
	URL       string   `json:"url"`
	Kinds     []string `json:"kinds"`
	Devices   []string `json:"devices"`
	Exts      []string `json:"exts"`
	Signed    bool     `json:"signed"`
	BatchSize int      `json:"batch_size"`
	// Cursor is the id of the last event dealt with (delivered, dropped
	// by the filters or set aside); LastEventID the log's last; Backlog
	// the events logged after the cursor (the filters may drop some).
	Cursor      uint64 `json:"cursor"`
	LastEventID uint64 `json:"last_event_id"`
	Backlog     uint64 `json:"backlog"`
	// State is "ok" (caught up), "delivering" (a backlog, no failure),
	// "retrying" (the last attempt failed; NextAttempt says when the next
	// is) or "failing" (the last attempt failed and its batch was set
	// aside; the next batch will try again).
	State string `json:"state"`
	// Attempts, LastStatus and LastError are about the batch being
	// retried.
	Attempts    int       `json:"attempts,omitempty"`
	LastStatus  int       `json:"last_status,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Delivered counts the events receivers took since ivrd started;
	// Failures the failed deliveries set aside in the state file.
	Delivered uint64 `json:"delivered"`
	Failures  int    `json:"failures"`
}

// Status describes every webhook, in configuration order.
func (hs *EventHooks) Status() []HookStatus {
	if hs == nil {
		return []HookStatus{}
	}
	out := make([]HookStatus, 0, len(hs.hooks))
	for _, r := range hs.hooks {
		out = append(out, r.status())
	}
	return out
}

// HookStatus describes one webhook, or ErrNoWebhook.
func (hs *EventHooks) HookStatus(name string) (HookStatus, error) {
	r, err := hs.runner(name)
	if err != nil {
		return HookStatus{}, err
	}
	return r.status(), nil
}

func (hs *EventHooks) runner(name string) (*hookRunner, error) {
	if hs == nil || hs.byName[name] == nil {
		return nil, fmt.Errorf("%w %q", ErrNoWebhook, name)
	}
	return hs.byName[name], nil
}

// Failures returns up to limit of a webhook's failed deliveries with ids
// above after, oldest first, and how many it has.
func (hs *EventHooks) Failures(name string, after uint64, limit int) ([]engine.HookFailure, int, error) {
	if _, err := hs.runner(name); err != nil {
		return nil, 0, err
	}
	return hs.opt.Store.HookFailures(name, after, limit)
}

// Retry sends a failed delivery again, once, now: when the receiver takes
// it, the failure is removed; otherwise it stays, with the attempt
// counted, and the error is a *ReceiverError.
func (hs *EventHooks) Retry(ctx context.Context, name string, id uint64) (engine.HookFailure, error) {
	r, err := hs.runner(name)
	if err != nil {
		return engine.HookFailure{}, err
	}
	hs.mu.Lock()
	if hs.closed {
		hs.mu.Unlock()
		return engine.HookFailure{}, engine.ErrShuttingDown
	}
	hs.wg.Add(1)
	hs.mu.Unlock()
	defer hs.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(hs.ctx, cancel)()
	// Two retries of one failure at once would both send it.
	r.retrying.Lock()
	defer r.retrying.Unlock()
	f, err := hs.opt.Store.HookFailure(name, id)
	if err != nil {
		return f, err
	}
	if len(f.Events) == 0 {
		return f, ErrNothingToSend
	}
	body, err := r.body(f.Events)
	if err != nil {
		return f, err
	}
	f.Attempts++
	res := r.post(ctx, body, f.First, f.Last, f.Attempts)
	f.LastAttempt, f.Status = time.Now().UTC(), res.status
	if res.err == nil {
		if err := hs.opt.Store.DeleteHookFailure(name, id); err != nil {
			return f, err
		}
		r.count(len(f.Events))
		r.log.Info("failed delivery sent again", "failure", id, "first_event", f.First, "last_event", f.Last)
		return f, nil
	}
	f.Error = res.err.Error()
	if err := hs.opt.Store.PutHookFailure(name, f); err != nil {
		return f, err
	}
	return f, &ReceiverError{Status: res.status, Err: res.err}
}

// hookRunner delivers one webhook.
type hookRunner struct {
	h   EventHook
	hs  *EventHooks
	log hclog.Logger
	// send is held for each request: at most one is in flight, from the
	// deliverer or a retry through the API.
	send sync.Mutex
	// retrying is held by a retry through the API.
	retrying sync.Mutex

	mu          sync.Mutex
	cursor      uint64
	saved       uint64    // the cursor as the store has it
	savedAt     time.Time // when it was last written
	attempts    int
	lastStatus  int
	lastErr     string
	lastSuccess time.Time
	nextAttempt time.Time
	deliveredN  uint64
	// A failing receiver is logged once, then every LogEvery with the
	// count of failed attempts, then once when it recovers.
	failing   bool
	failedN   int
	loggedAt  time.Time
	failStart time.Time
}

func (r *hookRunner) status() HookStatus {
	last := r.hs.opt.Log.LastID()
	_, failures, err := r.hs.opt.Store.HookFailures(r.h.Name, ^uint64(0)-1, 1)
	if err != nil {
		failures = -1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := HookStatus{
		Name: r.h.Name, URL: logURL(r.h.URL), Kinds: nonNil(r.h.Kinds), Devices: nonNil(r.h.Devices), Exts: nonNil(r.h.Exts),
		Signed: r.h.Secret != "", BatchSize: r.h.BatchSize, Cursor: r.cursor, LastEventID: last,
		Attempts: r.attempts, LastStatus: r.lastStatus, LastError: r.lastErr, LastSuccess: r.lastSuccess,
		NextAttempt: r.nextAttempt, Delivered: r.deliveredN, Failures: failures, State: "ok",
	}
	if last > r.cursor {
		st.Backlog = last - r.cursor
		st.State = "delivering"
	}
	switch {
	case r.lastErr != "" && !r.nextAttempt.IsZero():
		st.State = "retrying"
	case r.lastErr != "":
		st.State = "failing"
	}
	return st
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// run delivers until ctx is done.
func (r *hookRunner) run(ctx context.Context) {
	defer r.hs.wg.Done()
	defer r.saveSkipped(true)
	sub := r.hs.opt.Log.Subscribe()
	defer func() { sub.Close() }()
	for ctx.Err() == nil {
		more, err := r.step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.Error("webhook stalled: cannot read the event log or write its cursor", "error", err)
			if !(clock.Real{}).Sleep(ctx, r.h.Backoff) {
				return
			}
			continue
		}
		if more {
			continue
		}
		r.saveSkipped(false)
		select {
		case _, ok := <-sub.C:
			if !ok {
				if !sub.Slow() {
					return // the log is closing
				}
				// Fell behind while delivering: nothing is lost, the
				// log has it all; listen again.
				sub = r.hs.opt.Log.Subscribe()
			}
		case <-time.After(hookSkipSave):
		case <-ctx.Done():
			return
		}
	}
}

// step handles what follows the cursor: a run of events missing from the
// log, or the next batch. It reports whether there may be more to do at
// once.
func (r *hookRunner) step(ctx context.Context) (bool, error) {
	r.mu.Lock()
	cur := r.cursor
	r.mu.Unlock()
	// The log's last id is read before its events: every id up to it
	// that is not among them has left the log.
	last := r.hs.opt.Log.LastID()
	evs, err := r.hs.opt.Log.After(cur, hookPage)
	if err != nil {
		return false, err
	}
	next := last + 1
	if len(evs) > 0 {
		next = evs[0].ID
	}
	if next > cur+1 && (len(evs) > 0 || last > cur) {
		return true, r.missing(cur+1, next-1)
	}
	var batch []engine.CallEvent
	upto := cur
	for _, e := range evs {
		if r.h.Match(e) {
			if len(batch) == r.h.BatchSize {
				break
			}
			batch = append(batch, e)
		}
		upto = e.ID
	}
	if len(batch) == 0 {
		if upto == cur {
			return false, nil
		}
		r.mu.Lock()
		r.cursor = upto
		r.mu.Unlock()
		return true, nil
	}
	return true, r.deliver(ctx, batch, upto)
}

// saveSkipped writes a cursor moved past filtered-out events only, at
// most every hookSkipSave unless forced.
func (r *hookRunner) saveSkipped(force bool) {
	r.mu.Lock()
	cur, dirty := r.cursor, r.cursor != r.saved && (force || time.Since(r.savedAt) >= hookSkipSave)
	r.mu.Unlock()
	if !dirty {
		return
	}
	if err := r.hs.opt.Store.SetHookCursor(r.h.Name, cur); err != nil {
		r.log.Warn("cannot write the webhook's cursor", "error", err)
		return
	}
	r.mu.Lock()
	r.saved, r.savedAt = cur, time.Now()
	r.mu.Unlock()
}

// missing records events that left the log before they were delivered.
func (r *hookRunner) missing(first, last uint64) error {
	f, err := r.hs.opt.Store.SetAside(r.h.Name, engine.HookFailure{
		Reason: engine.HookMissing, First: first, Last: last, Count: int(last - first + 1),
		Error: "the events left the event log before they were delivered", SetAside: time.Now().UTC(),
	}, last)
	if err != nil {
		return err
	}
	r.moved(last)
	r.log.Error("events left the log before the webhook delivered them; recorded as a failure",
		"failure", f.ID, "first_event", first, "last_event", last)
	if o := r.hs.opt.Observer; o != nil {
		o.HookSetAside(r.h.Name, engine.HookMissing)
	}
	return nil
}

func (r *hookRunner) moved(cur uint64) {
	r.mu.Lock()
	r.cursor, r.saved, r.savedAt = cur, cur, time.Now()
	r.mu.Unlock()
}

// hookBody is what a delivery POSTs.
type hookBody struct {
	Webhook string             `json:"webhook"`
	Events  []engine.CallEvent `json:"events"`
}

func (r *hookRunner) body(evs []engine.CallEvent) ([]byte, error) {
	return json.Marshal(hookBody{Webhook: r.h.Name, Events: evs})
}

// deliver sends a batch until the receiver takes it (the cursor then
// moves to upto), the policy gives it up (it is set aside and the cursor
// moves too) or ctx is done.
func (r *hookRunner) deliver(ctx context.Context, batch []engine.CallEvent, upto uint64) error {
	body, err := r.body(batch)
	if err != nil {
		return err
	}
	first, last := batch[0].ID, batch[len(batch)-1].ID
	start := time.Now()
	wait := r.h.Backoff
	for attempt := 1; ; attempt++ {
		res := r.post(ctx, body, first, last, attempt)
		if ctx.Err() != nil {
			return ctx.Err() // stopping: sent again at the next start
		}
		if res.err == nil {
			if err := r.hs.opt.Store.SetHookCursor(r.h.Name, upto); err != nil {
				return err
			}
			r.moved(upto)
			r.delivered(len(batch))
			return nil
		}
		delay := min(max(wait, res.retryAfter), r.h.MaxBackoff)
		giveUp := time.Since(start)+delay > r.h.GiveUpAfter
		if !res.retry && attempt >= hookRefusedAttempts {
			giveUp = true
		}
		r.failed(res, attempt, delay, giveUp)
		if giveUp {
			return r.setAside(batch, upto, attempt, start, res)
		}
		if !(clock.Real{}).Sleep(ctx, delay) {
			return ctx.Err()
		}
		wait = min(wait*2, r.h.MaxBackoff)
	}
}

func (r *hookRunner) setAside(batch []engine.CallEvent, upto uint64, attempts int, start time.Time, res hookResult) error {
	f, err := r.hs.opt.Store.SetAside(r.h.Name, engine.HookFailure{
		Reason: engine.HookFailed, First: batch[0].ID, Last: batch[len(batch)-1].ID, Count: len(batch),
		Events: batch, Attempts: attempts, Status: res.status, Error: res.err.Error(),
		FirstAttempt: start.UTC(), LastAttempt: time.Now().UTC(), SetAside: time.Now().UTC(),
	}, upto)
	if err != nil {
		return err
	}
	r.moved(upto)
	r.mu.Lock()
	r.attempts, r.nextAttempt = 0, time.Time{}
	r.mu.Unlock()
	r.log.Error("webhook batch set aside as a failed delivery (see GET /api/v1/webhooks/"+r.h.Name+"/failures)",
		"failure", f.ID, "first_event", f.First, "last_event", f.Last, "events", f.Count, "attempts", attempts, "error", f.Error)
	if o := r.hs.opt.Observer; o != nil {
		o.HookSetAside(r.h.Name, engine.HookFailed)
	}
	return nil
}

// delivered notes a batch the receiver took, and its recovery.
func (r *hookRunner) delivered(n int) {
	r.mu.Lock()
	wasFailing, failed, since := r.failing, r.failedN, r.failStart
	r.failing, r.failedN = false, 0
	r.attempts, r.lastStatus, r.lastErr, r.nextAttempt = 0, 0, "", time.Time{}
	r.lastSuccess = time.Now().UTC()
	r.mu.Unlock()
	if wasFailing {
		r.log.Info("webhook receiver is taking deliveries again", "failed_attempts", failed, "failing_for", time.Since(since).Round(time.Millisecond))
	}
	r.count(n)
}

// count counts events a receiver took: the deliverer's, or a retry's
// (which leaves the deliverer's own state alone).
func (r *hookRunner) count(n int) {
	// The metric first: a client that sees the count in the status finds
	// it in /metrics too.
	if o := r.hs.opt.Observer; o != nil {
		o.HookDelivered(r.h.Name, n)
	}
	r.mu.Lock()
	r.deliveredN += uint64(n)
	r.mu.Unlock()
}

// failed notes a failed attempt and logs it, at a bounded rate.
func (r *hookRunner) failed(res hookResult, attempt int, delay time.Duration, giveUp bool) {
	now := time.Now()
	r.mu.Lock()
	r.attempts, r.lastStatus, r.lastErr = attempt, res.status, res.err.Error()
	r.nextAttempt = time.Time{}
	if !giveUp {
		r.nextAttempt = now.Add(delay).UTC()
	}
	r.failedN++
	first := !r.failing
	logNow := first || now.Sub(r.loggedAt) >= r.hs.opt.LogEvery
	n := r.failedN
	if first {
		r.failing, r.failStart = true, now
	}
	if logNow {
		r.loggedAt = now
	}
	since := r.failStart
	r.mu.Unlock()
	switch {
	case first:
		r.log.Warn("webhook receiver failing; retrying with backoff", "attempt", attempt, "retry_in", delay, "error", res.err)
	case logNow:
		r.log.Warn("webhook receiver still failing", "failed_attempts", n, "failing_for", now.Sub(since).Round(time.Millisecond), "error", res.err)
	}
}

type hookResult struct {
	status     int
	retryAfter time.Duration
	retry      bool
	err        error
}

// post makes one attempt.
func (r *hookRunner) post(ctx context.Context, body []byte, first, last uint64, attempt int) (res hookResult) {
	r.send.Lock()
	defer r.send.Unlock()
	defer func() {
		if o := r.hs.opt.Observer; o != nil && ctx.Err() == nil {
			result := "ok"
			switch {
			case res.err != nil && res.status == 0:
				result = "error"
			case res.err != nil && res.retry:
				result = "retry"
			case res.err != nil:
				result = "refused"
			}
			o.HookAttempt(r.h.Name, result)
		}
	}()
	actx, cancel := context.WithTimeout(ctx, r.h.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, r.h.URL, bytes.NewReader(body))
	if err != nil {
		return hookResult{err: err}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "ivrd")
	h.Set(HeaderEvent, EventBatch)
	h.Set(HeaderWebhook, r.h.Name)
	h.Set(HeaderFirstEvent, strconv.FormatUint(first, 10))
	h.Set(HeaderLastEvent, strconv.FormatUint(last, 10))
	h.Set(HeaderAttempt, strconv.Itoa(attempt))
	if r.h.Secret != "" {
		h.Set(HeaderSignature, Sign([]byte(r.h.Secret), body))
	}
	resp, err := r.hs.opt.Client.Do(req)
	if err != nil {
		return hookResult{retry: true, err: fmt.Errorf("POST %s: %w", logURL(r.h.URL), unwrapURLError(err))}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return hookResult{status: resp.StatusCode}
	}
	res = hookResult{status: resp.StatusCode, err: fmt.Errorf("the receiver answered %s", resp.Status)}
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		res.retry = true
		res.retryAfter = retryAfter(resp.Header.Get("Retry-After"))
	}
	return res
}

// retryAfter reads a Retry-After: seconds, or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// unwrapURLError drops the *url.Error around a transport error, whose
// text repeats the URL with its query string.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
