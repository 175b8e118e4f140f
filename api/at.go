package api

import (
	"fmt"
	"strings"
	"time"
)

// ParseAt reads when a call is to be placed: "" is now (the zero time);
// an RFC 3339 time ("2026-11-26T07:00:00+08:00") is that instant; a local
// date and time ("2026-11-26T07:00", "2026-11-26 07:00") is read in loc;
// a time of day ("07:00", "7:30") is the next such time in loc after now —
// today while it is still ahead, else tomorrow.
func ParseAt(s string, loc *time.Location, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse("15:04", s); err == nil {
		return NextClock(t.Hour(), t.Minute(), loc, now), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: give RFC 3339 (\"2026-11-26T07:00:00+08:00\"), a local \"2026-11-26 07:00\" or a time of day \"07:00\"", s)
}

// NextClock returns the first time after now that the clock in loc shows
// hour:minute. On a day when daylight saving skips that time, it is as
// far past the jump as the time named (02:30 becomes 03:30).
func NextClock(hour, minute int, loc *time.Location, now time.Time) time.Time {
	lt := now.In(loc)
	for day := 0; day < 3; day++ {
		d := lt.AddDate(0, 0, day)
		t := time.Date(d.Year(), d.Month(), d.Day(), hour, minute, 0, 0, loc)
		if t.After(now) {
			return t
		}
	}
	return now // not reached: tomorrow is always ahead
}
