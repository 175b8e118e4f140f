package api_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/api"
)

// TestWrongTokensLimited: an address that sends MaxAuthFailures wrong
// tokens, by bearer or by the console's sign-in, has every further token
// refused with 429 and Retry-After — the right one too, so the answer tells
// a guesser nothing — until its window ends; requests without a token are
// not counted.
func TestWrongTokensLimited(t *testing.T) {
	var mu sync.Mutex
	clock := now
	srv := newServer(t, newFake(), func(o *api.Options) {
		o.MaxAuthFailures = 3
		o.Now = func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return clock
		}
	})
	for i := 0; i < 5; i++ {
		if got := doAuth(t, srv, "GET", "/api/v1/calls", "", "", nil); got != http.StatusUnauthorized {
			t.Fatalf("no token: %d, want 401", got)
		}
	}
	for i, wrong := range []func() int{
		func() int { return doAuth(t, srv, "GET", "/api/v1/calls", "", "Bearer wrong-token", nil) },
		func() int {
			c, _, _ := browser{}.do(t, srv, "POST", "/api/v1/session", `{"token":"wrong-token"}`)
			return c
		},
		func() int { return doAuth(t, srv, "GET", "/api/v1/flows", "", "Bearer another-wrong-one", nil) },
	} {
		if got := wrong(); got != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i+1, got)
		}
	}
	if got := do(t, srv, "GET", "/api/v1/calls", "", nil); got != http.StatusTooManyRequests {
		t.Fatalf("right token after 3 wrong ones: %d, want 429", got)
	}
	code, h, body := browser{}.do(t, srv, "POST", "/api/v1/session", `{"token":"`+token+`"}`)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") != "60" {
		t.Fatalf("sign-in after 3 wrong tokens: %d Retry-After %q %s", code, h.Get("Retry-After"), body)
	}
	mu.Lock()
	clock = clock.Add(api.AuthFailureWindow)
	mu.Unlock()
	if got := do(t, srv, "GET", "/api/v1/calls", "", nil); got != http.StatusOK {
		t.Fatalf("right token once the window ended: %d, want 200", got)
	}
}
