package api

import (
	"errors"
	"fmt"
)

// Errors a Backend may return, besides the engine's (engine.ErrNoJob,
// engine.ErrJobOver, engine.ErrNoCall, engine.ErrGone, engine.ErrCursor and
// *engine.FieldError, which the API also maps to statuses).
var (
	// ErrNotAvailable is a feature the running daemon does not offer
	// (501).
	ErrNotAvailable = errors.New("not available in this ivrd")
	// ErrNotFound is a thing the request names that does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict is a request the current state refuses (409).
	ErrConflict = errors.New("conflict")
)

// Error is an error answer of the API, as the server writes it and Client
// returns it: the HTTP status, the message, for a 400 the request field at
// fault ("retry.attempts") and, for a device's refusal, the reason word
// ("busy", "offline" … as call:transfer returns them).
type Error struct {
	Status int    `json:"-"`
	Msg    string `json:"error"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%d)", e.Field, e.Msg, e.Status)
	}
	return fmt.Sprintf("%s (%d)", e.Msg, e.Status)
}
