package clock

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Virtual is a clock that moves only when Advance or AdvanceTo is called.
// Timers fire in deadline order (ties in creation order); before each timer
// fires, and before Advance returns, the clock waits until all work
// registered with Work has finished, so a test sees every consequence of a
// moment before time moves past it.
type Virtual struct {
	mu      sync.Mutex
	idle    *sync.Cond
	now     time.Time
	timers  timerHeap
	seq     uint64
	working int
}

// NewVirtual returns a virtual clock that starts at start.
func NewVirtual(start time.Time) *Virtual {
	v := &Virtual{now: start}
	v.idle = sync.NewCond(&v.mu)
	return v
}

// Now returns the virtual time.
func (v *Virtual) Now() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.now
}

// AfterFunc schedules f to run d after the current virtual time.
func (v *Virtual) AfterFunc(d time.Duration, f func()) Timer {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seq++
	t := &vtimer{clock: v, when: v.now.Add(d), seq: v.seq, f: f, index: -1}
	heap.Push(&v.timers, t)
	return t
}

// Sleep waits until d of virtual time has passed or ctx is done. The
// sleeping goroutine does not count as work in flight while it waits.
func (v *Virtual) Sleep(ctx context.Context, d time.Duration) bool {
	ch := make(chan struct{})
	t := v.AfterFunc(d, func() { close(ch) })
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		t.Stop()
		return false
	}
}

// Work registers work in flight; call the returned func when it is done.
func (v *Virtual) Work() func() {
	v.mu.Lock()
	v.working++
	v.mu.Unlock()
	var once sync.Once
	return func() { once.Do(v.done) }
}

func (v *Virtual) done() {
	v.mu.Lock()
	v.working--
	if v.working == 0 {
		v.idle.Broadcast()
	}
	v.mu.Unlock()
}

// Settle waits until no registered work is in flight.
func (v *Virtual) Settle() {
	v.mu.Lock()
	defer v.mu.Unlock()
	for v.working > 0 {
		v.idle.Wait()
	}
}

// Advance moves the clock forward by d, firing every timer that falls due on
// the way, and returns once everything has settled.
func (v *Virtual) Advance(d time.Duration) {
	v.AdvanceTo(v.Now().Add(d))
}

// AdvanceTo moves the clock to t (never backwards), firing the timers due by
// then in order and settling after each.
func (v *Virtual) AdvanceTo(t time.Time) {
	for {
		v.mu.Lock()
		for v.working > 0 {
			v.idle.Wait()
		}
		if len(v.timers) == 0 || v.timers[0].when.After(t) {
			if t.After(v.now) {
				v.now = t
			}
			v.mu.Unlock()
			return
		}
		next := heap.Pop(&v.timers).(*vtimer)
		if next.when.After(v.now) {
			v.now = next.when
		}
		v.working++
		v.mu.Unlock()
		go func() {
			defer v.done()
			next.f()
		}()
	}
}

// Pending returns how many timers are waiting to fire.
func (v *Virtual) Pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.timers)
}

// NextDeadline returns the deadline of the earliest pending timer.
func (v *Virtual) NextDeadline() (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.timers) == 0 {
		return time.Time{}, false
	}
	return v.timers[0].when, true
}

type vtimer struct {
	clock *Virtual
	when  time.Time
	seq   uint64
	f     func()
	index int
}

func (t *vtimer) Stop() bool {
	v := t.clock
	v.mu.Lock()
	defer v.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&v.timers, t.index)
	return true
}

type timerHeap []*vtimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*vtimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
