package api_test

import (
	"net/http"
	"testing"

	"github.com/ivrd/ivrd/api"
)

// Without agent call control the endpoints exist and say so: 501; a
// body with an unknown field is still a 400 naming it.
func TestAgentNotAvailable(t *testing.T) {
	srv := newServer(t, &fakeBackend{}, nil)
	for _, action := range []string{"hold", "unhold", "hangup"} {
		var e api.Error
		if got := do(t, srv, "POST", "/api/v1/devices/om1/extensions/201/"+action, "", &e); got != http.StatusNotImplemented {
			t.Fatalf("%s: %d %+v, want 501", action, got, e)
		}
	}
	var e api.Error
	if got := do(t, srv, "POST", "/api/v1/devices/om1/extensions/201/supervise", `{"supervisor":"202","mode":"monitor"}`, &e); got != http.StatusNotImplemented {
		t.Fatalf("supervise: %d %+v, want 501", got, e)
	}
	if got := do(t, srv, "POST", "/api/v1/devices/om1/extensions/201/hold", `{"x":1}`, &e); got != http.StatusBadRequest || e.Field != "x" ||
		e.Msg != "unknown field: this request takes none" {
		t.Fatalf("hold with a body: %d %+v, want 400 naming x, saying the request takes no field", got, e)
	}
	if got := do(t, srv, "GET", "/api/v1/devices/om1/extensions/201/hold", "", &e); got != http.StatusMethodNotAllowed {
		t.Fatalf("GET hold: %d %+v, want 405", got, e)
	}
}
