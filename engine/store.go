package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Store is where calls live between steps, so that a restart loses none:
// each call's record and journal, the flow sources live calls need, the
// per-flow key/value space, and the history of ended calls. The interface
// is kept narrow so that a replicated engine could hold the same data.
type Store interface {
	// StartCall records a new live call and the source of its flow.
	StartCall(rec CallRecord, flowSource []byte) error
	// Append adds steps to a call's journal; it returns once they are
	// durable.
	Append(callID string, steps ...Step) error
	// Journal returns a call's steps in order.
	Journal(callID string) ([]Step, error)
	// LiveCalls returns the calls not yet ended, oldest first.
	LiveCalls() ([]CallRecord, error)
	// EndCall moves a call to history; its journal is kept with it.
	EndCall(h HistoryEntry) error
	// History returns an ended call.
	History(callID string) (HistoryEntry, error)
	// AttachCdr keeps the device's call record with the call it belongs to
	// (matched by the device and its callid), now or when the call ends,
	// and returns that call's id; "" (and no error) when the record
	// belongs to no call ivrd handled.
	AttachCdr(device, omCallID string, cdr CdrRecord) (callID string, err error)
	// FlowSource returns a flow source by content hash.
	FlowSource(hash string) ([]byte, error)
	// Apply performs a key/value write and appends the journal step that
	// records it in one transaction: a crash keeps both or neither, so a
	// replay never repeats the write. mkStep builds the step from the
	// write's result.
	Apply(callID string, op KVOp, mkStep func(n int64) Step) (int64, error)
	// Get, Put, Incr and AppendValue are the per-flow key/value space.
	Get(flow, key string) ([]byte, bool, error)
	Put(flow, key string, value []byte) error
	Incr(flow, key string, delta int64) (int64, error)
	AppendValue(flow, key string, value []byte) (int, error)
	// Prune drops history older than maxAge or beyond the newest maxCount
	// (zero: no limit), the device call records (Cdr) by the same rule,
	// and the flow sources nothing needs any more.
	Prune(now time.Time, maxAge time.Duration, maxCount int) (int, error)
	// JobStore keeps outbound jobs.
	JobStore
	Close() error
}

// CallRecord is a live call as the store keeps it.
type CallRecord struct {
	ID        string `json:"id"`
	Device    string `json:"device"`
	Leg       Leg    `json:"leg"`
	From      string `json:"from"`
	To        string `json:"to"`
	CallID    string `json:"callid"` // the OM's callid
	Direction string `json:"direction"`
	Flow      string `json:"flow"`
	FlowHash  string `json:"flow_hash"`
	// StdlibHash is the hash of the embedded stdlib the call started on.
	StdlibHash string    `json:"stdlib_hash,omitempty"`
	Started    time.Time `json:"started"`
	// Job and Attempt tie an outbound call to the attempt of the job that
	// placed it.
	Job     string `json:"job,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
	// Vars are the call.vars the call started with (an outbound job's, a
	// redirected call's); SecretVars names those that are secrets.
	Vars       json.RawMessage `json:"vars,omitempty"`
	SecretVars []string        `json:"secret_vars,omitempty"`
	// Origin is where a call moved into the IVR came from: "ext 201"
	// for an agent's transfer to a flow.
	Origin string `json:"origin,omitempty"`
}

// Step is one completed step of a call: a command and its result, an input,
// a read of the world (ivr.now, ivr.random, the store), a timer deadline,
// and call.vars when they changed.
type Step struct {
	Seq      int64           `json:"seq"`
	At       time.Time       `json:"at"`
	Kind     string          `json:"kind"`
	Args     json.RawMessage `json:"args,omitempty"`
	Result   json.RawMessage `json:"result,omitempty"`
	Deadline time.Time       `json:"deadline,omitzero"`
	Vars     json.RawMessage `json:"vars,omitempty"`
}

// HistoryEntry is an ended call.
type HistoryEntry struct {
	CallRecord
	Ended   time.Time   `json:"ended"`
	Outcome string      `json:"outcome"`
	Target  string      `json:"target,omitempty"`
	Path    []PathEntry `json:"path"`
	Steps   int         `json:"steps"`
	Cdr     *CdrRecord  `json:"cdr,omitempty"`
	// DialOutcome is an outbound attempt's outcome (answered, busy,
	// no_answer, failed, retry, interrupted).
	DialOutcome string `json:"dial_outcome,omitempty"`
	DialCode    int    `json:"dial_code,omitempty"`
	DialReason  string `json:"dial_reason,omitempty"`
}

// CdrRecord is the OM's call record attached to a history entry.
type CdrRecord struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Route     string `json:"route"`
	CPN       string `json:"cpn"`
	CDPN      string `json:"cdpn"`
	TimeStart string `json:"time_start"`
	TimeEnd   string `json:"time_end"`
	Duration  int    `json:"duration"`
	Recording string `json:"recording,omitempty"`
}

// Store errors.
var (
	ErrStoreLocked  = errors.New("the state file is held by another process")
	ErrStoreVersion = errors.New("the state file has another schema version")
	ErrNoCall       = errors.New("no such call")
	ErrCursor       = errors.New("not a history cursor")
	ErrStoreClosed  = errors.New("store closed")
)

// SchemaVersion is the layout of the state file this build reads and
// writes.
const SchemaVersion = 1

var (
	bucketMeta    = []byte("meta")
	bucketCalls   = []byte("calls")
	bucketJournal = []byte("journal")
	bucketFlows   = []byte("flows")
	bucketKV      = []byte("store")
	bucketHistory = []byte("history")
	bucketByEnd   = []byte("history_by_end")
	bucketJobs    = []byte("jobs")
	bucketCdrIdx  = []byte("cdr_index")
	bucketCdrWait = []byte("cdr_pending")
	bucketAttempt = []byte("attempt_calls") // job/attempt → call id
	keyVersion    = []byte("schema_version")
)

// BoltOptions tune a BoltStore.
type BoltOptions struct {
	// NoSync skips fsync on commit: faster, and a machine crash (not a
	// process crash) can lose the last steps. For benchmarks and tests.
	NoSync bool
	// LockTimeout is how long Open waits for another process to release
	// the file (default 1 s).
	LockTimeout time.Duration
	// OnCommit, when set, is told of each group commit: how many writes
	// it carried and how long it took, fsync included (and the retries
	// one by one when a write failed). It runs on the committer's
	// goroutine, between commits: it must return at once.
	OnCommit func(writes int, d time.Duration)
}

// BoltStore is the Store in one bbolt file. Writes from many calls are
// group-committed: a committer takes whatever has queued, commits it in
// one transaction, answers every writer, and starts again at once — no
// fixed delay, unlike bbolt's Batch.
type BoltStore struct {
	db *bolt.DB

	mu       sync.Mutex
	queue    []*commit
	wake     chan struct{}
	closed   bool
	stopped  chan struct{}
	commits  uint64
	onCommit func(int, time.Duration)
}

type commit struct {
	fn   func(*bolt.Tx) error
	err  error
	done chan struct{}
}

// OpenBolt opens (creating if needed) the state file at path.
func OpenBolt(path string, opt BoltOptions) (*BoltStore, error) {
	timeout := opt.LockTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: opt.NoSync})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w", path, ErrStoreLocked)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketCalls, bucketJournal, bucketFlows, bucketKV, bucketHistory, bucketByEnd, bucketJobs, bucketCdrIdx, bucketCdrWait, bucketAttempt, bucketEvents, bucketClicks, bucketConsoleSessions} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := cdrBuckets(tx); err != nil {
			return err
		}
		if err := recordingBuckets(tx); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		v := meta.Get(keyVersion)
		if v == nil {
			return meta.Put(keyVersion, []byte(strconv.Itoa(SchemaVersion)))
		}
		if string(v) != strconv.Itoa(SchemaVersion) {
			return fmt.Errorf("%w: the file has %s, this ivrd reads %d", ErrStoreVersion, v, SchemaVersion)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &BoltStore{db: db, wake: make(chan struct{}, 1), stopped: make(chan struct{}), onCommit: opt.OnCommit}
	go s.committer()
	return s, nil
}

// Commits returns how many transactions the committer has made.
func (s *BoltStore) Commits() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commits
}

// write queues fn for the next group commit and waits until it is durable.
func (s *BoltStore) write(fn func(*bolt.Tx) error) error {
	c := &commit{fn: fn, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrStoreClosed
	}
	s.queue = append(s.queue, c)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-c.done
	return c.err
}

func (s *BoltStore) committer() {
	// A goroutine of its own wakes the writers of a committed batch, so
	// the committer starts its next commit at once. ivrd bench (survey,
	// 512 calls, GOMAXPROCS 3): 0.63 and 0.64 of the ceiling with it,
	// 0.61 and 0.59 with the committer waking them itself.
	answered := make(chan []*commit, 64)
	waker := make(chan struct{})
	go func() {
		defer close(waker)
		for batch := range answered {
			for _, c := range batch {
				close(c.done)
			}
		}
	}()
	defer func() {
		close(answered)
		<-waker
		close(s.stopped)
	}()
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		closed := s.closed
		s.mu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			<-s.wake
			continue
		}
		start := time.Now()
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, c := range batch {
				if err := c.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil && len(batch) > 1 {
			// One write failed and took the others down with it: run
			// each on its own so only the faulty one fails.
			for _, c := range batch {
				c.err = s.db.Update(c.fn)
			}
		} else {
			for _, c := range batch {
				c.err = err
			}
		}
		if s.onCommit != nil {
			s.onCommit(len(batch), time.Since(start))
		}
		s.mu.Lock()
		s.commits++
		s.mu.Unlock()
		answered <- batch
	}
}

// Close waits for queued writes and closes the file.
func (s *BoltStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.stopped
	return s.db.Close()
}

func seqKey(n int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return b[:]
}

// StartCall records a new live call and keeps its flow source.
func (s *BoltStore) StartCall(rec CallRecord, flowSource []byte) error {
	enc, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.write(func(tx *bolt.Tx) error {
		if flowSource != nil && rec.FlowHash != "" {
			flows := tx.Bucket(bucketFlows)
			if flows.Get([]byte(rec.FlowHash)) == nil {
				if err := flows.Put([]byte(rec.FlowHash), flowSource); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Bucket(bucketJournal).CreateBucketIfNotExists([]byte(rec.ID)); err != nil {
			return err
		}
		if rec.CallID != "" {
			if err := tx.Bucket(bucketCdrIdx).Put(cdrKey(rec.Device, rec.CallID), []byte(rec.ID)); err != nil {
				return err
			}
		}
		if rec.Job != "" {
			if err := tx.Bucket(bucketAttempt).Put(attemptKey(rec.Job, rec.Attempt), []byte(rec.ID)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketCalls).Put([]byte(rec.ID), enc)
	})
}

// Append adds steps to a call's journal, numbering them if Seq is zero.
func (s *BoltStore) Append(callID string, steps ...Step) error {
	return s.write(func(tx *bolt.Tx) error { return appendTx(tx, callID, steps) })
}

// appendTx appends steps inside a transaction, numbering those without a
// sequence number.
func appendTx(tx *bolt.Tx, callID string, steps []Step) error {
	j := tx.Bucket(bucketJournal).Bucket([]byte(callID))
	if j == nil {
		return fmt.Errorf("append to %s: %w", callID, ErrNoCall)
	}
	for i := range steps {
		if steps[i].Seq == 0 {
			n, _ := j.NextSequence()
			steps[i].Seq = int64(n)
		} else if steps[i].Seq > int64(j.Sequence()) {
			_ = j.SetSequence(uint64(steps[i].Seq))
		}
		enc, err := json.Marshal(steps[i])
		if err != nil {
			return err
		}
		if err := j.Put(seqKey(steps[i].Seq), enc); err != nil {
			return err
		}
	}
	return nil
}

// Journal returns a call's steps, live or ended.
func (s *BoltStore) Journal(callID string) ([]Step, error) {
	var steps []Step
	err := s.db.View(func(tx *bolt.Tx) error {
		j := tx.Bucket(bucketJournal).Bucket([]byte(callID))
		if j == nil {
			return fmt.Errorf("journal of %s: %w", callID, ErrNoCall)
		}
		return j.ForEach(func(_, v []byte) error {
			var st Step
			if err := json.Unmarshal(v, &st); err != nil {
				return err
			}
			steps = append(steps, st)
			return nil
		})
	})
	return steps, err
}

// LiveCalls returns the calls not ended, oldest first.
func (s *BoltStore) LiveCalls() ([]CallRecord, error) {
	var out []CallRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCalls).ForEach(func(_, v []byte) error {
			var rec CallRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			out = append(out, rec)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, err
}

func cdrKey(device, callid string) []byte { return []byte(device + "/" + callid) }

// AttachCdr keeps a call record with its call: in its history entry, or
// until the call ends. It returns the call's id.
func (s *BoltStore) AttachCdr(device, omCallID string, cdr CdrRecord) (string, error) {
	enc, err := json.Marshal(cdr)
	if err != nil {
		return "", err
	}
	var callID string
	err = s.write(func(tx *bolt.Tx) error {
		var err error
		callID, err = attachCdrTx(tx, device, omCallID, cdr, enc)
		return err
	})
	if err != nil {
		return "", err
	}
	return callID, nil
}

// attachCdrTx is AttachCdr within tx; enc is cdr as JSON.
func attachCdrTx(tx *bolt.Tx, device, omCallID string, cdr CdrRecord, enc []byte) (string, error) {
	id := tx.Bucket(bucketCdrIdx).Get(cdrKey(device, omCallID))
	if id == nil {
		return "", nil // not a call ivrd handled
	}
	id = append([]byte(nil), id...)
	hist := tx.Bucket(bucketHistory)
	if v := hist.Get(id); v != nil {
		var h HistoryEntry
		if err := json.Unmarshal(v, &h); err != nil {
			return "", err
		}
		h.Cdr = &cdr
		out, err := json.Marshal(h)
		if err != nil {
			return "", err
		}
		return string(id), hist.Put(id, out)
	}
	return string(id), tx.Bucket(bucketCdrWait).Put(id, enc)
}

// EndCall moves a call to history.
func (s *BoltStore) EndCall(h HistoryEntry) error {
	return s.write(func(tx *bolt.Tx) error {
		wait := tx.Bucket(bucketCdrWait)
		if v := wait.Get([]byte(h.ID)); v != nil && h.Cdr == nil {
			var cdr CdrRecord
			if err := json.Unmarshal(v, &cdr); err == nil {
				h.Cdr = &cdr
			}
			if err := wait.Delete([]byte(h.ID)); err != nil {
				return err
			}
		}
		enc, err := json.Marshal(h)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketCalls).Delete([]byte(h.ID)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketHistory).Put([]byte(h.ID), enc); err != nil {
			return err
		}
		// The index keeps the flow hash, so Prune can tell which flow
		// sources history needs without decoding every entry.
		return tx.Bucket(bucketByEnd).Put(endKey(h.Ended, h.ID), []byte(h.FlowHash))
	})
}

func endKey(t time.Time, id string) []byte {
	return append(seqKey(t.UnixNano()), id...)
}

// History returns an ended call.
func (s *BoltStore) History(callID string) (HistoryEntry, error) {
	var h HistoryEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketHistory).Get([]byte(callID))
		if v == nil {
			return fmt.Errorf("history of %s: %w", callID, ErrNoCall)
		}
		return json.Unmarshal(v, &h)
	})
	return h, err
}

// FlowSource returns a stored flow source.
func (s *BoltStore) FlowSource(hash string) ([]byte, error) {
	var src []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketFlows).Get([]byte(hash))
		if v == nil {
			return fmt.Errorf("flow %s: not in the state file", hash)
		}
		src = append([]byte(nil), v...)
		return nil
	})
	return src, err
}

func kvBucket(tx *bolt.Tx, flow string, create bool) (*bolt.Bucket, error) {
	root := tx.Bucket(bucketKV)
	if !create {
		return root.Bucket([]byte(flow)), nil
	}
	return root.CreateBucketIfNotExists([]byte(flow))
}

// Get reads a key of a flow's key/value space.
func (s *BoltStore) Get(flow, key string) ([]byte, bool, error) {
	var out []byte
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b, _ := kvBucket(tx, flow, false)
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(key)); v != nil {
			out, ok = append([]byte(nil), v...), true
		}
		return nil
	})
	return out, ok, err
}

// KVOp is a write to a flow's key/value space.
type KVOp struct {
	Op    string // "put", "incr" or "append"
	Flow  string
	Key   string
	Value []byte // put, append: JSON
	Delta int64  // incr
}

// applyKV performs op in tx. It returns the counter's new value for incr,
// the list's new length for append, 0 for put.
func applyKV(tx *bolt.Tx, op KVOp) (int64, error) {
	b, err := kvBucket(tx, op.Flow, true)
	if err != nil {
		return 0, err
	}
	key := []byte(op.Key)
	switch op.Op {
	case "put":
		return 0, b.Put(key, op.Value)
	case "incr":
		cur := int64(0)
		if v := b.Get(key); v != nil {
			if cur, err = strconv.ParseInt(string(v), 10, 64); err != nil {
				return 0, fmt.Errorf("incr %s/%s: the value %q is not a counter", op.Flow, op.Key, v)
			}
		}
		n := cur + op.Delta
		return n, b.Put(key, []byte(strconv.FormatInt(n, 10)))
	case "append":
		var list []json.RawMessage
		if v := b.Get(key); v != nil {
			if err := json.Unmarshal(v, &list); err != nil {
				return 0, fmt.Errorf("append %s/%s: the value is not a list", op.Flow, op.Key)
			}
		}
		list = append(list, json.RawMessage(op.Value))
		enc, err := json.Marshal(list)
		if err != nil {
			return 0, err
		}
		return int64(len(list)), b.Put(key, enc)
	}
	return 0, fmt.Errorf("unknown key/value operation %q", op.Op)
}

func (s *BoltStore) kv(op KVOp) (int64, error) {
	var n int64
	err := s.write(func(tx *bolt.Tx) (err error) {
		n, err = applyKV(tx, op)
		return err
	})
	return n, err
}

// Apply performs op and appends the step mkStep makes of its result, in
// one transaction.
func (s *BoltStore) Apply(callID string, op KVOp, mkStep func(n int64) Step) (int64, error) {
	var n int64
	err := s.write(func(tx *bolt.Tx) (err error) {
		if n, err = applyKV(tx, op); err != nil {
			return err
		}
		return appendTx(tx, callID, []Step{mkStep(n)})
	})
	return n, err
}

// Put writes a key.
func (s *BoltStore) Put(flow, key string, value []byte) error {
	_, err := s.kv(KVOp{Op: "put", Flow: flow, Key: key, Value: value})
	return err
}

// Incr adds delta to a counter (a decimal number; absent is 0) and returns
// the new value.
func (s *BoltStore) Incr(flow, key string, delta int64) (int64, error) {
	return s.kv(KVOp{Op: "incr", Flow: flow, Key: key, Delta: delta})
}

// AppendValue adds a value to a list kept under key (a JSON array) and
// returns the list's new length.
func (s *BoltStore) AppendValue(flow, key string, value []byte) (int, error) {
	n, err := s.kv(KVOp{Op: "append", Flow: flow, Key: key, Value: value})
	return int(n), err
}

// Prune drops old history and the flow sources nothing needs any more.
func (s *BoltStore) Prune(now time.Time, maxAge time.Duration, maxCount int) (int, error) {
	dropped := 0
	err := s.write(func(tx *bolt.Tx) error {
		byEnd := tx.Bucket(bucketByEnd)
		hist := tx.Bucket(bucketHistory)
		journals := tx.Bucket(bucketJournal)
		drop := expiredKeys(byEnd, now, maxAge, maxCount)
		cdrIdx, cdrWait := tx.Bucket(bucketCdrIdx), tx.Bucket(bucketCdrWait)
		for _, k := range drop {
			id := k[8:]
			if v := hist.Get(id); v != nil {
				var rec CallRecord
				if json.Unmarshal(v, &rec) == nil && rec.CallID != "" {
					key := cdrKey(rec.Device, rec.CallID)
					if string(cdrIdx.Get(key)) == string(id) {
						if err := cdrIdx.Delete(key); err != nil {
							return err
						}
					}
				}
				if rec.Job != "" {
					if err := tx.Bucket(bucketAttempt).Delete(attemptKey(rec.Job, rec.Attempt)); err != nil {
						return err
					}
				}
			}
			if err := cdrWait.Delete(id); err != nil {
				return err
			}
			if err := hist.Delete(id); err != nil {
				return err
			}
			if journals.Bucket(id) != nil {
				if err := journals.DeleteBucket(id); err != nil {
					return err
				}
			}
			if err := byEnd.Delete(k); err != nil {
				return err
			}
		}
		dropped = len(drop)
		if _, err := pruneCdrsTx(tx, now, maxAge, maxCount); err != nil {
			return err
		}
		// Keep the flow sources a live call or a history entry names.
		needed := map[string]bool{}
		collect := func(_, v []byte) error {
			var rec CallRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			needed[rec.FlowHash] = true
			return nil
		}
		if err := tx.Bucket(bucketCalls).ForEach(collect); err != nil {
			return err
		}
		if err := byEnd.ForEach(func(k, v []byte) error {
			if len(v) > 0 {
				needed[string(v)] = true
				return nil
			}
			// An entry indexed without its flow hash: read the entry.
			if e := hist.Get(k[8:]); e != nil {
				return collect(nil, e)
			}
			return nil
		}); err != nil {
			return err
		}
		flows := tx.Bucket(bucketFlows)
		var unused [][]byte
		if err := flows.ForEach(func(k, _ []byte) error {
			if !needed[string(k)] {
				unused = append(unused, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range unused {
			if err := flows.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return dropped, err
}

// HistoryQuery selects ended calls (BoltStore.SearchHistory).
type HistoryQuery struct {
	// Number keeps the calls whose caller or called number contains it
	// ("" keeps all).
	Number string
	// Since and Until keep the calls that ended at or after Since and
	// before Until (zero: unbounded).
	Since, Until time.Time
	// Before continues a search: only calls older than the one it names
	// (the Next of the previous page).
	Before string
	// Limit is the most calls returned (0: all).
	Limit int
}

// HistoryPage is one page of a history search, newest first. Next, when
// not empty, is the Before that continues it with older calls.
type HistoryPage struct {
	Calls []HistoryEntry
	Next  string
}

// expiredKeys lists, oldest first, the keys of a bucket keyed by time
// (seqKey of the time, then an id) that retention drops: those older than
// maxAge before now, and the oldest beyond the newest maxCount (zero: no
// bound). It counts with a cursor: Stats does not see the transaction's
// own writes (entries added in the same group commit).
func expiredKeys(b *bolt.Bucket, now time.Time, maxAge time.Duration, maxCount int) [][]byte {
	total := 0
	if maxCount > 0 {
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			total++
		}
	}
	var drop [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		ended := time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))
		tooOld := maxAge > 0 && now.Sub(ended) > maxAge
		tooMany := maxCount > 0 && total-len(drop) > maxCount
		if !tooOld && !tooMany {
			break
		}
		drop = append(drop, append([]byte(nil), k...))
	}
	return drop
}

// timeBounds turns a search's cursor and period into the keys of an index
// by time (seqKey of the time, then an id) that a walk newest first starts
// below (from; nil: the newest) and stops under (floor; nil: the oldest).
func timeBounds(before string, since, until time.Time) (from, floor []byte, err error) {
	if before != "" {
		b, err := hex.DecodeString(before)
		if err != nil || len(b) < 8 {
			return nil, nil, fmt.Errorf("%q: %w", before, ErrCursor)
		}
		from = b
	}
	if !until.IsZero() {
		if u := seqKey(until.UnixNano()); from == nil || bytes.Compare(u, from) < 0 {
			from = u
		}
	}
	if !since.IsZero() {
		floor = seqKey(since.UnixNano())
	}
	return from, floor, nil
}

// walkNewest walks an index by time (keys as timeBounds makes them) newest
// first, from below from down to floor, handing each entry to take, which
// says whether the entry joined the page. Once limit (> 0) entries have,
// the walk stops and returns the cursor of the next page, which starts at
// the entry not taken (the cursor names the key just after it).
func walkNewest(b *bolt.Bucket, from, floor []byte, limit int, take func(k, v []byte) (bool, error)) (next string, err error) {
	c := b.Cursor()
	var k, v []byte
	if from == nil {
		k, v = c.Last()
	} else if k, v = c.Seek(from); k == nil {
		// Seek lands on the first key >= from; every match is below it.
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	taken := 0
	for ; k != nil; k, v = c.Prev() {
		if floor != nil && bytes.Compare(k[:8], floor) < 0 {
			return "", nil
		}
		if limit > 0 && taken == limit {
			return hex.EncodeToString(append(append([]byte(nil), k...), 0)), nil
		}
		ok, err := take(k, v)
		if err != nil {
			return "", err
		}
		if ok {
			taken++
		}
	}
	return "", nil
}

// SearchHistory returns the ended calls q selects, newest first, walking
// the by-end index from Until (or Before) down to Since, so a narrow time
// range reads only its own calls.
func (s *BoltStore) SearchHistory(q HistoryQuery) (HistoryPage, error) {
	var page HistoryPage
	from, floor, err := timeBounds(q.Before, q.Since, q.Until)
	if err != nil {
		return page, fmt.Errorf("search history: %w", err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		hist := tx.Bucket(bucketHistory)
		var err error
		page.Next, err = walkNewest(tx.Bucket(bucketByEnd), from, floor, q.Limit, func(k, _ []byte) (bool, error) {
			v := hist.Get(k[8:])
			if v == nil {
				return false, nil
			}
			var h HistoryEntry
			if err := json.Unmarshal(v, &h); err != nil {
				return false, fmt.Errorf("history of %s: %w", k[8:], err)
			}
			if q.Number != "" && !strings.Contains(h.From, q.Number) && !strings.Contains(h.To, q.Number) {
				return false, nil
			}
			page.Calls = append(page.Calls, h)
			return true, nil
		})
		return err
	})
	return page, err
}

// ListHistory returns the ended calls, newest first; limit > 0 keeps only
// the newest limit of them.
func (s *BoltStore) ListHistory(limit int) ([]HistoryEntry, error) {
	var out []HistoryEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		hist := tx.Bucket(bucketHistory)
		c := tx.Bucket(bucketByEnd).Cursor()
		for k, _ := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, _ = c.Prev() {
			v := hist.Get(k[8:])
			if v == nil {
				continue
			}
			var h HistoryEntry
			if err := json.Unmarshal(v, &h); err != nil {
				return fmt.Errorf("history of %s: %w", k[8:], err)
			}
			out = append(out, h)
		}
		return nil
	})
	return out, err
}

// CompactTo writes a compacted copy of the state file to path, which must
// not exist or be empty: the same buckets, keys and sequences, without the
// free pages that ended and pruned calls leave behind. The copy is a
// snapshot; compaction is meant for a stopped daemon (ivrd state compact).
func (s *BoltStore) CompactTo(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		return fmt.Errorf("compact to %s: the file is not empty", path)
	}
	dst, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("compact to %s: %w", path, err)
	}
	if err := bolt.Compact(dst, s.db, 64<<20); err != nil {
		dst.Close()
		return fmt.Errorf("compact to %s: %w", path, err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("compact to %s: %w", path, err)
	}
	return nil
}

// StepResult is what tools that show a journal read from a step's Result:
// the value the flow got back (R), the part of the IVR path the step added
// (redacted as the history's path is), and the call's outcome and target
// as they stood after the step.
type StepResult struct {
	R       json.RawMessage `json:"r,omitempty"`
	Path    []PathEntry     `json:"path,omitempty"`
	Outcome string          `json:"outcome,omitempty"`
	Target  string          `json:"target,omitempty"`
}

// DecodeResult reads the step's Result as a session journals it.
func (st Step) DecodeResult() (StepResult, error) {
	var r StepResult
	if len(st.Result) == 0 {
		return r, nil
	}
	if err := json.Unmarshal(st.Result, &r); err != nil {
		return r, fmt.Errorf("step %d: result: %w", st.Seq, err)
	}
	return r, nil
}
