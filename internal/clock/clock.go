// Package clock is the time source shared by the OM simulator, the engine
// and the tests: real time in production, virtual time in tests.
//
// A virtual clock moves only when a test advances it. Components register the
// work they start (a report in flight, a command being answered) with Work, so
// that a test can wait until everything has settled before it looks at the
// result or moves time on, instead of sleeping.
package clock

import (
	"context"
	"time"
)

// Clock is what time-dependent code asks for the time and for timers.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed. On a
	// virtual clock the call counts as work in flight until f returns.
	AfterFunc(d time.Duration, f func()) Timer
	// Sleep waits for d or until ctx is done, and reports whether the full
	// duration passed.
	Sleep(ctx context.Context, d time.Duration) bool
	// Work marks the start of work that a test must see finished before it
	// treats the system as settled; the returned func marks its end. It is
	// free on the real clock.
	Work() (done func())
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop cancels the call and reports whether it was still pending.
	Stop() bool
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Sleep waits for d or until ctx is done.
func (Real) Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Work does nothing on the real clock.
func (Real) Work() func() { return func() {} }
