package api_test

import (
	"net/http"
	"testing"

	"github.com/ivrd/ivrd/api"
)

// Without Options.Clicks every click-to-call endpoint answers 501, and
// they all need the token.
func TestClickEndpointsWithoutClicks(t *testing.T) {
	srv := newServer(t, newFake(), nil)
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/api/v1/dial", `{"ext":"208","number":"139"}`},
		{"POST", "/api/v1/connect", `{"from_ext":"200","to_ext":"201"}`},
		{"GET", "/api/v1/dials", ""},
		{"GET", "/api/v1/dials/d1", ""},
		{"DELETE", "/api/v1/dials/d1", ""},
	} {
		var e api.Error
		if st := do(t, srv, r.method, r.path, r.body, &e); st != http.StatusNotImplemented || e.Msg == "" {
			t.Errorf("%s %s = %d %+v, want 501", r.method, r.path, st, e)
		}
		if st := doAuth(t, srv, r.method, r.path, r.body, "", &e); st != http.StatusUnauthorized {
			t.Errorf("%s %s without a token = %d, want 401", r.method, r.path, st)
		}
	}
}
