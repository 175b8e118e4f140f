package engine

import (
	"testing"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
)

// Only the current prompt's end or keys disarm its max_prompt guard: a
// late report of an earlier prompt must not, or a lost end of this one
// would leave the call waiting for ever.
func TestHeardClearsOnlyTheCurrentPromptsGuard(t *testing.T) {
	start := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	s := &Session{r: &Router{clk: clock.NewVirtual(start)}, curMenu: 42}
	s.promptSince = start
	for _, ev := range []Event{
		{Kind: EvEndOfAnn, Menu: "41"}, // the previous prompt's end, late
		{Kind: EvDTMF, Menu: "41", Digits: "5"},
		{Kind: EvDTMF, Menu: "42", Digits: "T"}, // "no input", not a key
		{Kind: EvAnswered},
	} {
		s.heard(&ev)
		if s.promptSince.IsZero() {
			t.Fatalf("%s (menu %s, %q) cleared the guard of the prompt on menu 42", ev.Kind, ev.Menu, ev.Digits)
		}
	}
	s.heard(&Event{Kind: EvEndOfAnn, Menu: "42"})
	if !s.promptSince.IsZero() {
		t.Fatal("the current prompt's end did not clear its guard")
	}
	s.promptSince = start
	s.heard(&Event{Kind: EvDTMF, Menu: "42", Digits: "1"})
	if !s.promptSince.IsZero() {
		t.Fatal("a key on the current prompt did not clear its guard")
	}
}
