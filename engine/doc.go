// Package engine runs ivrd's call flows: a Router maps each live call on an
// OM device to a Session, one goroutine with one fresh sandboxed Lua state
// running the flow version current when the call started. Sessions drive
// the device through the small PBX interface defined here; the engine
// knows no OM XML and serves nothing over HTTP (cmd/ivrd wires omproto to
// it).
//
// Blocking flow calls (call:play, call:gather …) wait inside Go for the
// device's reports and the session's timers, on the clock the Router was
// given, so scenario tests run on virtual time.
//
// The call records the devices send are kept in the store; the recordings
// they name are queued there too, and Recordings fetches them through a
// RecordingSource (cmd/ivrd's goes to the device's web server) into a
// folder, retrying with backoff.
//
// Click-to-calls (Router.PlaceClick: an extension rings, then calls a
// number or another extension) never enter a session: the Router follows
// them from the reports for legs no session holds and publishes each step
// as a dial.* event (click.go).
package engine
