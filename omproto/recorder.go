package omproto

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// RecorderPath is where a device's web server serves the recordings its
// call records name: BaseURL + RecorderPath + Cdr.Recording.
const RecorderPath = "/mcc/Recorder/"

// Errors of Recorder.Fetch besides ErrUnauthorized (the web account was
// refused: HTTP 401 or 403).
var (
	// ErrNoRecording is a recording the device does not serve (404): not
	// written yet, or gone.
	ErrNoRecording = errors.New("omproto: no such recording")
	// ErrTooLarge is a recording longer than the limit given to Fetch.
	ErrTooLarge = errors.New("omproto: recording larger than the limit")
)

// WebAuth signs a request to the device's web server with its web
// account. omapi.md says "HTTP authentication" without the scheme;
// BasicAuth is what ivrd assumes, and another scheme is another WebAuth.
type WebAuth interface {
	Authorize(r *http.Request)
}

// BasicAuth is a web account sent with HTTP Basic authentication.
type BasicAuth struct{ User, Password string }

// Authorize sets the Authorization header.
func (a BasicAuth) Authorize(r *http.Request) { r.SetBasicAuth(a.User, a.Password) }

// String hides the password, so a BasicAuth printed in a log shows none.
func (a BasicAuth) String() string { return "basic " + a.User + ":[secret]" }

// Recorder fetches recordings from one device's web server.
type Recorder struct {
	// BaseURL is the device's web server, http://host[:port] (the same as
	// Client's).
	BaseURL string
	// Auth is the web account; nil sends none.
	Auth WebAuth
	// HTTP is the client used (default http.DefaultClient). The context
	// given to Fetch bounds a fetch.
	HTTP *http.Client
}

// Fetch copies the recording at path (as a Cdr names it) to w and returns
// its size. A file longer than max bytes (0: no limit) stops the copy
// with ErrTooLarge; w then holds a part of it.
func (r *Recorder) Fetch(ctx context.Context, path string, w io.Writer, max int64) (int64, error) {
	u := strings.TrimSuffix(r.BaseURL, "/") + RecorderPath + escapePath(path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fmt.Errorf("omproto: recording %s: %w", path, err)
	}
	if r.Auth != nil {
		r.Auth.Authorize(req)
	}
	hc := r.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return 0, fmt.Errorf("the web account was refused (HTTP %d): %w", resp.StatusCode, ErrUnauthorized)
	case resp.StatusCode == http.StatusNotFound:
		return 0, ErrNoRecording
	case resp.StatusCode != http.StatusOK:
		return 0, &StatusError{StatusCode: resp.StatusCode, Status: resp.Status}
	}
	if max > 0 && resp.ContentLength > max {
		return 0, fmt.Errorf("%d bytes announced, limit %d: %w", resp.ContentLength, max, ErrTooLarge)
	}
	src := io.Reader(resp.Body)
	if max > 0 {
		src = io.LimitReader(resp.Body, max+1)
	}
	n, err := io.Copy(w, src)
	if err != nil {
		return n, err
	}
	if max > 0 && n > max {
		return n, fmt.Errorf("more than %d bytes: %w", max, ErrTooLarge)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("omproto: recording %s: %d of %d bytes: %w", path, n, resp.ContentLength, io.ErrUnexpectedEOF)
	}
	return n, nil
}

// escapePath escapes each segment of a slash-separated path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
