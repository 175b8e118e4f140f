package engine

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketEvents holds the event log: id (8 bytes, big-endian) → the event
// as JSON. Its sequence is the last id ever given, so ids keep increasing
// after every event has been pruned.
var bucketEvents = []byte("events")

func eventKey(id uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], id)
	return b[:]
}

// AppendEvents stores events in the next group commit.
func (s *BoltStore) AppendEvents(evs []CallEvent) error {
	if len(evs) == 0 {
		return nil
	}
	encs := make([][]byte, len(evs))
	for i := range evs {
		b, err := json.Marshal(evs[i])
		if err != nil {
			return fmt.Errorf("append events: %w", err)
		}
		encs[i] = b
	}
	return s.write(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		for i, e := range evs {
			if err := b.Put(eventKey(e.ID), encs[i]); err != nil {
				return err
			}
		}
		if last := evs[len(evs)-1].ID; last > b.Sequence() {
			return b.SetSequence(last)
		}
		return nil
	})
}

// EventsAfter returns up to limit events with ids above after.
func (s *BoltStore) EventsAfter(after uint64, limit int) ([]CallEvent, error) {
	var out []CallEvent
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(eventKey(after + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			var e CallEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("event %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// LastEventID is the last id ever stored.
func (s *BoltStore) LastEventID() (uint64, error) {
	var id uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		id = tx.Bucket(bucketEvents).Sequence()
		return nil
	})
	return id, err
}

// PruneEvents removes the events past maxAge and beyond the newest
// maxCount (a negative bound is no bound).
func (s *BoltStore) PruneEvents(now time.Time, maxAge time.Duration, maxCount int) (int, error) {
	n := 0
	err := s.write(func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketEvents)
		excess := 0
		if maxCount >= 0 {
			excess = b.Stats().KeyN - maxCount
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.First() {
			if excess <= 0 {
				if maxAge <= 0 {
					break
				}
				var e struct {
					At time.Time `json:"at"`
				}
				if json.Unmarshal(v, &e) == nil && now.Sub(e.At) <= maxAge {
					break
				}
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
			excess--
		}
		return nil
	})
	return n, err
}
