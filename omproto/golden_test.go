package omproto_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/omproto"
)

// updateGolden rewrites the golden files from what the code produces now:
// go test ./omproto -run Golden -update. Review the diff by eye before
// committing it; a golden is only worth something once checked against
// omapi.md.
var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// decodeGolden is what the .json sibling of a testdata document holds: the
// decoded value, or the error decoding gave.
type decodeGolden struct {
	// Type is the Go type of a decoded command.
	Type string `json:",omitempty"`
	// Value is the decoded *Report, *Response or Command.
	Value any `json:",omitempty"`
	// Auth is the signature DecodeCommand returned beside the command.
	Auth *omproto.Auth `json:",omitempty"`
	// ResponseErr is Response.Err() of a decoded response.
	ResponseErr string `json:",omitempty"`
	// VoiceFiles is Response.VoiceFiles() of a decoded response.
	VoiceFiles []string `json:",omitempty"`
	// Error is the decoding error, as "type: message".
	Error string `json:",omitempty"`
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf("%T: %v", err, err)
}

func goldenReport(body []byte) decodeGolden {
	r, err := omproto.DecodeReport(body)
	if err != nil {
		return decodeGolden{Error: errString(err)}
	}
	return decodeGolden{Value: r}
}

func goldenResponse(body []byte) decodeGolden {
	r, err := omproto.DecodeResponse(body)
	if err != nil {
		return decodeGolden{Error: errString(err)}
	}
	return decodeGolden{Value: r, ResponseErr: errString(r.Err()), VoiceFiles: r.VoiceFiles()}
}

func goldenCommand(body []byte) decodeGolden {
	c, auth, err := omproto.DecodeCommand(body)
	if err != nil {
		return decodeGolden{Error: errString(err), Auth: auth}
	}
	return decodeGolden{Type: fmt.Sprintf("%T", c), Value: c, Auth: auth}
}

// testdataFiles lists the .xml documents of a testdata folder.
func testdataFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no documents in testdata/%s", dir)
	}
	return files
}

func readTestdata(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGolden compares got with the golden file, or rewrites the file
// under -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it, then review it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the code produces:\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first differing line of want and got, with context.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n want: %q\n  got: %q", i+1, w, g)
		}
	}
	return "(equal line by line; line endings differ)"
}

func marshalGolden(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func runDecodeGolden(t *testing.T, dir string, decode func([]byte) decodeGolden) {
	for _, file := range testdataFiles(t, dir) {
		name := strings.TrimSuffix(filepath.Base(file), ".xml")
		t.Run(name, func(t *testing.T) {
			body := readTestdata(t, file)
			got := marshalGolden(t, decode(body))
			checkGolden(t, strings.TrimSuffix(file, ".xml")+".json", got)
		})
	}
}

func TestGoldenReports(t *testing.T)   { runDecodeGolden(t, "reports", goldenReport) }
func TestGoldenResponses(t *testing.T) { runDecodeGolden(t, "responses", goldenResponse) }
func TestGoldenCommands(t *testing.T)  { runDecodeGolden(t, "commands", goldenCommand) }

// TestGoldenFilesHaveDocuments catches a .json golden left behind when its
// document was renamed or removed.
func TestGoldenFilesHaveDocuments(t *testing.T) {
	for _, dir := range []string{"reports", "responses", "commands"} {
		jsons, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jsons {
			if _, err := os.Stat(strings.TrimSuffix(j, ".json") + ".xml"); err != nil {
				t.Errorf("%s has no document beside it", j)
			}
		}
	}
}

// encodeResponse writes a decoded response back the way the OM (or the
// simulator) would.
func encodeResponse(r *omproto.Response) []byte {
	switch {
	case r.DeviceInfo != nil:
		return r.DeviceInfo.Encode()
	case r.Status != nil:
		return r.Status.Encode()
	case r.Event != nil:
		return r.Event.Encode()
	case r.Other != nil:
		return (&omproto.Report{Other: r.Other}).Encode()
	case r.Comment != "":
		return omproto.EncodeComment(r.Comment)
	}
	return nil
}

// exported copies a Response without its unexported state, so two decodes
// compare by what they expose.
func exportedResponse(r *omproto.Response) omproto.Response {
	return omproto.Response{DeviceInfo: r.DeviceInfo, Status: r.Status, Event: r.Event, Comment: r.Comment, Other: r.Other}
}

// TestGoldenReencode checks that what a golden document decodes to survives
// being encoded and decoded again.
func TestGoldenReencode(t *testing.T) {
	t.Run("reports", func(t *testing.T) {
		for _, file := range testdataFiles(t, "reports") {
			r, err := omproto.DecodeReport(readTestdata(t, file))
			if err != nil {
				continue
			}
			t.Run(filepath.Base(file), func(t *testing.T) {
				enc := r.Encode()
				got, err := omproto.DecodeReport(enc)
				if err != nil {
					t.Fatalf("decode of re-encoded report: %v\n%s", err, enc)
				}
				if !reflect.DeepEqual(got, r) {
					t.Errorf("re-encoded report decodes differently\n got: %s\nwant: %s\nencoded: %s", dumpJSON(got), dumpJSON(r), enc)
				}
			})
		}
	})
	t.Run("responses", func(t *testing.T) {
		for _, file := range testdataFiles(t, "responses") {
			r, err := omproto.DecodeResponse(readTestdata(t, file))
			if err != nil {
				continue
			}
			t.Run(filepath.Base(file), func(t *testing.T) {
				enc := encodeResponse(r)
				got, err := omproto.DecodeResponse(enc)
				if err != nil {
					t.Fatalf("decode of re-encoded response: %v\n%s", err, enc)
				}
				if g, w := exportedResponse(got), exportedResponse(r); !reflect.DeepEqual(g, w) {
					t.Errorf("re-encoded response decodes differently\n got: %s\nwant: %s\nencoded: %s", dumpJSON(g), dumpJSON(w), enc)
				}
				if g, w := errString(got.Err()), errString(r.Err()); g != w {
					t.Errorf("Err() after re-encoding = %s, want %s", g, w)
				}
				if g, w := got.VoiceFiles(), r.VoiceFiles(); !reflect.DeepEqual(g, w) {
					t.Errorf("VoiceFiles() after re-encoding = %q, want %q", g, w)
				}
			})
		}
	})
	t.Run("commands", func(t *testing.T) {
		for _, file := range testdataFiles(t, "commands") {
			c, auth, err := omproto.DecodeCommand(readTestdata(t, file))
			if err != nil {
				continue
			}
			t.Run(filepath.Base(file), func(t *testing.T) {
				enc := omproto.EncodeCommand(c, auth)
				got, gotAuth, err := omproto.DecodeCommand(enc)
				if err != nil {
					t.Fatalf("decode of re-encoded command: %v\n%s", err, enc)
				}
				if !reflect.DeepEqual(got, c) {
					t.Errorf("re-encoded command decodes differently\n got: %s\nwant: %s\nencoded: %s", dumpJSON(got), dumpJSON(c), enc)
				}
				if !reflect.DeepEqual(gotAuth, auth) {
					t.Errorf("re-encoded auth = %+v, want %+v", gotAuth, auth)
				}
			})
		}
	})
}

// dump renders a value for a failure message.
func dumpJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// isErr reports whether err matches want: the same sentinel (errors.Is) or
// the same type (errors.As into a pointer of want's type).
func codecErrorIs(err, want error) bool {
	if err == nil || want == nil {
		return err == want
	}
	if errors.Is(err, want) {
		return true
	}
	target := reflect.New(reflect.TypeOf(want))
	return errors.As(err, target.Interface())
}
