package engine

import (
	"context"
	"errors"
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

// errHungUp is a command that failed because the caller had hung up.
var errHungUp = errors.New("the caller hung up")

// How one gather attempt ended.
const (
	attemptInput   = "input"   // max keys, or digit timeout after keys
	attemptTerm    = "term"    // the terminator
	attemptNoInput = "noinput" // the no-input timer
	attemptHangup  = "hangup"
)

// attemptArgs identify a gather attempt in the journal.
type attemptArgs struct {
	Prompt       []string `json:"prompt,omitempty"`
	Attempt      int      `json:"attempt"`
	Min          int      `json:"min"`
	Max          int      `json:"max"`
	Timeout      float64  `json:"timeout"`
	DigitTimeout float64  `json:"digit_timeout"`
	Terminator   string   `json:"terminator,omitempty"`
	Valid        string   `json:"valid,omitempty"`
}

// attemptResult is how an attempt ended: the input, or why there is none
// (timeout, invalid, hangup, failed).
type attemptResult struct {
	Input  string `json:"input,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// gather runs call:gather: attempts until valid input or tries run out.
// It returns the input, or "" and a reason: timeout, invalid, hangup or
// failed. Each attempt, and each retry prompt, is one journaled step, so a
// recovered call restarts the attempt it was in with the tries it had used.
func (s *Session) gather(ctx context.Context, o gatherOpts) (string, string, error) {
	if o.flush {
		s.keys = nil
	}
	args := attemptArgs{Prompt: o.prompt, Min: o.min, Max: o.max, Timeout: o.timeout.Seconds(),
		DigitTimeout: o.digitTimeout.Seconds(), Valid: o.valid}
	if o.terminator != 0 {
		args.Terminator = string(o.terminator)
	}
	for attempt := 1; attempt <= o.tries; attempt++ {
		args.Attempt = attempt
		res, err := journaled(s, "gather", args, func() (attemptResult, error) {
			return s.evaluated(ctx, o)
		})
		if err != nil {
			return "", "", err
		}
		if res.Reason == "" {
			return res.Input, "", nil
		}
		if res.Reason == "hangup" || res.Reason == "failed" || attempt == o.tries {
			return "", res.Reason, nil
		}
		retry := o.invalidPrompt
		if res.Reason == "timeout" {
			retry = o.noinputPrompt
		}
		if len(retry) > 0 {
			played, err := s.play(ctx, retry)
			if err != nil {
				return "", "", err
			}
			if played == "hangup" || played == "failed" {
				return "", played, nil
			}
		}
	}
	return "", "timeout", nil
}

// evaluated runs one attempt and judges its input.
func (s *Session) evaluated(ctx context.Context, o gatherOpts) (attemptResult, error) {
	input, how, err := s.attempt(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			return attemptResult{}, err
		}
		s.log.Warn("gather failed", "error", err)
		return attemptResult{Reason: "failed"}, nil
	}
	switch {
	case how == attemptHangup:
		return attemptResult{Reason: "hangup"}, nil
	case how == attemptNoInput:
		s.addPath("noinput", "")
		return attemptResult{Reason: "timeout"}, nil
	case input == "" && o.min == 0:
		// An empty answer is allowed.
	case len(input) < o.min || (o.valid != "" && !matchWhole(o.valid, input)):
		s.addPath("invalid", input)
		return attemptResult{Reason: "invalid"}, nil
	}
	return attemptResult{Input: input}, nil
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
	if s.poll() {
		return "", attemptHangup, nil
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
		// Enough silence to cover the whole timeout, over as many chains
		// as that takes.
		silence = int((o.timeout + s.Device.SilenceLength - 1) / s.Device.SilenceLength)
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
			if s.gone(err) {
				return errHungUp
			}
			return err
		}
		playing = true
		s.promptStarted()
		s.setState(ActivityPlaying, s.redact(chain))
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
		s.setState(ActivityWaitingKeys, "")
	}
	if len(pending) > 0 {
		if err := startChain(); errors.Is(err, errHungUp) {
			return "", attemptHangup, nil
		} else if err != nil {
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
		if playing && it.ev != nil && it.ev.Kind == EvBye {
			s.addPath("prompt_hangup", strings.Join(o.prompt, "+")) // before isBye's hang-up
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
				if err := startChain(); errors.Is(err, errHungUp) {
					return "", attemptHangup, nil
				} else if err != nil {
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
			if playing && !stale {
				s.addPath("prompt_interrupted", strings.Join(o.prompt, "+"))
				// The key stopped the prompt; what was left of the
				// chains is not played.
				playing = false
				pending = nil
			}
			s.addPath("keys", digits)
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
