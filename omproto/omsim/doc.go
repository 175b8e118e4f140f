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
//
// Where omapi.md is silent, the simulator decides as follows (each is what
// ivrd assumes of a device until one proves otherwise):
//   - A Connect or Assign naming a voice file the device lacks fails:
//     Connect answers FAILED code 1 "can't find voicefile:X" and the call
//     stays where it was; Assign answers the comment "Error, can't find
//     voicefile:X".
//   - A call parked in a menu after EndOfAnn still reports keys, unless
//     Config.DropKeysAfterEndOfAnn (omapi.md assumption 1).
//   - Outbound numbers: busy answers a pushed FAILED code 6 then BYE;
//     fail a pushed FAILED code 1 then BYE; no answer rings, then BYE after
//     NoAnswerTimeout (30 s); none of them is ANSWERED, and their Cdr has
//     Duration 0. An answered call's Duration is at least 1 s.
//   - RING and ANSWER carry the call leg and the extension; ALERT for a
//     menu's outbound call carries no extension; a callback's Cdr has Type
//     CB.
//   - Click-to-call (Connect from an <ext>): the extension rings first and
//     the outer number (or second extension) only once it answers. An
//     extension with the no_answer policy rings NoAnswerTimeout, then the
//     device gives up: BYE of the outer leg the TRANSIENT named (ext→outer)
//     or a BYE naming both extensions (ext→ext), and a Cdr with Duration 0;
//     so does a caller that hangs up its ringing phone, or that the app
//     clears. A called extension taken while the caller's phone rang is a
//     pushed FAILED (code 4, 6 or 3) naming both extensions, then that BYE.
//   - DeviceInfo lists <ext>, <line> and <group> under <devices>; Manage
//     Query voicefile answers a <Status> of <voicefile> elements.
//   - Visitor and outer ids are the lowest free numbers, so they are reused
//     at once after release.
//   - A query or command naming an object the device does not know, or a
//     leg that is not live, answers the comment "Error, can't find KIND:ID".
//   - Hold and Unhold act on an extension's answered call (with an outside
//     leg or another extension): the caller hears nothing while held, the
//     call's <state> in a Query of the extension (or of the leg) reads
//     "hold", and Unhold gives back "talk". Holding a held call, or
//     unholding one not held, changes nothing and succeeds; an extension
//     in no call answers FAILED code 1.
//   - Monitor, Talk, Listen and Bargein name the supervisor first and the
//     extension whose call it joins second. The supervisor's phone joins at
//     once, without ringing, and must be idle (else FAILED code 1), online
//     (else code 8) and not the extension itself (code 1); the supervised
//     extension must be talking in a call (code 1; code 3 when offline),
//     with no other supervisor (code 1). Monitor and Bargein start a
//     supervision or change its mode; Talk and Listen only change the mode
//     of one running (code 1 without one). The supervisor hears both sides
//     in every mode; Talk lets the agent hear it (the caller does not),
//     Listen goes back to silent, Bargein makes a three-way call. The
//     supervisor's phone is reported BUSY when it joins. When the call ends
//     or leaves the extension, the supervisor is freed: BYE naming the
//     supervisor then the extension, then IDLE for the supervisor. A
//     supervisor that hangs up, or whose extension is cleared (Clear ext),
//     gets the same BYE and IDLE, and the call goes on.
//   - Recordings: the extensions in Config.Record record their answered
//     calls. The Cdr names the file as the OM does
//     (20260309/200_212_20260309_175042_805A_cg.wav: the answer's day,
//     caller, callee, the answer's day and time, a 4-hex sequence, "cg")
//     with RecCodec PCMU, and GET /mcc/Recorder/<path> serves it as a WAV
//     (µ-law, 8 kHz, as long as the call) behind HTTP Basic authentication
//     with the web account (omapi.md says "HTTP authentication" and names
//     no scheme; a device that wants Digest would need the client to
//     learn it). Recordings survive Reboot (and, with RecordDir, the
//     process); while the device is down (RefuseConnections) they cannot
//     be fetched.
//   - HTTP/1.1 requests with a fixed length are answered (as HTTP/1.1, by
//     Go's server; a device answers HTTP/1.0) and the connection is closed.
package omsim
