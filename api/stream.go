package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Limits of GET /api/v1/calls/stream.
const (
	// DefaultStreamInterval is how often a stream looks at the live calls
	// without ?interval; it sends a snapshot only when something changed.
	DefaultStreamInterval = time.Second
	// MinStreamInterval and MaxStreamInterval bound ?interval.
	MinStreamInterval = 250 * time.Millisecond
	MaxStreamInterval = time.Minute
	// DefaultLivePage is the page size without ?limit; MaxLivePage the
	// most one page holds.
	DefaultLivePage = 50
	MaxLivePage     = 500
	// MaxStreams is how many streams the listener serves at once (503
	// beyond): each reads every live call once per interval.
	MaxStreams = 32
	// DefaultStreamKeepAlive is how often an idle stream (live calls or
	// events) sends a comment, so proxies do not close it
	// (Options.StreamKeepAlive).
	DefaultStreamKeepAlive = 15 * time.Second
)

// LivePage is one page of the live calls, newest first: the answer of
// each event of GET /api/v1/calls/stream.
type LivePage struct {
	// At is the daemon's clock when the page was taken, so a client
	// counts durations without trusting its own clock.
	At time.Time `json:"at"`
	// Total is how many live calls match, on every page; Offset is where
	// this page starts among them.
	Total  int    `json:"total"`
	Offset int    `json:"offset"`
	Calls  []Call `json:"calls"`
}

// liveQuery is what a stream shows: ?number=, ?offset=, ?limit=.
type liveQuery struct {
	number        string
	offset, limit int
	interval      time.Duration
}

func liveQueryOf(r *http.Request) (liveQuery, error) {
	q := liveQuery{number: strings.TrimSpace(r.URL.Query().Get("number")), limit: DefaultLivePage, interval: DefaultStreamInterval}
	var err error
	if q.limit, err = limitParam(r, DefaultLivePage, MaxLivePage); err != nil {
		return q, err
	}
	if q.offset, err = offsetParam(r, "calls"); err != nil {
		return q, err
	}
	if v := r.URL.Query().Get("interval"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < MinStreamInterval || d > MaxStreamInterval {
			return q, badField("interval", "%q is not a duration within %s–%s", v, MinStreamInterval, MaxStreamInterval)
		}
		q.interval = d
	}
	return q, nil
}

// livePage takes the page q asks for.
func (s *Server) livePage(q liveQuery) LivePage {
	all := s.b.LiveCalls()
	match := all[:0:0]
	for _, c := range all {
		if q.number == "" || strings.Contains(c.From, q.number) || strings.Contains(c.To, q.number) {
			match = append(match, c)
		}
	}
	sort.Slice(match, func(i, j int) bool {
		if !match[i].Started.Equal(match[j].Started) {
			return match[i].Started.After(match[j].Started)
		}
		return match[i].ID > match[j].ID
	})
	p := LivePage{At: s.opt.Now(), Total: len(match), Offset: q.offset, Calls: []Call{}}
	if q.offset < len(match) {
		p.Calls = match[q.offset:min(q.offset+q.limit, len(match))]
	}
	return p
}

// GET /api/v1/calls/stream[?number=N][&offset=O][&limit=L][&interval=D]:
// server-sent events, one "calls" event with a LivePage whenever the page
// changes (checked every interval, so at most one event per interval),
// and a comment line while nothing does. A page does not change by time
// alone: clients count durations from Started and the page's At.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	q, err := liveQueryOf(r)
	if err != nil {
		e := s.errorOf(r, err)
		writeJSON(w, e.Status, e)
		return
	}
	if n := s.streams.Add(1); n > MaxStreams {
		s.streams.Add(-1)
		writeJSON(w, http.StatusServiceUnavailable, &Error{Msg: fmt.Sprintf("already %d live-call streams open", MaxStreams)})
		return
	}
	defer s.streams.Add(-1)

	write, ok := openEventStream(w, 30*time.Second)
	if !ok {
		return
	}
	// A console's stream lasts as long as its session: signing out or the
	// session's end closes it, and the browser's reconnection then meets
	// the sign-in.
	sessionID := consoleSession(r)
	tick := time.NewTicker(q.interval)
	defer tick.Stop()
	keep := time.NewTicker(s.opt.StreamKeepAlive / 3)
	defer keep.Stop()
	var last []byte
	quiet := time.Now()
	for {
		if sessionID != "" {
			if _, ok := s.sessions.get(sessionID); !ok {
				return
			}
		}
		page := s.livePage(q)
		at := page.At
		page.At = time.Time{}
		body, err := json.Marshal(page)
		if err != nil {
			s.log.Error("live-call stream", "error", err)
			return
		}
		switch {
		case !bytes.Equal(body, last):
			last = body
			page.At = at
			body, _ = json.Marshal(page)
			if !write([]byte("event: calls\ndata: " + string(body) + "\n\n")) {
				return
			}
			quiet = time.Now()
		case time.Since(quiet) >= s.opt.StreamKeepAlive:
			if !write([]byte(": nothing new\n\n")) {
				return
			}
			quiet = time.Now()
		}
	wait:
		// Between two looks (a minute apart at most), keep-alives go out on
		// their own clock, so that a long interval does not starve them.
		for {
			select {
			case <-r.Context().Done():
				return
			case <-s.done:
				return
			case <-keep.C:
				if time.Since(quiet) >= s.opt.StreamKeepAlive {
					if !write([]byte(": nothing new\n\n")) {
						return
					}
					quiet = time.Now()
				}
			case <-tick.C:
				break wait
			}
		}
	}
}

// openEventStream answers 200 as server-sent events and sends the retry
// line. The request has been read, so the listener's ReadTimeout must not
// bear on a stream that lasts; its WriteTimeout would cut the stream, so
// each write gets its own deadline of timeout instead, and a client that
// stops reading is dropped after it. write sends and flushes, false when
// the client is gone; ok is false when the retry line could not be sent.
func openEventStream(w http.ResponseWriter, timeout time.Duration) (write func([]byte) bool, ok bool) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write = func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	return write, write([]byte("retry: 2000\n\n"))
}

// consoleSession is the session a console's stream belongs to ("" for a
// client with a bearer token), which ends the stream when it ends.
func consoleSession(r *http.Request) string {
	if c, err := r.Cookie(SessionCookie); err == nil && r.Header.Get("Authorization") == "" {
		return c.Value
	}
	return ""
}
