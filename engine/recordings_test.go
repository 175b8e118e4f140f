package engine_test

import (
	"testing"

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
