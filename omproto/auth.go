package omproto

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Auth is the OM API's digital signature (omapi.md §1): MD5 of the shared
// secret, the nonce and the timestamp in Unix seconds, as lowercase hex.
// Commands carry it before the command element, reports after the event.
type Auth struct {
	Timestamp string // Unix seconds, as sent
	Nonce     string
	Signature string
}

// Signature computes the signature for a secret, nonce and timestamp.
func Signature(secret, nonce, timestamp string) string {
	sum := md5.Sum([]byte(secret + nonce + timestamp))
	return hex.EncodeToString(sum[:])
}

// Sign returns an Auth for secret at time now with the given nonce.
func Sign(secret, nonce string, now time.Time) *Auth {
	ts := strconv.FormatInt(now.Unix(), 10)
	return &Auth{Timestamp: ts, Nonce: nonce, Signature: Signature(secret, nonce, ts)}
}

// NewNonce returns a random nonce of eight uppercase hex digits, the form
// the OM uses in its reports.
func NewNonce() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// Verify checks a signature against secret and that its timestamp lies
// within window of now (either side, to allow for clock skew). A zero
// window skips the freshness check.
func (a *Auth) Verify(secret string, now time.Time, window time.Duration) error {
	if a == nil {
		return ErrMissingSignature
	}
	want := Signature(secret, a.Nonce, a.Timestamp)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(a.Signature))) != 1 {
		return ErrBadSignature
	}
	if window <= 0 {
		return nil
	}
	sec, err := strconv.ParseInt(a.Timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrStaleSignature, a.Timestamp)
	}
	// Compare instants rather than a difference: now.Sub saturates for a
	// timestamp centuries away (milliseconds sent as seconds), and the
	// negated minimum Duration is still negative, so such a timestamp would
	// have passed as fresh.
	ts := time.Unix(sec, 0)
	if ts.Before(now.Add(-window)) || ts.After(now.Add(window)) {
		return fmt.Errorf("%w: timestamp %s is more than %s away from now", ErrStaleSignature, a.Timestamp, window)
	}
	return nil
}

func decodeAuth(el *Element) Auth {
	return Auth{
		Timestamp: el.childText("timestamp"),
		Nonce:     el.childText("nonce"),
		Signature: el.childText("signature"),
	}
}

// writeCommandAuth writes the element names the OM expects before a command.
func writeCommandAuth(w *writer, a *Auth) {
	w.open("Auth")
	w.text("Timestamp", a.Timestamp)
	w.text("nonce", a.Nonce)
	w.text("Signature", a.Signature)
	w.close("Auth")
	w.b.WriteByte('\n')
}

// writeReportAuth writes the lowercase element names the OM uses after a
// report.
func writeReportAuth(w *writer, a *Auth) {
	w.b.WriteByte('\n')
	w.open("Auth")
	w.text("nonce", a.Nonce)
	w.text("timestamp", a.Timestamp)
	w.text("signature", a.Signature)
	w.close("Auth")
}
