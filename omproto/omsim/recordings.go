package omsim

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// RecorderPrefix is where the device's web server serves the recordings
// its call records name (omapi.md §1).
const RecorderPrefix = "/mcc/Recorder/"

// Recordings are 8 kHz µ-law (the Cdr's RecCodec PCMU): one byte per
// sample. maxRecording bounds one, so a long simulated call does not fill
// the memory.
const (
	recordingRate = 8000
	maxRecording  = time.Hour
)

// recorded reports whether any of the extensions records its calls; s.mu
// is held.
func (s *Sim) recorded(exts ...*ext) bool {
	for _, x := range exts {
		if x == nil {
			continue
		}
		for _, r := range s.cfg.Record {
			if r == x.id {
				return true
			}
		}
	}
	return false
}

// record makes the recording of an answered call of dur seconds that
// began at answered, and returns its path as a Cdr names it
// (20170309/200_212_20170309_175042_805A_cg.wav); s.mu is held.
func (s *Sim) record(cpn, cdpn string, answered time.Time, dur int) string {
	s.recSeq++
	day := answered.Format("20060102")
	path := fmt.Sprintf("%s/%s_%s_%s_%s_%04X_cg.wav", day, safeName(cpn), safeName(cdpn), day,
		answered.Format("150405"), s.recSeq&0xFFFF)
	data := wavTone(min(time.Duration(dur)*time.Second, maxRecording), s.recSeq)
	if s.cfg.RecordDir != "" {
		if err := writeRecording(s.cfg.RecordDir, path, data); err != nil {
			s.log("recording %s not kept: %v", path, err)
		}
	} else {
		s.recs[path] = data
	}
	s.log("call recorded: %s (%d bytes)", path, len(data))
	return path
}

// safeName keeps a number fit for a file name.
func safeName(n string) string {
	return strings.Map(func(r rune) rune {
		if (r >= '0' && r <= '9') || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || r == '+' {
			return r
		}
		return '-'
	}, n)
}

func writeRecording(dir, path string, data []byte) error {
	full := filepath.Join(dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	return os.WriteFile(full, data, 0o644)
}

// Recording returns a recording's file as the device serves it.
func (s *Sim) Recording(path string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recording(path)
}

func (s *Sim) recording(path string) ([]byte, bool) {
	if s.cfg.RecordDir == "" {
		data, ok := s.recs[path]
		return data, ok
	}
	if !fs.ValidPath(path) {
		return nil, false
	}
	data, err := fs.ReadFile(os.DirFS(s.cfg.RecordDir), path)
	return data, err == nil
}

// Recordings lists the paths of the recordings the device holds.
func (s *Sim) Recordings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if s.cfg.RecordDir == "" {
		for p := range s.recs {
			out = append(out, p)
		}
	} else {
		_ = fs.WalkDir(os.DirFS(s.cfg.RecordDir), ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	sort.Strings(out)
	return out
}

// serveRecording answers GET /mcc/Recorder/<path> for the web account,
// over Basic authentication (omapi.md names no scheme).
func (s *Sim) serveRecording(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, RecorderPrefix)
	faults := s.Faults()
	s.mu.Lock()
	user, pass := s.cfg.WebUser, s.cfg.WebPassword
	s.mu.Unlock()
	u, p, ok := r.BasicAuth()
	if !ok || faults.RecordingsUnauthorized ||
		subtle.ConstantTimeCompare([]byte(u), []byte(user))&subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
		s.logLocked("recording %s refused to %s: unauthorized", path, r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Basic realm="OM"`)
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	data, found := s.Recording(path)
	if !found || faults.RecordingsMissing {
		s.logLocked("recording %s asked for by %s: not found", path, r.RemoteAddr)
		http.NotFound(w, r)
		return
	}
	s.logLocked("recording %s served to %s (%d bytes)", path, r.RemoteAddr, len(data))
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

// wavTone is a WAV file of d of µ-law audio (format 7, 8 kHz, mono): a
// quiet tone whose pitch depends on seq, so two recordings differ.
func wavTone(d time.Duration, seq int) []byte {
	n := int(d / (time.Second / recordingRate))
	const header = 12 + 8 + 18 + 8 + 4 + 8
	b := make([]byte, header, header+n+1)
	copy(b[0:], "RIFF")
	copy(b[8:], "WAVE")
	copy(b[12:], "fmt ")
	le := binary.LittleEndian
	le.PutUint32(b[16:], 18)
	le.PutUint16(b[20:], 7) // WAVE_FORMAT_MULAW
	le.PutUint16(b[22:], 1)
	le.PutUint32(b[24:], recordingRate)
	le.PutUint32(b[28:], recordingRate)
	le.PutUint16(b[32:], 1)
	le.PutUint16(b[34:], 8)
	le.PutUint16(b[36:], 0)
	copy(b[38:], "fact")
	le.PutUint32(b[42:], 4)
	le.PutUint32(b[46:], uint32(n))
	copy(b[50:], "data")
	le.PutUint32(b[54:], uint32(n))
	freq := 300 + float64(seq%8)*50
	for i := 0; i < n; i++ {
		v := 4000 * math.Sin(2*math.Pi*freq*float64(i)/recordingRate)
		b = append(b, mulaw(int16(v)))
	}
	if n%2 == 1 {
		b = append(b, 0) // chunks are padded to an even length
	}
	le.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// mulaw encodes a linear sample as G.711 µ-law.
func mulaw(v int16) byte {
	const bias, clip = 0x84, 32635
	x := int(v)
	sign := 0
	if x < 0 {
		x, sign = -x, 0x80
	}
	if x > clip {
		x = clip
	}
	x += bias
	exp := 7
	for mask := 0x4000; x&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (x >> (exp + 3)) & 0x0F
	return ^byte(sign | exp<<4 | mant)
}
