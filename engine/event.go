package engine

// Event is a device report as the engine sees it, converted from the wire
// by the adapter in internal/ompbx. Fields not carried by a kind are empty.
type Event struct {
	Device string // the device's configured name
	Kind   string // one of the Ev… constants, or the report's own name
	Leg    Leg    // the call leg the report is about, if any
	From   string
	To     string
	CallID string
	Digits string     // DTMF keys
	Menu   string     // the menu of DTMF and EndOfAnn
	Ext    string     // the extension of RING, ANSWER, BUSY, IDLE …
	Trunk  string     // the trunk of INCOMING and INVITE
	Code   int        // FAILED code
	Reason string     // FAILED reason (the device's words)
	Cause  string     // FAILED: the reason word for Code (ReasonBusy …)
	Cdr    *CdrRecord // the call record of EvCdr
	// Wire is the report as it came from the device, set by the adapter
	// only when it is to be traced. The engine never reads it: it writes
	// it at trace level, once per report, through the logger of the call
	// it routes the report to (so the line carries the call's call_id),
	// or its own when the report belongs to no call.
	Wire string
}

// Event kinds.
const (
	EvIncoming     = "incoming"
	EvInvite       = "invite"
	EvDTMF         = "dtmf"
	EvEndOfAnn     = "end_of_ann"
	EvBye          = "bye"
	EvRing         = "ring"
	EvAlert        = "alert"
	EvAnswer       = "answer"
	EvAnswered     = "answered"
	EvBusy         = "busy"
	EvIdle         = "idle"
	EvOnline       = "online"
	EvOffline      = "offline"
	EvBootup       = "bootup"
	EvConfigChange = "config_change"
	EvFailed       = "failed"
	EvTransient    = "transient"
	EvQueue        = "queue"
	EvDivert       = "divert"
	EvCdr          = "cdr"
)

// callEvent reports whether an event kind belongs to a call's session.
func callEvent(kind string) bool {
	switch kind {
	case EvDTMF, EvEndOfAnn, EvBye, EvRing, EvAlert, EvAnswer, EvAnswered, EvFailed, EvQueue, EvDivert:
		return true
	}
	return false
}
