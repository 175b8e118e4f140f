package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
)

// sse is one server-sent event as a client reads it.
type sse struct {
	id    uint64
	event string
	data  engine.CallEvent
}

// sseStream reads server-sent events from an open GET /api/v1/events.
type sseStream struct {
	t    *testing.T
	resp *http.Response
	rd   *bufio.Reader
	// comments are the comment lines read so far.
	comments []string
}

// openEvents opens GET /api/v1/events+query with the token and, when
// lastID is not "", a Last-Event-ID header.
func openEvents(t *testing.T, url, query, lastID string) *sseStream {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/api/v1/events"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /api/v1/events%s: %s %s", query, resp.Status, b)
	}
	s := &sseStream{t: t, resp: resp, rd: bufio.NewReader(resp.Body)}
	// A stream that waits for an event that never comes ends the test
	// instead of hanging it.
	stop := time.AfterFunc(15*time.Second, s.close)
	t.Cleanup(func() { stop.Stop(); s.close() })
	return s
}

func (s *sseStream) close() { s.resp.Body.Close() }

// next returns the next event, or false at the stream's end.
func (s *sseStream) next() (sse, bool) {
	var e sse
	got := false
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			return e, false
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if got {
				return e, true
			}
		case strings.HasPrefix(line, ":"):
			s.comments = append(s.comments, line)
		case strings.HasPrefix(line, "id: "):
			e.id, _ = strconv.ParseUint(line[4:], 10, 64)
			got = true
		case strings.HasPrefix(line, "event: "):
			e.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &e.data); err != nil {
				s.t.Errorf("data %q: %v", line, err)
			}
		}
	}
}

func newEventLog(t *testing.T, opt engine.EventLogOptions) *engine.EventLog {
	t.Helper()
	l, err := engine.OpenEventLog(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func eventsServer(t *testing.T, l *engine.EventLog) string {
	t.Helper()
	return newServer(t, newFake(), func(o *api.Options) { o.Events = l }).URL
}

func TestEventsNeedTheToken(t *testing.T) {
	srv := newServer(t, newFake(), func(o *api.Options) { o.Events = newEventLog(t, engine.EventLogOptions{}) })
	if st := doAuth(t, srv, "GET", "/api/v1/events", "", "", nil); st != http.StatusUnauthorized {
		t.Fatalf("without a token: %d, want 401", st)
	}
	if st := doAuth(t, srv, "GET", "/api/v1/events?after=x", "", "Bearer "+token, nil); st != http.StatusBadRequest {
		t.Fatalf("?after=x: %d, want 400", st)
	}
}

func TestEventsFilters(t *testing.T) {
	l := newEventLog(t, engine.EventLogOptions{})
	url := eventsServer(t, l)
	pub := []engine.CallEvent{
		{Kind: "call.incoming", Device: "om1"},
		{Kind: "call.ringing", Device: "om1", Ext: "201"},
		{Kind: "ext.state", Device: "om1", Ext: "201"},
		{Kind: "call.ringing", Device: "om2", Ext: "201"},
		{Kind: "flow.lead", Device: "om1"},
		{Kind: "call.answered", Device: "om1", Ext: "202"},
		{Kind: "cdr", Device: "om1"},
	}
	for _, e := range pub {
		l.Publish(e)
	}
	for _, tc := range []struct {
		query string
		want  []uint64
	}{
		{"?after=0", []uint64{1, 2, 3, 4, 5, 6, 7}},
		{"?after=0&kind=call.", []uint64{1, 2, 4, 6}},
		{"?after=0&kind=flow.&kind=cdr", []uint64{5, 7}},
		{"?after=0&kind=call.ringing&device=om1", []uint64{2}},
		{"?after=0&ext=201", []uint64{2, 3, 4}},
		{"?after=3&device=om1", []uint64{5, 6, 7}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			s := openEvents(t, url, tc.query, "")
			var got []uint64
			for len(got) < len(tc.want) {
				e, ok := s.next()
				if !ok {
					t.Fatalf("stream ended after %v, want %v", got, tc.want)
				}
				if e.id != e.data.ID || e.event != e.data.Kind {
					t.Fatalf("id %d event %s for %+v", e.id, e.event, e.data)
				}
				got = append(got, e.id)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	// Without Last-Event-ID or ?after, a client starts with live events.
	s := openEvents(t, url, "", "")
	l.Publish(engine.CallEvent{Kind: "flow.live"})
	if e, ok := s.next(); !ok || e.id != 8 || e.event != "flow.live" {
		t.Fatalf("first event of a new client = %+v, want the live one, 8", e)
	}
}

// TestEventsResumeLosesNothing reconnects a client again and again with
// Last-Event-ID while events keep coming, and checks it sees each once.
func TestEventsResumeLosesNothing(t *testing.T) {
	// On a real state file, so that commits take time and the stream's
	// catch-up from the log races the writer.
	store, err := engine.OpenBolt(filepath.Join(t.TempDir(), "ivrd.db"), engine.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := newEventLog(t, engine.EventLogOptions{Store: store})
	t.Cleanup(func() { store.Close() }) // after the log's Close (cleanups run last first)
	url := eventsServer(t, l)
	const total = 3000
	var published atomic.Int64
	go func() {
		for i := 0; i < total; i++ {
			l.Publish(engine.CallEvent{Kind: "flow.tick", Data: json.RawMessage(strconv.Itoa(i))})
			published.Add(1)
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var seen []uint64
	last := "0"
	for round := 0; len(seen) < total; round++ {
		if round > 200 {
			t.Fatalf("no end after %d reconnections; %d events seen", round, len(seen))
		}
		s := openEvents(t, url, "", last)
		// Each connection reads a different number of events before
		// dropping, so the cut falls in the log and in the live feed.
		for n := 0; n < 97+round*131 && len(seen) < total; n++ {
			e, ok := s.next()
			if !ok {
				t.Fatalf("stream ended after %d events", len(seen))
			}
			seen = append(seen, e.id)
			last = strconv.FormatUint(e.id, 10)
		}
		s.close()
	}
	for i, id := range seen {
		if id != uint64(i+1) {
			t.Fatalf("event %d has id %d: lost or repeated across a reconnection", i+1, id)
		}
	}
}

func TestEventsSlowClientIsDropped(t *testing.T) {
	l := newEventLog(t, engine.EventLogOptions{Buffer: 16})
	url := eventsServer(t, l)
	slow := openEvents(t, url, "", "")
	fast := openEvents(t, url, "", "")
	// Enough bytes to fill the slow client's socket buffers, and then its
	// feed; published in rounds the fast client keeps up with.
	const total = 3000
	pad := strings.Repeat("x", 8<<10)
	data, _ := json.Marshal(pad)
	for i := 0; i < total; i += 8 {
		for j := 0; j < 8; j++ {
			l.Publish(engine.CallEvent{Kind: "flow.big", Data: data})
		}
		for {
			e, ok := fast.next()
			if !ok {
				t.Fatal("the fast client was dropped")
			}
			if e.id == uint64(i+8) {
				break
			}
		}
	}
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, ok := slow.next(); !ok {
				return
			}
			n++
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow client's stream did not end")
	}
	if n >= total {
		t.Fatalf("the slow client got all %d events; it was not dropped", n)
	}
	if len(slow.comments) == 0 || !strings.Contains(slow.comments[len(slow.comments)-1], "too slow") {
		t.Fatalf("last comments %q, want the too-slow notice", slow.comments)
	}
}

// racingStore commits a new event after a read of the log, before the
// reader sees the answer: the worst moment for a stream catching up.
type racingStore struct {
	engine.EventStore
	l     *engine.EventLog
	first atomic.Bool
	races atomic.Int32
}

func (s *racingStore) EventsAfter(after uint64, limit int) ([]engine.CallEvent, error) {
	evs, err := s.EventStore.EventsAfter(after, limit)
	// The first read, and each that finds nothing more, is raced.
	if s.l != nil && (len(evs) == 0 || !s.first.Swap(true)) && s.races.Add(1) <= 5 {
		before, _ := s.EventStore.LastEventID()
		s.l.Publish(engine.CallEvent{Kind: "flow.race"})
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if n, _ := s.EventStore.LastEventID(); n > before {
				break
			}
		}
	}
	return evs, err
}

// TestEventsCatchUpRacesTheWriter: events committed while a resuming
// client reads the log come to it once, live.
func TestEventsCatchUpRacesTheWriter(t *testing.T) {
	store, err := engine.OpenBolt(filepath.Join(t.TempDir(), "ivrd.db"), engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	rs := &racingStore{EventStore: store}
	l := newEventLog(t, engine.EventLogOptions{Store: rs})
	t.Cleanup(func() { store.Close() })
	for i := 0; i < 10; i++ {
		l.Publish(engine.CallEvent{Kind: "flow.before"})
	}
	waitFor(t, "the first events stored", func() bool { n, _ := store.LastEventID(); return n == 10 })
	rs.l = l
	url := eventsServer(t, l)
	s := openEvents(t, url, "", "3")
	var got []uint64
	ended := false
	for {
		e, ok := s.next()
		if !ok {
			t.Fatalf("stream ended after %v", got)
		}
		got = append(got, e.id)
		if e.event == "flow.final" {
			break
		}
		// One more after the end, so that an event lost while the
		// stream went from the log to live ones shows as a gap.
		if e.event == "flow.end" {
			l.Publish(engine.CallEvent{Kind: "flow.final"})
		}
		// Events 4…10 from the log, then one per read of the log.
		if races := int(rs.races.Load()); !ended && len(got) == 7+min(races, 5) {
			ended = true
			l.Publish(engine.CallEvent{Kind: "flow.end"})
		}
	}
	for i, id := range got {
		if id != uint64(i+4) {
			t.Fatalf("ids %v, want 4…%d each once", got, len(got)+3)
		}
	}
}
