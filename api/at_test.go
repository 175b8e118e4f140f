package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/api"
)

func TestParseAt(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC) // 17:00 in Shanghai
	for _, c := range []struct {
		in   string
		loc  *time.Location
		now  time.Time
		want time.Time
	}{
		{"", shanghai, now, time.Time{}},
		{"07:00", shanghai, now, time.Date(2026, 11, 26, 7, 0, 0, 0, shanghai)},
		{"17:30", shanghai, now, time.Date(2026, 11, 25, 17, 30, 0, 0, shanghai)},
		{"17:00", shanghai, now, time.Date(2026, 11, 26, 17, 0, 0, 0, shanghai)}, // now is not ahead
		{"7:05", time.UTC, now, time.Date(2026, 11, 26, 7, 5, 0, 0, time.UTC)},
		{"2026-11-26T07:00:00+08:00", time.UTC, now, time.Date(2026, 11, 26, 7, 0, 0, 0, shanghai)},
		{"2026-11-26 07:00", shanghai, now, time.Date(2026, 11, 26, 7, 0, 0, 0, shanghai)},
		{"2026-11-26T07:00", nil, now, time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)},
		// The night Berlin's clocks go from 02:00 to 03:00: 02:30 does not
		// exist, and becomes 03:30.
		{"02:30", berlin, time.Date(2026, 3, 28, 22, 0, 0, 0, time.UTC), time.Date(2026, 3, 29, 3, 30, 0, 0, berlin)},
	} {
		got, err := api.ParseAt(c.in, c.loc, c.now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseAt(%q) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"tomorrow", "25:00", "7", "2026-13-01T07:00:00Z", "07:00 PM"} {
		if _, err := api.ParseAt(bad, time.UTC, now); err == nil || !strings.Contains(err.Error(), "is not a time") {
			t.Errorf("ParseAt(%q): %v, want an error", bad, err)
		}
	}
}
