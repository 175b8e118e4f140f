package omproto_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/omproto"
)

// The recorder asks for the path under /mcc/Recorder/ with the web
// account, copies the file, and maps the web server's refusals.
func TestRecorderFetch(t *testing.T) {
	file := bytes.Repeat([]byte("RIFF"), 100)
	var gotPath, gotUser, gotPass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.EscapedPath()
		gotUser, gotPass, _ = r.BasicAuth()
		switch {
		case strings.HasSuffix(r.URL.Path, "/refused.wav"):
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
		case strings.HasSuffix(r.URL.Path, "/busy.wav"):
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case strings.HasSuffix(r.URL.Path, "/chunked.wav"):
			w.Write(file) // no Content-Length: the limit applies while copying
			w.(http.Flusher).Flush()
			w.Write(file)
		case strings.Contains(r.URL.Path, "/20170309/"):
			w.Write(file)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	rec := &omproto.Recorder{BaseURL: srv.URL + "/", Auth: omproto.BasicAuth{User: "rec", Password: "pw"}}
	ctx := context.Background()

	var b bytes.Buffer
	n, err := rec.Fetch(ctx, "20170309/200_212_20170309_175042_805A_cg.wav", &b, 1<<20)
	if err != nil || n != int64(len(file)) || !bytes.Equal(b.Bytes(), file) {
		t.Fatalf("fetch: %d, %v", n, err)
	}
	if gotPath != "/mcc/Recorder/20170309/200_212_20170309_175042_805A_cg.wav" || gotUser != "rec" || gotPass != "pw" {
		t.Fatalf("asked for %s as %s:%s", gotPath, gotUser, gotPass)
	}
	if _, err := rec.Fetch(ctx, "20170309/a b#?.wav", &b, 0); err != nil || gotPath != "/mcc/Recorder/20170309/a%20b%23%3F.wav" {
		t.Fatalf("escaping: %s, %v", gotPath, err)
	}
	for _, c := range []struct {
		path string
		max  int64
		want error
	}{
		{"x/refused.wav", 0, omproto.ErrUnauthorized},
		{"x/none.wav", 0, omproto.ErrNoRecording},
		{"20170309/big.wav", 100, omproto.ErrTooLarge},
		{"x/chunked.wav", 500, omproto.ErrTooLarge},
	} {
		if _, err := rec.Fetch(ctx, c.path, &bytes.Buffer{}, c.max); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.path, err, c.want)
		}
	}
	var se *omproto.StatusError
	if _, err := rec.Fetch(ctx, "x/busy.wav", &bytes.Buffer{}, 0); !errors.As(err, &se) || se.StatusCode != 503 {
		t.Errorf("busy: %v", err)
	}
	if s := (omproto.BasicAuth{User: "rec", Password: "pw"}).String(); strings.Contains(s, "pw") {
		t.Errorf("BasicAuth prints its password: %s", s)
	}
}
