package main

import (
	"fmt"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// Defaults of [events].
const (
	DefaultEventsMaxAge   = "168h" // 7 days
	DefaultEventsMaxCount = engine.DefaultEventsMaxCount
)

// EventsConfig is [events]: the retention of the event log that GET
// /api/v1/events serves. It has its own bounds, apart from [history]: the
// log is for clients catching up after a disconnection, not for records,
// so it is kept shorter and holds many events per call.
type EventsConfig struct {
	// MaxAge drops events older than it (default DefaultEventsMaxAge);
	// "0s" keeps them whatever their age.
	MaxAge string `toml:"max_age"`
	// MaxCount keeps only the newest MaxCount events (default
	// DefaultEventsMaxCount); 0 keeps them however many.
	MaxCount *int `toml:"max_count"`
}

// options returns [events] for engine.OpenEventLog.
func (e EventsConfig) options() (engine.EventLogOptions, error) {
	var opt engine.EventLogOptions
	age := e.MaxAge
	if age == "" {
		age = DefaultEventsMaxAge
	}
	d, err := time.ParseDuration(age)
	if err != nil || d < 0 {
		return opt, fmt.Errorf("events.max_age: %q is not a duration like \"168h\" (\"0s\" keeps events whatever their age)", e.MaxAge)
	}
	opt.MaxAge = d
	if d == 0 {
		opt.MaxAge = -1
	}
	opt.MaxCount = DefaultEventsMaxCount
	if e.MaxCount != nil {
		switch n := *e.MaxCount; {
		case n < 0:
			return opt, fmt.Errorf("events.max_count: %d is negative (0 keeps events however many)", n)
		case n == 0:
			opt.MaxCount = -1
		default:
			opt.MaxCount = n
		}
	}
	return opt, nil
}
