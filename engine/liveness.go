package engine

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Liveness guards: a report the device sent may be lost on the way (a
// network fault, ivrd's listener restarting), and a session must not wait
// for ever for one. While a session waits, it asks the device about its
// call once it has heard nothing for Device.Reconcile: a call gone (its BYE
// lost) ends for the flow as a hang-up. And a prompt that has not ended
// after Device.MaxPrompt is taken as played (its EndOfAnn lost).

// Liveness defaults.
const (
	DefaultReconcile = 2 * time.Minute
	DefaultMaxPrompt = 10 * time.Minute
)

func (d *Device) reconcile() time.Duration {
	if d.Reconcile > 0 {
		return d.Reconcile
	}
	return DefaultReconcile
}

func (d *Device) maxPrompt() time.Duration {
	if d.MaxPrompt > 0 {
		return d.MaxPrompt
	}
	return DefaultMaxPrompt
}

// livenessTimer is the timer id of the liveness check; session timers
// count up from 1.
const livenessTimer = -1

// heard notes that the device said something about the call.
func (s *Session) heard(ev *Event) {
	s.lastHeard = s.r.clk.Now()
	// Only the current prompt's end or keys end its guard: a late report
	// of an earlier prompt (another menu id) must not.
	if (ev.Kind == EvEndOfAnn || ev.Kind == EvDTMF && ev.Digits != "T") && !s.stale(ev) {
		s.promptSince = time.Time{}
	}
}

// promptStarted notes that a prompt that ends with EndOfAnn has begun.
func (s *Session) promptStarted() {
	now := s.r.clk.Now()
	s.promptSince, s.lastHeard = now, now
	s.stopLiveness() // re-armed, with the prompt's guard, at the next wait
}

// armLiveness makes sure a liveness check is pending while the session
// waits.
func (s *Session) armLiveness() {
	if s.liveTimer != nil {
		return
	}
	if s.lastHeard.IsZero() {
		s.lastHeard = s.r.clk.Now()
	}
	now := s.r.clk.Now()
	wait := s.Device.reconcile() - now.Sub(s.lastHeard)
	if !s.promptSince.IsZero() {
		wait = min(wait, s.Device.maxPrompt()-now.Sub(s.promptSince))
	}
	wait = max(wait, time.Second)
	clk := s.r.clk
	s.liveTimer = clk.AfterFunc(wait, func() {
		s.push(item{timer: livenessTimer, done: clk.Work()})
	})
}

// stopLiveness cancels the pending check.
func (s *Session) stopLiveness() {
	if s.liveTimer != nil {
		s.liveTimer.Stop()
		s.liveTimer = nil
	}
}

// checkLiveness runs when the liveness timer fires. It returns an item
// standing for the report that was lost — a BYE, an EndOfAnn — or false
// when the wait goes on.
func (s *Session) checkLiveness(ctx context.Context) (item, bool) {
	s.liveTimer = nil
	now := s.r.clk.Now()
	if !s.promptSince.IsZero() && now.Sub(s.promptSince) >= s.Device.maxPrompt() {
		s.log.Warn("no end of the prompt from the device; taking it as played", "max_prompt", s.Device.maxPrompt())
		s.promptSince = time.Time{}
		return item{ev: &Event{Device: s.Device.Name, Kind: EvEndOfAnn, Leg: s.Leg, Menu: strconv.Itoa(s.curMenu)}}, true
	}
	if now.Sub(s.lastHeard) < s.Device.reconcile() {
		return item{}, false // heard from since; check again later
	}
	s.lastHeard = now
	cctx, cancel := s.queryCtx(ctx)
	st, err := s.Device.PBX.Query(cctx, s.Leg)
	cancel()
	switch {
	case errors.Is(err, ErrGone),
		err == nil && st.CallID != "" && s.CallID != "" && st.CallID != s.CallID:
		s.log.Info("the device no longer has the call; its hang-up report was lost")
		return item{ev: &Event{Device: s.Device.Name, Kind: EvBye, Leg: s.Leg}}, true
	case err != nil:
		s.log.Warn("cannot ask the device whether the call is still up", "error", err)
	}
	return item{}, false
}
