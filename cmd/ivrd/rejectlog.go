package main

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// rejectEvery is how long rejections of one kind are counted, after the
// first is logged, before their count is.
const rejectEvery = 10 * time.Second

// rejectLog logs rejected reports without letting a flood of them flood
// the log (at 1,000 bad reports a second, a line each is 13 GB a day, and
// journald's rate limit would start dropping ivrd's other lines): per
// device and status, the first rejection is logged at once, and those that
// follow within rejectEvery are counted and logged as one line when it
// ends. ivrd_reports_rejected_total keeps the exact counts.
type rejectLog struct {
	log   hclog.Logger
	every time.Duration

	mu     sync.Mutex
	open   map[rejectKey]*rejectRun
	closed bool
}

type rejectKey struct {
	device string
	status int
}

// rejectRun counts the rejections after the first of an interval.
type rejectRun struct {
	n      int
	remote string
	err    error
	timer  *time.Timer
}

func newRejectLog(log hclog.Logger, every time.Duration) *rejectLog {
	return &rejectLog{log: log, every: every, open: map[rejectKey]*rejectRun{}}
}

// rejected records one rejected report.
func (l *rejectLog) rejected(device, remote string, status int, err error) {
	k := rejectKey{device, status}
	l.mu.Lock()
	if r := l.open[k]; r != nil {
		r.n++
		r.remote, r.err = remote, err
		l.mu.Unlock()
		return
	}
	if !l.closed {
		l.open[k] = &rejectRun{timer: time.AfterFunc(l.every, func() { l.flush(k) })}
	}
	l.mu.Unlock()
	l.log.Warn("report rejected", "device", device, "remote", remote, "status", status, "error", err)
}

// flush ends k's interval, logging how many rejections it counted.
func (l *rejectLog) flush(k rejectKey) {
	l.mu.Lock()
	r := l.open[k]
	delete(l.open, k)
	l.mu.Unlock()
	l.logRun(k, r)
}

func (l *rejectLog) logRun(k rejectKey, r *rejectRun) {
	if r == nil || r.n == 0 {
		return
	}
	l.log.Warn("more reports rejected", "device", k.device, "status", k.status, "count", r.n,
		"within", l.every, "last_remote", r.remote, "last_error", r.err)
}

// close logs what every open interval counted and stops counting: each
// rejection after it is logged on its own.
func (l *rejectLog) close() {
	l.mu.Lock()
	open := l.open
	l.open = map[rejectKey]*rejectRun{}
	l.closed = true
	l.mu.Unlock()
	for k, r := range open {
		r.timer.Stop()
		l.logRun(k, r)
	}
}
