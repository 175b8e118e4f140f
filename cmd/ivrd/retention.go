package main

import (
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
)

// pruneEvery is how often "ivrd serve" applies [history] after the first
// time, at start.
const pruneEvery = time.Hour

// historyPruner applies [history] to the state file: once when started,
// then every pruneEvery until stopped.
type historyPruner struct {
	stop chan struct{}
	done chan struct{}
}

// startPruner prunes the history now, then keeps doing so in the
// background. The configuration has been validated.
func startPruner(store engine.Store, h HistoryConfig, log hclog.Logger) *historyPruner {
	maxAge, maxCount, _ := h.retention()
	prune := func() {
		n, err := store.Prune(time.Now(), maxAge, maxCount)
		switch {
		case err != nil:
			log.Error("pruning the history failed; the state file keeps growing", "error", err)
		case n > 0:
			log.Info("history pruned", "dropped", n, "max_age", maxAge, "max_count", maxCount)
		}
	}
	prune()
	p := &historyPruner{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(pruneEvery)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				prune()
			case <-p.stop:
				return
			}
		}
	}()
	return p
}

// Stop ends the background pruning and waits for a prune in progress.
func (p *historyPruner) Stop() {
	close(p.stop)
	<-p.done
}
