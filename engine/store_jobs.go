package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// JobStore keeps outbound jobs. Store implementations provide it; a
// Router without a Store keeps jobs in memory.
type JobStore interface {
	// CreateJob stores j unless a job with its id exists; it returns the
	// stored job and whether it was created now.
	CreateJob(j Job) (Job, bool, error)
	// PutJob replaces a job; it returns once the job is durable.
	PutJob(j Job) error
	// PutJobs replaces jobs in one transaction.
	PutJobs(js ...Job) error
	// GetJob returns a job, or ErrNoJob.
	GetJob(id string) (Job, error)
	// ListJobs returns every job, oldest first.
	ListJobs() ([]Job, error)
	// AttemptCall returns the id of the call an attempt placed, or "".
	AttemptCall(job string, attempt int) (string, error)
}

func attemptKey(job string, attempt int) []byte {
	return []byte(job + "/" + strconv.Itoa(attempt))
}

// AttemptCall returns the id of the call an attempt placed, recorded with
// the call itself.
func (s *BoltStore) AttemptCall(job string, attempt int) (string, error) {
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketAttempt).Get(attemptKey(job, attempt)); v != nil {
			id = string(v)
		}
		return nil
	})
	return id, err
}

func (m *memJobs) AttemptCall(string, int) (string, error) { return "", nil }

// CreateJob stores j unless its id is taken.
func (s *BoltStore) CreateJob(j Job) (Job, bool, error) {
	enc, err := json.Marshal(storedJob(j))
	if err != nil {
		return Job{}, false, err
	}
	var existing []byte
	err = s.write(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJobs)
		if v := b.Get([]byte(j.ID)); v != nil {
			existing = append([]byte(nil), v...)
			return nil
		}
		return b.Put([]byte(j.ID), enc)
	})
	if err != nil {
		return Job{}, false, err
	}
	if existing != nil {
		var old Job
		if err := json.Unmarshal(existing, &old); err != nil {
			return Job{}, false, fmt.Errorf("job %s: %w", j.ID, err)
		}
		return old, false, nil
	}
	return j, true, nil
}

// PutJob replaces a job.
func (s *BoltStore) PutJob(j Job) error { return s.PutJobs(j) }

// PutJobs replaces jobs in one transaction.
func (s *BoltStore) PutJobs(js ...Job) error {
	encs := make([][]byte, len(js))
	for i, j := range js {
		enc, err := json.Marshal(storedJob(j))
		if err != nil {
			return err
		}
		encs[i] = enc
	}
	return s.write(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJobs)
		for i, j := range js {
			if v := b.Get([]byte(j.ID)); v != nil {
				var old struct {
					Rev int64 `json:"rev"`
				}
				if json.Unmarshal(v, &old) == nil && old.Rev > j.Rev {
					continue // a newer state of the job is stored already
				}
			}
			if err := b.Put([]byte(j.ID), encs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetJob returns a job.
func (s *BoltStore) GetJob(id string) (Job, error) {
	var j Job
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketJobs).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("job %s: %w", id, ErrNoJob)
		}
		return json.Unmarshal(v, &j)
	})
	return j, err
}

// ListJobs returns every job, oldest first.
func (s *BoltStore) ListJobs() ([]Job, error) {
	var out []Job
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			var j Job
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("job %s: %w", k, err)
			}
			out = append(out, j)
			return nil
		})
	})
	sortJobs(out)
	return out, err
}

func sortJobs(js []Job) {
	sort.Slice(js, func(a, b int) bool {
		if !js[a].Created.Equal(js[b].Created) {
			return js[a].Created.Before(js[b].Created)
		}
		return js[a].ID < js[b].ID
	})
}

// KV returns every key of a flow's key/value space with its JSON value
// (counters as numbers).
func (s *BoltStore) KV(flow string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b, _ := kvBucket(tx, flow, false)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = append(json.RawMessage(nil), v...)
			return nil
		})
	})
	return out, err
}

// memJobs is the JobStore of a Router without a Store.
type memJobs struct {
	mu   sync.Mutex
	jobs map[string]Job
}

func (m *memJobs) CreateJob(j Job) (Job, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.jobs[j.ID]; ok {
		old.Attempts = slices.Clone(old.Attempts)
		return old, false, nil
	}
	j.Attempts = slices.Clone(j.Attempts)
	m.jobs[j.ID] = j
	return j, true, nil
}

func (m *memJobs) PutJob(j Job) error { return m.PutJobs(j) }

func (m *memJobs) PutJobs(js ...Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, j := range js {
		if old, ok := m.jobs[j.ID]; ok && old.Rev > j.Rev {
			continue
		}
		j.Attempts = slices.Clone(j.Attempts)
		m.jobs[j.ID] = j
	}
	return nil
}

func (m *memJobs) GetJob(id string) (Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok {
		return Job{}, fmt.Errorf("job %s: %w", id, ErrNoJob)
	}
	j.Attempts = slices.Clone(j.Attempts)
	return j, nil
}

func (m *memJobs) ListJobs() ([]Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Job, 0, len(m.jobs))
	for _, j := range m.jobs {
		j.Attempts = slices.Clone(j.Attempts)
		out = append(out, j)
	}
	sortJobs(out)
	return out, nil
}
