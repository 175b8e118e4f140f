package api_test

import (
	"encoding/csv"
	"fmt"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
)

// cdrStore is a real state file holding four records,
// a minute apart from 09:00 UTC: a (caller 13800000001 → 201), b (200 →
// 13900000002), c (=HYPERLINK("x") → 202, a caller's number built to be
// read as a formula), d (201 → 202, belonging to IVR call ivr-1).
func cdrStore(t *testing.T) *engine.BoltStore {
	t.Helper()
	store, err := engine.OpenBolt(filepath.Join(t.TempDir(), "ivrd.db"), engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	base := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for i, r := range []struct{ id, cpn, cdpn, call string }{
		{"a", "13800000001", "201", ""},
		{"b", "200", "13900000002", ""},
		{"c", `=HYPERLINK("x")`, "202", ""},
		{"d", "201", "202", "ivr-1"},
	} {
		end := base.Add(time.Duration(i) * time.Minute)
		if _, err := store.KeepCdr(engine.Cdr{Device: "om1", CallID: "9" + r.id, Ended: end, Call: r.call, CdrRecord: engine.CdrRecord{
			ID: r.id, Type: "IN", Route: "IP", CPN: r.cpn, CDPN: r.cdpn, Duration: 12,
			TimeStart: end.Add(-12 * time.Second).Format("20060102150405"), TimeEnd: end.Format("20060102150405")}}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

func cdrList(t *testing.T, get func(string, any) int, query string) ([]string, string) {
	t.Helper()
	var l api.CdrList
	if code := get("/api/v1/cdrs"+query, &l); code != 200 {
		t.Fatalf("GET /api/v1/cdrs%s: %d", query, code)
	}
	ids := []string{}
	for _, c := range l.Cdrs {
		ids = append(ids, c.ID)
	}
	return ids, l.Next
}

func TestCdrs(t *testing.T) {
	store := cdrStore(t)
	srv := newServer(t, newFake(), func(o *api.Options) { o.Cdrs = store })
	get := func(path string, out any) int { return getJSON(t, srv, path, out) }
	for _, c := range []struct{ query, want string }{
		{"", "d c b a"},
		{"?number=138", "a"},
		{"?number=202", "d c"},
		{"?ext=201", "d a"},
		{"?ext=20", ""},
		{"?since=2026-11-25T09:01:00Z&until=2026-11-25T09:03:00Z", "c b"},
		{"?since=2026-11-25T17:01:00%2B08:00", "d c b"},
		{"?number=202&until=2026-11-25T09:03:00Z", "c"},
	} {
		ids, _ := cdrList(t, get, c.query)
		if got := strings.Join(ids, " "); got != c.want {
			t.Errorf("GET /api/v1/cdrs%s: %q, want %q", c.query, got, c.want)
		}
	}
	// The record of an IVR call names it.
	var l api.CdrList
	get("/api/v1/cdrs?ext=201&limit=1", &l)
	if len(l.Cdrs) != 1 || l.Cdrs[0].Call != "ivr-1" || l.Cdrs[0].Device != "om1" || l.Cdrs[0].CallID != "9d" {
		t.Fatalf("record d = %+v", l.Cdrs)
	}

	// Paged: two, then two, then none left.
	var seen []string
	next := ""
	for page := 0; ; page++ {
		q := "?limit=2"
		if next != "" {
			q += "&before=" + url.QueryEscape(next)
		}
		ids, n := cdrList(t, get, q)
		seen = append(seen, ids...)
		if n == "" {
			break
		}
		if page > 2 {
			t.Fatal("paging does not end")
		}
		next = n
	}
	if got := strings.Join(seen, " "); got != "d c b a" {
		t.Fatalf("pages: %q", got)
	}
}

func TestCdrsCSV(t *testing.T) {
	store := cdrStore(t)
	srv := newServer(t, newFake(), func(o *api.Options) { o.Cdrs = store })
	code, h, body := browser{auth: "Bearer " + token}.do(t, srv, "GET", "/api/v1/cdrs?format=csv&until=2026-11-25T09:03:00Z", "")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || !strings.Contains(h.Get("Content-Disposition"), `filename="cdrs.csv"`) {
		t.Fatalf("%d %v\n%s", code, h, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, body)
	}
	want := [][]string{
		{"ended", "device", "id", "callid", "call", "type", "route", "caller", "called", "time_start", "time_end", "duration", "recording"},
		{"2026-11-25T09:02:00Z", "om1", "c", "9c", "", "IN", "IP", `'=HYPERLINK("x")`, "202", "20261125090148", "20261125090200", "12", ""},
		{"2026-11-25T09:01:00Z", "om1", "b", "9b", "", "IN", "IP", "200", "13900000002", "20261125090048", "20261125090100", "12", ""},
		{"2026-11-25T09:00:00Z", "om1", "a", "9a", "", "IN", "IP", "13800000001", "201", "20261125085948", "20261125090000", "12", ""},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("rows\n%q\nwant\n%q", rows, want)
	}
	// A CSV page that does not hold every record says where to go on.
	code, h, body = browser{auth: "Bearer " + token}.do(t, srv, "GET", "/api/v1/cdrs?format=csv&limit=1", "")
	if code != 200 || h.Get("Ivrd-Next") == "" || strings.Count(body, "\n") != 2 {
		t.Fatalf("limit 1: %d next %q\n%s", code, h.Get("Ivrd-Next"), body)
	}
}

// A bad parameter is a 400 naming it; without a store, call records and
// recordings are a feature this daemon does not offer: 501, as for the
// other features.
func TestCdrsBadRequests(t *testing.T) {
	store := cdrStore(t)
	srv := newServer(t, newFake(), func(o *api.Options) { o.Cdrs = store })
	for _, c := range []struct{ query, field string }{
		{"?since=yesterday", "since"},
		{"?until=2026-13-01T00:00:00Z", "until"},
		{"?since=2026-11-25T10:00:00Z&until=2026-11-25T09:00:00Z", "until"},
		{"?limit=0", "limit"},
		{"?limit=1001", "limit"},
		{"?format=csv&limit=100001", "limit"},
		{"?limit=x", "limit"},
		{"?before=nothex", "before"},
		{"?before=00", "before"},
		{"?format=xml", "format"},
		{"?number=" + url.QueryEscape("1;drop"), "number"},
		{"?ext=" + strings.Repeat("1", 65), "ext"},
		{"?ext=" + url.QueryEscape("20 1"), "ext"},
	} {
		var e api.Error
		if code := getJSON(t, srv, "/api/v1/cdrs"+c.query, &e); code != 400 || e.Field != c.field {
			t.Errorf("GET /api/v1/cdrs%s: %d %+v, want 400 naming %s", c.query, code, e, c.field)
		}
	}
	bare := newServer(t, newFake(), nil)
	for _, path := range []string{"/api/v1/cdrs", "/api/v1/cdrs?format=csv", "/api/v1/recordings", "/api/v1/recordings/00000000000000a1",
		"/api/v1/recordings/00000000000000a1/audio"} {
		var e api.Error
		if code := getJSON(t, bare, path, &e); code != 501 || !strings.Contains(e.Msg, "no state file") {
			t.Errorf("GET %s without a store: %d %+v, want 501", path, code, e)
		}
	}
}

// deadlineWriter records the write deadline a handler sets through
// http.ResponseController.
type deadlineWriter struct {
	*httptest.ResponseRecorder
	deadline time.Time
}

func (d *deadlineWriter) SetWriteDeadline(t time.Time) error {
	d.deadline = t
	return nil
}

// An export may be megabytes for a slow client: its answer gets a write
// deadline of its own, a minute and more, not the listener's.
func TestExportsSetTheirWriteDeadline(t *testing.T) {
	fake := newFake()
	fake.kv["hotel"] = surveyKV()
	s, err := api.New(fake, api.Options{Token: token, Cdrs: cdrStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/v1/cdrs?format=csv", "/api/v1/surveys/hotel?survey=stay&format=csv&until=2026-11-25T00:00:00Z"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := &deadlineWriter{ResponseRecorder: httptest.NewRecorder()}
		start := time.Now()
		s.ServeHTTP(w, req)
		if w.Code != 200 || w.deadline.Sub(start) < time.Minute {
			t.Errorf("GET %s: %d, write deadline %v after the start, want a minute at least", path, w.Code, w.deadline.Sub(start))
		}
	}
}
