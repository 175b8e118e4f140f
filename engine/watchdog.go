package engine

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// watchdog stops the Lua steps running when the process heap passes a
// limit: a flow that allocates without bound is stopped before it takes
// the daemon down. Steps are short for well-behaved flows, so the steps
// caught running are the ones allocating; when some have run for a whole
// sampling interval, only those are stopped.
type watchdog struct {
	limit uint64

	mu      sync.Mutex
	seq     uint64
	running map[uint64]runningStep
}

type runningStep struct {
	stop  func()
	since time.Time
}

// heapMetric counts the bytes of heap objects, live or not yet swept. It
// moves as soon as a flow allocates, but it also counts garbage: a sample
// over the limit is confirmed after a collection (see run).
const heapMetric = "/memory/classes/heap/objects:bytes"

func newWatchdog(limit uint64) *watchdog {
	return &watchdog{limit: limit, running: map[uint64]runningStep{}}
}

// enter registers a running step; leave with the token it returns.
func (w *watchdog) enter(stop func()) uint64 {
	if w == nil || w.limit == 0 {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	w.running[w.seq] = runningStep{stop: stop, since: time.Now()}
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

// run samples the heap every interval until ctx ends. The metric counts
// dead objects not yet swept, so a sample over the limit may be garbage:
// right after a trip it is everything the stopped flow held, which the
// pacer may leave for minutes, and stopping steps on it would stop every
// ordinary call that happens to be running. So a sample over the limit
// stops at once only the steps that have run a whole interval (a flow
// allocating without bound runs long), and only while no trip is recent;
// otherwise it is taken again after a forced collection first.
func (w *watchdog) run(ctx context.Context, interval time.Duration) {
	if w == nil || w.limit == 0 {
		return
	}
	sample := []metrics.Sample{{Name: heapMetric}}
	over := func() bool {
		metrics.Read(sample)
		return sample[0].Value.Kind() == metrics.KindUint64 && sample[0].Value.Uint64() >= w.limit
	}
	suspect := false // a trip left garbage the metric may still count
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !over() {
			suspect = false
			continue
		}
		if !suspect && w.stopRunning(interval, false) > 0 {
			suspect = true
			continue
		}
		if w.idle() {
			continue // nothing to stop: no need to pay for a collection
		}
		runtime.GC()
		if !over() {
			suspect = false
			continue
		}
		if w.stopRunning(interval, true) > 0 {
			suspect = true
		}
	}
}

// idle reports whether no step is running.
func (w *watchdog) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running) == 0
}

// stopRunning stops the steps that have run for at least minAge or, when
// none has and all is set, every running step. It returns how many it
// stopped.
func (w *watchdog) stopRunning(minAge time.Duration, all bool) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	var stop []runningStep
	for _, st := range w.running {
		if time.Since(st.since) >= minAge {
			stop = append(stop, st)
		}
	}
	if len(stop) == 0 && all {
		for _, st := range w.running {
			stop = append(stop, st)
		}
	}
	for _, st := range stop {
		st.stop()
	}
	return len(stop)
}
