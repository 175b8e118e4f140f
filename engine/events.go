package engine

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Kinds of the normalised events (CallEvent.Kind). A flow's own events are
// "flow." followed by the name it gives ivr.emit.
const (
	KindCallIncoming = "call.incoming" // a call reached the IVR
	KindCallRinging  = "call.ringing"  // an extension rings for a call
	KindCallAnswered = "call.answered" // an extension answered a call
	KindCallEnded    = "call.ended"    // a call left the IVR
	KindExtState     = "ext.state"     // an extension changed state
	KindCdr          = "cdr"           // the device's record of a call
	KindFlowPrefix   = "flow."         // ivr.emit(name, data)

	// Agent call control (Router.Agent): what was done to the call of
	// an extension.
	KindAgentHold      = "agent.hold"      // the extension held its call
	KindAgentUnhold    = "agent.unhold"    // … took it off hold
	KindAgentHangup    = "agent.hangup"    // … hung it up
	KindAgentTransfer  = "agent.transfer"  // … transferred it (ext, group, flow)
	KindAgentSupervise = "agent.supervise" // a supervisor joined it or changed mode

	// Recordings (Recordings): a call's recording fetched or given up.
	KindRecordingReady  = "recording.ready"  // a call's recording was fetched
	KindRecordingFailed = "recording.failed" // a call's recording could not be fetched
)

// Defaults of EventLogOptions.
const (
	// DefaultEventsMaxCount is how many events the log keeps; the oldest
	// go first.
	DefaultEventsMaxCount = 100_000
	// DefaultEventsMaxAge is how long an event is kept.
	DefaultEventsMaxAge = 7 * 24 * time.Hour
	// eventsPending bounds the events queued for the disk; past it a new
	// event is dropped (and counted), so a stalled disk never grows the
	// heap without bound.
	eventsPending = 65536
	// DefaultSubscriberBuffer is how many events a subscriber may fall
	// behind before it is dropped.
	DefaultSubscriberBuffer = 1024
	// eventsPruneEvery is how often the writer prunes the log.
	eventsPruneEvery = time.Minute
)

// CallEvent is one normalised event, as GET /api/v1/events sends it. IDs
// increase by one per event, across restarts, so a client deduplicates
// and resumes by id.
type CallEvent struct {
	ID   uint64    `json:"id"`
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
	// Device and Ext say what the event is about, for filters; Call is
	// the ivrd call id when the event belongs to a call in the IVR.
	Device string          `json:"device,omitempty"`
	Ext    string          `json:"ext,omitempty"`
	Call   string          `json:"call_id,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// EventStore keeps the event log durably. BoltStore implements it; a nil
// EventLogOptions.Store keeps the log in memory.
type EventStore interface {
	// AppendEvents stores events (ids increasing) and returns once they
	// are durable.
	AppendEvents(evs []CallEvent) error
	// EventsAfter returns up to limit events with ids above after, oldest
	// first.
	EventsAfter(after uint64, limit int) ([]CallEvent, error)
	// LastEventID is the id of the last event ever appended (0 for none),
	// even when pruning has removed it.
	LastEventID() (uint64, error)
	// PruneEvents removes events older than maxAge and all but the newest
	// maxCount; it returns how many went.
	PruneEvents(now time.Time, maxAge time.Duration, maxCount int) (int, error)
}

// EventLogOptions configure an EventLog.
type EventLogOptions struct {
	// Store keeps the events; nil keeps them in memory (MaxCount of them).
	Store EventStore
	// MaxCount is how many events are kept (default
	// DefaultEventsMaxCount); MaxAge how long (default
	// DefaultEventsMaxAge). Negative keeps them without that bound.
	MaxCount int
	MaxAge   time.Duration
	// Buffer is how many events a subscriber may fall behind before it is
	// dropped (default DefaultSubscriberBuffer).
	Buffer int
	// Now is the clock events are stamped with (default time.Now).
	Now    func() time.Time
	Logger hclog.Logger
}

// EventLog numbers events, keeps them and tells subscribers. Publish never
// waits for the disk: events queue for a writer goroutine, which hands
// each batch to the store's group commit (one transaction with whatever
// calls' steps are committing then) and tells subscribers once the batch
// is durable. A subscriber therefore never sees an event that a reader of
// the log could miss, which is what makes resuming by id gapless.
type EventLog struct {
	store  EventStore
	opt    EventLogOptions
	log    hclog.Logger
	now    func() time.Time
	wake   chan struct{}
	closed chan struct{}
	done   chan struct{}

	mu        sync.Mutex
	next      uint64 // the id of the last event numbered
	committed uint64 // the id of the last event written and told
	pending   []CallEvent
	subs      map[*Subscription]struct{}
	dropped   uint64
	stopping  bool
}

// OpenEventLog starts an event log; Close stops it.
func OpenEventLog(opt EventLogOptions) (*EventLog, error) {
	if opt.MaxCount == 0 {
		opt.MaxCount = DefaultEventsMaxCount
	}
	if opt.MaxAge == 0 {
		opt.MaxAge = DefaultEventsMaxAge
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Buffer <= 0 {
		opt.Buffer = DefaultSubscriberBuffer
	}
	if opt.Logger == nil {
		opt.Logger = hclog.NewNullLogger()
	}
	if opt.Store == nil {
		opt.Store = &memEvents{}
	}
	last, err := opt.Store.LastEventID()
	if err != nil {
		return nil, err
	}
	l := &EventLog{store: opt.Store, opt: opt, log: opt.Logger.Named("events"), now: opt.Now,
		wake: make(chan struct{}, 1), closed: make(chan struct{}), done: make(chan struct{}),
		next: last, committed: last, subs: map[*Subscription]struct{}{}}
	go l.writer()
	return l, nil
}

// Publish numbers e, stamps it and queues it. It never blocks; on a nil
// log it does nothing.
func (l *EventLog) Publish(e CallEvent) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if l.stopping || len(l.pending) >= eventsPending {
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.next++
	e.ID = l.next
	e.At = l.now().UTC()
	l.pending = append(l.pending, e)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// publishData is Publish with data marshalled from v.
func (l *EventLog) publishData(kind, device, ext, call string, v any) {
	if l == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		l.log.Error("cannot encode an event", "kind", kind, "error", err)
		return
	}
	l.Publish(CallEvent{Kind: kind, Device: device, Ext: ext, Call: call, Data: b})
}

// Dropped counts events not kept because the queue was full or the log
// closing.
func (l *EventLog) Dropped() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// LastID is the id of the last event written to the store and told to
// the subscribers (0 before the first). Every event up to it that is not
// in the store (EventLog.After) has been pruned, or its write failed.
func (l *EventLog) LastID() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.committed
}

// After returns up to limit stored events after id, oldest first.
func (l *EventLog) After(id uint64, limit int) ([]CallEvent, error) {
	return l.store.EventsAfter(id, limit)
}

// Close writes what is queued, ends every subscription and stops the
// writer. Call it before closing the store.
func (l *EventLog) Close() {
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		<-l.done
		return
	}
	l.stopping = true
	l.mu.Unlock()
	close(l.closed)
	<-l.done
}

func (l *EventLog) writer() {
	defer close(l.done)
	prune := time.NewTicker(eventsPruneEvery)
	defer prune.Stop()
	l.prune()
	for {
		l.mu.Lock()
		batch := l.pending
		l.pending = nil
		l.mu.Unlock()
		if len(batch) > 0 {
			if err := l.store.AppendEvents(batch); err != nil {
				// Live subscribers still get them; a resuming client
				// will not.
				l.log.Error("cannot keep events in the state file", "count", len(batch), "error", err)
			}
			l.tell(batch)
			continue
		}
		select {
		case <-l.wake:
		case <-prune.C:
			l.prune()
		case <-l.closed:
			l.mu.Lock()
			n := len(l.pending)
			l.mu.Unlock()
			if n > 0 {
				continue
			}
			l.mu.Lock()
			for s := range l.subs {
				s.end(false)
			}
			l.subs = nil
			l.mu.Unlock()
			return
		}
	}
}

func (l *EventLog) prune() {
	n, err := l.store.PruneEvents(l.now(), l.opt.MaxAge, l.opt.MaxCount)
	if err != nil {
		l.log.Warn("cannot prune the event log", "error", err)
	} else if n > 0 {
		l.log.Debug("event log pruned", "removed", n)
	}
}

// tell hands a durable batch to the subscribers; one that cannot take it
// has fallen too far behind and is ended.
func (l *EventLog) tell(batch []CallEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.committed = batch[len(batch)-1].ID
	for s := range l.subs {
		for _, e := range batch {
			select {
			case s.ch <- e:
				continue
			default:
			}
			s.end(true)
			delete(l.subs, s)
			break
		}
	}
}

// Subscription is a live feed of the events after Since. Events arrive on
// C, in id order; C is closed when the subscription ends (Close, the log's
// Close, or falling behind: then Slow says so).
type Subscription struct {
	// Since is the id of the last event committed when the subscription
	// began: every later event comes on C, every earlier one is in the
	// log (EventLog.After).
	Since uint64
	C     <-chan CallEvent
	ch    chan CallEvent
	l     *EventLog
	slow  bool
	ended bool
}

// Subscribe starts a live feed. Read the log up to Since first, then C.
func (l *EventLog) Subscribe() *Subscription {
	ch := make(chan CallEvent, l.opt.Buffer)
	s := &Subscription{C: ch, ch: ch, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	s.Since = l.committed
	if l.subs == nil {
		s.ended = true
		close(ch)
		return s
	}
	l.subs[s] = struct{}{}
	return s
}

// end closes the channel; l.mu is held.
func (s *Subscription) end(slow bool) {
	if !s.ended {
		s.ended, s.slow = true, slow
		close(s.ch)
	}
}

// Slow reports whether the subscription was ended for falling behind.
func (s *Subscription) Slow() bool {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	return s.slow
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	delete(s.l.subs, s)
	s.end(false)
}

// memEvents is the event log of a daemon without a state file.
type memEvents struct {
	mu   sync.Mutex
	evs  []CallEvent
	last uint64
}

func (m *memEvents) AppendEvents(evs []CallEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.evs = append(m.evs, evs...)
	m.last = evs[len(evs)-1].ID
	return nil
}

func (m *memEvents) EventsAfter(after uint64, limit int) ([]CallEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []CallEvent
	for _, e := range m.evs {
		if e.ID > after {
			out = append(out, e)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

func (m *memEvents) LastEventID() (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last, nil
}

func (m *memEvents) PruneEvents(now time.Time, maxAge time.Duration, maxCount int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cut := 0
	if maxCount >= 0 && len(m.evs) > maxCount {
		cut = len(m.evs) - maxCount
	}
	for maxAge > 0 && cut < len(m.evs) && now.Sub(m.evs[cut].At) > maxAge {
		cut++
	}
	m.evs = append([]CallEvent(nil), m.evs[cut:]...)
	return cut, nil
}
