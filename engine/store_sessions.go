package engine

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketConsoleSessions holds the console's signed-in sessions, so that a
// restart of the daemon signs nobody out: key → ConsoleSession as JSON.
var bucketConsoleSessions = []byte("console_sessions")

// ConsoleSession is a signed-in console as the state file keeps it. Key
// is a digest of the session's cookie (and of the admin token it signed
// in with), never the cookie itself, so the file hands out no session.
type ConsoleSession struct {
	Key     []byte    `json:"-"`
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// PutConsoleSession keeps a session, replacing one with the same key.
func (s *BoltStore) PutConsoleSession(cs ConsoleSession) error {
	enc, err := json.Marshal(cs)
	if err != nil {
		return err
	}
	return s.write(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketConsoleSessions).Put(cs.Key, enc)
	})
}

// DeleteConsoleSessions removes the sessions with the keys given.
func (s *BoltStore) DeleteConsoleSessions(keys ...[]byte) error {
	if len(keys) == 0 {
		return nil
	}
	return s.write(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketConsoleSessions)
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// LoadConsoleSessions returns every kept session, expired ones included.
func (s *BoltStore) LoadConsoleSessions() ([]ConsoleSession, error) {
	var out []ConsoleSession
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketConsoleSessions).ForEach(func(k, v []byte) error {
			var cs ConsoleSession
			if err := json.Unmarshal(v, &cs); err != nil {
				return fmt.Errorf("console session %x: %w", k[:min(4, len(k))], err)
			}
			cs.Key = append([]byte(nil), k...)
			out = append(out, cs)
			return nil
		})
	})
	return out, err
}
