package omproto_test

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/ivrd/ivrd/omproto"
)

// TestSignature checks the formula against omapi.md §1's test vector.
func TestSignature(t *testing.T) {
	if got, want := omproto.Signature("123456", "55BB5523", "1543150543"), "5807b047e203d03d7d9ee290791dc8db"; got != want {
		t.Errorf("Signature = %s, want %s", got, want)
	}
	a := omproto.Sign("123456", "55BB5523", time.Unix(1543150543, 999e6))
	want := omproto.Auth{Timestamp: "1543150543", Nonce: "55BB5523", Signature: "5807b047e203d03d7d9ee290791dc8db"}
	if *a != want {
		t.Errorf("Sign = %+v, want %+v (timestamp in whole seconds)", *a, want)
	}
}

// signedWith returns a correctly signed Auth carrying any timestamp text.
func signedWith(secret, timestamp string) *omproto.Auth {
	return &omproto.Auth{Timestamp: timestamp, Nonce: "1", Signature: omproto.Signature(secret, "1", timestamp)}
}

func TestVerify(t *testing.T) {
	at := time.Unix(1543150543, 0)
	good := omproto.Auth{Timestamp: "1543150543", Nonce: "55BB5523", Signature: "5807b047e203d03d7d9ee290791dc8db"}
	upper := good
	upper.Signature = "5807B047E203D03D7D9EE290791DC8DB"
	tests := []struct {
		name   string
		auth   *omproto.Auth
		secret string
		now    time.Time
		window time.Duration
		want   error
	}{
		{"good", &good, "123456", at, time.Minute, nil},
		{"uppercase hex", &upper, "123456", at, time.Minute, nil},
		{"skew inside window", &good, "123456", at.Add(59 * time.Second), time.Minute, nil},
		{"clock behind", &good, "123456", at.Add(-59 * time.Second), time.Minute, nil},
		{"stale", &good, "123456", at.Add(61 * time.Second), time.Minute, omproto.ErrStaleSignature},
		{"from the future", &good, "123456", at.Add(-61 * time.Second), time.Minute, omproto.ErrStaleSignature},
		{"no window", &good, "123456", at.Add(1000 * time.Hour), 0, nil},
		{"wrong secret", &good, "654321", at, time.Minute, omproto.ErrBadSignature},
		{"tampered nonce", &omproto.Auth{Timestamp: good.Timestamp, Nonce: "55BB5524", Signature: good.Signature}, "123456", at, time.Minute, omproto.ErrBadSignature},
		{"missing", nil, "123456", at, time.Minute, omproto.ErrMissingSignature},
		{"empty", &omproto.Auth{}, "123456", at, time.Minute, omproto.ErrBadSignature},
		{"milliseconds timestamp", signedWith("123456", "1543150543000"), "123456", at, time.Minute, omproto.ErrStaleSignature},
		{"largest timestamp", signedWith("123456", "9223372036854775807"), "123456", at, time.Minute, omproto.ErrStaleSignature},
		{"smallest timestamp", signedWith("123456", "-9223372036854775808"), "123456", at, time.Minute, omproto.ErrStaleSignature},
		{"zero timestamp", signedWith("123456", "0"), "123456", at, time.Minute, omproto.ErrStaleSignature},
		{"timestamp not a number", signedWith("123456", "soon"), "123456", at, time.Minute, omproto.ErrStaleSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.auth.Verify(tc.secret, tc.now, tc.window)
			if tc.want == nil {
				if err != nil {
					t.Errorf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNewNonce(t *testing.T) {
	re := regexp.MustCompile(`^[0-9A-F]{8}$`)
	seen := map[string]bool{}
	for range 100 {
		n := omproto.NewNonce()
		if !re.MatchString(n) {
			t.Fatalf("NewNonce() = %q, want 8 uppercase hex digits", n)
		}
		seen[n] = true
	}
	if len(seen) < 95 {
		t.Errorf("100 nonces gave only %d distinct values", len(seen))
	}
}
