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
	"github.com/ivrd/ivrd/internal/ompbx"
	"github.com/ivrd/ivrd/omproto"
)

// How the admin listener's device page learns whether each device is
// reachable: one Query DeviceInfo now and then — a small, read-only
// command — and one after each BOOTUP (the firmware may have changed).
const (
	// deviceCheckEvery is the time between two checks of a device.
	deviceCheckEvery = time.Minute
	// deviceCheckGap is the least time between two checks asked for from
	// the console: a busy page or a script in a loop does not turn into
	// a flood of commands.
	deviceCheckGap = 5 * time.Second
)

// deviceWatch keeps what ivrd knows of each device for the admin API:
// its last check, its DeviceInfo, its last report and BOOTUP. It runs
// only with the admin listener on.
type deviceWatch struct {
	s       *Server
	log     hclog.Logger
	clients map[string]*omproto.Client
	// phone names the device that is the in-process simulator ("" when
	// none is).
	phone string

	mu     sync.Mutex
	state  map[string]*deviceState
	closed bool // no check starts any more

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// deviceState is one device's: checking serializes its checks.
type deviceState struct {
	checking sync.Mutex

	checked    time.Time // the end of the last check; zero before the first
	ok         bool
	latency    time.Duration
	err        string
	info       *omproto.DeviceInfo // from the last answered check
	lastReport time.Time
	lastBootup time.Time
}

func newDeviceWatch(s *Server, phone string) *deviceWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &deviceWatch{s: s, log: s.log.Named("devices"), clients: map[string]*omproto.Client{}, phone: phone,
		state: map[string]*deviceState{}, ctx: ctx, cancel: cancel}
	for i := range s.cfg.Devices {
		dc := &s.cfg.Devices[i]
		w.clients[dc.Name] = deviceClient(dc, hclog.NewNullLogger())
		w.state[dc.Name] = &deviceState{}
	}
	return w
}

// start checks every device now, then every deviceCheckEvery.
func (w *deviceWatch) start() {
	for name := range w.clients {
		repeat(w.ctx, &w.wg, deviceCheckEvery, func() { w.check(name, 0) })
	}
}

// repeat runs f now, then every d, until ctx is done, in a goroutine wg
// counts.
func repeat(ctx context.Context, wg *sync.WaitGroup, d time.Duration, f func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			f()
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// close stops the checks and waits for those running.
func (w *deviceWatch) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
}

// checkSoon checks a device in the background, unless the watch is
// closed.
func (w *deviceWatch) checkSoon(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.check(name, deviceCheckGap)
	}()
}

// check asks a device for its DeviceInfo, unless a check ended less than
// gap ago. Checks of one device do not overlap: a caller that waited for
// one running finds it fresh and does not ask again.
func (w *deviceWatch) check(name string, gap time.Duration) {
	st := w.state[name]
	st.checking.Lock()
	defer st.checking.Unlock()
	w.mu.Lock()
	fresh := !st.checked.IsZero() && time.Since(st.checked) < gap
	w.mu.Unlock()
	if fresh || w.ctx.Err() != nil {
		return
	}
	client := w.clients[name]
	timeout := client.Timeout
	if timeout <= 0 {
		timeout = engine.DefaultCommandTimeout
	}
	ctx, cancel := context.WithTimeout(w.ctx, timeout)
	start := time.Now()
	info, err := client.DeviceInfo(ctx)
	took := time.Since(start)
	cancel()
	if w.ctx.Err() != nil {
		return // stopping: not the device's fault
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	was := st.ok || st.checked.IsZero()
	st.checked, st.ok = time.Now(), err == nil
	if err != nil {
		st.err = strings.TrimPrefix(err.Error(), "omproto: ")
		if was {
			w.log.Warn("device does not answer", "device", name, "error", st.err)
		}
		return
	}
	if !was {
		w.log.Info("device answers again", "device", name)
		if w.s.recs != nil {
			w.s.recs.DeviceUp(name)
		}
	}
	st.err, st.latency, st.info = "", took, info
}

// deliverer notes each report of a device (its time; BOOTUP's, with a
// check soon after) before handing it to the engine.
func (w *deviceWatch) deliverer(to ompbx.Deliverer) ompbx.Deliverer {
	return watchedDeliverer{w: w, to: to}
}

type watchedDeliverer struct {
	w  *deviceWatch
	to ompbx.Deliverer
}

func (d watchedDeliverer) Deliver(ev engine.Event) {
	w := d.w
	if st := w.state[ev.Device]; st != nil {
		now := time.Now()
		w.mu.Lock()
		st.lastReport = now
		if ev.Kind == engine.EvBootup {
			st.lastBootup = now
		}
		w.mu.Unlock()
		if ev.Kind == engine.EvBootup {
			w.checkSoon(ev.Device)
		}
	}
	d.to.Deliver(ev)
}

var _ api.Devices = (*deviceWatch)(nil)

// Devices lists the configured devices as the admin API shows them.
func (w *deviceWatch) Devices() []api.Device {
	live := map[string]int{}
	for _, x := range w.s.router.Sessions() {
		live[x.Device.Name]++
	}
	out := make([]api.Device, 0, len(w.s.cfg.Devices))
	for i := range w.s.cfg.Devices {
		out = append(out, w.device(&w.s.cfg.Devices[i], live[w.s.cfg.Devices[i].Name]))
	}
	return out
}

// CheckDevice asks a device now (unless it was asked moments ago).
func (w *deviceWatch) CheckDevice(name string) (api.Device, error) {
	for i := range w.s.cfg.Devices {
		dc := &w.s.cfg.Devices[i]
		if dc.Name != name {
			continue
		}
		w.check(name, deviceCheckGap)
		live := 0
		for _, x := range w.s.router.Sessions() {
			if x.Device.Name == name {
				live++
			}
		}
		return w.device(dc, live), nil
	}
	return api.Device{}, api.ErrNotFound
}

// device is one device as the admin API shows it.
func (w *deviceWatch) device(dc *DeviceConfig, live int) api.Device {
	d := api.Device{Name: dc.Name, URL: dc.URL, Reachable: "unknown", MenuRange: [2]int{dc.Menus[0], dc.Menus[1]},
		Menus: []api.Menu{}, Exts: []api.Ext{}, LiveCalls: live, Simulated: dc.Name == w.phone}
	w.mu.Lock()
	st := w.state[dc.Name]
	d.Checked, d.LastReport, d.LastBootup = st.checked, st.lastReport, st.lastBootup
	if !st.checked.IsZero() {
		d.Reachable = "no"
		if st.ok {
			d.Reachable = "yes"
			d.LatencyMS = float64(st.latency.Microseconds()) / 1000
		}
	}
	d.Error = st.err
	info := st.info
	w.mu.Unlock()
	states := w.s.router.ExtStates(dc.Name)
	if info != nil {
		d.Manufacturer, d.Model, d.Firmware, d.MAC = info.Manufacturer, info.Model, info.Version, info.MAC
		for _, x := range info.Exts {
			if _, ok := states[x.ID]; !ok && x.ID != "" {
				states[x.ID] = "unknown"
			}
		}
	}
	for id, state := range states {
		d.Exts = append(d.Exts, api.Ext{ID: id, State: state})
	}
	sort.Slice(d.Exts, func(i, j int) bool { return extLess(d.Exts[i].ID, d.Exts[j].ID) })
	for _, m := range w.s.router.Menus(dc.Name) {
		d.Menus = append(d.Menus, api.Menu{ID: m.ID, Purpose: m.Purpose, VoiceFile: m.Settings.VoiceFile,
			Repeat: m.Settings.Repeat, InfoLength: m.Settings.InfoLength, Exit: m.Settings.Exit})
	}
	return d
}

// extLess orders extension numbers as numbers (9 before 10), then as text.
func extLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
