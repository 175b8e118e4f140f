package engine_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/internal/ompbx"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

var epoch = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// rig is the engine on the simulator over real loopback HTTP, on a
// virtual clock: simulator → Receiver → Router → Session → Lua → Client →
// simulator.
type rig struct {
	t      testing.TB
	clk    *clock.Virtual
	sim    *omsim.Sim
	router *engine.Router
	dev    *engine.Device
	store  *engine.BoltStore
	logs   *logSink
	app    *httptest.Server // the report listener
	ptr    *atomic.Pointer[engine.Router]
	cfg    engine.Config
}

// restart builds a new router on the same device, flows and store, as a
// restarted daemon would, starts it and recovers the calls the store holds.
func (r *rig) restart() int {
	r.t.Helper()
	rt, err := engine.NewRouter(r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	rt.Start(context.Background())
	r.ptr.Store(rt)
	r.t.Cleanup(rt.Close)
	n, err := rt.Recover(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	r.router = rt
	r.sim.Settle()
	return n
}

type rigOptions struct {
	// store is the state file to use; empty makes one in a temp folder.
	store   string
	noStore bool
	sim     func(*omsim.Config)
	device  func(*engine.Device)
	config  func(*engine.Config)
	// trace logs at trace level, with each report's XML (Event.Wire).
	trace bool
}

// logSink keeps log lines for assertions.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	if testing.Verbose() {
		os.Stderr.Write(p)
	}
	return len(p), nil
}

func (l *logSink) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func compileFlows(t *testing.T, src map[string]string) engine.Flows {
	t.Helper()
	return compileFlowsTB(t, src)
}

func newRig(t *testing.T, flows map[string]string, o rigOptions) *rig {
	t.Helper()
	return newRigTB(t, flows, o)
}

func newRigTB(t testing.TB, flows map[string]string, o rigOptions) *rig {
	t.Helper()
	clk := clock.NewVirtual(epoch)
	var router atomic.Pointer[engine.Router]
	rv := &omproto.Receiver{Handler: func(r *omproto.Report) {
		if rt := router.Load(); rt != nil {
			ev := ompbx.Event("om1", r)
			if o.trace {
				ev.Wire = string(r.Encode())
			}
			rt.Deliver(ev)
		}
	}}
	app := httptest.NewServer(rv)
	t.Cleanup(app.Close)

	cfg := omsim.DefaultConfig()
	cfg.ReportURL = app.URL + "/om/om1"
	if o.sim != nil {
		o.sim(&cfg)
	}
	sim, err := omsim.New(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	client, err := omproto.NewClient(sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	dev := &engine.Device{Name: "om1", PBX: &ompbx.PBX{Client: client}, MenuFirst: 41, MenuLast: 50, Fallback: "200"}
	if o.device != nil {
		o.device(dev)
	}
	logs := &logSink{}
	var store *engine.BoltStore
	if !o.noStore {
		path := o.store
		if path == "" {
			path = filepath.Join(t.TempDir(), "ivrd.db")
		}
		store, err = engine.OpenBolt(path, engine.BoltOptions{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
	}
	level := hclog.Debug
	if o.trace {
		level = hclog.Trace
	}
	ecfg := engine.Config{
		Devices: []*engine.Device{dev},
		Routes:  []engine.Route{{To: "*", Flow: "main"}},
		Flows:   compileFlowsTB(t, flows),
		Clock:   clk,
		Logger:  hclog.New(&hclog.LoggerOptions{Output: logs, Level: level}),
	}
	if store != nil {
		ecfg.Store = store
	}
	if o.config != nil {
		o.config(&ecfg)
	}
	rt, err := engine.NewRouter(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(context.Background())
	router.Store(rt)
	t.Cleanup(rt.Close)
	sim.Settle()
	return &rig{t: t, clk: clk, sim: sim, router: rt, dev: dev, store: store, logs: logs, app: app, ptr: &router, cfg: ecfg}
}

// call places an incoming call and lets everything settle.
func (r *rig) call(from string) *omsim.Call {
	r.t.Helper()
	c, err := r.sim.PlaceCall(from, "60001")
	if err != nil {
		r.t.Fatal(err)
	}
	r.sim.Settle()
	return c
}

func (r *rig) advance(d time.Duration) { r.clk.Advance(d) }

func (r *rig) press(c *omsim.Call, keys string) {
	r.t.Helper()
	if err := c.Press(keys); err != nil {
		r.t.Fatalf("press %q: %v", keys, err)
	}
	r.sim.Settle()
}

// heard lists the files played to a caller, with "!" after those cut off.
func heard(c *omsim.Call) []string {
	var out []string
	for _, h := range c.Heard() {
		f := h.File
		if !h.Completed {
			f += "!"
		}
		out = append(out, f)
	}
	return out
}
