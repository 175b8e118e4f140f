package clock_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
)

var epoch = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func TestVirtualFiresInOrderAndSettles(t *testing.T) {
	v := clock.NewVirtual(epoch)
	var mu sync.Mutex
	var got []string
	record := func(s string) func() {
		return func() {
			mu.Lock()
			got = append(got, s+"@"+v.Now().Sub(epoch).String())
			mu.Unlock()
		}
	}
	v.AfterFunc(3*time.Second, record("c"))
	v.AfterFunc(1*time.Second, record("a"))
	v.AfterFunc(2*time.Second, func() {
		record("b")()
		// Work started by a firing timer must finish before time moves on.
		done := v.Work()
		go func() {
			defer done()
			v.AfterFunc(500*time.Millisecond, record("b2"))
		}()
	})
	stopped := v.AfterFunc(2500*time.Millisecond, record("never"))
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	v.Advance(5 * time.Second)
	want := []string{"a@1s", "b@2s", "b2@2.5s", "c@3s"}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if now := v.Now(); !now.Equal(epoch.Add(5 * time.Second)) {
		t.Fatalf("now = %v, want %v", now, epoch.Add(5*time.Second))
	}
	if v.Pending() != 0 {
		t.Fatalf("pending = %d, want 0", v.Pending())
	}
}

func TestVirtualSleep(t *testing.T) {
	v := clock.NewVirtual(epoch)
	woke := make(chan bool, 1)
	go func() { woke <- v.Sleep(context.Background(), time.Minute) }()
	waitPending(t, v, 1)
	v.Advance(59 * time.Second)
	select {
	case <-woke:
		t.Fatal("woke before its deadline")
	default:
	}
	v.Advance(time.Second)
	if ok := <-woke; !ok {
		t.Fatal("Sleep reported it was cancelled")
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { woke <- v.Sleep(ctx, time.Minute) }()
	waitPending(t, v, 1)
	cancel()
	if ok := <-woke; ok {
		t.Fatal("cancelled Sleep reported the full duration")
	}
	waitPending(t, v, 0)
}

func TestRealClock(t *testing.T) {
	var c clock.Clock = clock.Real{}
	fired := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(fired) })
	<-fired
	if !c.Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep reported cancelled")
	}
	c.Work()()
}

func waitPending(t *testing.T, v *clock.Virtual, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for v.Pending() != n {
		if time.Now().After(deadline) {
			t.Fatalf("pending timers = %d, want %d", v.Pending(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
