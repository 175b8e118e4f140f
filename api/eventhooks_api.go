package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// Limits of GET /api/v1/webhooks/{name}/failures.
const (
	DefaultFailuresLimit = 50
	MaxFailuresLimit     = 500
)

// WebhookList is the answer of GET /api/v1/webhooks.
type WebhookList struct {
	Webhooks []HookStatus `json:"webhooks"`
}

// Failure is a failed delivery as the API shows it: the stored failure
// with its events' ids instead of the events.
type Failure struct {
	ID       uint64    `json:"id"`
	Reason   string    `json:"reason"`
	First    uint64    `json:"first_event_id"`
	Last     uint64    `json:"last_event_id"`
	Count    int       `json:"count"`
	EventIDs []uint64  `json:"event_ids,omitempty"`
	Attempts int       `json:"attempts"`
	Status   int       `json:"status,omitempty"`
	Error    string    `json:"error,omitempty"`
	FirstAt  time.Time `json:"first_attempt,omitzero"`
	LastAt   time.Time `json:"last_attempt,omitzero"`
	SetAside time.Time `json:"set_aside"`
}

func failureView(f engine.HookFailure) Failure {
	v := Failure{ID: f.ID, Reason: f.Reason, First: f.First, Last: f.Last, Count: f.Count, Attempts: f.Attempts,
		Status: f.Status, Error: f.Error, FirstAt: f.FirstAttempt, LastAt: f.LastAttempt, SetAside: f.SetAside}
	for _, e := range f.Events {
		v.EventIDs = append(v.EventIDs, e.ID)
	}
	return v
}

// FailurePage is the answer of GET /api/v1/webhooks/{name}/failures.
type FailurePage struct {
	Webhook  string    `json:"webhook"`
	Failures []Failure `json:"failures"`
	// Total counts the webhook's failures; Next, when more follow, is the
	// after= of the next page.
	Total int    `json:"total"`
	Next  uint64 `json:"next,omitempty"`
}

// RetryResult is the answer of the retry requests: the failures the
// receiver took (and that are gone), and, for a retry of all, those left.
type RetryResult struct {
	Webhook   string    `json:"webhook"`
	Delivered []Failure `json:"delivered"`
	Remaining int       `json:"remaining"`
	Error     string    `json:"error,omitempty"`
}

// webhookRoutes adds the event webhook endpoints.
func (s *Server) webhookRoutes(routes map[string]func(*http.Request) (int, any, error)) {
	routes["GET /api/v1/webhooks"] = s.webhooks
	routes["GET /api/v1/webhooks/{name}"] = s.webhook
	routes["GET /api/v1/webhooks/{name}/failures"] = s.webhookFailures
	routes["POST /api/v1/webhooks/{name}/failures/{id}/retry"] = s.webhookRetry
	routes["POST /api/v1/webhooks/{name}/failures/retry"] = s.webhookRetryAll
}

// hookError turns the webhooks' errors into answers.
func hookError(err error) error {
	var re *ReceiverError
	switch {
	case errors.Is(err, ErrNoWebhook), errors.Is(err, engine.ErrNoHookFailure):
		return &Error{Status: http.StatusNotFound, Msg: err.Error()}
	case errors.Is(err, ErrNothingToSend):
		return &Error{Status: http.StatusConflict, Msg: err.Error()}
	case errors.As(err, &re):
		return &Error{Status: http.StatusBadGateway, Msg: "the receiver did not take it: " + re.Error()}
	}
	return err
}

// GET /api/v1/webhooks: every event webhook and how its delivery goes.
func (s *Server) webhooks(r *http.Request) (int, any, error) {
	return http.StatusOK, WebhookList{Webhooks: s.opt.EventHooks.Status()}, nil
}

// GET /api/v1/webhooks/{name}
func (s *Server) webhook(r *http.Request) (int, any, error) {
	st, err := s.opt.EventHooks.HookStatus(r.PathValue("name"))
	if err != nil {
		return 0, nil, hookError(err)
	}
	return http.StatusOK, st, nil
}

// GET /api/v1/webhooks/{name}/failures[?after=ID][&limit=N]: the failed
// deliveries set aside, oldest first.
func (s *Server) webhookFailures(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	limit, err := limitParam(r, DefaultFailuresLimit, MaxFailuresLimit)
	if err != nil {
		return 0, nil, err
	}
	var after uint64
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return 0, nil, badField("after", "%q is not a failure id", v)
		}
	}
	fs, total, err := s.opt.EventHooks.Failures(name, after, limit+1)
	if err != nil {
		return 0, nil, hookError(err)
	}
	page := FailurePage{Webhook: name, Failures: []Failure{}, Total: total}
	for i, f := range fs {
		if i == limit {
			page.Next = fs[i-1].ID
			break
		}
		page.Failures = append(page.Failures, failureView(f))
	}
	return http.StatusOK, page, nil
}

// POST /api/v1/webhooks/{name}/failures/{id}/retry: sends a failed
// delivery again, once, now. 200 when the receiver took it (the failure
// is gone); 502 when it did not (the failure stays, its attempt counted);
// 409 for events that left the log before they were delivered.
func (s *Server) webhookRetry(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		if _, err := s.opt.EventHooks.runner(name); err != nil {
			return 0, nil, hookError(err)
		}
		return 0, nil, badField("id", "%q is not a failure id", r.PathValue("id"))
	}
	f, err := s.opt.EventHooks.Retry(r.Context(), name, id)
	if err != nil {
		return 0, nil, hookError(err)
	}
	_, left, err := s.opt.EventHooks.Failures(name, ^uint64(0)-1, 1)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, RetryResult{Webhook: name, Delivered: []Failure{failureView(f)}, Remaining: left}, nil
}

// POST /api/v1/webhooks/{name}/failures/retry: sends every failed
// delivery again, oldest first, stopping at the first the receiver does
// not take; failures whose events left the log are skipped (they stay).
func (s *Server) webhookRetryAll(r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	res := RetryResult{Webhook: name, Delivered: []Failure{}}
	var after uint64
	for {
		fs, _, err := s.opt.EventHooks.Failures(name, after, 100)
		if err != nil {
			return 0, nil, hookError(err)
		}
		if len(fs) == 0 {
			break
		}
		stop := false
		for _, f := range fs {
			after = f.ID
			if len(f.Events) == 0 {
				continue
			}
			done, err := s.opt.EventHooks.Retry(r.Context(), name, f.ID)
			if err != nil {
				res.Error = err.Error()
				stop = true
				break
			}
			res.Delivered = append(res.Delivered, failureView(done))
		}
		if stop {
			break
		}
	}
	_, left, err := s.opt.EventHooks.Failures(name, ^uint64(0)-1, 1)
	if err != nil {
		return 0, nil, err
	}
	res.Remaining = left
	return http.StatusOK, res, nil
}
