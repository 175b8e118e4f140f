// Package omsim is a simulated New Rock OM device: a real HTTP peer that
// answers OM API commands on POST /xml and pushes reports to a URL, with the
// device model omapi.md describes (extensions, a trunk, groups and queues,
// voice menus 1–50, incoming and outgoing calls, call records).
//
// The command side keeps the OM's habits: one request per connection,
// fixed-length bodies only, the answer shapes of omapi.md §4, the address
// allow-list and signatures. The reports a command causes are pushed after
// its answer is written, so a TRANSIENT answer precedes the ALERT of the
// leg it names. Reports go out one at a time, in the order made, as GET
// with a body or as POST, signed when a report secret is set.
//
// Outside parties are scripted from Go (PlaceCall, Call.Press, Call.HangUp,
// SetNumberPolicy, SetExtPolicy …) or over the JSON control API under /sim/
// (ControlHandler). Faults switch on slow, failing or garbled answers and
// dropped, duplicated or reordered reports.
//
// Time comes from internal/clock: real time for `ivrd sim`, virtual time in
// tests, where voice files, ring times and timeouts pass only when the test
// advances the clock, and Settle waits until every command, timer and report
// in flight has finished, so that every report made so far has been
// delivered (but one a reorder fault holds back).
package omsim
