package engine

// Extension states as the router tracks them (ExtState, ExtStates).
const (
	ExtIdle    = "idle"
	ExtBusy    = "busy"
	ExtRinging = "ringing"
	ExtOffline = "offline"
)

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
// tracked ones, and returns those it changed. An extension reported on
// after mark is left alone: its report is newer than the answer.
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
		out = append(out, ExtCorrection{Ext: ext, Was: was, Now: st})
	}
	return out
}
