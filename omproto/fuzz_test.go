package omproto_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ivrd/ivrd/omproto"
)

// addSeeds gives a fuzz target every golden document as a seed, so that the
// targets run over them in the normal suite too.
func addSeeds(f *testing.F) {
	f.Helper()
	for _, pattern := range []string{"testdata/*/*.xml", "testdata/encoded/*/*.xml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			f.Add(readTestdata(f, file))
		}
	}
}

// checkTypedError fails unless err is one a decoder documents.
func checkTypedError(t *testing.T, err error) {
	t.Helper()
	var se *omproto.SyntaxError
	var de *omproto.DecodeError
	if !errors.As(err, &se) && !errors.As(err, &de) && !errors.Is(err, omproto.ErrEmpty) {
		t.Fatalf("untyped error %T: %v", err, err)
	}
}

// wellFormed reports whether encoding/xml reads b to the end.
func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := d.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

func FuzzDecodeReport(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := omproto.DecodeReport(body)
		if err != nil {
			checkTypedError(t, err)
			return
		}
		enc := r.Encode()
		if err := wellFormed(enc); err != nil {
			t.Fatalf("re-encoded report is not well-formed: %v\n%q", err, enc)
		}
		again, err := omproto.DecodeReport(enc)
		if err != nil {
			t.Fatalf("re-encoded report does not decode: %v\n%q", err, enc)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("re-encoded report decodes differently\n got %s\nwant %s\nbody %q\nencoded %q", dumpJSON(again), dumpJSON(r), body, enc)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := omproto.DecodeResponse(body)
		if err != nil {
			checkTypedError(t, err)
			return
		}
		_ = r.Err()
		_ = r.VoiceFiles()
		enc := encodeResponse(r)
		if err := wellFormed(enc); err != nil {
			t.Fatalf("re-encoded response is not well-formed: %v\n%q", err, enc)
		}
		again, err := omproto.DecodeResponse(enc)
		if err != nil {
			t.Fatalf("re-encoded response does not decode: %v\n%q", err, enc)
		}
		want := exportedResponse(r)
		// A comment cannot hold "--" (EncodeComment breaks such runs up),
		// so those comments come back changed; their meaning (Err) must not.
		if bytes.Contains([]byte(r.Comment), []byte("--")) {
			if !errors.Is(again.Err(), r.Err()) {
				t.Fatalf("comment %q re-encoded changes Err() from %v to %v", r.Comment, r.Err(), again.Err())
			}
			want.Comment = again.Comment
		}
		if got := exportedResponse(again); !reflect.DeepEqual(got, want) {
			t.Fatalf("re-encoded response decodes differently\n got %s\nwant %s\nbody %q\nencoded %q", dumpJSON(got), dumpJSON(want), body, enc)
		}
	})
}

func FuzzDecodeCommand(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		cmd, auth, err := omproto.DecodeCommand(body)
		if err != nil {
			checkTypedError(t, err)
			return
		}
		_, _ = cmd.Root(), cmd.Verb()
		enc := omproto.EncodeCommand(cmd, auth)
		if err := wellFormed(enc); err != nil {
			t.Fatalf("re-encoded command is not well-formed: %v\n%q", err, enc)
		}
		again, againAuth, err := omproto.DecodeCommand(enc)
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v\n%q", err, enc)
		}
		if !reflect.DeepEqual(again, cmd) || !reflect.DeepEqual(againAuth, auth) {
			t.Fatalf("re-encoded command decodes differently\n got %#v %+v\nwant %#v %+v\nbody %q\nencoded %q", again, againAuth, cmd, auth, body, enc)
		}
	})
}
