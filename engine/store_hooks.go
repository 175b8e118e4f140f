package engine

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The outgoing webhooks' state: for each configured webhook, the cursor
// (the id of the last event it has dealt with: delivered, skipped by its
// filters or set aside) and the batches it set aside as failed deliveries.
// They live in the "webhooks" bucket, one nested bucket per webhook name,
// created on the first write, so a state file made before webhooks opens
// unchanged (SchemaVersion stays as it was).

// Reasons of a HookFailure.
const (
	// HookFailed is a batch the receiver did not take within the retry
	// policy, or refused.
	HookFailed = "failed"
	// HookMissing is a run of events that left the log (pruned, or lost
	// by a failed write) before the webhook could deliver them.
	HookMissing = "missing"
)

// HookFailure is a batch of events a webhook set aside: it is kept with
// its events, so that it can be sent again after the log has pruned them.
type HookFailure struct {
	ID uint64 `json:"id"`
	// Reason is HookFailed or HookMissing.
	Reason string `json:"reason"`
	// First and Last are the ids of the batch's first and last events;
	// Count how many events it holds (for HookMissing, the ids in the
	// range, whatever the filters would have kept).
	First uint64 `json:"first_event_id"`
	Last  uint64 `json:"last_event_id"`
	Count int    `json:"count"`
	// Events are the batch's events (none for HookMissing).
	Events []CallEvent `json:"events,omitempty"`
	// Attempts, Status (the receiver's last HTTP status, 0 when it gave
	// none) and Error describe the deliveries tried so far.
	Attempts int    `json:"attempts"`
	Status   int    `json:"status,omitempty"`
	Error    string `json:"error,omitempty"`
	// FirstAttempt and LastAttempt bound the attempts; SetAside is when
	// the batch was given up.
	FirstAttempt time.Time `json:"first_attempt,omitzero"`
	LastAttempt  time.Time `json:"last_attempt,omitzero"`
	SetAside     time.Time `json:"set_aside"`
}

// HookStore keeps the webhooks' cursors and failed deliveries durable.
// BoltStore implements it.
type HookStore interface {
	// HookCursor returns a webhook's cursor; ok is false when the state
	// file has none yet.
	HookCursor(name string) (cursor uint64, ok bool, err error)
	// SetHookCursor moves a webhook's cursor; it returns once durable.
	SetHookCursor(name string, cursor uint64) error
	// SetAside stores f as a new failure of the webhook (giving it its
	// id) and moves the cursor to cursor, in one transaction.
	SetAside(name string, f HookFailure, cursor uint64) (HookFailure, error)
	// HookFailures returns up to limit failures with ids above after,
	// oldest first, and how many the webhook has in all.
	HookFailures(name string, after uint64, limit int) ([]HookFailure, int, error)
	// HookFailure returns one failure, or ErrNoHookFailure.
	HookFailure(name string, id uint64) (HookFailure, error)
	// PutHookFailure replaces a stored failure (after another attempt).
	PutHookFailure(name string, f HookFailure) error
	// DeleteHookFailure removes a failure (once it has been delivered).
	DeleteHookFailure(name string, id uint64) error
}

// ErrNoHookFailure is a failure id a webhook does not have.
var ErrNoHookFailure = errors.New("no such failed delivery")

var (
	bucketHooks   = []byte("webhooks")
	keyHookCursor = []byte("cursor")
	bucketHookErr = []byte("failures")
)

// hookBucket returns the webhook's bucket, creating it when create is set;
// nil when it does not exist.
func hookBucket(tx *bolt.Tx, name string, create bool) (*bolt.Bucket, error) {
	if !create {
		root := tx.Bucket(bucketHooks)
		if root == nil {
			return nil, nil
		}
		return root.Bucket([]byte(name)), nil
	}
	root, err := tx.CreateBucketIfNotExists(bucketHooks)
	if err != nil {
		return nil, err
	}
	return root.CreateBucketIfNotExists([]byte(name))
}

// HookCursor returns the webhook's cursor.
func (s *BoltStore) HookCursor(name string) (uint64, bool, error) {
	var cur uint64
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b, _ := hookBucket(tx, name, false)
		if b == nil {
			return nil
		}
		if v := b.Get(keyHookCursor); len(v) == 8 {
			cur, ok = binary.BigEndian.Uint64(v), true
		}
		return nil
	})
	return cur, ok, err
}

// SetHookCursor moves the webhook's cursor in the next group commit.
func (s *BoltStore) SetHookCursor(name string, cursor uint64) error {
	return s.write(func(tx *bolt.Tx) error {
		b, err := hookBucket(tx, name, true)
		if err != nil {
			return err
		}
		return b.Put(keyHookCursor, eventKey(cursor))
	})
}

// SetAside stores a failure and moves the cursor past it.
func (s *BoltStore) SetAside(name string, f HookFailure, cursor uint64) (HookFailure, error) {
	var out HookFailure
	err := s.write(func(tx *bolt.Tx) error {
		b, err := hookBucket(tx, name, true)
		if err != nil {
			return err
		}
		fb, err := b.CreateBucketIfNotExists(bucketHookErr)
		if err != nil {
			return err
		}
		id, err := fb.NextSequence()
		if err != nil {
			return err
		}
		out = f
		out.ID = id
		enc, err := json.Marshal(out)
		if err != nil {
			return err
		}
		if err := fb.Put(eventKey(id), enc); err != nil {
			return err
		}
		return b.Put(keyHookCursor, eventKey(cursor))
	})
	if err != nil {
		return HookFailure{}, fmt.Errorf("set aside a failed delivery of webhook %s: %w", name, err)
	}
	return out, nil
}

// hookFailures returns the webhook's failure bucket, or nil.
func hookFailures(tx *bolt.Tx, name string) *bolt.Bucket {
	b, _ := hookBucket(tx, name, false)
	if b == nil {
		return nil
	}
	return b.Bucket(bucketHookErr)
}

// HookFailures pages through the webhook's failures.
func (s *BoltStore) HookFailures(name string, after uint64, limit int) ([]HookFailure, int, error) {
	var out []HookFailure
	total := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		fb := hookFailures(tx, name)
		if fb == nil {
			return nil
		}
		total = fb.Stats().KeyN
		c := fb.Cursor()
		for k, v := c.Seek(eventKey(after + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			var f HookFailure
			if err := json.Unmarshal(v, &f); err != nil {
				return fmt.Errorf("webhook %s, failure %d: %w", name, binary.BigEndian.Uint64(k), err)
			}
			out = append(out, f)
		}
		return nil
	})
	return out, total, err
}

// HookFailure returns one failure.
func (s *BoltStore) HookFailure(name string, id uint64) (HookFailure, error) {
	var f HookFailure
	err := s.db.View(func(tx *bolt.Tx) error {
		fb := hookFailures(tx, name)
		if fb == nil {
			return ErrNoHookFailure
		}
		v := fb.Get(eventKey(id))
		if v == nil {
			return ErrNoHookFailure
		}
		return json.Unmarshal(v, &f)
	})
	return f, err
}

// PutHookFailure replaces a failure that is still stored.
func (s *BoltStore) PutHookFailure(name string, f HookFailure) error {
	enc, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return s.write(func(tx *bolt.Tx) error {
		fb := hookFailures(tx, name)
		if fb == nil || fb.Get(eventKey(f.ID)) == nil {
			return ErrNoHookFailure
		}
		return fb.Put(eventKey(f.ID), enc)
	})
}

// DeleteHookFailure removes a failure.
func (s *BoltStore) DeleteHookFailure(name string, id uint64) error {
	return s.write(func(tx *bolt.Tx) error {
		fb := hookFailures(tx, name)
		if fb == nil || fb.Get(eventKey(id)) == nil {
			return ErrNoHookFailure
		}
		return fb.Delete(eventKey(id))
	})
}
