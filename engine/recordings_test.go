package engine_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
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

// sizedSource serves each recording as the number of bytes its path's
// base name says ("20261125/3-1000.wav": 1000 bytes).
type sizedSource struct{}

func (sizedSource) FetchRecording(_ context.Context, _, p string, w io.Writer, max int64) (int64, error) {
	base := strings.TrimSuffix(path.Base(p), ".wav")
	n, err := strconv.Atoi(base[strings.Index(base, "-")+1:])
	if err != nil {
		return 0, err
	}
	written, err := w.Write(bytes.Repeat([]byte{0x7f}, n))
	return int64(written), err
}

// Retention keeps the fetched files within MaxTotal: the newest whose
// sizes add up to it stay, the older ones go, file and record; a
// recording not fetched holds no bytes and stays.
func TestRecordingsKeptWithinMaxTotal(t *testing.T) {
	store, err := engine.OpenBolt(filepath.Join(t.TempDir(), "ivrd.db"), engine.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	dir := t.TempDir()
	end := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	// Oldest first: 400, 300, 200 and 100 bytes; the newest is refused
	// (a bad path) and never fetched.
	paths := []string{"20261125/1-400.wav", "20261125/2-300.wav", "20261125/3-200.wav", "20261125/4-100.wav", "../5-50.wav"}
	for i, p := range paths {
		if _, err := store.KeepCdr(engine.Cdr{Device: "om1", Ended: end.Add(time.Duration(i) * time.Minute),
			CdrRecord: engine.CdrRecord{ID: strconv.Itoa(i + 1), CPN: "200", CDPN: "202", Recording: p}}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	m, err := engine.OpenRecordings(store, engine.RecordingOptions{Dir: dir, Source: sizedSource{}, MaxTotal: 650})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	waitFor(t, "four fetched recordings and one failed", func() bool {
		fetched, err := m.SearchRecordings(engine.RecordingQuery{State: engine.RecordingFetched})
		failed, err2 := m.SearchRecordings(engine.RecordingQuery{State: engine.RecordingFailed})
		return err == nil && err2 == nil && len(fetched.Recordings) == 4 && len(failed.Recordings) == 1
	})
	m.Prune()
	page, err := m.SearchRecordings(engine.RecordingQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, r := range page.Recordings {
		left = append(left, r.Cdr+":"+r.State)
	}
	// 100 + 200 + 300 = 600 fit in 650; the 400-byte one does not.
	if got := strings.Join(left, " "); got != "5:failed 4:fetched 3:fetched 2:fetched" {
		t.Fatalf("recordings left: %s", got)
	}
	files := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
			if strings.Contains(p, "1-400") {
				t.Errorf("the removed recording's file is still there: %s", p)
			}
		}
		return nil
	})
	if files != 3 {
		t.Fatalf("%d files in the folder, want 3", files)
	}
}
