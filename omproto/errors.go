package omproto

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test for them with errors.Is.
var (
	// ErrUnauthorized is the OM's 401: the source address is not allowed and
	// the signature, if any, did not pass.
	ErrUnauthorized = errors.New("omproto: unauthorized")
	// ErrNotFound is a comment-only answer naming an object the OM does not
	// know ("can't find extension"), also given for ids that are not live.
	ErrNotFound = errors.New("omproto: object not found")
	// ErrEmptyWaitingList is the comment-only answer "Empty Waiting List":
	// nobody is waiting in the menu or group named.
	ErrEmptyWaitingList = errors.New("omproto: empty waiting list")
	// ErrEmpty is returned by decoders for a body with no element at all.
	ErrEmpty = errors.New("omproto: empty body")
	// ErrBadSignature is a signature that does not match the secret.
	ErrBadSignature = errors.New("omproto: bad signature")
	// ErrStaleSignature is a signature whose timestamp is outside the
	// validity window.
	ErrStaleSignature = errors.New("omproto: stale signature")
	// ErrMissingSignature is an unsigned document where one is required.
	ErrMissingSignature = errors.New("omproto: missing signature")
)

// FAILED codes the OM sends when a call cannot be placed (omapi.md §4).
const (
	CodeFailed            = 1
	CodeCallerRestricted  = 2
	CodeCalledOffline     = 3
	CodeCalledTalking     = 4
	CodeNoFreeTrunk       = 5
	CodeCalledBusy        = 6
	CodeNoSuchExtension   = 7
	CodeCallingExtOffline = 8
)

var codeText = map[int]string{
	CodeFailed:            "failed",
	CodeCallerRestricted:  "caller's call restriction",
	CodeCalledOffline:     "called extension offline",
	CodeCalledTalking:     "called extension talking",
	CodeNoFreeTrunk:       "no free trunk",
	CodeCalledBusy:        "called extension busy",
	CodeNoSuchExtension:   "no such extension",
	CodeCallingExtOffline: "calling extension offline",
}

// CodeText returns the meaning of a FAILED code, or "" for an unknown one.
func CodeText(code int) string { return codeText[code] }

// Error is a command the OM refused with a FAILED answer.
type Error struct {
	Code   int    // FAILED code, 0 when the device gave none
	Reason string // the device's reason text, if any
}

func (e *Error) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = CodeText(e.Code)
	}
	if reason == "" {
		return fmt.Sprintf("om: failed (code %d)", e.Code)
	}
	return fmt.Sprintf("om: failed (code %d): %s", e.Code, reason)
}

// SyntaxError is a body that is not well-formed XML.
type SyntaxError struct {
	Offset int64 // byte offset where decoding stopped
	Err    error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("omproto: malformed XML at byte %d: %v", e.Offset, e.Err)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// DecodeError is a well-formed document that cannot be read as what was
// expected: a missing root, or a field whose value has the wrong form.
type DecodeError struct {
	Field string // the element or attribute at fault, e.g. "Cdr/Duration"
	Msg   string
}

func (e *DecodeError) Error() string {
	if e.Field == "" {
		return "omproto: " + e.Msg
	}
	return fmt.Sprintf("omproto: %s: %s", e.Field, e.Msg)
}
