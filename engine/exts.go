package engine

import "strings"

// Extension states as the router tracks them (ExtState, ExtStates).
const (
	ExtIdle    = "idle"
	ExtBusy    = "busy"
	ExtRinging = "ringing"
	ExtOffline = "offline"
)

// ExtWord reads the word a device uses for an extension's state in a
// Query answer: ready (or idle) is ExtIdle, active (or busy: in a call or
// ringing) ExtBusy, offline (or unwired, the word for a line without a
// phone) ExtOffline. known is false for any other word.
func ExtWord(word string) (state string, known bool) {
	switch strings.ToLower(word) {
	case "ready", "idle":
		return ExtIdle, true
	case "active", "busy":
		return ExtBusy, true
	case "offline", "unwired":
		return ExtOffline, true
	}
	return "", false
}

// ExtCorrection is an extension whose tracked state a device query found
// wrong: a report was lost.
type ExtCorrection struct {
	Ext string
	Was string // "unknown" when no report had come
	Now string
}

// ExtMark returns a mark of the extension reports delivered so far, to be
// taken before a query of a device's extensions and handed to CorrectExts
// with its answer.
func (r *Router) ExtMark() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.extGen
}

// CorrectExts sets the states a query of the device found (by extension:
// ExtIdle, ExtBusy, ExtRinging or ExtOffline) where they differ from the
// tracked ones, publishes each change as an ext.state event with source
// "query", and returns the changes. An extension reported on after mark
// is left alone: its report is newer than the answer.
func (r *Router) CorrectExts(device string, mark uint64, states map[string]string) []ExtCorrection {
	r.mu.Lock()
	defer r.mu.Unlock()
	tracked := r.exts[device]
	if tracked == nil {
		return nil
	}
	var out []ExtCorrection
	for ext, st := range states {
		if r.extSeen[device][ext] > mark {
			continue
		}
		was, ok := tracked[ext]
		if ok && was == st {
			continue
		}
		if !ok {
			was = "unknown"
		}
		tracked[ext] = st
		r.publishExtState(device, ext, was, st, "query")
		out = append(out, ExtCorrection{Ext: ext, Was: was, Now: st})
	}
	return out
}
