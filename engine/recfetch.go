package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults of RecordingOptions.
const (
	// DefaultRecordingFirstBackoff is the wait after a first failed
	// fetch; each further failure doubles it, up to
	// DefaultRecordingMaxBackoff. A recording still not fetched
	// DefaultRecordingGiveUp after it was queued fails.
	DefaultRecordingFirstBackoff = 30 * time.Second
	DefaultRecordingMaxBackoff   = 30 * time.Minute
	DefaultRecordingGiveUp       = 72 * time.Hour
	// DefaultRecordingMaxSize bounds one file: an hour of G.711 is 28.8
	// MB, so this is more than two hours.
	DefaultRecordingMaxSize = 64 << 20
	// DefaultRecordingFetchTimeout bounds one fetch.
	DefaultRecordingFetchTimeout = 2 * time.Minute
	// recordingPruneEvery is how often retention runs.
	recordingPruneEvery = time.Hour
	// recordingTmpPrefix starts the name of a file being fetched.
	recordingTmpPrefix = ".fetch-"
)

// RecordingSource fetches recordings from the devices: cmd/ivrd's goes to
// http://<device>/mcc/Recorder/<path> with the device's web account.
type RecordingSource interface {
	// FetchRecording copies a device's recording at path to w, at most
	// max bytes, and returns its size. Errors wrapping ErrFetchRefused or
	// ErrNoWebAccount fail the recording at once; others are retried.
	FetchRecording(ctx context.Context, device, path string, w io.Writer, max int64) (int64, error)
}

// RecordingOptions configure Recordings. Zero durations and sizes take the
// defaults named.
type RecordingOptions struct {
	// Dir is the recordings folder; a device's files go under Dir/<device>/
	// at the path the device names. Required.
	Dir string
	// MaxAge removes the recordings (file and record) of calls that
	// ended longer ago (0 keeps them).
	MaxAge time.Duration
	// MaxTotal bounds the fetched files together, in bytes: past it, the
	// oldest recordings go (file and record) at the next retention pass
	// (0: no bound).
	MaxTotal int64
	// FirstBackoff, MaxBackoff and GiveUp are the retry policy
	// (DefaultRecordingFirstBackoff, …MaxBackoff, …GiveUp).
	FirstBackoff, MaxBackoff, GiveUp time.Duration
	// MaxSize bounds one file, in bytes (DefaultRecordingMaxSize).
	MaxSize int64
	// FetchTimeout bounds one fetch (DefaultRecordingFetchTimeout).
	FetchTimeout time.Duration
	Source       RecordingSource
	// Events, when set, is told recording.ready and recording.failed.
	Events *EventLog
	// Observe, when set, is told each attempt's outcome: "fetched",
	// "retry" (failed, will try again) or "failed" (given up).
	Observe func(outcome string)
	Logger  hclog.Logger
	Now     func() time.Time
}

// Recordings fetches the recordings the devices' call records name, one at
// a time per device (devices side by side), from the durable queue in the
// store: a failed fetch is retried
// with backoff, the queue survives restarts, and DeviceUp makes a device's
// pending fetches due at once. Files are written atomically under Dir.
type Recordings struct {
	store *BoltStore
	opt   RecordingOptions
	log   hclog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{}
	// mu serializes the read-change-write of a record; it is held across
	// the store's write.
	mu sync.Mutex
	// upMu guards up apart from mu: DeviceUp runs on a device's report
	// and must not wait for a write to the state file.
	upMu sync.Mutex
	up   map[string]bool
}

// OpenRecordings starts fetching; Close stops it. Files a previous run
// left half-written are removed.
func OpenRecordings(store *BoltStore, opt RecordingOptions) (*Recordings, error) {
	if opt.Dir == "" || opt.Source == nil {
		return nil, errors.New("recordings: a folder and a source are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.FirstBackoff, DefaultRecordingFirstBackoff)
	def(&opt.MaxBackoff, DefaultRecordingMaxBackoff)
	def(&opt.GiveUp, DefaultRecordingGiveUp)
	def(&opt.FetchTimeout, DefaultRecordingFetchTimeout)
	if opt.MaxSize <= 0 {
		opt.MaxSize = DefaultRecordingMaxSize
	}
	if opt.Logger == nil {
		opt.Logger = hclog.NewNullLogger()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if err := os.MkdirAll(opt.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	m := &Recordings{store: store, opt: opt, log: opt.Logger.Named("recordings"),
		wake: make(chan struct{}, 1), done: make(chan struct{}), up: map[string]bool{}}
	m.removeLeftovers()
	m.ctx, m.cancel = context.WithCancel(context.Background())
	go m.run()
	return m, nil
}

// Close stops the fetcher, interrupting a fetch in flight (it stays
// pending for the next start).
func (m *Recordings) Close() {
	m.cancel()
	<-m.done
}

// Wake looks at the queue now: a call record naming a recording was kept
// (engine.Config.CdrKept).
func (m *Recordings) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// DeviceUp makes a device's pending fetches due now: it rebooted (BOOTUP)
// or answers again after it did not. It never blocks.
func (m *Recordings) DeviceUp(device string) {
	m.upMu.Lock()
	m.up[device] = true
	m.upMu.Unlock()
	m.log.Debug("device up: its pending recordings are due now", "device", device)
	m.Wake()
}

// Recording returns a recording's record (ErrNoRecording).
func (m *Recordings) Recording(id string) (Recording, error) { return m.store.Recording(id) }

// SearchRecordings returns the recordings q selects, newest first.
func (m *Recordings) SearchRecordings(q RecordingQuery) (RecordingPage, error) {
	return m.store.SearchRecordings(q)
}

// Open opens a fetched recording's file (ErrNoRecording,
// ErrRecordingNotFetched).
func (m *Recordings) Open(id string) (*os.File, Recording, error) {
	r, err := m.store.Recording(id)
	if err != nil {
		return nil, r, err
	}
	if r.State != RecordingFetched {
		return nil, r, fmt.Errorf("recording %s is %s: %w", id, r.State, ErrRecordingNotFetched)
	}
	f, err := os.Open(filepath.Join(m.opt.Dir, filepath.FromSlash(r.File)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, r, fmt.Errorf("recording %s: its file is gone: %w", id, ErrRecordingNotFetched)
	}
	return f, r, err
}

// Retry queues a failed recording again, due now, with a fresh GiveUp
// (ErrNoRecording, ErrRecordingNotFailed).
func (m *Recordings) Retry(id string) (Recording, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.store.Recording(id)
	if err != nil {
		return r, err
	}
	if r.State != RecordingFailed {
		return r, fmt.Errorf("recording %s is %s: %w", id, r.State, ErrRecordingNotFailed)
	}
	now := m.opt.Now()
	r.State, r.Queued, r.NextAttempt, r.Attempts = RecordingPending, now, now, 0
	if err := m.store.PutRecording(r); err != nil {
		return r, err
	}
	m.log.Info("recording queued again", "recording", r.ID, "device", r.Device, "path", r.Path)
	m.Wake()
	return r, nil
}

func (m *Recordings) run() {
	defer close(m.done)
	var pruneAt time.Time
	for {
		now := m.opt.Now()
		if !now.Before(pruneAt) {
			m.prune(now)
			pruneAt = now.Add(recordingPruneEvery)
		}
		next := m.fetchDue()
		wait := pruneAt.Sub(m.opt.Now())
		if !next.IsZero() {
			wait = min(wait, next.Sub(m.opt.Now()))
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-m.wake:
		case <-t.C:
		case <-m.ctx.Done():
			t.Stop()
			return
		}
		t.Stop()
	}
}

// fetchDue tries every pending recording that is due, or whose device is
// up since the last pass, and returns when the next one is due (zero for
// none). Devices are fetched from side by side, each one's recordings in
// turn, so that a device that hangs (each fetch running to FetchTimeout)
// holds up only its own. A fetch that succeeds shows its device up too:
// the device's other pending recordings are tried in another round.
func (m *Recordings) fetchDue() time.Time {
	m.upMu.Lock()
	up := m.up
	m.up = map[string]bool{}
	m.upMu.Unlock()
	pending, err := m.store.PendingRecordings()
	if err != nil {
		m.log.Error("cannot read the recordings queue", "error", err)
		return m.opt.Now().Add(m.opt.FirstBackoff)
	}
	byDevice := map[string][]Recording{}
	for _, r := range pending {
		byDevice[r.Device] = append(byDevice[r.Device], r)
	}
	var wg sync.WaitGroup
	for device, recs := range byDevice {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.fetchDevice(recs, up[device])
		}()
	}
	wg.Wait()
	return m.nextDue()
}

// fetchDevice tries one device's pending recordings that are due (all of
// them when up), again while a round fetches one with the device not yet
// known to be up. attempt reads each one's current state, so the list
// read at the start of the pass serves every round.
func (m *Recordings) fetchDevice(pending []Recording, up bool) {
	for {
		again := false
		for _, r := range pending {
			if m.ctx.Err() != nil {
				return
			}
			if r.NextAttempt.After(m.opt.Now()) && !up {
				continue
			}
			if m.attempt(r) && !up {
				up, again = true, true
			}
		}
		if !again {
			return
		}
	}
}

// nextDue returns when the earliest pending recording is due (zero for
// none), the attempts of the pass just made included.
func (m *Recordings) nextDue() time.Time {
	pending, err := m.store.PendingRecordings()
	if err != nil {
		return m.opt.Now().Add(m.opt.FirstBackoff)
	}
	var next time.Time
	for _, r := range pending {
		if next.IsZero() || r.NextAttempt.Before(next) {
			next = r.NextAttempt
		}
	}
	// One still due was not settled by the pass (the state file failed
	// it): not again at once, which would spin.
	if now := m.opt.Now(); !next.IsZero() && !next.After(now) {
		next = now.Add(time.Second)
	}
	return next
}

// recordingPathRE is the shape of a path a device may name: folders and a
// file of letters, digits and - _ . + only (20170309/200_212_…_cg.wav).
var recordingPathRE = regexp.MustCompile(`^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*(/[A-Za-z0-9_+-][A-Za-z0-9_.+-]*){0,7}$`)

// CheckRecordingPath refuses a path that could leave the device's folder
// or that no OM writes: absolute, with "..", empty segments, odd
// characters, over 255 bytes or more than 8 segments. Segments may not
// start with a dot.
func CheckRecordingPath(p string) error {
	if len(p) > 255 || !recordingPathRE.MatchString(p) {
		return fmt.Errorf("%q is not a recording path (segments of letters, digits, - _ . +, none starting with a dot)", p)
	}
	return nil
}

// attempt fetches one recording and records the outcome; it reports
// whether the file was fetched.
func (m *Recordings) attempt(r Recording) bool {
	m.mu.Lock()
	// A retry or DeviceUp may have changed it since the queue was read.
	cur, err := m.store.Recording(r.ID)
	m.mu.Unlock()
	if err != nil || cur.State != RecordingPending {
		return false
	}
	r = cur
	var rel string
	if err = CheckRecordingPath(r.Path); err == nil && !ValidDeviceName(r.Device) {
		err = fmt.Errorf("device name %q cannot be a folder", r.Device)
	}
	if err != nil {
		m.finish(r, fmt.Errorf("%w: %v", ErrFetchRefused, err))
		return false
	}
	rel = r.Device + "/" + r.Path
	size, sum, err := m.fetchFile(r, rel)
	if err != nil {
		if m.ctx.Err() != nil {
			return false // stopping: it stays pending as it was
		}
		m.finish(r, err)
		return false
	}
	r.State, r.LastError, r.NextAttempt = RecordingFetched, "", time.Time{}
	r.Attempts++
	r.Fetched, r.Size, r.SHA256, r.File = m.opt.Now().UTC(), size, sum, rel
	m.mu.Lock()
	err = m.store.PutRecording(r)
	m.mu.Unlock()
	if err != nil {
		m.log.Error("recording fetched but not recorded in the state file", "recording", r.ID, "error", err)
		return true
	}
	m.log.Info("recording fetched", "recording", r.ID, "device", r.Device, "path", r.Path, "bytes", size, "attempts", r.Attempts)
	m.observe("fetched")
	m.opt.Events.publishData(KindRecordingReady, r.Device, "", r.Call, r)
	return true
}

// fetchFile writes the recording to Dir/rel through a temporary file in
// the same folder: fsynced, then renamed, then the folder fsynced, so the
// file is either whole or absent.
func (m *Recordings) fetchFile(r Recording, rel string) (int64, string, error) {
	dst := filepath.Join(m.opt.Dir, filepath.FromSlash(rel))
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, "", err
	}
	tmp, err := os.CreateTemp(dir, recordingTmpPrefix+"*")
	if err != nil {
		return 0, "", err
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	ctx, cancel := context.WithTimeout(m.ctx, m.opt.FetchTimeout)
	defer cancel()
	h := sha256.New()
	n, err := m.opt.Source.FetchRecording(ctx, r.Device, r.Path, io.MultiWriter(tmp, h), m.opt.MaxSize)
	if err != nil {
		return 0, "", err
	}
	if err := tmp.Sync(); err != nil {
		return 0, "", err
	}
	if err := tmp.Close(); err != nil {
		return 0, "", err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return 0, "", err
	}
	keep = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// finish records a failed attempt: retried later with backoff, or given up
// when the error cannot be mended by waiting or GiveUp has passed.
func (m *Recordings) finish(r Recording, ferr error) {
	now := m.opt.Now()
	r.Attempts++
	r.LastError = ferr.Error()
	permanent := errors.Is(ferr, ErrFetchRefused) || errors.Is(ferr, ErrNoWebAccount)
	giveUp := permanent || now.Sub(r.Queued) >= m.opt.GiveUp
	if giveUp {
		r.State, r.NextAttempt = RecordingFailed, time.Time{}
	} else {
		r.NextAttempt = now.Add(m.backoff(r.Attempts))
	}
	m.mu.Lock()
	err := m.store.PutRecording(r)
	m.mu.Unlock()
	if err != nil {
		m.log.Error("cannot record a fetch's failure", "recording", r.ID, "error", err)
	}
	if !giveUp {
		m.log.Warn("recording not fetched; will retry", "recording", r.ID, "device", r.Device, "path", r.Path,
			"attempt", r.Attempts, "next_attempt", r.NextAttempt.UTC().Format(time.RFC3339), "error", r.LastError)
		m.observe("retry")
		return
	}
	why := "giving up after " + m.opt.GiveUp.String()
	if permanent {
		why = "retrying cannot help"
	}
	m.log.Error("recording not fetched; fix the cause, then POST /api/v1/recordings/"+r.ID+"/retry",
		"recording", r.ID, "device", r.Device, "path", r.Path, "attempts", r.Attempts, "reason", why, "error", r.LastError)
	m.observe("failed")
	m.opt.Events.publishData(KindRecordingFailed, r.Device, "", r.Call, r)
}

// backoff is the wait after the n-th failed attempt.
func (m *Recordings) backoff(n int) time.Duration {
	d := m.opt.FirstBackoff
	for i := 1; i < n && d < m.opt.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, m.opt.MaxBackoff)
}

func (m *Recordings) observe(outcome string) {
	if m.opt.Observe != nil {
		m.opt.Observe(outcome)
	}
}

// prune removes the recordings of calls older than MaxAge, then the
// oldest past MaxTotal: the file, then the record (a file that cannot be
// removed keeps its record, to be tried again at the next pass).
func (m *Recordings) prune(now time.Time) {
	if m.opt.MaxAge > 0 {
		old, err := m.store.ExpiredRecordings(now, m.opt.MaxAge)
		if err != nil {
			m.log.Warn("cannot read expired recordings", "error", err)
		} else if n := m.remove(old); n > 0 {
			m.log.Info("expired recordings removed", "recordings", n, "max_age", m.opt.MaxAge.String())
		}
	}
	if m.opt.MaxTotal > 0 {
		over, err := m.store.RecordingsBeyond(m.opt.MaxTotal)
		if err != nil {
			m.log.Warn("cannot read the recordings past max_total", "error", err)
		} else if n := m.remove(over); n > 0 {
			m.log.Info("the oldest recordings removed to keep within max_total", "recordings", n, "max_total", m.opt.MaxTotal)
		}
	}
}

// remove deletes recordings, file then record, and returns how many went.
func (m *Recordings) remove(recs []Recording) int {
	removed := 0
	for _, r := range recs {
		if r.File != "" {
			err := os.Remove(filepath.Join(m.opt.Dir, filepath.FromSlash(r.File)))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				m.log.Warn("cannot remove a recording's file", "recording", r.ID, "error", err)
				continue
			}
		}
		if err := m.store.DeleteRecording(r.ID); err != nil {
			m.log.Warn("cannot forget a removed recording", "recording", r.ID, "error", err)
			continue
		}
		removed++
	}
	return removed
}

// Prune runs retention now (it also runs at start and every hour).
func (m *Recordings) Prune() { m.prune(m.opt.Now()) }

// removeLeftovers deletes the temporary files of fetches a crash
// interrupted.
func (m *Recordings) removeLeftovers() {
	_ = filepath.WalkDir(m.opt.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), recordingTmpPrefix) {
			if os.Remove(p) == nil {
				m.log.Info("removed a half-fetched recording", "file", p)
			}
		}
		return nil
	})
}
