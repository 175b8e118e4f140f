package api

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// Cdrs is what the API needs to search the devices' call records;
// cmd/ivrd implements it over the store (engine.BoltStore.SearchCdrs).
type Cdrs interface {
	// SearchCdrs returns the records a query selects, newest first.
	SearchCdrs(q engine.CdrQuery) (engine.CdrPage, error)
}

// Limits of GET /api/v1/cdrs.
const (
	// DefaultCdrLimit is how many records a JSON answer holds without
	// ?limit; MaxCdrLimit the most it holds.
	DefaultCdrLimit = 100
	MaxCdrLimit     = 1000
	// MaxCdrExport is how many rows a CSV export holds without ?limit,
	// and the most it holds; a longer export continues with the cursor in
	// its Ivrd-Next header.
	MaxCdrExport = 100000
)

// CdrList is the answer of GET /api/v1/cdrs. Next, when set, is the
// ?before= of the next page (older records).
type CdrList struct {
	Cdrs []CdrRow `json:"cdrs"`
	Next string   `json:"next,omitempty"`
}

// A number or extension as a query names it: what a device writes in a
// record, and nothing a URL could smuggle.
var cdrNumberRE = regexp.MustCompile(`^[0-9A-Za-z+*#._@-]{1,64}$`)

// recordSearch is what the searches of call records and of recordings
// share: a period, a number (part of either side's) or an extension
// (either side), and a page: its size and the cursor of an earlier answer.
type recordSearch struct {
	Period
	Number, Ext string
	Limit       int
	Before      string
}

// searchParams reads ?since, ?until, ?number, ?ext, ?limit (def without
// it, at most max) and ?before; a bad one is a 400 naming it.
func searchParams(r *http.Request, def, max int) (recordSearch, error) {
	var sp recordSearch
	var err error
	if sp.Limit, err = limitParam(r, def, max); err != nil {
		return sp, err
	}
	if sp.Period, err = periodParams(r); err != nil {
		return sp, err
	}
	qs := r.URL.Query()
	for _, f := range []struct {
		name string
		dst  *string
	}{{"number", &sp.Number}, {"ext", &sp.Ext}} {
		v := strings.TrimSpace(qs.Get(f.name))
		if v != "" && !cdrNumberRE.MatchString(v) {
			return sp, badField(f.name, "%q is not a number (digits, letters, + * # . _ @ -; at most 64)", v)
		}
		*f.dst = v
	}
	if sp.Before = qs.Get("before"); sp.Before != "" && !cursorRE.MatchString(sp.Before) {
		return sp, badField("before", "%q is not the next of an earlier answer", sp.Before)
	}
	return sp, nil
}

// GET /api/v1/cdrs[?since=T][&until=T][&number=N][&ext=E][&limit=N][&before=C][&format=csv]
func (s *Server) cdrs(w http.ResponseWriter, r *http.Request) {
	status, v, err := s.cdrReport(w, r)
	if err != nil {
		e := s.errorOf(r, err)
		status, v = e.Status, e
	}
	if v != nil {
		writeJSON(w, status, v)
	}
}

// cdrReport answers a call record search: JSON, or CSV written to w
// (then v is nil).
func (s *Server) cdrReport(w http.ResponseWriter, r *http.Request) (int, any, error) {
	qs := r.URL.Query()
	format := qs.Get("format")
	if format != "" && format != "json" && format != "csv" {
		return 0, nil, badField("format", "%q is not json or csv", format)
	}
	def, max := DefaultCdrLimit, MaxCdrLimit
	if format == "csv" {
		def, max = MaxCdrExport, MaxCdrExport
	}
	sp, err := searchParams(r, def, max)
	if err != nil {
		return 0, nil, err
	}
	q := engine.CdrQuery{Since: sp.Since, Until: sp.Until, Number: sp.Number, Ext: sp.Ext, Before: sp.Before, Limit: sp.Limit}
	if s.opt.Cdrs == nil {
		return 0, nil, fmt.Errorf("call records: %w (it has no state file)", ErrNotAvailable)
	}
	page, err := s.opt.Cdrs.SearchCdrs(q)
	if err != nil {
		return 0, nil, err
	}
	if format == "csv" {
		writeCdrCSV(w, page)
		return 0, nil, nil
	}
	out := CdrList{Cdrs: s.cdrRows(page.Cdrs), Next: page.Next}
	return http.StatusOK, out, nil
}

// cdrCSVHeader names the columns of a call record export.
var cdrCSVHeader = []string{"ended", "device", "id", "callid", "call", "type", "route", "caller", "called",
	"time_start", "time_end", "duration", "recording"}

// writeCdrCSV writes a page of records, newest first, one row each. Every
// cell the device wrote — numbers come from callers — is guarded against
// being read as a formula.
func writeCdrCSV(w http.ResponseWriter, page engine.CdrPage) {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	cw.Write(cdrCSVHeader)
	for _, c := range page.Cdrs {
		cw.Write([]string{c.Ended.UTC().Format(time.RFC3339), c.Device, csvSafe(c.ID), csvSafe(c.CallID), c.Call,
			csvSafe(c.Type), csvSafe(c.Route), csvSafe(c.CPN), csvSafe(c.CDPN), csvSafe(c.TimeStart), csvSafe(c.TimeEnd),
			strconv.Itoa(c.Duration), csvSafe(c.Recording)})
	}
	cw.Flush()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="cdrs.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	if page.Next != "" {
		w.Header().Set("Ivrd-Next", page.Next)
	}
	allowBulkWrite(w, int64(b.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}
