package engine_test

import (
	"context"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// Paths as an OM writes them pass; anything that could leave the
// device's folder, or that no OM writes, is refused.
func TestCheckRecordingPath(t *testing.T) {
	for _, p := range []string{
		"20170309/200_212_20170309_175042_805A_cg.wav",
		"200_212.wav",
		"2017/03/09/+8613800000001_60001.wav",
	} {
		if err := engine.CheckRecordingPath(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	for _, p := range []string{
		"", "/etc/passwd", "../x.wav", "a/../../x.wav", "a/..", "..", ".", "./x.wav", "a//b.wav", "a/b/",
		".hidden.wav", "a/.b.wav", `a\b.wav`, "a b.wav", "a\x00b.wav", "a\nb.wav", "a%2fb.wav", "日本.wav",
		"a/b/c/d/e/f/g/h/i.wav", string(make([]byte, 300)),
	} {
		if err := engine.CheckRecordingPath(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

// hangingSource is a device's web server as RecordingSource: the device
// named hung never answers (until the fetch's context ends); the others
// serve a few bytes.
type hangingSource struct {
	hung    string
	entered chan struct{} // closed when the hung device is first asked
	once    sync.Once
}

func (h *hangingSource) FetchRecording(ctx context.Context, device, path string, w io.Writer, max int64) (int64, error) {
	if device == h.hung {
		h.once.Do(func() { close(h.entered) })
		<-ctx.Done()
		return 0, ctx.Err()
	}
	n, err := w.Write([]byte("RIFF-of-" + path))
	return int64(n), err
}

// A device that hangs holds up only its own recordings: another device's,
// queued after it, is fetched while the hung fetch still waits.
func TestRecordingsOfOneDeviceDoNotWaitForAnother(t *testing.T) {
	store, err := engine.OpenBolt(filepath.Join(t.TempDir(), "ivrd.db"), engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	end := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for i, device := range []string{"hung", "fine"} { // the hung device's first in the queue
		if _, err := store.KeepCdr(engine.Cdr{Device: device, Ended: end.Add(time.Duration(i) * time.Minute),
			CdrRecord: engine.CdrRecord{ID: device + "-1", CPN: "200", CDPN: "202", Duration: 5, Recording: "20261125/" + device + ".wav"}}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	src := &hangingSource{hung: "hung", entered: make(chan struct{})}
	m, err := engine.OpenRecordings(store, engine.RecordingOptions{Dir: t.TempDir(), Source: src, FetchTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close() // ends the hung fetch
	<-src.entered
	deadline := time.Now().Add(10 * time.Second) // a hang detector: the fetch takes a moment
	for {
		page, err := m.SearchRecordings(engine.RecordingQuery{State: engine.RecordingFetched})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Recordings) == 1 && page.Recordings[0].Device == "fine" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fine device's recording waits for the hung device's fetch: %+v", page.Recordings)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
