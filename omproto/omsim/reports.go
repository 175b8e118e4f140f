package omsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/ivrd/ivrd/omproto"
)

// Faults are switches for reliability tests. Counters apply to the next N
// reports; rates apply to each report with that probability (from the
// generator seeded by Config.Seed).
type Faults struct {
	// Command side. Commands answered with CommandStatus or
	// CommandGarbage are still carried out: a client cannot tell.
	CommandDelay      time.Duration // wait this long (real time) before handling each command
	CommandStatus     int           // answer every command with this HTTP status (e.g. 500)
	CommandGarbage    bool          // answer every command with malformed XML
	RefuseConnections bool          // close every command connection at once

	// Report side.
	DropReports      int // drop the next N reports
	DuplicateReports int // send the next N reports twice
	// ReorderReports holds back each of the next N reports until the one
	// after it has been sent (it then goes right after), or for one second
	// (virtual time on a virtual clock) if no other report comes.
	ReorderReports int
	DropRate       float64 // drop each report with this probability
	DuplicateRate  float64 // send each report twice with this probability

	// Recordings (GET /mcc/Recorder/…).
	RecordingsMissing      bool // answer 404 for every recording, as while the device is still writing it
	RecordingsUnauthorized bool // answer 401 to every web account, as after its password changed
}

// SetFaults replaces the fault switches.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Faults returns the fault switches in effect.
func (s *Sim) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// pending is a report waiting to be delivered. done ends the work it
// registered with the clock.
type pending struct {
	index int // in Sim.reports
	body  []byte
	kind  string
	done  func()
}

// reporter delivers reports one at a time, in the order they were made, on
// a fresh connection each (the OM's short connections).
type reporter struct {
	sim    *Sim
	client *http.Client
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []pending
	// held is a report being reordered: it goes out after the next one, or
	// after reorderWait if no other report comes.
	held      *pending
	heldTimer interface{ Stop() bool }
	closed    bool
	wg        sync.WaitGroup
}

func newReporter(s *Sim) *reporter {
	r := &reporter{
		sim: s,
		client: &http.Client{
			Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
			Timeout:   s.cfg.ReportTimeout,
		},
	}
	r.cond = sync.NewCond(&r.mu)
	r.wg.Add(1)
	go r.run()
	return r
}

// emit queues a report. The caller holds s.mu, which keeps reports in the
// order the device made them.
func (s *Sim) emit(ev *omproto.Event) {
	rep := &omproto.Report{Event: ev}
	s.queueReport(rep, ev.Name)
}

func (s *Sim) emitCdr(c *omproto.Cdr) {
	s.queueReport(&omproto.Report{Cdr: c}, "Cdr")
}

func (s *Sim) queueReport(rep *omproto.Report, kind string) {
	body := rep.Encode()
	s.reports = append(s.reports, ReportRecord{Time: s.clk.Now(), Kind: kind, Body: string(body)})
	idx := len(s.reports) - 1
	if s.executing != nil || len(s.held) > 0 {
		// A command's report waits for its answer; any report waits
		// behind those held before it. The command whose answer a held
		// report waits for keeps it counted as work in flight.
		s.held = append(s.held, heldReport{index: idx, by: s.executing})
		return
	}
	s.sendReport(idx)
}

// sendReport applies the report faults to a generated report and queues
// what is left for delivery. The caller holds s.mu.
func (s *Sim) sendReport(idx int) {
	rec := &s.reports[idx]
	kind := rec.Kind
	if s.cfg.ReportURL == "" {
		rec.Result = "kept"
		s.log("report %s kept", kind)
		return
	}
	copies := 1
	switch {
	case s.faults.DropReports > 0:
		s.faults.DropReports--
		copies = 0
	case s.faults.DropRate > 0 && s.rng.Float64() < s.faults.DropRate:
		copies = 0
	case s.faults.DuplicateReports > 0:
		s.faults.DuplicateReports--
		copies = 2
	case s.faults.DuplicateRate > 0 && s.rng.Float64() < s.faults.DuplicateRate:
		copies = 2
	}
	if copies == 0 {
		rec.Result = "dropped"
		s.log("report %s dropped (fault)", kind)
		return
	}
	body := []byte(rec.Body)
	for i := 0; i < copies; i++ {
		hold := i == 0 && s.faults.ReorderReports > 0
		// A report that releases a held one is not held itself: the
		// reorder counter counts reports actually overtaken.
		if s.out.push(pending{index: idx, body: body, kind: kind, done: s.clk.Work()}, hold) {
			s.faults.ReorderReports--
		}
	}
}

// reorderWait is how long a held report waits for another to overtake it.
const reorderWait = time.Second

// push appends a report; with hold, the report is kept back so that the
// next report overtakes it, unless one is held already (this report then
// overtakes that one). It reports whether it held the report.
func (r *reporter) push(p pending, hold bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		p.done()
		return false
	}
	if hold && r.held == nil {
		// A held report is not work in flight until it is released, or a
		// virtual clock could never reach the timer that releases it.
		p.done()
		r.held = &p
		r.heldTimer = r.sim.clk.AfterFunc(reorderWait, r.releaseHeld)
		return true
	}
	r.queue = append(r.queue, p)
	if r.held != nil {
		r.heldTimer.Stop()
		r.queueHeld()
	}
	r.cond.Signal()
	return false
}

func (r *reporter) releaseHeld() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held != nil && !r.closed {
		r.queueHeld()
		r.cond.Signal()
	}
}

func (r *reporter) queueHeld() {
	h := *r.held
	r.held = nil
	h.done = r.sim.clk.Work()
	r.queue = append(r.queue, h)
}

func (r *reporter) next() (pending, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if r.closed {
			return pending{}, false
		}
		if len(r.queue) > 0 {
			p := r.queue[0]
			r.queue = r.queue[1:]
			return p, true
		}
		r.cond.Wait()
	}
}

func (r *reporter) run() {
	defer r.wg.Done()
	for {
		p, ok := r.next()
		if !ok {
			return
		}
		result := r.deliver(p)
		s := r.sim
		s.mu.Lock()
		s.reports[p.index].Result = result
		s.log("report %s %s", p.kind, result)
		s.mu.Unlock()
		p.done()
	}
}

func (r *reporter) deliver(p pending) string {
	s := r.sim
	body := p.body
	if s.cfg.ReportSecret != "" {
		rep, err := omproto.DecodeReport(body)
		if err == nil {
			rep.Auth = omproto.Sign(s.cfg.ReportSecret, omproto.NewNonce(), s.clk.Now())
			body = rep.Encode()
		}
	}
	req, err := http.NewRequestWithContext(context.Background(), s.cfg.ReportMethod, s.cfg.ReportURL, bytes.NewReader(body))
	if err != nil {
		return "failed: " + err.Error()
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Close = true
	resp, err := r.client.Do(req)
	if err != nil {
		return "failed: " + err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("failed: HTTP %d", resp.StatusCode)
	}
	return "sent"
}

func (r *reporter) close() {
	r.mu.Lock()
	r.closed = true
	if r.held != nil {
		r.heldTimer.Stop()
		r.held = nil
	}
	q := r.queue
	r.queue = nil
	r.cond.Broadcast()
	r.mu.Unlock()
	for _, p := range q {
		p.done()
	}
	r.wg.Wait()
}
