package api_test

import (
	"net/http"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
)

// listServer serves the API with caller lists kept in a real state file.
func listServer(t *testing.T) (*engine.Lists, func(method, path, body string, out any) int) {
	t.Helper()
	st, err := engine.OpenBolt(filepath.Join(t.TempDir(), "ivrd.db"), engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lists, err := engine.OpenLists(st, nil, "blocked")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, newFake(), func(o *api.Options) { o.Lists = lists })
	return lists, func(method, path, body string, out any) int {
		t.Helper()
		return do(t, srv, method, path, body, out)
	}
}

func TestListEndpoints(t *testing.T) {
	lists, req := listServer(t)

	var set api.ListSet
	if st := req("GET", "/api/v1/lists", "", &set); st != http.StatusOK || !reflect.DeepEqual(set.Lists, []engine.ListInfo{{Name: "blocked"}}) {
		t.Fatalf("GET lists = %d %+v, want the configured list, empty", st, set)
	}

	var e api.ListEntry
	if st := req("PUT", "/api/v1/lists/blocked/+8613900000009", `{"note": "spam, 3 calls a day"}`, &e); st != http.StatusCreated {
		t.Fatalf("PUT = %d %+v, want 201", st, e)
	}
	if e.List != "blocked" || e.Number != "+8613900000009" || e.Note != "spam, 3 calls a day" || e.Added.IsZero() {
		t.Fatalf("PUT answered %+v", e)
	}
	if !lists.Contains("blocked", "+8613900000009") {
		t.Fatal("the number is not on the engine's list")
	}
	// Again, with another note: replaced, 200; a body is optional.
	if st := req("PUT", "/api/v1/lists/blocked/+8613900000009", `{"note": "still spam"}`, &e); st != http.StatusOK || e.Note != "still spam" {
		t.Fatalf("second PUT = %d %+v, want 200 with the new note", st, e)
	}
	if st := req("PUT", "/api/v1/lists/vip/200%20300", "", &e); st != http.StatusCreated || e.Number != "200300" {
		t.Fatalf("PUT without a body = %d %+v, want 201 and the number normalised", st, e)
	}

	var l api.List
	if st := req("GET", "/api/v1/lists/blocked", "", &l); st != http.StatusOK || len(l.Entries) != 1 || l.Entries[0].Note != "still spam" {
		t.Fatalf("GET list = %d %+v", st, l)
	}
	if st := req("GET", "/api/v1/lists", "", &set); st != http.StatusOK ||
		!reflect.DeepEqual(set.Lists, []engine.ListInfo{{Name: "blocked", Count: 1}, {Name: "vip", Count: 1}}) {
		t.Fatalf("GET lists = %d %+v", st, set)
	}

	if st := req("DELETE", "/api/v1/lists/blocked/+8613900000009", "", &e); st != http.StatusOK || !e.Deleted {
		t.Fatalf("DELETE = %d %+v, want 200, deleted", st, e)
	}
	if lists.Contains("blocked", "+8613900000009") {
		t.Fatal("the number is still on the engine's list")
	}
	var apiErr api.Error
	if st := req("DELETE", "/api/v1/lists/blocked/+8613900000009", "", &apiErr); st != http.StatusNotFound {
		t.Fatalf("second DELETE = %d %+v, want 404", st, apiErr)
	}
	if st := req("GET", "/api/v1/lists/nosuch", "", &apiErr); st != http.StatusNotFound {
		t.Fatalf("GET of an unknown list = %d %+v, want 404", st, apiErr)
	}
}

func TestListEndpointsNameTheBadField(t *testing.T) {
	_, req := listServer(t)
	for _, tc := range []struct {
		method, path, body, field string
	}{
		{"GET", "/api/v1/lists/bad%20name", "", "name"},
		{"PUT", "/api/v1/lists/bad%20name/123", "", "name"},
		{"DELETE", "/api/v1/lists/bad%20name/123", "", "name"},
		{"PUT", "/api/v1/lists/vip/12%2F34", "", "number"},
		{"PUT", "/api/v1/lists/vip/1+2", "", "number"},
		{"PUT", "/api/v1/lists/vip/123", `{"note": 5}`, "note"},
		{"PUT", "/api/v1/lists/vip/123", `{"notes": "x"}`, "notes"},
		{"PUT", "/api/v1/lists/vip/123", `[1]`, ""},
	} {
		var e api.Error
		st := req(tc.method, tc.path, tc.body, &e)
		if st != http.StatusBadRequest || e.Field != tc.field {
			t.Errorf("%s %s %s = %d %+v, want 400 naming %q", tc.method, tc.path, tc.body, st, e, tc.field)
		}
	}
}

func TestListEndpointsWithoutLists(t *testing.T) {
	srv := newServer(t, newFake(), nil)
	var e api.Error
	if st := do(t, srv, "GET", "/api/v1/lists", "", &e); st != http.StatusNotImplemented {
		t.Fatalf("GET lists without lists = %d %+v, want 501", st, e)
	}
	if st := doAuth(t, srv, "PUT", "/api/v1/lists/blocked/1", "", "", &e); st != http.StatusUnauthorized {
		t.Fatalf("PUT without a token = %d, want 401", st)
	}
}
