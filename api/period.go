package api

import (
	"net/http"
	"time"
)

// Period is a time range a report covers: [Since, Until), either end open
// when zero.
type Period struct {
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
}

// Has reports whether t falls in the period.
func (p Period) Has(t time.Time) bool {
	return (p.Since.IsZero() || !t.Before(p.Since)) && (p.Until.IsZero() || t.Before(p.Until))
}

// Open reports whether the period is unbounded at both ends.
func (p Period) Open() bool { return p.Since.IsZero() && p.Until.IsZero() }

// periodParams reads ?since= and ?until= (RFC 3339); a bad one, or an
// until not after since, is a 400 naming it.
func periodParams(r *http.Request) (Period, error) {
	var p Period
	qs := r.URL.Query()
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &p.Since}, {"until", &p.Until}} {
		v := qs.Get(t.name)
		if v == "" {
			continue
		}
		var err error
		if *t.dst, err = time.Parse(time.RFC3339, v); err != nil {
			return p, badField(t.name, "%q is not an RFC 3339 time (2026-11-25T09:00:00+08:00)", v)
		}
	}
	if !p.Since.IsZero() && !p.Until.IsZero() && !p.Until.After(p.Since) {
		return p, badField("until", "%s is not after since (%s)", p.Until.Format(time.RFC3339), p.Since.Format(time.RFC3339))
	}
	return p, nil
}
