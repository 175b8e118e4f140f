package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// States of a Recording.
const (
	RecordingPending = "pending" // to be fetched (again) at NextAttempt
	RecordingFetched = "fetched" // the file is in the recordings folder
	RecordingFailed  = "failed"  // given up; POST …/retry queues it again
)

// Errors of the recordings.
var (
	// ErrNoRecording is a recording id ivrd does not have.
	ErrNoRecording = errors.New("no such recording")
	// ErrRecordingNotFetched is a recording whose file is not there (yet).
	ErrRecordingNotFetched = errors.New("the recording is not fetched")
	// ErrRecordingNotFailed is a retry of a recording that has not failed.
	ErrRecordingNotFailed = errors.New("the recording has not failed")
	// ErrFetchRefused wraps a RecordingSource's errors that retrying
	// cannot mend: the device refused the web account, the file is larger
	// than the limit. The recording fails at once.
	ErrFetchRefused = errors.New("refused")
	// ErrNoWebAccount is a device configured without a web account: its
	// recordings are recorded as failed, not fetched.
	ErrNoWebAccount = errors.New("not fetched: no web account")
)

// Recording is a recording a call record names, and where ivrd's copy of
// it stands: the durable fetch queue and the index of the files.
type Recording struct {
	// ID is ivrd's id of the recording, derived from its device and path
	// (so a record sent twice, or two records naming one file, queue one
	// fetch; the first record is the one named).
	ID string `json:"id"`
	// Device, Path (as the call record names it), Cdr (the record's id on
	// the device), CallID (the device's callid) and Call (the IVR call,
	// "" for none) say where it comes from; CPN, CDPN and Ended are the
	// record's, for searches.
	Device string    `json:"device"`
	Path   string    `json:"path"`
	Cdr    string    `json:"cdr"`
	CallID string    `json:"callid,omitempty"`
	Call   string    `json:"call,omitempty"`
	CPN    string    `json:"caller"`
	CDPN   string    `json:"called"`
	Ended  time.Time `json:"ended"`
	// State is pending, fetched or failed. Queued is when the current
	// series of attempts began (the record's arrival, or the last retry);
	// Attempts counts them; LastError is the last one's failure, and
	// NextAttempt when a pending one is due.
	State       string    `json:"state"`
	Queued      time.Time `json:"queued"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Fetched, Size, SHA256 and File (relative to the recordings folder,
	// slash-separated) describe the file once fetched.
	Fetched time.Time `json:"fetched,omitzero"`
	Size    int64     `json:"size,omitempty"`
	SHA256  string    `json:"sha256,omitempty"`
	File    string    `json:"file,omitempty"`
}

// RecordingID is the id of the recording a call record names.
func RecordingID(c Cdr) string {
	sum := sha256.Sum256([]byte(c.Device + "\x00" + c.Recording))
	return hex.EncodeToString(sum[:8])
}

var recordingIDRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// ValidRecordingID reports whether id has the shape of a recording id.
func ValidRecordingID(id string) bool { return recordingIDRE.MatchString(id) }

// RecordingQuery selects recordings (BoltStore.SearchRecordings), as
// CdrQuery selects records; State and Device keep those in that state, of
// that device.
type RecordingQuery struct {
	Since, Until  time.Time
	Number, Ext   string
	State, Device string
	Before        string
	Limit         int
}

// RecordingPage is one page of a search, newest first; Next continues it.
type RecordingPage struct {
	Recordings []Recording
	Next       string
}

var (
	// bucketRecordings holds the recordings by the end of their call then
	// id, as bucketCdrs does; bucketRecordingIDs maps an id to its key
	// there, bucketRecordingQueue the pending ones' ids to it.
	bucketRecordings     = []byte("recordings")
	bucketRecordingIDs   = []byte("recording_ids")
	bucketRecordingQueue = []byte("recording_queue")
)

func recordingBuckets(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketRecordings, bucketRecordingIDs, bucketRecordingQueue} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// queueRecordingTx queues the fetch of the recording c names, in the
// transaction that keeps c: a record is never kept without its fetch.
func queueRecordingTx(tx *bolt.Tx, c Cdr, now time.Time) error {
	r := Recording{ID: RecordingID(c), Device: c.Device, Path: c.Recording, Cdr: c.ID, CallID: c.CallID,
		Call: c.Call, CPN: c.CPN, CDPN: c.CDPN, Ended: c.Ended, State: RecordingPending, Queued: now}
	if tx.Bucket(bucketRecordingIDs).Get([]byte(r.ID)) != nil {
		return nil
	}
	return putRecordingTx(tx, r)
}

// putRecordingTx writes r at its key, keeping the queue in step.
func putRecordingTx(tx *bolt.Tx, r Recording) error {
	enc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	id := []byte(r.ID)
	k := tx.Bucket(bucketRecordingIDs).Get(id)
	if k == nil {
		k = endKey(r.Ended, r.ID)
		if err := tx.Bucket(bucketRecordingIDs).Put(id, k); err != nil {
			return err
		}
	} else {
		k = append([]byte(nil), k...)
	}
	if err := tx.Bucket(bucketRecordings).Put(k, enc); err != nil {
		return err
	}
	q := tx.Bucket(bucketRecordingQueue)
	if r.State == RecordingPending {
		return q.Put(id, k)
	}
	return q.Delete(id)
}

// Recording returns one recording, or ErrNoRecording.
func (s *BoltStore) Recording(id string) (Recording, error) {
	var r Recording
	err := s.db.View(func(tx *bolt.Tx) error {
		k := tx.Bucket(bucketRecordingIDs).Get([]byte(id))
		if k == nil {
			return fmt.Errorf("recording %s: %w", id, ErrNoRecording)
		}
		return json.Unmarshal(tx.Bucket(bucketRecordings).Get(k), &r)
	})
	return r, err
}

// PutRecording stores a recording's new state.
func (s *BoltStore) PutRecording(r Recording) error {
	return s.write(func(tx *bolt.Tx) error { return putRecordingTx(tx, r) })
}

// PendingRecordings returns the recordings waiting to be fetched.
func (s *BoltStore) PendingRecordings() ([]Recording, error) {
	var out []Recording
	err := s.db.View(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketRecordings)
		return tx.Bucket(bucketRecordingQueue).ForEach(func(id, k []byte) error {
			var r Recording
			if err := json.Unmarshal(recs.Get(k), &r); err != nil {
				return fmt.Errorf("recording %s: %w", id, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// SearchRecordings returns the recordings q selects, newest first.
func (s *BoltStore) SearchRecordings(q RecordingQuery) (RecordingPage, error) {
	var page RecordingPage
	from, floor, err := timeBounds(q.Before, q.Since, q.Until)
	if err != nil {
		return page, fmt.Errorf("search recordings: %w", err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		page.Next, err = walkNewest(tx.Bucket(bucketRecordings), from, floor, q.Limit, func(k, v []byte) (bool, error) {
			var r Recording
			if err := json.Unmarshal(v, &r); err != nil {
				return false, fmt.Errorf("recording %s: %w", k[8:], err)
			}
			if (q.Number != "" && !strings.Contains(r.CPN, q.Number) && !strings.Contains(r.CDPN, q.Number)) ||
				(q.Ext != "" && r.CPN != q.Ext && r.CDPN != q.Ext) ||
				(q.State != "" && r.State != q.State) || (q.Device != "" && r.Device != q.Device) {
				return false, nil
			}
			page.Recordings = append(page.Recordings, r)
			return true, nil
		})
		return err
	})
	return page, err
}

// ExpiredRecordings returns the recordings whose call ended more than
// maxAge before now, oldest first.
func (s *BoltStore) ExpiredRecordings(now time.Time, maxAge time.Duration) ([]Recording, error) {
	var out []Recording
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecordings)
		for _, k := range expiredKeys(b, now, maxAge, 0) {
			var r Recording
			if err := json.Unmarshal(b.Get(k), &r); err != nil {
				return fmt.Errorf("recording %s: %w", k[8:], err)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// RecordingsBeyond returns the fetched recordings past the newest whose
// files add up to at most maxTotal bytes: those to remove so that the
// folder stays within it, newest first.
func (s *BoltStore) RecordingsBeyond(maxTotal int64) ([]Recording, error) {
	var out []Recording
	err := s.db.View(func(tx *bolt.Tx) error {
		var total int64
		c := tx.Bucket(bucketRecordings).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var r Recording
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("recording %s: %w", k[8:], err)
			}
			if r.State != RecordingFetched {
				continue
			}
			if total += r.Size; total > maxTotal {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

// DeleteRecording forgets a recording (its file is the caller's).
func (s *BoltStore) DeleteRecording(id string) error {
	return s.write(func(tx *bolt.Tx) error {
		ids := tx.Bucket(bucketRecordingIDs)
		k := ids.Get([]byte(id))
		if k == nil {
			return nil
		}
		k = append([]byte(nil), k...)
		if err := tx.Bucket(bucketRecordings).Delete(k); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRecordingQueue).Delete([]byte(id)); err != nil {
			return err
		}
		return ids.Delete([]byte(id))
	})
}
