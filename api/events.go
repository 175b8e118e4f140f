package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// Limits of GET /api/v1/events.
const (
	// MaxEventStreams is how many event streams the listener serves at
	// once (503 beyond).
	MaxEventStreams = 64
	// eventsPage is how many logged events a catch-up reads at a time.
	eventsPage = 500
	// DefaultEventWriteTimeout is how long one write to an event stream
	// may take before the client is dropped (Options.EventWriteTimeout).
	DefaultEventWriteTimeout = 10 * time.Second
)

// eventFilter is what a stream sends: ?kind= (prefixes, any of them; a
// trailing "*" is dropped, so "dial.*" means "dial."),
// ?device=, ?ext=.
type eventFilter struct {
	kinds       []string
	device, ext string
}

func (f eventFilter) match(e engine.CallEvent) bool {
	if f.device != "" && e.Device != f.device {
		return false
	}
	if f.ext != "" && e.Ext != f.ext {
		return false
	}
	if len(f.kinds) == 0 {
		return true
	}
	for _, k := range f.kinds {
		if strings.HasPrefix(e.Kind, k) {
			return true
		}
	}
	return false
}

// GET /api/v1/events[?kind=K…][&device=D][&ext=E][&after=ID]: the event
// log as server-sent events, each with its id, its kind as the event name
// and the event as JSON. A client resuming with Last-Event-ID (or ?after=)
// gets every logged event after that id, then the live ones, each once.
// A client that falls behind is sent a final comment and disconnected.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	log := s.opt.Events
	if log == nil {
		writeJSON(w, http.StatusNotImplemented, &Error{Msg: "this daemon keeps no event log"})
		return
	}
	q := r.URL.Query()
	f := eventFilter{device: q.Get("device"), ext: q.Get("ext")}
	for _, k := range q["kind"] {
		for _, p := range strings.Split(k, ",") {
			// "dial.*" reads as the prefix "dial." that it means.
			if p = strings.TrimSuffix(strings.TrimSpace(p), "*"); p != "" {
				f.kinds = append(f.kinds, p)
			}
		}
	}
	var after uint64
	from := r.Header.Get("Last-Event-ID")
	field := "Last-Event-ID"
	if from == "" {
		from, field = q.Get("after"), "after"
	}
	if from != "" {
		n, err := strconv.ParseUint(strings.TrimSpace(from), 10, 64)
		if err != nil {
			e := s.errorOf(r, badField(field, "%q is not an event id", from))
			writeJSON(w, e.Status, e)
			return
		}
		after = n
	}
	if n := s.eventStreams.Add(1); n > MaxEventStreams {
		s.eventStreams.Add(-1)
		writeJSON(w, http.StatusServiceUnavailable, &Error{Msg: fmt.Sprintf("already %d event streams open", MaxEventStreams)})
		return
	}
	defer s.eventStreams.Add(-1)

	// Subscribing before reading the log: every event up to sub.Since is
	// in the log, every later one comes on sub.C, so nothing falls in
	// between and nothing comes twice.
	sub := log.Subscribe()
	defer sub.Close()

	write, ok := openEventStream(w, s.opt.EventWriteTimeout)
	if !ok {
		return
	}
	send := func(e engine.CallEvent) bool {
		if !f.match(e) {
			return true
		}
		body, err := json.Marshal(e)
		if err != nil {
			return false
		}
		return write([]byte("id: " + strconv.FormatUint(e.ID, 10) + "\nevent: " + e.Kind + "\ndata: " + string(body) + "\n\n"))
	}
	sessionID := consoleSession(r)
	last := after
	if from == "" {
		// A new client starts with the live events.
		last = sub.Since
	}
	for last < sub.Since {
		evs, err := log.After(last, eventsPage)
		if err != nil {
			s.log.Error("event stream: reading the log", "error", err)
			return
		}
		if len(evs) == 0 {
			break // pruned meanwhile, or the log lost a batch
		}
		for _, e := range evs {
			if e.ID > sub.Since {
				break
			}
			if !send(e) {
				return
			}
			last = e.ID
		}
		if evs[len(evs)-1].ID >= sub.Since {
			break
		}
	}
	if last < sub.Since {
		last = sub.Since
	}
	keep := time.NewTicker(s.opt.StreamKeepAlive)
	defer keep.Stop()
	for {
		select {
		case e, ok := <-sub.C:
			if !ok {
				if sub.Slow() {
					write([]byte(": too slow; events were coming faster than this client read them — reconnect with Last-Event-ID\n\n"))
				}
				return
			}
			if e.ID <= last {
				continue
			}
			last = e.ID
			if !send(e) {
				return
			}
		case <-keep.C:
			if sessionID != "" {
				if _, ok := s.sessions.get(sessionID); !ok {
					return
				}
			}
			if !write([]byte(": nothing new\n\n")) {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}
