package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Why a Lua step was stopped.
const (
	stopNone         int32 = iota
	stopInstructions       // the step or the call ran out of instructions
	stopWallClock          // the step ran past its wall-clock bound
	stopHeap               // the heap watchdog stopped it
	stopCancel             // the session's context ended (shutdown)
)

var stopText = map[int32]string{
	stopInstructions: "the flow ran out of its instruction budget",
	stopWallClock:    "a step ran past its time bound",
	stopHeap:         "the process heap passed its limit",
	stopCancel:       "ivrd is shutting down",
}

// checkEvery is how many instructions pass between the cheaper checks
// (the parent context, the wall clock).
const checkEvery = 1024

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// budget is the context a Lua step runs under. gopher-lua calls Done before
// every VM instruction, so counting those calls bounds the work a flow can
// do in instructions — the same on an idle machine and a loaded one, unlike
// a wall-clock deadline. A wall-clock bound stays as a backstop, and the
// heap watchdog can stop a step from another goroutine.
type budget struct {
	parent   context.Context
	left     int64 // instructions left; touched only by the Lua goroutine
	used     int64
	deadline time.Time
	stopped  atomic.Int32
}

func newBudget(parent context.Context, instructions int64, wall time.Duration) *budget {
	return &budget{parent: parent, left: instructions, deadline: time.Now().Add(wall)}
}

// Done is called by the VM before each instruction.
func (b *budget) Done() <-chan struct{} {
	if b.stopped.Load() != stopNone {
		return closedChan
	}
	b.left--
	b.used++
	if b.left < 0 {
		b.stop(stopInstructions)
		return closedChan
	}
	if b.used%checkEvery == 0 {
		select {
		case <-b.parent.Done():
			b.stop(stopCancel)
			return closedChan
		default:
		}
		if time.Now().After(b.deadline) {
			b.stop(stopWallClock)
			return closedChan
		}
	}
	return nil
}

// stop ends the step for a reason; the first reason wins.
func (b *budget) stop(reason int32) { b.stopped.CompareAndSwap(stopNone, reason) }

// reason returns why the step was stopped, or stopNone.
func (b *budget) reason() int32 { return b.stopped.Load() }

var errStepStopped = errors.New("flow stopped")

func (b *budget) Err() error {
	if b.stopped.Load() != stopNone {
		return errStepStopped
	}
	return nil
}

func (b *budget) Deadline() (time.Time, bool) { return b.deadline, true }
func (b *budget) Value(key any) any           { return b.parent.Value(key) }
