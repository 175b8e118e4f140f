package engine

import (
	"context"
	"strings"
	"time"

	"github.com/yuin/gopher-lua/pm"
)

// gatherOpts are call:gather's options, defaults applied.
type gatherOpts struct {
	prompt        []string
	min, max      int
	timeout       time.Duration // to the first key after the prompt ends
	digitTimeout  time.Duration // between keys
	terminator    byte          // 0 for none
	tries         int
	valid         string // Lua pattern, unanchored as given
	invalidPrompt []string
	noinputPrompt []string
	flush         bool
}

// How one gather attempt ended.
const (
	attemptInput   = "input"   // max keys, or digit timeout after keys
	attemptTerm    = "term"    // the terminator
	attemptNoInput = "noinput" // the no-input timer
	attemptHangup  = "hangup"
)

// gather runs call:gather: attempts until valid input or tries run out.
// It returns the input, or "" and a reason: timeout, invalid or hangup.
func (s *Session) gather(ctx context.Context, o gatherOpts) (string, string, error) {
	if o.flush {
		s.keys = nil
	}
	for attempt := 1; attempt <= o.tries; attempt++ {
		input, how, err := s.attempt(ctx, o)
		if err != nil {
			return "", "", err
		}
		if how == attemptHangup {
			return "", "hangup", nil
		}
		reason := ""
		switch {
		case how == attemptNoInput:
			reason = "timeout"
		case len(input) < o.min:
			reason = "invalid"
		case input == "" && o.min == 0:
			// An empty answer is allowed.
		case o.valid != "" && !matchWhole(o.valid, input):
			reason = "invalid"
		}
		if reason == "" {
			return input, "", nil
		}
		s.addPath(map[string]string{"timeout": "noinput", "invalid": "invalid"}[reason], input)
		if attempt == o.tries {
			return "", reason, nil
		}
		retry := o.invalidPrompt
		if reason == "timeout" {
			retry = o.noinputPrompt
		}
		if len(retry) > 0 {
			res, err := s.play(ctx, retry)
			if err != nil {
				return "", "", err
			}
			if res == "hangup" {
				return "", "hangup", nil
			}
		}
	}
	return "", "timeout", nil
}

// matchWhole reports whether the Lua pattern matches all of s.
func matchWhole(pattern, s string) bool {
	m, err := pm.Find(anchor(pattern), []byte(s), 0, 1)
	return err == nil && len(m) > 0
}

// anchor wraps a Lua pattern in ^…$, once.
func anchor(p string) string {
	p = strings.TrimPrefix(p, "^")
	if strings.HasSuffix(p, "$") && !strings.HasSuffix(p, "%$") {
		p = strings.TrimSuffix(p, "$")
	}
	return "^" + p + "$"
}

// attempt is one try of a gather: type-ahead, then the prompt, then the
// timers. The no-input timer starts when the prompt ends; the inter-digit
// timer restarts on every key; a key during the prompt stops it (the device
// does) and counts as input.
func (s *Session) attempt(ctx context.Context, o gatherOpts) (string, string, error) {
	var buf []byte
	// take adds one key; it reports whether the input is complete.
	take := func(k byte) (string, bool) {
		if o.terminator != 0 && k == o.terminator {
			return attemptTerm, true
		}
		buf = append(buf, k)
		if len(buf) >= o.max {
			return attemptInput, true
		}
		return "", false
	}
	// Keys typed ahead come first; if they complete the input, no prompt.
	for len(s.keys) > 0 {
		k := s.keys[0]
		s.keys = s.keys[1:]
		if how, done := take(k); done {
			return string(buf), how, nil
		}
	}

	files := o.prompt
	silence := 0
	var covered time.Duration
	if s.Device.Wait == WaitSilence {
		// The wait is played as silence after the prompt, so the device
		// keeps collecting keys; EndOfAnn then means the time is up.
		silence = int((o.timeout + s.Device.SilenceLength - 1) / s.Device.SilenceLength)
		if silence > maxChain {
			silence = maxChain
		}
		if silence < 1 {
			silence = 1
		}
		covered = time.Duration(silence) * s.Device.SilenceLength
		files = append(append([]string(nil), files...), repeatFile(s.Device.SilenceFile, silence)...)
	}
	pending := chains(files)
	playing := false
	startChain := func() error {
		chain := pending[0]
		pending = pending[1:]
		menu, err := s.nextMenu(ctx)
		if err != nil {
			return err
		}
		cctx, cancel := s.cmdCtx(ctx)
		defer cancel()
		if err := s.Device.PBX.Play(cctx, s.Leg, menu, chain); err != nil {
			return err
		}
		playing = true
		s.setState("gathering: playing " + s.redact(chain))
		return nil
	}

	var t timer
	defer t.cancel()
	kind := ""
	arm := func() {
		t.cancel()
		if len(buf) > 0 {
			t, kind = s.after(o.digitTimeout), "digit"
		} else {
			t, kind = s.after(o.timeout), "noinput"
		}
		s.setState("gathering: waiting for keys")
	}
	if len(pending) > 0 {
		if err := startChain(); err != nil {
			return "", "", err
		}
	} else {
		arm()
	}
	for {
		it, ok := s.next(ctx)
		if !ok {
			return "", "", ctx.Err()
		}
		if s.isBye(it) {
			return "", attemptHangup, nil
		}
		if it.ev == nil {
			if it.timer != t.id || t.id == 0 {
				continue // a timer cancelled after it fired
			}
			t = timer{}
			if kind == "noinput" {
				return "", attemptNoInput, nil
			}
			return string(buf), attemptInput, nil
		}
		stale := s.stale(it.ev)
		switch it.ev.Kind {
		case EvEndOfAnn:
			if !playing || stale {
				continue
			}
			playing = false
			if len(pending) > 0 {
				if err := startChain(); err != nil {
					return "", "", err
				}
				continue
			}
			s.addPath("prompt", strings.Join(o.prompt, "+"))
			if s.Device.Wait == WaitSilence && len(buf) == 0 {
				if left := o.timeout - covered; left > 0 {
					t, kind = s.after(left), "noinput"
					continue
				}
				return "", attemptNoInput, nil
			}
			arm()
		case EvDTMF:
			digits := it.ev.Digits
			if digits == "T" {
				continue // omapi.md assumption 4: no input
			}
			s.addPath("keys", digits)
			if playing && !stale {
				// The key stopped the prompt; what was left of the
				// chains is not played.
				playing = false
				pending = nil
			}
			for i := 0; i < len(digits); i++ {
				if how, done := take(digits[i]); done {
					s.keys = append(s.keys, digits[i+1:]...)
					return string(buf), how, nil
				}
			}
			arm()
		}
	}
}

func repeatFile(f string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f
	}
	return out
}
