package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DialLimits bound outbound calling.
type DialLimits struct {
	// MaxConcurrent caps live outbound calls over all devices (default 50).
	MaxConcurrent int
	// PerSecond caps new outbound calls per second per device (default 5).
	PerSecond float64
	// PerNumber caps live calls to one number (default 1).
	PerNumber int
	// Window and TZ are the calling window of jobs that name none
	// ("08:00-21:00" in "Asia/Shanghai"); empty means any time.
	Window, TZ string
	// RingTimeout ends an outbound call that has neither answered nor
	// ended after this long, in case the device never says (default 60 s).
	RingTimeout time.Duration
}

// Dial defaults.
const (
	DefaultMaxConcurrent = 50
	DefaultPerSecond     = 5
	DefaultPerNumber     = 1
	DefaultRingTimeout   = 60 * time.Second
)

func (l DialLimits) withDefaults() DialLimits {
	if l.MaxConcurrent <= 0 {
		l.MaxConcurrent = DefaultMaxConcurrent
	}
	if l.PerSecond <= 0 {
		l.PerSecond = DefaultPerSecond
	}
	if l.PerNumber <= 0 {
		l.PerNumber = DefaultPerNumber
	}
	if l.RingTimeout <= 0 {
		l.RingTimeout = DefaultRingTimeout
	}
	return l
}

// FieldError is a request refused because of one field; Field names it as
// the request spells it ("retry.attempts").
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// ErrNoJob is a job id the store does not hold.
var ErrNoJob = errors.New("no such job")

// ErrJobOver is a job that can no longer be cancelled.
var ErrJobOver = errors.New("the job has already ended")

// Dial checks a request and schedules its job: it is dialled at once when
// due and its window is open. The job is durable before Dial returns.
func (r *Router) Dial(req DialRequest) (Job, error) {
	return Job{}, fmt.Errorf("dial: not available yet")
}

// Jobs returns every job the store holds, newest first.
func (r *Router) Jobs() ([]Job, error) { return nil, fmt.Errorf("jobs: not available yet") }

// Job returns one job.
func (r *Router) Job(id string) (Job, error) { return Job{}, ErrNoJob }

// CancelJob cancels a job that has not ended; an attempt under way is not
// hung up, but no other is made.
func (r *Router) CancelJob(id string) (Job, error) { return Job{}, ErrNoJob }

// Redirect moves a live device call leg that is not in the IVR (an agent's
// caller) into a flow: the flow's incoming(call) runs for it, with vars as
// call.vars. It returns ivrd's call id.
func (r *Router) Redirect(device string, leg Leg, flow string, vars json.RawMessage) (string, error) {
	return "", fmt.Errorf("redirect: not available yet")
}
