package api

import (
	"fmt"
	"net/http"
	"os"
	"path"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// Recordings is what the API needs of the call recordings fetched from
// the devices; engine.Recordings implements it.
type Recordings interface {
	// SearchRecordings returns the recordings a query selects, newest
	// first; Recording one (engine.ErrNoRecording).
	SearchRecordings(q engine.RecordingQuery) (engine.RecordingPage, error)
	Recording(id string) (engine.Recording, error)
	// Open opens a fetched recording's file
	// (engine.ErrRecordingNotFetched while it is not).
	Open(id string) (*os.File, engine.Recording, error)
	// Retry queues a failed recording again
	// (engine.ErrRecordingNotFailed).
	Retry(id string) (engine.Recording, error)
}

// Limits of GET /api/v1/recordings.
const (
	DefaultRecordingLimit = 100
	MaxRecordingLimit     = 1000
)

// RecordingList is the answer of GET /api/v1/recordings. Next, when set,
// is the ?before= of the next page (older recordings).
type RecordingList struct {
	Recordings []engine.Recording `json:"recordings"`
	Next       string             `json:"next,omitempty"`
}

// recordingsOrErr returns the recordings, or the error of a daemon that
// keeps none.
func (s *Server) recordingsOrErr() (Recordings, error) {
	if s.opt.Recordings == nil {
		return nil, fmt.Errorf("recordings: %w (it has no state file)", ErrNotAvailable)
	}
	return s.opt.Recordings, nil
}

// GET /api/v1/recordings[?since=T][&until=T][&number=N][&ext=E][&state=S][&device=D][&limit=N][&before=C]
func (s *Server) recordings(r *http.Request) (int, any, error) {
	qs := r.URL.Query()
	sp, err := searchParams(r, DefaultRecordingLimit, MaxRecordingLimit)
	if err != nil {
		return 0, nil, err
	}
	q := engine.RecordingQuery{Since: sp.Since, Until: sp.Until, Number: sp.Number, Ext: sp.Ext, Before: sp.Before, Limit: sp.Limit}
	switch q.State = qs.Get("state"); q.State {
	case "", engine.RecordingPending, engine.RecordingFetched, engine.RecordingFailed:
	default:
		return 0, nil, badField("state", "%q is not pending, fetched or failed", q.State)
	}
	if q.Device = qs.Get("device"); q.Device != "" && !engine.ValidDeviceName(q.Device) {
		return 0, nil, badField("device", "%q is not a device name", q.Device)
	}
	recs, err := s.recordingsOrErr()
	if err != nil {
		return 0, nil, err
	}
	page, err := recs.SearchRecordings(q)
	if err != nil {
		return 0, nil, err
	}
	out := RecordingList{Recordings: page.Recordings, Next: page.Next}
	if out.Recordings == nil {
		out.Recordings = []engine.Recording{}
	}
	return http.StatusOK, out, nil
}

// recordingOf reads the {id} of a recording's path and returns it with
// the recordings.
func (s *Server) recordingOf(r *http.Request) (Recordings, string, error) {
	id := r.PathValue("id")
	if !engine.ValidRecordingID(id) {
		return nil, "", badField("id", "%q is not a recording id (16 hex digits)", id)
	}
	recs, err := s.recordingsOrErr()
	return recs, id, err
}

// GET /api/v1/recordings/{id}
func (s *Server) recording(r *http.Request) (int, any, error) {
	recs, id, err := s.recordingOf(r)
	if err != nil {
		return 0, nil, err
	}
	rec, err := recs.Recording(id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, rec, nil
}

// POST /api/v1/recordings/{id}/retry: a failed recording is queued again.
func (s *Server) retryRecording(r *http.Request) (int, any, error) {
	recs, id, err := s.recordingOf(r)
	if err != nil {
		return 0, nil, err
	}
	rec, err := recs.Retry(id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, rec, nil
}

// GET /api/v1/recordings/{id}/audio: the file, with ranges and
// conditional requests (http.ServeContent); 409 while it is not fetched.
func (s *Server) recordingAudio(w http.ResponseWriter, r *http.Request) {
	fail := func(err error) {
		e := s.errorOf(r, err)
		writeJSON(w, e.Status, e)
	}
	recs, id, err := s.recordingOf(r)
	if err != nil {
		fail(err)
		return
	}
	f, rec, err := recs.Open(id)
	if err != nil {
		fail(err)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "audio/wav")
	h.Set("Cache-Control", "no-store") // a call is personal data
	h.Set("X-Content-Type-Options", "nosniff")
	if rec.SHA256 != "" {
		h.Set("ETag", `"`+rec.SHA256+`"`)
	}
	h.Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", path.Base(rec.Path)))
	if st, err := f.Stat(); err == nil {
		allowBulkWrite(w, st.Size())
	}
	http.ServeContent(w, r, path.Base(rec.Path), rec.Fetched, f)
}

// allowBulkWrite gives an answer of size bytes — a recording, a CSV
// export — time to reach a slow client: the listener's WriteTimeout suits
// answers of a few kilobytes, not tens of megabytes over a slow link.
func allowBulkWrite(w http.ResponseWriter, size int64) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(bulkWriteTime(size)))
}

// bulkWriteTime is how long sending an answer of size bytes may take: a
// minute, and a second for each bulkMinRate bytes.
func bulkWriteTime(size int64) time.Duration {
	return time.Minute + time.Duration(size/bulkMinRate)*time.Second
}

// bulkMinRate is the slowest download of a recording or an export that
// ivrd waits for, in bytes per second (64 KiB/s: the 64 MiB default
// max_size of a recording in 17 minutes).
const bulkMinRate = 64 << 10

// CdrRow is a call record as GET /api/v1/cdrs lists it: with, when it
// names a recording, the recording's id and state.
type CdrRow struct {
	engine.Cdr
	RecordingID    string `json:"recording_id,omitempty"`
	RecordingState string `json:"recording_state,omitempty"`
}

// cdrRows adds the recordings' states to a page of records.
func (s *Server) cdrRows(cdrs []engine.Cdr) []CdrRow {
	out := make([]CdrRow, len(cdrs))
	for i, c := range cdrs {
		out[i].Cdr = c
		if c.Recording == "" || s.opt.Recordings == nil {
			continue
		}
		out[i].RecordingID = engine.RecordingID(c)
		if rec, err := s.opt.Recordings.Recording(out[i].RecordingID); err == nil {
			out[i].RecordingState = rec.State
		}
	}
	return out
}
