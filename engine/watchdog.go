package engine

import (
	"context"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// watchdog stops the Lua steps running when the process heap passes a
// limit: a flow that allocates without bound is stopped before it takes
// the daemon down. Steps are short for well-behaved flows, so the steps
// caught running are the ones allocating.
type watchdog struct {
	limit uint64

	mu      sync.Mutex
	seq     uint64
	running map[uint64]func()
	trips   atomic.Uint64
	last    atomic.Int64 // unix nanos of the last trip
}

const heapMetric = "/memory/classes/heap/objects:bytes"

func newWatchdog(limit uint64) *watchdog {
	return &watchdog{limit: limit, running: map[uint64]func(){}}
}

// enter registers a running step; leave with the token it returns.
func (w *watchdog) enter(stop func()) uint64 {
	if w == nil || w.limit == 0 {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	w.running[w.seq] = stop
	return w.seq
}

func (w *watchdog) leave(token uint64) {
	if w == nil || token == 0 {
		return
	}
	w.mu.Lock()
	delete(w.running, token)
	w.mu.Unlock()
}

// tripped reports whether the watchdog stopped steps in the last second.
func (w *watchdog) tripped() bool {
	if w == nil {
		return false
	}
	return time.Since(time.Unix(0, w.last.Load())) < time.Second
}

// run samples the heap every interval until ctx ends.
func (w *watchdog) run(ctx context.Context, interval time.Duration) {
	if w == nil || w.limit == 0 {
		return
	}
	sample := []metrics.Sample{{Name: heapMetric}}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 || sample[0].Value.Uint64() < w.limit {
			continue
		}
		w.mu.Lock()
		n := len(w.running)
		for _, stop := range w.running {
			stop()
		}
		w.mu.Unlock()
		if n > 0 {
			w.trips.Add(1)
			w.last.Store(time.Now().UnixNano())
		}
	}
}
