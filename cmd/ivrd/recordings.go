package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/ompbx"
	"github.com/ivrd/ivrd/omproto"
)

// Defaults of [recordings].
const (
	// DefaultRecordingsDir is the folder's name beside the state file.
	DefaultRecordingsDir     = "recordings"
	DefaultRecordingsMaxAge  = "2160h" // 90 days
	DefaultRecordingsBackoff = "30s"
	DefaultRecordingsMaxWait = "30m"
	DefaultRecordingsGiveUp  = "72h"
	DefaultRecordingsMaxSize = "64MiB"
)

// RecordingsConfig is [recordings]: where the recordings that call
// records name are kept once fetched from the device
// (http://<device>/mcc/Recorder/<path>, with the device's web_user and
// web_password), for how long, and how failed fetches are retried.
type RecordingsConfig struct {
	// Dir is the folder (default "recordings" beside the state file); a
	// device's files are under Dir/<device>/<the device's path>.
	Dir string `toml:"dir"`
	// MaxAge removes the recordings (file and record) of calls that
	// ended longer ago (default DefaultRecordingsMaxAge); "0s" keeps them.
	MaxAge string `toml:"max_age"`
	// FirstBackoff is the wait after a first failed fetch, doubled after
	// each further failure up to MaxBackoff; GiveUp fails a recording
	// still not fetched that long after its record arrived (defaults
	// "30s", "30m", "72h"). A refused web account or a file over MaxSize
	// fails at once. A device's BOOTUP, and its answering again after it
	// did not, make its pending fetches due at once.
	FirstBackoff string `toml:"first_backoff"`
	MaxBackoff   string `toml:"max_backoff"`
	GiveUp       string `toml:"give_up"`
	// MaxSize bounds one file (default DefaultRecordingsMaxSize; an hour
	// of G.711 is about 29 MB).
	MaxSize Size `toml:"max_size"`
	// MaxTotal bounds the files together: past it the oldest go, at start
	// and hourly (default and "0": no bound). At least MaxSize.
	MaxTotal Size `toml:"max_total"`
}

// options returns [recordings] for engine.OpenRecordings; state is the
// state file, beside which the folder goes by default.
func (rc RecordingsConfig) options(state string) (engine.RecordingOptions, error) {
	var opt engine.RecordingOptions
	opt.Dir = rc.Dir
	if opt.Dir == "" {
		opt.Dir = filepath.Join(filepath.Dir(state), DefaultRecordingsDir)
	}
	age := rc.MaxAge
	if age == "" {
		age = DefaultRecordingsMaxAge
	}
	d, err := time.ParseDuration(age)
	if err != nil || d < 0 {
		return opt, fmt.Errorf("recordings.max_age: %q is not a duration like \"2160h\" (\"0s\" keeps recordings whatever their age)", rc.MaxAge)
	}
	opt.MaxAge = d
	for _, f := range []struct {
		name, v, def string
		dst          *time.Duration
	}{
		{"first_backoff", rc.FirstBackoff, DefaultRecordingsBackoff, &opt.FirstBackoff},
		{"max_backoff", rc.MaxBackoff, DefaultRecordingsMaxWait, &opt.MaxBackoff},
		{"give_up", rc.GiveUp, DefaultRecordingsGiveUp, &opt.GiveUp},
	} {
		v := f.v
		if v == "" {
			v = f.def
		}
		if *f.dst, err = parseDurationField("recordings."+f.name, v); err != nil {
			return opt, err
		}
	}
	if opt.MaxBackoff < opt.FirstBackoff {
		return opt, fmt.Errorf("recordings.max_backoff: %s is shorter than first_backoff %s", opt.MaxBackoff, opt.FirstBackoff)
	}
	size := rc.MaxSize
	if size == "" {
		size = DefaultRecordingsMaxSize
	}
	n, err := size.Bytes()
	if err != nil || n == 0 || n > 1<<40 {
		return opt, fmt.Errorf("recordings.max_size: %q is not a size like \"64MiB\" (more than 0)", string(rc.MaxSize))
	}
	opt.MaxSize = int64(n)
	if rc.MaxTotal != "" {
		t, err := rc.MaxTotal.Bytes()
		if err != nil || t > 1<<60 {
			return opt, fmt.Errorf("recordings.max_total: %q is not a size like \"20GiB\" (\"0\": no bound)", string(rc.MaxTotal))
		}
		if t > 0 && t < n {
			return opt, fmt.Errorf("recordings.max_total: %s is less than max_size %s: no recording could be kept", rc.MaxTotal, size)
		}
		opt.MaxTotal = int64(t)
	}
	return opt, nil
}

// recordingSource fetches from the devices' web servers: one
// omproto.Recorder per device with a web account.
type recordingSource map[string]deviceRecorder

type deviceRecorder struct {
	*omproto.Recorder
	user string // the web account's, for messages (never the password)
}

func newRecordingSource(devices []DeviceConfig) recordingSource {
	src := recordingSource{}
	for _, d := range devices {
		if d.WebUser == "" {
			continue
		}
		src[d.Name] = deviceRecorder{&omproto.Recorder{BaseURL: d.URL, Auth: omproto.BasicAuth{User: d.WebUser, Password: d.WebPassword}}, d.WebUser}
	}
	return src
}

// FetchRecording maps omproto's errors to the engine's: a refused account
// or a file over the limit is not retried.
func (src recordingSource) FetchRecording(ctx context.Context, device, path string, w io.Writer, max int64) (int64, error) {
	rec, ok := src[device]
	if !ok {
		return 0, fmt.Errorf("%w (set web_user and web_password in the [[device]] named %s)", engine.ErrNoWebAccount, device)
	}
	n, err := rec.Fetch(ctx, path, w, max)
	switch {
	case errors.Is(err, omproto.ErrUnauthorized):
		return n, fmt.Errorf("%w: device %s refused the web account %q (HTTP 401): check web_user and web_password", engine.ErrFetchRefused, device, rec.user)
	case errors.Is(err, omproto.ErrTooLarge):
		return n, fmt.Errorf("%w: %v (recordings.max_size)", engine.ErrFetchRefused, err)
	case errors.Is(err, omproto.ErrNoRecording):
		return n, fmt.Errorf("device %s does not serve %s (HTTP 404; not written yet, or deleted)", device, path)
	case err != nil:
		return n, fmt.Errorf("device %s: %w", device, err)
	}
	return n, nil
}

// recordingDeliverer tells the recordings of each BOOTUP before handing
// the report on: the device is back, its pending fetches are due.
type recordingDeliverer struct {
	recs *engine.Recordings
	to   ompbx.Deliverer
}

func (d recordingDeliverer) Deliver(ev engine.Event) {
	if ev.Kind == engine.EvBootup {
		d.recs.DeviceUp(ev.Device)
	}
	d.to.Deliver(ev)
}
