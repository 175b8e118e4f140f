package api_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
)

// surveyKV is a flow's ivr.store as stdlib/survey.lua leaves it after four
// runs of survey "stay" (room 1-5, again keys 12): three on 24 November
// (UTC), one on the 25th. The counters hold a fifth, older run whose
// response entry is gone, so counters and responses differ on purpose.
func surveyKV() map[string]json.RawMessage {
	day := func(d, h int) float64 { return float64(time.Date(2026, 11, d, h, 0, 0, 0, time.UTC).Unix()) + 0.25 }
	responses := []map[string]any{
		{"call": "c1", "from": "13800000001", "at": day(24, 8), "answers": map[string]any{"room": 5, "again": "1"}, "status": "done"},
		{"call": "c2", "from": "=HYPERLINK(1)", "at": day(24, 9), "answers": map[string]any{"room": 2}, "status": "done", "missed": []string{"again"}},
		// Written before responses listed their misses: a hang-up
		// misses nothing, a finished run misses what it lacks.
		{"call": "c3", "from": "13800000003", "at": day(24, 10), "answers": []any{}, "status": "hangup"},
		{"call": "c4", "from": "13800000004", "at": day(25, 8), "answers": map[string]any{"room": 4, "again": "2"}, "status": "done"},
	}
	list, _ := json.Marshal(responses)
	kv := map[string]json.RawMessage{
		"survey:stay:questions":       json.RawMessage(`[{"id":"room","scale":"1-5"},{"id":"again","keys":"12"}]`),
		"survey:stay:started":         json.RawMessage(`5`),
		"survey:stay:completed":       json.RawMessage(`4`),
		"survey:stay:room:answered":   json.RawMessage(`4`),
		"survey:stay:room:count:5":    json.RawMessage(`2`),
		"survey:stay:room:count:2":    json.RawMessage(`1`),
		"survey:stay:room:count:4":    json.RawMessage(`1`),
		"survey:stay:room:sum":        json.RawMessage(`16`),
		"survey:stay:again:answered":  json.RawMessage(`2`),
		"survey:stay:again:missed":    json.RawMessage(`1`),
		"survey:stay:again:count:1":   json.RawMessage(`1`),
		"survey:stay:again:count:2":   json.RawMessage(`1`),
		"survey:stay:responses":       list,
		"booked":                      json.RawMessage(`3`),
		"survey:quiet:questions":      json.RawMessage(`[{"id":"q","scale":"0-2"}]`),
		"survey:quiet:q:count:1":      json.RawMessage(`3`),
		"survey:quiet:q:answered":     json.RawMessage(`3`),
		"survey:quiet:q:sum":          json.RawMessage(`3`),
		"survey:stay:room:count:junk": json.RawMessage(`"not a counter"`),
	}
	return kv
}

func counts(q api.QuestionStats) string {
	var parts []string
	for _, c := range q.Counts {
		parts = append(parts, fmt.Sprintf("%s=%d", c.Answer, c.Count))
	}
	return strings.Join(parts, " ")
}

func avg(q api.QuestionStats) string {
	if q.Average == nil {
		return "none"
	}
	return fmt.Sprintf("%.3f", *q.Average)
}

// TestSurveyReport: all time from the counters, a period from the
// responses, each number checked.
func TestSurveyReport(t *testing.T) {
	fake := newFake()
	fake.kv["hotel"] = surveyKV()
	srv := newServer(t, fake, nil)

	var all api.SurveyReport
	if code := getJSON(t, srv, "/api/v1/surveys/hotel", &all); code != 200 {
		t.Fatalf("status %d", code)
	}
	if len(all.Surveys) != 2 || all.Surveys[0].Name != "quiet" || all.Surveys[1].Name != "stay" {
		t.Fatalf("surveys %+v, want quiet and stay", all.Surveys)
	}
	stay := all.Surveys[1]
	if stay.Source != "counters" || stay.Started != 5 || stay.Completed != 4 {
		t.Errorf("stay over all time: %+v", stay)
	}
	room, again := stay.Questions[0], stay.Questions[1]
	if got, want := counts(room), "1=0 2=1 3=0 4=1 5=2"; got != want {
		t.Errorf("room counts %s, want %s", got, want)
	}
	if room.Answered != 4 || avg(room) != "4.000" || *room.Sum != 16 {
		t.Errorf("room %+v, average %s", room, avg(room))
	}
	if got := counts(again); got != "1=1 2=1" || again.Missed != 1 || again.Average != nil || again.Sum != nil {
		t.Errorf("again %+v (%s)", again, got)
	}
	if q := all.Surveys[0].Questions[0]; counts(q) != "0=0 1=3 2=0" || avg(q) != "1.000" {
		t.Errorf("quiet: %s, average %s", counts(q), avg(q))
	}

	// 24 November in UTC: c1, c2 and c3.
	var day api.SurveyReport
	q := "?survey=stay&since=" + url.QueryEscape("2026-11-24T00:00:00Z") + "&until=" + url.QueryEscape("2026-11-25T08:00:00+08:00")
	if code := getJSON(t, srv, "/api/v1/surveys/hotel"+q, &day); code != 200 || len(day.Surveys) != 1 {
		t.Fatalf("status %d, %+v", code, day)
	}
	s := day.Surveys[0]
	if s.Source != "responses" || s.Started != 3 || s.Completed != 2 {
		t.Errorf("stay on the 24th: %+v", s)
	}
	room, again = s.Questions[0], s.Questions[1]
	if counts(room) != "1=0 2=1 3=0 4=0 5=1" || room.Answered != 2 || avg(room) != "3.500" || room.Missed != 0 {
		t.Errorf("room on the 24th: %s, %+v, average %s", counts(room), room, avg(room))
	}
	if counts(again) != "1=1 2=0" || again.Answered != 1 || again.Missed != 1 {
		t.Errorf("again on the 24th: %s, %+v", counts(again), again)
	}
	// An old finished entry without a missed list misses what it lacks.
	fake.kv["hotel"]["survey:stay:responses"] = json.RawMessage(`[{"call":"c9","at":1795651200,"answers":{"room":3},"status":"done"}]`)
	var old api.SurveyReport
	getJSON(t, srv, "/api/v1/surveys/hotel?survey=stay&since=2026-01-01T00:00:00Z", &old)
	if q := old.Surveys[0].Questions; len(q) != 2 || q[0].Answered != 1 || q[1].Missed != 1 || avg(q[0]) != "3.000" {
		t.Errorf("old entry: %+v", old.Surveys[0])
	}
	// A survey that keeps no responses has no period to give.
	var e api.Error
	if code := getJSON(t, srv, "/api/v1/surveys/hotel?survey=quiet&since=2026-11-24T00:00:00Z", &e); code != 409 || !strings.Contains(e.Msg, "responses = false") {
		t.Errorf("quiet over a period: %d %+v", code, e)
	}
	if code := getJSON(t, srv, "/api/v1/surveys/hotel?survey=nope", &e); code != 404 {
		t.Errorf("unknown survey: %d %+v", code, e)
	}
	var none api.SurveyReport
	if code := getJSON(t, srv, "/api/v1/surveys/main", &none); code != 200 || none.Surveys == nil || len(none.Surveys) != 0 {
		t.Errorf("a flow without surveys: %d %+v", code, none)
	}
}

// TestSurveyCSV: a header, one row per response in the period, oldest
// first, and no formula a spreadsheet would run.
func TestSurveyCSV(t *testing.T) {
	fake := newFake()
	fake.kv["hotel"] = surveyKV()
	srv := newServer(t, fake, nil)
	code, h, body := browser{auth: "Bearer " + token}.do(t, srv, "GET", "/api/v1/surveys/hotel?survey=stay&format=csv&until=2026-11-25T00:00:00Z", "")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || !strings.Contains(h.Get("Content-Disposition"), `filename="hotel-stay.csv"`) {
		t.Fatalf("%d %v\n%s", code, h, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, body)
	}
	want := [][]string{
		{"ended", "call", "from", "status", "room", "again"},
		{"2026-11-24T08:00:00Z", "c1", "13800000001", "done", "5", "1"},
		{"2026-11-24T09:00:00Z", "c2", "'=HYPERLINK(1)", "done", "2", ""},
		{"2026-11-24T10:00:00Z", "c3", "13800000003", "hangup", "", ""},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("rows\n%v\nwant\n%v", rows, want)
	}
	// Two surveys in the flow: the CSV needs one named.
	var e api.Error
	if code := getJSON(t, srv, "/api/v1/surveys/hotel?format=csv", &e); code != 400 || e.Field != "survey" {
		t.Errorf("CSV of two surveys: %d %+v", code, e)
	}
}

// TestReportPeriods: a since or until that is not a time, or an until not
// after since, is a 400 naming it, on each report.
func TestReportPeriods(t *testing.T) {
	fake := newFake()
	fake.kv["hotel"] = surveyKV()
	srv := newServer(t, fake, nil)
	for _, base := range []string{"/api/v1/surveys/hotel", "/api/v1/flows/main/funnel"} {
		for _, c := range []struct{ query, field string }{
			{"since=yesterday", "since"},
			{"until=2026-11-25", "until"},
			{"since=2026-11-25T00:00:00Z&until=2026-11-24T00:00:00Z", "until"},
			{"since=2026-11-25T00:00:00Z&until=2026-11-25T00:00:00Z", "until"},
		} {
			var e api.Error
			if code := getJSON(t, srv, base+"?"+c.query, &e); code != 400 || e.Field != c.field || e.Msg == "" {
				t.Errorf("%s?%s: %d %+v, want 400 naming %s", base, c.query, code, e, c.field)
			}
		}
	}
	var e api.Error
	if code := getJSON(t, srv, "/api/v1/surveys/hotel?format=xml", &e); code != 400 || e.Field != "format" {
		t.Errorf("format=xml: %d %+v", code, e)
	}
}

// TestFunnel: over a known set of calls, how many reached each prompt and
// where the callers hung up; other flows' calls and calls outside the
// period do not count.
func TestFunnel(t *testing.T) {
	fake := newFake()
	t0 := now.Add(-time.Hour)
	path := func(kinds ...string) []engine.PathEntry {
		var out []engine.PathEntry
		for i := 0; i+1 < len(kinds); i += 2 {
			out = append(out, engine.PathEntry{At: t0, Kind: kinds[i], Value: kinds[i+1]})
		}
		return out
	}
	entry := func(id, flow, outcome string, ended time.Time, p []engine.PathEntry) engine.HistoryEntry {
		return engine.HistoryEntry{CallRecord: engine.CallRecord{ID: id, Flow: flow, Started: t0}, Ended: ended, Outcome: outcome, Path: p}
	}
	fake.history = map[string]engine.HistoryEntry{
		// welcome, menu, key 1, transferred.
		"call-1": entry("call-1", "main", "transferred", now, path("prompt", "user_welcome", "prompt", "user_menu", "keys", "1", "transfer", "ext 201")),
		// welcome cut off by a key, menu twice, then the caller hangs up in the menu.
		"call-2": entry("call-2", "main", "caller_hangup", now, path("prompt_interrupted", "user_welcome", "keys", "9", "invalid", "9",
			"prompt", "user_menu", "noinput", "", "prompt", "user_menu", "hangup", "caller")),
		// hangs up waiting for keys after the welcome.
		"call-3": entry("call-3", "main", "caller_hangup", now, path("prompt", "user_welcome", "hangup", "caller")),
		// hangs up while the menu plays.
		"call-4": entry("call-4", "main", "caller_hangup", now, path("prompt", "user_welcome", "prompt_hangup", "user_menu", "hangup", "caller")),
	}
	srv := newServer(t, fake, nil)
	var f api.Funnel
	if code := getJSON(t, srv, "/api/v1/flows/main/funnel", &f); code != 200 {
		t.Fatalf("status %d", code)
	}
	var got []string
	for _, s := range f.Steps {
		got = append(got, fmt.Sprintf("%s:%d/%d", s.Prompt, s.Reached, s.HungUp))
	}
	if strings.Join(got, " ") != "user_welcome:4/1 user_menu:3/2" || f.Calls != 4 || f.HungUpBeforePrompt != 0 ||
		f.Outcomes["transferred"] != 1 || f.Outcomes["caller_hangup"] != 3 {
		t.Fatalf("funnel %v, %+v", got, f)
	}

	// Another flow, and a period that leaves call-1 out (the backend's
	// search is asked for the period; the funnel checks it too).
	fake.history["call-1"] = entry("call-1", "main", "transferred", now.Add(-2*time.Hour), fake.history["call-1"].Path)
	fake.history["call-2"] = entry("call-2", "other", "caller_hangup", now, nil)
	delete(fake.history, "call-4")
	since := now.Add(-time.Hour)
	f = api.Funnel{}
	if code := getJSON(t, srv, "/api/v1/flows/main/funnel?since="+url.QueryEscape(since.Format(time.RFC3339)), &f); code != 200 {
		t.Fatalf("status %d", code)
	}
	if f.Calls != 1 || len(f.Steps) != 1 || f.Steps[0] != (api.FunnelStep{Prompt: "user_welcome", Reached: 1, HungUp: 1}) {
		t.Fatalf("funnel since %s: %+v", since, f)
	}
	fake.mu.Lock()
	last := fake.searches[len(fake.searches)-1]
	fake.mu.Unlock()
	if !last.Since.Equal(since) {
		t.Errorf("the history was searched since %v, want %v", last.Since, since)
	}
	var e api.Error
	if code := getJSON(t, srv, "/api/v1/flows/no%20such/funnel", &e); code != 400 || e.Field != "name" {
		t.Errorf("a bad flow name: %d %+v", code, e)
	}
}

// TestJobPhases: jobs narrowed to due, retrying or running, paged, with
// counts of every phase.
func TestJobPhases(t *testing.T) {
	fake := newFake()
	for i := 1; i <= 7; i++ {
		j := engine.Job{ID: fmt.Sprintf("job-%d", i), To: "1380000000" + fmt.Sprint(i), Flow: "wakeup", State: engine.JobScheduled, Due: now}
		switch i {
		case 2, 3:
			j.Attempts = []engine.Attempt{{N: 1, Outcome: engine.DialNoAnswer}}
		case 4:
			j.State = engine.JobDialing
		case 5:
			j.State = engine.JobDone
		case 6:
			j.State = engine.JobFailed
		}
		fake.jobs = append(fake.jobs, j)
	}
	srv := newServer(t, fake, nil)
	for _, c := range []struct {
		query string
		ids   string
		total int
	}{
		{"", "job-7 job-6 job-5 job-4 job-3 job-2 job-1", 7},
		{"?state=due", "job-7 job-1", 2},
		{"?state=retrying", "job-3 job-2", 2},
		{"?state=scheduled", "job-7 job-3 job-2 job-1", 4},
		{"?state=running", "job-4", 1},
		{"?state=failed", "job-6", 1},
		{"?limit=2&offset=2", "job-5 job-4", 7},
		{"?state=scheduled&limit=3&offset=3", "job-1", 4},
		{"?offset=9", "", 7},
	} {
		var l api.JobList
		if code := getJSON(t, srv, "/api/v1/jobs"+c.query, &l); code != 200 {
			t.Fatalf("%s: %d", c.query, code)
		}
		var ids []string
		for _, j := range l.Jobs {
			ids = append(ids, j.ID)
		}
		if strings.Join(ids, " ") != c.ids || l.Total != c.total {
			t.Errorf("%s: %v total %d, want %s total %d", c.query, ids, l.Total, c.ids, c.total)
		}
		if l.Counts["due"] != 2 || l.Counts["retrying"] != 2 || l.Counts["running"] != 1 || l.Counts["done"] != 1 || l.Counts["failed"] != 1 {
			t.Errorf("%s: counts %v", c.query, l.Counts)
		}
	}
	for _, c := range []struct{ query, field string }{{"?state=sleeping", "state"}, {"?offset=-1", "offset"}, {"?offset=x", "offset"}} {
		var e api.Error
		if code := getJSON(t, srv, "/api/v1/jobs"+c.query, &e); code != 400 || e.Field != c.field {
			t.Errorf("%s: %d %+v", c.query, code, e)
		}
	}
}

// TestConsoleCancelJob: the console cancels a job with its cookie only
// with the CSRF token; without it the job stays as it was.
func TestConsoleCancelJob(t *testing.T) {
	fake := newFake()
	fake.jobs = []engine.Job{{ID: "wake-1203", To: "13800000001", Flow: "wakeup", State: engine.JobScheduled, Due: now.Add(time.Hour)}}
	srv := newServer(t, fake, nil)
	b := signIn(t, srv)
	if code, _, body := (browser{cookie: b.cookie, origin: srv.URL}).do(t, srv, "DELETE", "/api/v1/jobs/wake-1203", ""); code != 403 {
		t.Fatalf("cancel without CSRF: %d %s", code, body)
	}
	if j, _ := fake.Job("wake-1203"); j.State != engine.JobScheduled {
		t.Fatalf("the job is %s after a refused cancel", j.State)
	}
	code, _, body := b.do(t, srv, "DELETE", "/api/v1/jobs/wake-1203", "")
	if j, _ := fake.Job("wake-1203"); code != 200 || j.State != engine.JobCancelled {
		t.Fatalf("cancel with CSRF: %d %s, job %s", code, body, j.State)
	}
	if code, _, _ := b.do(t, srv, "DELETE", "/api/v1/jobs/wake-1203", ""); code != 409 {
		t.Fatalf("cancelling again: %d, want 409", code)
	}
}

// getJSON reads an API answer with the token.
func getJSON(t *testing.T, srv *httptest.Server, path string, out any) int {
	t.Helper()
	return do(t, srv, "GET", path, "", out)
}

// TestConsoleReportPages: the Jobs, Surveys and Funnels pages' files are
// served and the page loads them after app.js.
func TestConsoleReportPages(t *testing.T) {
	srv := newServer(t, newFake(), nil)
	_, _, index := browser{}.do(t, srv, "GET", "/", "")
	last := strings.Index(index, `src="/console/app.js"`)
	for _, c := range []struct{ file, has string }{
		{"charts.js", "createElementNS"},
		{"jobs.js", `page("jobs"`},
		{"surveys.js", `page("surveys"`},
		{"funnel.js", `page("funnel"`},
		{"reports.css", "svg.chart"},
	} {
		code, h, body := browser{}.do(t, srv, "GET", "/console/"+c.file, "")
		if code != 200 || !strings.Contains(body, c.has) || h.Get("Content-Security-Policy") == "" {
			t.Errorf("GET /console/%s: %d, has %q: %v", c.file, code, c.has, strings.Contains(body, c.has))
		}
		if !strings.HasSuffix(c.file, ".js") {
			continue
		}
		at := strings.Index(index, `<script src="/console/`+c.file+`" defer></script>`)
		if at < last {
			t.Errorf("index.html loads %s at %d, not after the scripts before it (%d)", c.file, at, last)
		}
		last = at
	}
}

// pagedHistory is a backend whose history is pages of calls of flow main,
// each hung up on during user_welcome, made as they are asked for. It
// holds a weak pointer to each page's first path, to see whether the
// reader lets go of the pages it has read.
type pagedHistory struct {
	*fakeBackend
	pages, size int
	read        []weak.Pointer[engine.PathEntry]
	// kept counts the pages before the previous one still in memory when
	// the last page was asked for.
	kept int
}

func (h *pagedHistory) SearchHistory(q engine.HistoryQuery) (engine.HistoryPage, error) {
	n := 0
	if q.Before != "" {
		n, _ = strconv.Atoi(strings.TrimPrefix(q.Before, "page"))
	}
	if n == h.pages-1 && n > 1 {
		runtime.GC()
		for _, w := range h.read[:n-1] {
			if w.Value() != nil {
				h.kept++
			}
		}
	}
	calls := make([]engine.HistoryEntry, h.size)
	for i := range calls {
		calls[i] = engine.HistoryEntry{CallRecord: engine.CallRecord{ID: fmt.Sprintf("page%d-%d", n, i), Flow: "main"},
			Ended: now, Outcome: "caller_hangup", Path: []engine.PathEntry{{At: now, Kind: "prompt", Value: "user_welcome"}}}
	}
	h.read = append(h.read, weak.Make(&calls[0].Path[0]))
	page := engine.HistoryPage{Calls: calls}
	if n+1 < h.pages {
		page.Next = fmt.Sprintf("page%d", n+1)
	}
	return page, nil
}

// TestFunnelPages: the funnel counts a history of many pages without
// holding the pages it has read (a year of calls would not fit), and says
// it is truncated only when the period holds more than MaxFunnelCalls.
func TestFunnelPages(t *testing.T) {
	for _, c := range []struct {
		pages, size int
		calls       int
		truncated   bool
	}{
		{pages: 6, size: 10, calls: 60},
		{pages: 100, size: 1000, calls: api.MaxFunnelCalls},
		{pages: 101, size: 1000, calls: api.MaxFunnelCalls, truncated: true},
	} {
		t.Run(fmt.Sprintf("%dx%d", c.pages, c.size), func(t *testing.T) {
			h := &pagedHistory{fakeBackend: newFake(), pages: c.pages, size: c.size}
			s, err := api.New(h, api.Options{Token: token, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(s)
			defer srv.Close()
			var f api.Funnel
			if code := getJSON(t, srv, "/api/v1/flows/main/funnel", &f); code != 200 {
				t.Fatalf("status %d", code)
			}
			want := api.FunnelStep{Prompt: "user_welcome", Reached: c.calls, HungUp: c.calls}
			if f.Calls != c.calls || f.Truncated != c.truncated || len(f.Steps) != 1 || f.Steps[0] != want {
				t.Fatalf("got calls %d, truncated %v, steps %+v; want %d, %v, [%+v]", f.Calls, f.Truncated, f.Steps, c.calls, c.truncated, want)
			}
			if c.pages == 6 && h.kept > 0 {
				t.Errorf("%d of the pages read before the last but one were still in memory at the last: the funnel holds the history it reads", h.kept)
			}
		})
	}
}
