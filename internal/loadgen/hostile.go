package loadgen

import (
	"fmt"
	"sort"
	"strings"
)

// HostileFlow is a flow of flows/ that misbehaves in a way the sandbox
// stops; a system routes the calls from From (a glob pattern) to it.
type HostileFlow struct {
	Name string // the flow, flows/<Name>.lua
	From string // the callers routed to it
}

// HostileFlows are the flows Options.Hostile sends calls to, in turn. Each
// should end with the call handed to the device's fallback, FallbackExt.
var HostileFlows = []HostileFlow{
	{"hostile_loop", "1370*"},      // an endless loop: the instruction budget
	{"hostile_recursion", "1371*"}, // endless recursion: the call stack limit
	{"hostile_memory", "1372*"},    // a table grown without end: the instruction budget or the heap watchdog
	{"hostile_strings", "1373*"},   // a string doubled with string.rep: the string cap
	{"hostile_vars", "1374*"},      // call.vars stuffed past their cap: the vars cap
}

// FallbackExt is the extension every simulated device answers on that the
// system is to hand calls whose flow failed to (Device.Fallback). No flow
// of the workloads transfers there.
const FallbackExt = "3000"

// hostileCaller is the number of the nth hostile call, routed to flow k
// of HostileFlows: 137, k, and n on seven digits.
func hostileCaller(k, n int) string { return fmt.Sprintf("137%d%07d", k, n) }

// isHostile says whether the nth call placed (from 0) goes to a hostile
// flow when perHundred calls in a hundred do: exactly perHundred of any
// hundred consecutive calls, spread evenly.
func isHostile(n, perHundred int) bool {
	return (n+1)*perHundred/100 > n*perHundred/100
}

// HostileResult is what became of the calls routed to hostile flows.
type HostileResult struct {
	// Placed calls went to a hostile flow; Fallback of them were
	// transferred to the fallback extension, which is how each should
	// end, and FallbackBusy found it busy with another and were hung up,
	// as the system should do then (the fallback is one extension).
	Placed, Fallback, FallbackBusy int
	// Outcomes counts the calls the system ended because their flow
	// failed or was stopped, by outcome ("fallback", or "failed" when the
	// fallback refused the call too), and Stops the steps its sandbox
	// stopped, by reason; both nil when the system does not say (see
	// Faulted).
	Outcomes, Stops map[string]int
	// Latency is from a report of a hostile call read by the system to
	// the device receiving the next command for it (the fallback transfer
	// among them).
	Latency Percentiles
	// Errors counts hostile calls that ended otherwise, by kind.
	Errors map[string]int
}

// ErrorCount is the sum of Errors.
func (h HostileResult) ErrorCount() int { return sumCounts(h.Errors) }

// ErrorSummary lists the errors by kind, "kind n, …", or "" for none.
func (h HostileResult) ErrorSummary() string { return summarize(h.Errors) }

// StopSummary lists the sandbox's stops by reason, "reason n, …".
func (h HostileResult) StopSummary() string { return summarize(h.Stops) }

// OutcomeSummary lists the system's flow failures by outcome.
func (h HostileResult) OutcomeSummary() string { return summarize(h.Outcomes) }

// Faulted is a System that says what became of the flows it ran: ivrd
// does; the ceiling runs no flow.
type Faulted interface {
	// Faults returns, since Open, the calls ended because their flow
	// failed or was stopped, by outcome, and the Lua steps the sandbox
	// stopped, by reason.
	Faults() (outcomes, stops map[string]int)
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

func summarize(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(out, ", ")
}
