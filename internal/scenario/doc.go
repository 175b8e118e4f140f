// Package scenario runs flow scenario tests: scripted callers and callees
// on the OM simulator, ivrd's engine running the flows, the two talking
// over loopback HTTP, all on a virtual clock — so minutes of calls run in
// milliseconds and every run is the same.
//
// A suite is a folder with flows (*.lua, or a flows/ subfolder) and
// scenario files (*.scenario.toml, or scenarios/*.toml). Each scenario file
// holds one or more [[scenario]] tables; settings at the top of the file
// (flow, [device], [sim], [outbound], [store]) apply to every scenario in
// it, and a scenario may override them. A scenario says who calls and
// what they press and when, which outbound jobs are asked for and how the
// callees answer, and what must come of it: the prompts each party heard,
// the keys ivrd took, where the call went, its outcome, the flow's
// ivr.store and the jobs' attempts. The format is described in full in
// examples/README.md.
//
// Each scenario runs on its own simulator, engine and state file (bbolt in
// a temporary folder), as "ivrd serve" wires them: omsim.Sim →
// omproto.Receiver → engine.Router → omproto.Client → omsim.Sim. The runner
// moves the virtual clock from one timer to the next, and after each
// moment has settled, lets the scripted parties act.
//
// "ivrd test" is the command-line front; Go tests call Load and
// Suite.Run or Suite.RunScenario.
package scenario
