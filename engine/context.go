package engine

import "context"

// What the engine puts in the context of the commands it sends, for the
// PBX implementation and whoever traces the commands on the wire.

type secretKey struct{}

// WithSecret marks a command's context as carrying a secret (a prompt chain
// built from a value the flow passed to ivr.secret): whoever traces the
// command must show it redacted.
func WithSecret(ctx context.Context) context.Context {
	return context.WithValue(ctx, secretKey{}, true)
}

// IsSecret reports whether ctx was marked by WithSecret.
func IsSecret(ctx context.Context) bool {
	v, _ := ctx.Value(secretKey{}).(bool)
	return v
}

type callIDKey struct{}

// WithCallID marks a context as that of the call with ivrd's call id id:
// every command a session sends carries it (and so does the dial that
// places an outbound call), so that the trace of the command names the
// call as the session's own log lines do (call_id).
func WithCallID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, callIDKey{}, id)
}

// CallID returns the call id WithCallID put in ctx, or "" for a command
// that belongs to no call (menu assignments, queries of the whole device).
func CallID(ctx context.Context) string {
	id, _ := ctx.Value(callIDKey{}).(string)
	return id
}
