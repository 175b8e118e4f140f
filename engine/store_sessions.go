package engine

import (
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketConsoleSessions holds the console's signed-in sessions, so that a
// restart of the daemon signs nobody out: key → ConsoleSession as JSON.
// keyConsoleToken, in the meta bucket, is the check of the admin token
// they were made under (see the api package).
var (
	bucketConsoleSessions = []byte("console_sessions")
	keyConsoleToken       = []byte("console_token")
)

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

// LoadConsoleSessions returns every kept session, expired ones included,
// and the keys of records that do not read (to be deleted).
func (s *BoltStore) LoadConsoleSessions() (sessions []ConsoleSession, bad [][]byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketConsoleSessions).ForEach(func(k, v []byte) error {
			key := append([]byte(nil), k...)
			var cs ConsoleSession
			if err := json.Unmarshal(v, &cs); err != nil {
				bad = append(bad, key)
				return nil
			}
			cs.Key = key
			sessions = append(sessions, cs)
			return nil
		})
	})
	return sessions, bad, err
}

// ConsoleToken returns the check of the admin token the kept sessions
// were made under (nil when none is kept).
func (s *BoltStore) ConsoleToken() ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyConsoleToken); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// ResetConsoleSessions removes every kept session and keeps check as the
// admin token's, in one write.
func (s *BoltStore) ResetConsoleSessions(check []byte) error {
	return s.write(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketConsoleSessions); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketConsoleSessions); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyConsoleToken, check)
	})
}
