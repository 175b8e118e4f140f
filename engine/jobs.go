package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Outcomes of an outbound attempt, as a Job records them and failed(job,
// reason) receives the last one.
const (
	DialAnswered = "answered"  // the callee picked up and the flow ran
	DialBusy     = "busy"      // the number was busy
	DialNoAnswer = "no_answer" // it rang until the device or ivrd gave up
	DialFailed   = "failed"    // the call could not be placed (the OM's code is kept)
	DialRejected = "rejected"  // ivrd could not place it: the flow or the device is no longer configured
	// DialRetry is an answered attempt whose answered handler returned
	// "retry": it counts as not done.
	DialRetry = "retry"
	// DialInterrupted is an attempt ivrd was placing when it stopped, with
	// no call to show for it: it is not dialled again, and the retry
	// policy decides as for a failure.
	DialInterrupted = "interrupted"
)

// Job states.
const (
	JobScheduled = "scheduled" // waiting to be due, or for its calling window
	JobDialing   = "dialing"   // an attempt is under way
	JobDone      = "done"      // answered (and not asked to retry)
	JobFailed    = "failed"    // gave up; failed(job, reason) ran
	JobCancelled = "cancelled" // cancelled through the API
	JobDropped   = "dropped"   // came due while ivrd was down, its window since closed
)

// RetryPolicy says when a job dials again.
type RetryPolicy struct {
	// Attempts is the most attempts made, the first included (default 1).
	Attempts int `json:"attempts"`
	// Delay is the wait before the second attempt (default 60 s).
	Delay Duration `json:"delay"`
	// Backoff multiplies the delay for each further attempt (default 1).
	Backoff float64 `json:"backoff"`
	// On lists the outcomes that retry (default busy, no_answer, failed,
	// retry, interrupted).
	On []string `json:"on"`
}

// DefaultRetryOn are the outcomes that retry when a policy names none.
var DefaultRetryOn = []string{DialBusy, DialNoAnswer, DialFailed, DialRetry, DialInterrupted}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 1
	}
	if p.Delay <= 0 {
		p.Delay = Duration(time.Minute)
	}
	if p.Backoff <= 0 {
		p.Backoff = 1
	}
	if len(p.On) == 0 {
		p.On = append([]string(nil), DefaultRetryOn...)
	}
	return p
}

func (p RetryPolicy) validate() error {
	if p.Attempts > 100 {
		return &FieldError{"retry.attempts", fmt.Sprintf("%d is more than 100", p.Attempts)}
	}
	if p.Backoff > 10 {
		return &FieldError{"retry.backoff", fmt.Sprintf("%g is more than 10", p.Backoff)}
	}
	if p.Delay < 0 || time.Duration(p.Delay) > 7*24*time.Hour {
		return &FieldError{"retry.delay", fmt.Sprintf("%s is not between 0 and a week", time.Duration(p.Delay))}
	}
	for _, o := range p.On {
		switch o {
		case DialBusy, DialNoAnswer, DialFailed, DialRetry, DialInterrupted, DialRejected:
		default:
			return &FieldError{"retry.on", fmt.Sprintf("%q is not an outcome (busy, no_answer, failed, retry, interrupted, rejected)", o)}
		}
	}
	return nil
}

func (p RetryPolicy) retries(outcome string) bool {
	for _, o := range p.On {
		if o == outcome {
			return true
		}
	}
	return false
}

// delayBefore is the wait before attempt n (2, 3, …).
func (p RetryPolicy) delayBefore(n int) time.Duration {
	d := float64(p.Delay)
	for i := 2; i < n; i++ {
		d *= p.Backoff
	}
	return time.Duration(d)
}

// Duration is a time.Duration that reads and writes JSON as "90s" (and
// reads a number as seconds).
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		*d = Duration(n * float64(time.Second))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a number of seconds or a string like \"90s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q (say \"90s\", \"5m\")", s)
	}
	*d = Duration(v)
	return nil
}

// DialRequest asks for an outbound call: now, or at a time.
type DialRequest struct {
	To   string `json:"to"`   // the number to call
	Flow string `json:"flow"` // the flow whose answered(call) runs
	// Vars become call.vars of each attempt's call (a JSON object).
	Vars json.RawMessage `json:"vars,omitempty"`
	// Secret names vars whose values are secrets (a verification code):
	// each call marks them with ivr.secret before its flow runs, and every
	// job, history entry and log line shown outside the state file shows
	// them as [secret].
	Secret []string `json:"secret,omitempty"`
	// At is when to dial; zero dials now.
	At time.Time `json:"at,omitzero"`
	// TZ is the time zone of Window (an IANA name; default the
	// configured default, else UTC).
	TZ string `json:"tz,omitempty"`
	// Window is the local time of day calls may be placed, "08:00-21:00";
	// empty means the configured default window.
	Window string      `json:"window,omitempty"`
	Retry  RetryPolicy `json:"retry"`
	// Device is the OM to dial from (default: the first configured).
	Device string `json:"device,omitempty"`
	// Trunk is the trunk to dial out on (default: the device's choice).
	Trunk string `json:"trunk,omitempty"`
	// Webhook, when set, is told the job's end (see the admin API).
	Webhook string `json:"webhook,omitempty"`
	// Source says who asked: "api", or the id of the call whose flow
	// dialled.
	Source string `json:"source,omitempty"`
	// ID, when set, names the job; asking again with the same id returns
	// the job already made instead of making another.
	ID string `json:"id,omitempty"`
}

// Attempt is one dial of a job.
type Attempt struct {
	N       int       `json:"n"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	Outcome string    `json:"outcome,omitempty"`
	Code    int       `json:"code,omitempty"`   // the OM's FAILED code
	Reason  string    `json:"reason,omitempty"` // the OM's or ivrd's words
	CallID  string    `json:"call_id,omitempty"`
}

// Job is a scheduled or placed outbound call with its retries.
type Job struct {
	ID      string          `json:"id"`
	To      string          `json:"to"`
	Flow    string          `json:"flow"`
	Vars    json.RawMessage `json:"vars,omitempty"`
	Secret  []string        `json:"secret,omitempty"`
	Device  string          `json:"device"`
	Trunk   string          `json:"trunk,omitempty"`
	TZ      string          `json:"tz,omitempty"`
	Window  string          `json:"window,omitempty"`
	Retry   RetryPolicy     `json:"retry"`
	Webhook string          `json:"webhook,omitempty"`
	Source  string          `json:"source,omitempty"`
	Created time.Time       `json:"created"`
	// Due is when the next attempt may start.
	Due      time.Time `json:"due"`
	State    string    `json:"state"`
	Attempts []Attempt `json:"attempts,omitempty"`
	// Outcome and Reason are the job's end: the last attempt's outcome,
	// and why it stopped there.
	Outcome string    `json:"outcome,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Ended   time.Time `json:"ended,omitzero"`
	// Notified is set once a failed job's failed handler has run.
	Notified bool `json:"notified,omitempty"`
	// Rev counts the job's changes; the store keeps the newest it is
	// given, so writes made out of order cannot bring back an older
	// state.
	Rev int64 `json:"rev,omitempty"`
	// Chain counts the failed handlers that led to this job: a job
	// dialled by the failed handler of a job with Chain n has n+1.
	Chain int `json:"chain,omitempty"`
}

// MarshalJSON writes the job with its secret vars redacted: every job that
// leaves the process (API answers, webhooks) shows them as [secret]. The
// store keeps them whole (storedJob).
func (j Job) MarshalJSON() ([]byte, error) {
	type plain Job
	p := plain(j)
	p.Vars = redactVars(j.Vars, j.Secret)
	return json.Marshal(p)
}

// storedJob is a Job as the store keeps it: secrets included.
type storedJob Job

// secretValues returns the values of the named vars, as text.
func secretValues(vars json.RawMessage, names []string) []string {
	if len(vars) == 0 || len(names) == 0 {
		return nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(vars))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil
	}
	var out []string
	for _, n := range names {
		switch v := m[n].(type) {
		case string:
			if v != "" {
				out = append(out, v)
			}
		case json.Number:
			out = append(out, v.String())
		}
	}
	return out
}

// redactVars replaces the named vars' values with "[secret]".
func redactVars(vars json.RawMessage, names []string) json.RawMessage {
	if len(vars) == 0 || len(names) == 0 {
		return vars
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(vars, &m); err != nil {
		return json.RawMessage(`{}`)
	}
	for _, n := range names {
		if _, ok := m[n]; ok {
			m[n] = json.RawMessage(`"[secret]"`)
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return out
}

// redactValues replaces with "[secret]" every top-level var whose value
// is one of secrets (marked with ivr.secret during the call).
func redactValues(vars json.RawMessage, secrets []string) json.RawMessage {
	return redactVars(vars, secretVarNames(vars, secrets))
}

// secretVarNames names the top-level vars whose value is one of secrets.
func secretVarNames(vars json.RawMessage, secrets []string) []string {
	if len(vars) == 0 || len(secrets) == 0 {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(vars, &m); err != nil {
		return nil
	}
	var names []string
	for k, raw := range m {
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			continue
		}
		text := ""
		switch x := v.(type) {
		case string:
			text = x
		case json.Number:
			text = x.String()
		}
		for _, sec := range secrets {
			if text != "" && text == sec {
				names = append(names, k)
			}
		}
	}
	sort.Strings(names)
	return names
}

// Final reports whether the job will not dial again.
func (j Job) Final() bool {
	switch j.State {
	case JobDone, JobFailed, JobCancelled, JobDropped:
		return true
	}
	return false
}

// Window is a daily calling window in a time zone.
type Window struct {
	From, To int // minutes after local midnight; To < From spans midnight
	Loc      *time.Location
}

// ParseWindow reads "08:00-21:00" in the time zone tz ("" is UTC).
func ParseWindow(s, tz string) (*Window, error) {
	loc, err := loadZone(tz)
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return nil, &FieldError{"window", fmt.Sprintf("%q is not like \"08:00-21:00\"", s)}
	}
	from, err1 := clockMinutes(strings.TrimSpace(a))
	to, err2 := clockMinutes(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || from == to {
		return nil, &FieldError{"window", fmt.Sprintf("%q is not like \"08:00-21:00\"", s)}
	}
	return &Window{From: from, To: to, Loc: loc}, nil
}

func loadZone(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, &FieldError{"tz", fmt.Sprintf("unknown time zone %q (use an IANA name like \"Asia/Shanghai\")", tz)}
	}
	return loc, nil
}

func clockMinutes(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		if s == "24:00" {
			return 24 * 60, nil
		}
		return 0, err
	}
	return t.Hour()*60 + t.Minute(), nil
}

// open reports whether t falls inside the window.
func (w *Window) open(t time.Time) bool {
	if w == nil {
		return true
	}
	lt := t.In(w.Loc)
	m := lt.Hour()*60 + lt.Minute()
	if w.From < w.To {
		return m >= w.From && m < w.To
	}
	return m >= w.From || m < w.To
}

// next returns the first time at or after t inside the window.
func (w *Window) next(t time.Time) time.Time {
	if w == nil || w.open(t) {
		return t
	}
	lt := t.In(w.Loc)
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, w.Loc)
	for i := 0; i < 3; i++ {
		start := day.AddDate(0, 0, i).Add(time.Duration(w.From) * time.Minute)
		// Across a daylight-saving change, Add keeps absolute time;
		// rebuild from the wall clock instead.
		start = time.Date(start.Year(), start.Month(), start.Day(), w.From/60, w.From%60, 0, 0, w.Loc)
		if !start.Before(t) {
			return start
		}
	}
	return t
}

// closes returns when the window that contains t closes.
func (w *Window) closes(t time.Time) time.Time {
	if w == nil {
		return time.Time{}
	}
	lt := t.In(w.Loc)
	end := time.Date(lt.Year(), lt.Month(), lt.Day(), w.To/60, w.To%60, 0, 0, w.Loc)
	if !end.After(t) {
		end = end.AddDate(0, 0, 1)
		end = time.Date(end.Year(), end.Month(), end.Day(), w.To/60, w.To%60, 0, 0, w.Loc)
	}
	return end
}
