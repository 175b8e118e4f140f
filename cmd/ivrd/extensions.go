package main

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto"
)

// extWatch asks each device now and then for the state of all its
// extensions (Query ext with no id) and corrects the states the router
// tracks from reports: a lost IDLE would otherwise leave an extension
// busy until its next report. It runs whether or not the admin listener
// is on, since flows read the states too (call:ext_state).
type extWatch struct {
	router  *engine.Router
	log     hclog.Logger
	clients map[string]*omproto.Client
	every   map[string]time.Duration

	mu    sync.Mutex
	state map[string]*extQueryState

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// extQueryState is what the queries of one device found.
type extQueryState struct {
	queried   time.Time // the end of the last query
	err       string
	corrected int
}

func newExtWatch(s *Server) *extWatch {
	ctx, cancel := context.WithCancel(context.Background())
	x := &extWatch{router: s.router, log: s.log.Named("extensions"), clients: map[string]*omproto.Client{},
		every: map[string]time.Duration{}, state: map[string]*extQueryState{}, ctx: ctx, cancel: cancel}
	for i := range s.cfg.Devices {
		dc := &s.cfg.Devices[i]
		x.clients[dc.Name] = deviceClient(dc, hclog.NewNullLogger())
		x.every[dc.Name] = dc.extQueryEvery()
		x.state[dc.Name] = &extQueryState{}
	}
	return x
}

// start queries every device now, then at its ext_query interval.
func (x *extWatch) start() {
	for name, every := range x.every {
		if every <= 0 {
			continue
		}
		repeat(x.ctx, &x.wg, every, func() { x.query(name) })
	}
}

// close stops the queries and waits for those running.
func (x *extWatch) close() {
	x.cancel()
	x.wg.Wait()
}

// query asks a device for its extensions and corrects what differs.
func (x *extWatch) query(name string) {
	client := x.clients[name]
	timeout := client.Timeout
	if timeout <= 0 {
		timeout = engine.DefaultCommandTimeout
	}
	ctx, cancel := context.WithTimeout(x.ctx, timeout)
	defer cancel()
	mark := x.router.ExtMark()
	st, err := client.Query(ctx, omproto.KindExt, "")
	if x.ctx.Err() != nil {
		return
	}
	qs := x.state[name]
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "omproto: ")
		x.mu.Lock()
		first := qs.err == ""
		qs.queried, qs.err = time.Now(), msg
		x.mu.Unlock()
		if first {
			x.log.Warn("cannot query the extensions", "device", name, "error", msg)
		}
		return
	}
	tracked := x.router.ExtStates(name)
	found := map[string]string{}
	for _, xs := range st.Exts {
		now, known := engine.ExtWord(xs.State)
		if !known || xs.ID == "" {
			continue // a state ivrd has no word for: left to the reports
		}
		if now == engine.ExtBusy && tracked[xs.ID] == engine.ExtRinging {
			continue // the device says "active" of a ringing extension too
		}
		found[xs.ID] = now
	}
	fixed := x.router.CorrectExts(name, mark, found)
	sort.Slice(fixed, func(i, j int) bool { return extLess(fixed[i].Ext, fixed[j].Ext) })
	n := 0
	for _, c := range fixed {
		if c.Was == "unknown" {
			continue // learnt, not corrected: no report had come yet
		}
		n++
		x.log.Info("extension state corrected by a query; a report was lost", "device", name, "ext", c.Ext, "was", c.Was, "now", c.Now)
	}
	x.mu.Lock()
	qs.queried, qs.err = time.Now(), ""
	qs.corrected += n
	x.mu.Unlock()
}

// extensions is a device's extensions for the admin API; ok is false for
// a device that is not configured.
func (x *extWatch) extensions(name string) (api.ExtList, bool) {
	if _, ok := x.clients[name]; !ok {
		return api.ExtList{}, false
	}
	l := api.ExtList{Device: name, Exts: []api.Ext{}}
	for id, st := range x.router.ExtStates(name) {
		l.Exts = append(l.Exts, api.Ext{ID: id, State: st})
	}
	sort.Slice(l.Exts, func(i, j int) bool { return extLess(l.Exts[i].ID, l.Exts[j].ID) })
	x.mu.Lock()
	qs := x.state[name]
	l.Queried, l.QueryError, l.Corrected = qs.queried, qs.err, qs.corrected
	x.mu.Unlock()
	return l, true
}

var _ api.DeviceExts = (*deviceWatch)(nil)

// Extensions returns a device's extensions: the states its reports and
// the periodic query left, with the extensions its DeviceInfo lists and
// no state has been learnt for as unknown.
func (w *deviceWatch) Extensions(name string) (api.ExtList, error) {
	l, ok := w.s.exts.extensions(name)
	if !ok {
		return api.ExtList{}, api.ErrNotFound
	}
	w.mu.Lock()
	info := w.state[name].info
	w.mu.Unlock()
	if info != nil {
		have := map[string]bool{}
		for _, e := range l.Exts {
			have[e.ID] = true
		}
		for _, e := range info.Exts {
			if e.ID != "" && !have[e.ID] {
				l.Exts = append(l.Exts, api.Ext{ID: e.ID, State: "unknown"})
			}
		}
		sort.Slice(l.Exts, func(i, j int) bool { return extLess(l.Exts[i].ID, l.Exts[j].ID) })
	}
	return l, nil
}
