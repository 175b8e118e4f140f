package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/ivrd/ivrd/omproto"
)

// Menus the ceiling assigns, as ivrd's menu pool does on a fresh device:
// prompts alternate between two menus that report each key (repeat 1,
// infolength 1); outbound calls ring from a looping one.
const (
	ceilingMenuA   = "41"
	ceilingMenuB   = "42"
	ceilingMenuOut = "43"
)

// Ceiling is the bare responder a run compares ivrd with: an
// omproto.Receiver per device, and per call a goroutine with a hard-coded
// state machine that sends, through an omproto.Client (a new connection
// per command, as ivrd), the commands ivrd's flow for the workload sends.
// There is no engine, Lua, journal or store: what it reaches is what the
// devices, the loopback HTTP and the harness allow.
type Ceiling struct {
	// Dial paces wake-up calls as ivrd's dialler would.
	Limits DialLimits

	w       Workload
	srv     *http.Server
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	devs    map[string]*ceilingDevice
	dialSem chan struct{}
	mu      sync.Mutex
	live    int
}

type ceilingDevice struct {
	c      *Ceiling
	name   string
	client *omproto.Client
	queue  chan string // numbers to dial

	mu    sync.Mutex
	calls map[legKey]*ceilingCall
}

// ceilingCall is one call's state machine.
type ceilingCall struct {
	dev    *ceilingDevice
	leg    omproto.Ref
	from   string
	events chan *omproto.Event
	step   int
	menu   string // the menu of the last prompt
	first  string // the first answer (survey)
}

// Name is "ceiling".
func (c *Ceiling) Name() string { return "ceiling" }

// Open assigns the menus on each device and serves their reports on ln.
func (c *Ceiling) Open(ctx context.Context, ln net.Listener, devices []Device, w Workload) error {
	c.w = w
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.devs = map[string]*ceilingDevice{}
	max := c.Limits.MaxConcurrent
	if max <= 0 {
		max = DefaultConcurrency
	}
	c.dialSem = make(chan struct{}, max)
	mux := http.NewServeMux()
	for _, d := range devices {
		cd := &ceilingDevice{
			c: c, name: d.Name,
			client: &omproto.Client{BaseURL: d.URL},
			calls:  map[legKey]*ceilingCall{},
			queue:  make(chan string, 1<<16),
		}
		menus := []omproto.AssignMenu{
			{ID: ceilingMenuA, Repeat: 1, InfoLength: 1},
			{ID: ceilingMenuB, Repeat: 1, InfoLength: 1},
		}
		if w == Wakeup {
			menus = append(menus, omproto.AssignMenu{ID: ceilingMenuOut, Repeat: 0, InfoLength: 1})
		}
		for _, m := range menus {
			if _, err := cd.client.AssignMenu(ctx, m); err != nil {
				c.cancel()
				return err
			}
		}
		c.devs[d.Name] = cd
		rv := &omproto.Receiver{Handler: cd.report, Secret: d.ReportSecret}
		for _, a := range d.Allow {
			addr, err := netip.ParseAddr(a)
			if err != nil {
				c.cancel()
				return fmt.Errorf("device %s: allow: %w", d.Name, err)
			}
			rv.Allow = append(rv.Allow, netip.PrefixFrom(addr, addr.BitLen()))
		}
		mux.Handle("/om/"+d.Name, rv)
		if w == Wakeup {
			c.wg.Add(1)
			go cd.dialler()
		}
	}
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go c.srv.Serve(ln)
	return nil
}

// Dial queues a wake-up call; the device's dialler places it within the
// limits.
func (c *Ceiling) Dial(device, number string) error {
	d := c.devs[device]
	if d == nil {
		return errors.New("loadgen: no device " + device)
	}
	select {
	case d.queue <- number:
		return nil
	default:
		return errors.New("loadgen: dial queue full")
	}
}

// Live returns the calls the ceiling holds.
func (c *Ceiling) Live() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// Close stops serving and ends every call goroutine.
func (c *Ceiling) Close() error {
	var err error
	if c.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = c.srv.Shutdown(ctx)
		cancel()
	}
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	return err
}

// dialler places the device's queued wake-up calls, at most PerSecond a
// second and MaxConcurrent live at once over all devices.
func (d *ceilingDevice) dialler() {
	c := d.c
	defer c.wg.Done()
	gap := time.Duration(0)
	if c.Limits.PerSecond > 0 {
		gap = time.Duration(float64(time.Second) / c.Limits.PerSecond)
	}
	next := time.Now()
	for {
		var number string
		select {
		case number = <-d.queue:
		case <-c.ctx.Done():
			return
		}
		if wait := time.Until(next); wait > 0 {
			select {
			case <-time.After(wait):
			case <-c.ctx.Done():
				return
			}
		}
		next = time.Now().Add(gap)
		select {
		case c.dialSem <- struct{}{}:
		case <-c.ctx.Done():
			return
		}
		_, err := d.client.Connect(c.ctx, omproto.Connect{
			From: omproto.Ref{Kind: omproto.KindMenu, ID: ceilingMenuOut},
			To:   omproto.Ref{Kind: omproto.KindOuter, To: number}, VoiceFile: promptSilence,
		})
		if err != nil {
			<-c.dialSem
		}
	}
}

// report is the Receiver's handler: it hands each call's events to the
// call's goroutine, starting one on INCOMING (or ALERT for a wake-up call)
// and forgetting the call on BYE.
func (d *ceilingDevice) report(rep *omproto.Report) {
	ev := rep.Event
	if ev == nil {
		return
	}
	leg := ev.Call()
	if leg == nil || !leg.Kind.IsCall() {
		return
	}
	k := legKey{d.name, leg.Kind, leg.ID}
	c := d.c
	d.mu.Lock()
	call := d.calls[k]
	switch {
	case ev.Name == omproto.EventBye:
		delete(d.calls, k)
	case call == nil && (ev.Name == omproto.EventIncoming || ev.Name == omproto.EventAlert):
		call = &ceilingCall{dev: d, leg: leg.Ref(), from: leg.From, events: make(chan *omproto.Event, 32)}
		d.calls[k] = call
		c.mu.Lock()
		c.live++
		c.mu.Unlock()
		c.wg.Add(1)
		go call.run()
	}
	d.mu.Unlock()
	if call == nil {
		return
	}
	select {
	case call.events <- ev:
	default: // a call that stopped reading; its BYE ends it at Close
	}
}

// run handles the call's events in order until its BYE.
func (cc *ceilingCall) run() {
	c := cc.dev.c
	defer func() {
		c.mu.Lock()
		c.live--
		c.mu.Unlock()
		if cc.leg.Kind == omproto.KindOuter {
			<-c.dialSem
		}
		c.wg.Done()
	}()
	for {
		select {
		case ev := <-cc.events:
			if ev.Name == omproto.EventBye {
				return
			}
			cc.handle(ev)
		case <-c.ctx.Done():
			return
		}
	}
}

// prompt plays a file to the call through the next of the two menus.
func (cc *ceilingCall) prompt(file string) {
	if cc.menu == ceilingMenuA {
		cc.menu = ceilingMenuB
	} else {
		cc.menu = ceilingMenuA
	}
	cc.send(omproto.Connect{From: cc.leg, To: omproto.Ref{Kind: omproto.KindMenu, ID: cc.menu}, VoiceFile: file})
}

func (cc *ceilingCall) hangup() { cc.send(omproto.Clear{Target: cc.leg}) }

// transfer hands the call to its extension, or hangs up when refused, as
// the flows do.
func (cc *ceilingCall) transfer() {
	if !cc.send(omproto.Connect{From: cc.leg, To: omproto.Ref{Kind: omproto.KindExt, ID: transferExt(cc.from)}}) {
		cc.hangup()
	}
}

func (cc *ceilingCall) send(cmd omproto.Command) bool {
	ctx, cancel := context.WithTimeout(cc.dev.c.ctx, omproto.DefaultTimeout)
	defer cancel()
	_, err := cc.dev.client.Do(ctx, cmd)
	return err == nil
}

// handle is the workloads' state machines: the commands ivrd's flows send,
// without their journal, timers or retries.
func (cc *ceilingCall) handle(ev *omproto.Event) {
	switch cc.dev.c.w {
	case Survey:
		questions := []string{promptQ1, promptQ2, promptQ3}
		switch {
		case ev.Name == omproto.EventIncoming && cc.step == 0:
			cc.step = 1
			cc.prompt(questions[0])
		case ev.Name == omproto.EventDTMF && cc.step >= 1 && cc.step <= 3:
			if cc.step == 1 {
				cc.first = ev.Info
			}
			if cc.step < 3 {
				cc.prompt(questions[cc.step])
				cc.step++
				return
			}
			cc.step = 4
			if cc.first == "1" {
				cc.transfer()
			} else {
				cc.hangup()
			}
		}
	case Menu:
		switch {
		case ev.Name == omproto.EventIncoming && cc.step == 0:
			cc.step = 1
			cc.prompt(promptWelcome)
		case ev.Name == omproto.EventEndOfAnn && cc.step == 1:
			cc.step = 2
			cc.prompt(promptMenu)
		case ev.Name == omproto.EventDTMF && cc.step == 2:
			cc.step = 3
			if ev.Info == "1" || ev.Info == "2" {
				cc.transfer()
				return
			}
			cc.prompt(promptBye)
		case ev.Name == omproto.EventEndOfAnn && cc.step == 3:
			cc.step = 4
			cc.hangup()
		}
	case Parked:
		switch {
		case ev.Name == omproto.EventIncoming && cc.step == 0:
			cc.step = 1
			cc.prompt(promptWelcome)
		case ev.Name == omproto.EventDTMF && cc.step == 1:
			cc.step = 2
			cc.hangup()
		}
	case Wakeup:
		switch {
		case ev.Name == omproto.EventAnswered && cc.step == 0:
			cc.step = 1
			cc.prompt(promptWakeup)
		case ev.Name == omproto.EventDTMF && cc.step <= 1 && ev.Info == "1":
			cc.step = 2
			cc.prompt(promptConfirm)
		case ev.Name == omproto.EventEndOfAnn && cc.step == 2:
			cc.step = 3
			cc.hangup()
		}
	}
}

var _ System = (*Ceiling)(nil)
