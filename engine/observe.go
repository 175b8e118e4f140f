package engine

import "time"

// Observer is told what the engine does, so that something outside it can
// count: cmd/ivrd turns these calls into Prometheus metrics; the engine
// knows nothing of how they are kept. Set it with Config.Observer; a nil
// Observer costs nothing.
//
// The methods are called on the engine's hot paths (Step after every Lua
// step, Report for every device report), from many goroutines at once.
// They must be safe for concurrent use, return at once and never call back
// into the Router. The string arguments are the engine's own values (flow
// and device names, the constants named below), never a caller's input.
type Observer interface {
	// CallStarted: a session began for a call. flow is the flow it runs
	// ("" when the call has no route or its route's flow is not loaded);
	// direction is "in" or "out" (an outbound call from its dial on, or
	// an outer leg sent to a flow);
	// recovered says the call was started by an earlier process and is
	// resumed from the store.
	CallStarted(flow, direction string, recovered bool)
	// CallEnded: the call left its flow with outcome (an Outcome…
	// constant, or for an outbound call never answered the attempt's
	// Dial… outcome), d after it started. A call left in the store by a
	// stop (Router.Crash) does not end here.
	CallEnded(flow, direction, outcome string, d time.Duration)
	// Report: the router received a report from a configured device. kind
	// is an Ev… constant, or the device's own name for an event the
	// engine does not know.
	Report(device, kind string)
	// Step: one Lua step of flow ran for d of wall clock (the Lua run
	// between two blocking calls, or a whole handler without any).
	Step(flow string, d time.Duration)
	// SandboxStop: the sandbox stopped a step of flow: StopInstructions,
	// StopWallClock or StopHeap. The call then goes to the fallback.
	SandboxStop(flow, reason string)
	// Job: an outbound job was scheduled (JobEventScheduled), will be
	// dialled again after an attempt (JobEventRetried), or ended in a
	// final state (JobDone, JobFailed, JobCancelled, JobDropped).
	Job(event string)
	// Attempt: an outbound attempt ended with outcome (a Dial… constant).
	Attempt(outcome string)
	// ClickEnded: a click-to-call of typ (ClickDial, ClickConnect) ended
	// with outcome (a ClickOutcome… constant), refused ones included.
	ClickEnded(typ, outcome string)
}

// Reasons the sandbox stops a step, as Observer.SandboxStop gives them.
const (
	StopInstructions = "instructions" // the step's or the call's instruction budget ran out
	StopWallClock    = "wall_clock"   // the step ran past its wall-clock bound
	StopHeap         = "heap"         // the heap watchdog stopped it
)

// Job events of Observer.Job that are not job states.
const (
	JobEventScheduled = "scheduled" // a new job was stored
	JobEventRetried   = "retried"   // an attempt ended and another is scheduled
)

// stopReason names a budget stop for the Observer; "" for none and for a
// shutdown, which is no fault of the flow.
func stopReason(r int32) string {
	switch r {
	case stopInstructions:
		return StopInstructions
	case stopWallClock:
		return StopWallClock
	case stopHeap:
		return StopHeap
	}
	return ""
}
