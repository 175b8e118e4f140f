package engine

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketClicks holds the click-to-calls: click id (which sorts by time) →
// the Click as JSON.
var bucketClicks = []byte("clicks")

var _ ClickStore = (*BoltStore)(nil)

// PutClicks stores clicks and removes the ids in drop, in the next group
// commit.
func (s *BoltStore) PutClicks(put []Click, drop []string) error {
	encs := make([][]byte, len(put))
	for i := range put {
		b, err := json.Marshal(put[i])
		if err != nil {
			return fmt.Errorf("put click %s: %w", put[i].ID, err)
		}
		encs[i] = b
	}
	return s.write(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClicks)
		for i, c := range put {
			if err := b.Put([]byte(c.ID), encs[i]); err != nil {
				return err
			}
		}
		for _, id := range drop {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// LoadClicks returns the stored clicks, oldest first.
func (s *BoltStore) LoadClicks() ([]Click, error) {
	var out []Click
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketClicks).ForEach(func(k, v []byte) error {
			var c Click
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("click %s: %w", k, err)
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}
