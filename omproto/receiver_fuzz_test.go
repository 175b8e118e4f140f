package omproto_test

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/ivrd/ivrd/omproto"
)

// FuzzReceiver sends arbitrary bodies through a Receiver and checks that it
// never panics, answers only 200, 400 or 413, calls its Handler exactly when
// it answers 200, and counts each request once.
func FuzzReceiver(f *testing.F) {
	for _, seed := range []string{
		reportIncoming, reportDTMF, reportEndOfAnn, reportBye, reportBootup, reportCdr, reportSigned,
		"", `<!-- Empty -->`, "\uFEFF" + reportBye, `<Event attribute="BYE"><visitor id="1"></Event>`,
		`<Cdr id="1"><Duration>-1</Duration></Cdr>`, `<Alarm/>`,
	} {
		f.Add(true, []byte(seed))
		f.Add(false, []byte(seed))
	}
	f.Fuzz(func(t *testing.T, get bool, body []byte) {
		var delivered []*omproto.Report
		rv := &omproto.Receiver{
			MaxBody: 4096,
			Handler: func(r *omproto.Report) { delivered = append(delivered, r) },
		}
		method := "POST"
		if get {
			method = "GET"
		}
		rec := httptest.NewRecorder()
		rv.ServeHTTP(rec, httptest.NewRequest(method, "/omapi/report", bytes.NewReader(body)))

		switch rec.Code {
		case 200:
			if len(delivered) != 1 || delivered[0] == nil {
				t.Fatalf("answered 200 with %d reports delivered, want 1", len(delivered))
			}
			r := delivered[0]
			if n := btoi(r.Event != nil) + btoi(r.Cdr != nil) + btoi(r.Other != nil); n != 1 {
				t.Errorf("delivered %+v, want exactly one of Event, Cdr and Other", r)
			}
			if rec.Body.Len() != 0 {
				t.Errorf("answered 200 with body %q, want none", rec.Body)
			}
		case 400, 413:
			if len(delivered) != 0 {
				t.Fatalf("answered %d with %d reports delivered, want none", rec.Code, len(delivered))
			}
		default:
			t.Fatalf("answered %d, want 200, 400 or 413", rec.Code)
		}
		if len(body) > 4096 && rec.Code != 413 {
			t.Errorf("answered %d to %d bytes, want 413", rec.Code, len(body))
		}
		st := rv.Stats()
		if n := st.Accepted + st.Malformed + st.TooLarge + st.Method + st.Forbidden + st.Unauthorized; n != 1 {
			t.Errorf("got stats %+v, want exactly one count", st)
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
