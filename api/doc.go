// Package api is ivrd's admin HTTP API: operators and their systems place
// and schedule outbound calls, follow and cancel jobs, list live calls and
// history, search every call record the devices sent (JSON or CSV) and
// the call recordings fetched from them (recordings.go), see
// each device's extensions, place and follow click-to-calls (an
// extension rings, then calls a number or another extension; through
// Options.Clicks), move a live call into a flow, look at the
// flows and reload them, and read the flows' ivr.store. It speaks JSON on its own listener, behind
// a bearer token.
//
// The same listener serves the operator console at / (the files in
// console/, embedded): a browser signs in once with the token and then
// works with a session cookie, a CSRF token and a same-origin check
// (session.go), and reads and does nothing a script could not, through
// the same endpoints — live calls arrive as server-sent events
// (stream.go).
//
// The package reaches the engine only through Backend, which cmd/ivrd
// implements over the running daemon and tests implement with fakes. It
// also delivers the job webhooks (Webhooks) and offers a Go client of the
// API (Client), which "ivrd call" uses.
package api
