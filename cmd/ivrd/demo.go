package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/flows"
	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// DemoCommand is "ivrd demo": a simulated OM and the engine in one
// process, a few scripted calls through flows/main.lua with a transcript of
// each, one scenario of each example in virtual time, then the simulator
// and the engine keep running for calls of one's own.
type DemoCommand struct {
	main *Main
}

// Demo settings: voice files are short so the demo is quick.
const (
	demoFileDuration = 300 * time.Millisecond
	demoAnswerDelay  = 500 * time.Millisecond
	demoCallTimeout  = 90 * time.Second
	demoDevice       = "om1"
)

// Run starts the simulator and the engine, plays the scripted calls and
// waits for ctx (Ctrl-C).
func (c *DemoCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ivrd demo", flag.ContinueOnError)
	fs.SetOutput(c.main.Stderr)
	verbose := fs.Bool("v", false, "show the engine's and the simulator's log lines")
	flowsDir := fs.String("flows", "", "the flows folder, with a main.lua (default ./flows, or the copy built into ivrd)")
	fileDuration := fs.Duration("file-duration", demoFileDuration, "how long each voice file of the simulated OM plays")
	adminAddr := fs.String("admin", "127.0.0.1:0", "where the admin API and the console listen (host:port; port 0 picks a free one)")
	webhook := fs.String("webhook", "", "a URL to POST every event to, as a [[webhook]] named demo (signed; the secret is printed)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ivrd demo [-v] [-flows dir] [-admin host:port] [-webhook URL]\n\n"+
			"Runs a simulated OM and ivrd together on loopback, places a few calls through\n"+
			"the main flow and prints what each caller heard and pressed and where the call\n"+
			"went; then runs one scenario of each example (a menu, a survey, a wake-up call,\n"+
			"a verification code) in virtual time and prints it the same way. Then keeps\n"+
			"running for calls of your own until Ctrl-C, with the operator console on the\n"+
			"admin listener (its address and a token for this run are printed).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected argument %q", fs.Arg(0))
	}
	if *fileDuration <= 0 {
		return fmt.Errorf("demo: -file-duration: must be positive")
	}
	out := c.main.Stdout

	dir, fromEmbed, cleanup, err := demoFlows(*flowsDir)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer cleanup()

	level := hclog.Warn
	if *verbose {
		level = hclog.Info
	}
	log := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name: "ivrd", Level: level, Output: c.main.Stderr, TimeFormat: "15:04:05.000",
	})
	outcomes := newOutcomeSink()
	log.RegisterSink(outcomes)

	// The engine's listener comes first: the simulator needs its URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	simCfg := omsim.DefaultConfig()
	simCfg.FileDuration = *fileDuration
	simCfg.ReportURL = "http://" + ln.Addr().String() + "/om/" + demoDevice
	simCfg.ExtPolicies = map[string]omsim.Policy{}
	for _, x := range simCfg.Exts {
		simCfg.ExtPolicies[x] = omsim.Policy{Answer: omsim.AnswerAfter, Delay: demoAnswerDelay}
	}
	// Every extension records its calls; ivrd fetches them with a web
	// account made for this run (GET /api/v1/recordings).
	simCfg.Record = simCfg.Exts
	simCfg.WebUser, simCfg.WebPassword = "ivrd", demoToken()
	sim, err := omsim.New(simCfg, clock.Real{})
	if err != nil {
		ln.Close()
		return fmt.Errorf("demo: %w", err)
	}
	if *verbose {
		simlog := log.Named("sim")
		sim.SetLogf(func(format string, args ...any) { simlog.Info(fmt.Sprintf(format, args...)) })
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		ln.Close()
		return fmt.Errorf("demo: %w", err)
	}
	defer sim.Close()

	cfg := DefaultConfig()
	cfg.Flows = dir
	stateDir, err := os.MkdirTemp("", "ivrd-demo-state-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	cfg.State = filepath.Join(stateDir, "ivrd.db")
	cfg.Devices = []DeviceConfig{{Name: demoDevice, URL: sim.URL(), Fallback: simCfg.Operator,
		WebUser: simCfg.WebUser, WebPassword: simCfg.WebPassword}}
	// The console signs in with a token made for this run only.
	token := demoToken()
	hookSecret := demoToken()
	cfg.Admin = AdminConfig{Listen: *adminAddr, Token: token, WebhookSecret: hookSecret}
	if *webhook != "" {
		cfg.Webhooks = []WebhookConfig{{Name: "demo", URL: *webhook, Backoff: "250ms", MaxBackoff: "5s", GiveUpAfter: "30s"}}
	}
	cfg.Prompts = demoPrompts
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		ln.Close()
		if *webhook != "" && strings.HasPrefix(err.Error(), "webhook[0].url") {
			return fmt.Errorf("demo: -webhook%s", strings.TrimPrefix(err.Error(), "webhook[0].url"))
		}
		return fmt.Errorf("demo: %w", err)
	}
	srv := NewServer(cfg, log)
	srv.Listener = ln
	srv.Phone = sim // the console's phone calls through it
	if err := srv.Open(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer srv.Close()

	where := dir
	if fromEmbed {
		where = "the flows built into ivrd (no ./flows here)"
	}
	fmt.Fprintf(out, "ivrd demo: a simulated New Rock OM and ivrd, talking over loopback.\n\n")
	fmt.Fprintf(out, "  simulated OM  %s (trunk %s, extensions %s–%s, operator %s)\n", sim.URL(), simCfg.Trunk, simCfg.Exts[0], simCfg.Exts[len(simCfg.Exts)-1], simCfg.Operator)
	fmt.Fprintf(out, "  ivrd          %s (reports from the OM to /om/%s)\n", srv.URL(), demoDevice)
	console := listenURL(srv.AdminAddr()) + "/"
	fmt.Fprintf(out, "  console       %s (sign in with the admin token %s)\n", console, token)
	fmt.Fprintf(out, "                its Phone page calls into the IVR through the simulated OM\n")
	fmt.Fprintf(out, "  flows         %s; every call runs main.lua\n", where)
	fmt.Fprintf(out, "  voice files   %s each, so the demo is quick\n", *fileDuration)
	if *webhook != "" {
		fmt.Fprintf(out, "  webhook       every event to %s, signed with the secret %s\n", redactURL(*webhook), hookSecret)
	}
	fmt.Fprintf(out, "\n")

	if err := playDemoCalls(ctx, out, sim, outcomes, cfg.Prompts); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if err := playDemoExamples(ctx, out); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("demo: %w", err)
	}

	next := "c" + strconv.Itoa(len(sim.Calls())+1)
	fmt.Fprintf(out, "\nBoth keep running. Place a call of your own from another terminal:\n\n")
	fmt.Fprintf(out, "  curl -s -X POST %s/sim/calls -d '{\"from\":\"13800000009\",\"to\":\"%s\"}'   # → {\"id\":\"%s\"}\n", sim.URL(), simCfg.Trunk, next)
	fmt.Fprintf(out, "  curl -s %s/sim/calls/%s                      # state, what it heard\n", sim.URL(), next)
	fmt.Fprintf(out, "  curl -s -X POST %s/sim/calls/%s/keys -d '{\"keys\":\"2\"}'\n", sim.URL(), next)
	fmt.Fprintf(out, "  curl -s -X POST %s/sim/calls/%s/hangup\n\n", sim.URL(), next)
	fmt.Fprintf(out, "and watch it in the console, %s (admin token %s): live calls, each call's path, the flows.\n", console, token)
	// The README's curl examples name the admin listener $A and its token
	// $IVRD_TOKEN: these lines set them for this run.
	fmt.Fprintf(out, "The same through the admin API, as the README's curl examples (\"Admin API\") do:\n\n")
	fmt.Fprintf(out, "  A=%s; IVRD_TOKEN=%s; H=\"Authorization: Bearer $IVRD_TOKEN\"\n", strings.TrimSuffix(console, "/"), token)
	fmt.Fprintf(out, "  curl -s -H \"$H\" $A/api/v1/calls\n")
	if *webhook != "" {
		fmt.Fprintf(out, "  S=%s   # the webhook's secret\n  curl -s -H \"$H\" $A/api/v1/webhooks\n", hookSecret)
	}
	fmt.Fprintf(out, "\n")
	if fromEmbed {
		fmt.Fprintf(out, "Run the demo from the repository to load ./flows and edit flows/main.lua live.\n")
	} else {
		fmt.Fprintf(out, "Edit %s while it runs: the next call runs the new version.\n", filepath.Join(dir, "main.lua"))
	}
	fmt.Fprintf(out, "Run with -v to see what ivrd and the OM say to each other. Ctrl-C stops.\n")
	<-ctx.Done()
	fmt.Fprintf(out, "\nStopping.\n")
	return nil
}

// demoFlows returns the flows folder to use: dir when given, else ./flows
// when it holds main.lua, else a temporary copy of the embedded flows
// (cleanup removes it).
func demoFlows(dir string) (string, bool, func(), error) {
	nop := func() {}
	if dir != "" {
		return dir, false, nop, nil
	}
	if _, err := os.Stat(filepath.Join(DefaultFlowsDir, "main.lua")); err == nil {
		return DefaultFlowsDir, false, nop, nil
	}
	tmp, err := os.MkdirTemp("", "ivrd-demo-flows-")
	if err != nil {
		return "", false, nop, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	names, err := fs.Glob(flows.FS(), "*.lua")
	if err != nil {
		cleanup()
		return "", false, nop, err
	}
	for _, name := range names {
		b, err := fs.ReadFile(flows.FS(), name)
		if err == nil {
			err = os.WriteFile(filepath.Join(tmp, name), b, 0o644)
		}
		if err != nil {
			cleanup()
			return "", false, nop, err
		}
	}
	return tmp, true, cleanup, nil
}

// demoCaller is one scripted caller.
type demoCaller struct {
	name, from, intent string
	// act does what the caller does once the call is placed; the demo then
	// waits for the call to end or be answered.
	act func(ctx context.Context, dc *demoCall) error
}

// demoCallers are the scripted calls, fastest first: each transcript is
// printed as soon as the calls before it are.
var demoCallers = []demoCaller{
	{name: "Ana", from: "13800000001", intent: "listens to the menu and presses 1 for reception",
		act: func(ctx context.Context, dc *demoCall) error {
			if err := dc.waitHeard(ctx, "user_menu", 1, true); err != nil {
				return err
			}
			return dc.press("1")
		}},
	{name: "Chloé", from: "13800000003", intent: "presses 7, which is not on the menu, then 3",
		act: func(ctx context.Context, dc *demoCall) error {
			if err := dc.waitHeard(ctx, "user_menu", 1, true); err != nil {
				return err
			}
			if err := dc.press("7"); err != nil {
				return err
			}
			if err := dc.waitHeard(ctx, "user_menu", 2, true); err != nil {
				return err
			}
			return dc.press("3")
		}},
	{name: "Dev", from: "13800000004", intent: "hangs up while the welcome is playing",
		act: func(ctx context.Context, dc *demoCall) error {
			if err := dc.waitHeard(ctx, "user_welcome", 1, false); err != nil {
				return err
			}
			if !sleepCtx(ctx, dc.file/3) {
				return ctx.Err()
			}
			return dc.hangUp()
		}},
	{name: "Ben", from: "13800000002", intent: "presses nothing at all",
		act: func(ctx context.Context, dc *demoCall) error { return nil }},
}

// demoCall is a scripted call in progress and what the script did, for
// the transcript.
type demoCall struct {
	call    *omsim.Call
	file    time.Duration // how long a voice file plays
	mu      sync.Mutex
	actions []demoAction // in order
}

// demoAction is a key press or a hang-up, after the first heard files.
type demoAction struct {
	afterHeard int
	verb, what string
}

func (dc *demoCall) record(verb, what string) {
	n := len(dc.call.Heard())
	dc.mu.Lock()
	dc.actions = append(dc.actions, demoAction{afterHeard: n, verb: verb, what: what})
	dc.mu.Unlock()
}

func (dc *demoCall) press(keys string) error {
	dc.record("presses", keys)
	return dc.call.Press(keys)
}

func (dc *demoCall) hangUp() error {
	dc.record("hangs up", "")
	return dc.call.HangUp()
}

// waitHeard waits until the caller has heard file n times (played to its
// end when complete is set, started otherwise).
func (dc *demoCall) waitHeard(ctx context.Context, file string, n int, complete bool) error {
	return pollCall(ctx, dc.call, func(in omsim.CallInfo) bool {
		count := 0
		for _, h := range in.Heard {
			if h.File == file && (h.Completed || !complete) {
				count++
			}
		}
		return count >= n
	}, fmt.Sprintf("hearing %s", file))
}

// errCallOver is returned by pollCall when the call ended first.
var errCallOver = errors.New("the call ended")

// pollCall waits until cond holds for the call's state.
func pollCall(ctx context.Context, c *omsim.Call, cond func(omsim.CallInfo) bool, what string) error {
	deadline := time.Now().Add(demoCallTimeout)
	for {
		in := c.Info()
		if cond(in) {
			return nil
		}
		if in.State == "ended" {
			return fmt.Errorf("%s: %w", what, errCallOver)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: still %s after %s", what, in.State, demoCallTimeout)
		}
		if !sleepCtx(ctx, 10*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// demoResult is what became of a scripted call.
type demoResult struct {
	info      omsim.CallInfo
	connected string // the last thing other than a menu it was connected to
	answered  bool   // someone answered it there (the demo then hung up)
	demoHung  bool
	scriptErr error
	actions   []demoAction
	outcome   engineOutcome
}

// runDemoCall places one scripted call and follows it to its end.
func runDemoCall(ctx context.Context, sim *omsim.Sim, dc demoCaller, outcomes *outcomeSink) demoResult {
	var res demoResult
	call, err := sim.PlaceCall(dc.from, sim.Config().Trunk)
	if err != nil {
		res.scriptErr = err
		return res
	}
	d := &demoCall{call: call, file: sim.Config().FileDuration}
	done := make(chan error, 1)
	go func() { done <- dc.act(ctx, d) }()

	// Follow the call until it ends, or someone answers it outside the IVR.
	var scriptDone bool
	_ = pollCall(ctx, call, func(in omsim.CallInfo) bool {
		if !scriptDone {
			select {
			case err := <-done:
				scriptDone = true
				if err != nil && !errors.Is(err, errCallOver) {
					res.scriptErr = err
				}
			default:
			}
		}
		if in.Connected != "" && !strings.HasPrefix(in.Connected, "menu ") {
			res.connected = in.Connected
		}
		if in.State == "talking" {
			res.answered = true
			return true
		}
		return false
	}, "waiting for the call to end")
	if res.answered {
		// Hang up for the caller: the demo's callers do not chat.
		sleepCtx(ctx, 200*time.Millisecond)
		if call.HangUp() == nil {
			res.demoHung = true
		}
		_ = pollCall(ctx, call, func(in omsim.CallInfo) bool { return in.State == "ended" }, "hanging up")
	}
	if !scriptDone {
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, errCallOver) {
				res.scriptErr = err
			}
		case <-ctx.Done():
		}
	}
	res.info = call.Info()
	d.mu.Lock()
	res.actions = append([]demoAction(nil), d.actions...)
	d.mu.Unlock()
	res.outcome = outcomes.wait(ctx, dc.from, 3*time.Second)
	return res
}

// playDemoCalls places the scripted calls at once and prints their
// transcripts in order.
func playDemoCalls(ctx context.Context, out io.Writer, sim *omsim.Sim, outcomes *outcomeSink, texts map[string]string) error {
	trunk := sim.Config().Trunk
	results := make([]chan demoResult, len(demoCallers))
	for i, dc := range demoCallers {
		results[i] = make(chan demoResult, 1)
		go func() { results[i] <- runDemoCall(ctx, sim, dc, outcomes) }()
	}
	fmt.Fprintf(out, "Placing %d calls to %s at once; each transcript follows when its call is over.\n", len(demoCallers), trunk)
	for i, dc := range demoCallers {
		fmt.Fprintf(out, "\n── Call %d: %s (%s) %s ──\n", i+1, dc.name, dc.from, dc.intent)
		var res demoResult
		select {
		case res = <-results[i]:
		case <-time.After(2 * time.Second):
			fmt.Fprintf(out, "   (still going: a silent caller waits out each of the menu's timeouts)\n")
			select {
			case res = <-results[i]:
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		writeTranscript(out, res, texts)
	}
	return nil
}

// writeTranscript prints one call: what the caller heard and did, in
// order, and where the call went. A file heard is followed by what it
// says, when texts (the prompt texts) say.
func writeTranscript(out io.Writer, res demoResult, texts map[string]string) {
	line := func(verb, what string) {
		fmt.Fprintln(out, strings.TrimRight(fmt.Sprintf("   %-9s %s", verb, what), " "))
	}
	act := func(a demoAction) { line(a.verb, a.what) }
	next := 0
	for i, h := range res.info.Heard {
		for next < len(res.actions) && res.actions[next].afterHeard <= i {
			act(res.actions[next])
			next++
		}
		f := h.File
		if text := texts[h.File]; text != "" {
			f += "  “" + text + "”"
		}
		if !h.Completed {
			f += "  (cut off)"
		}
		line("hears", f)
	}
	for ; next < len(res.actions); next++ {
		act(res.actions[next])
	}
	switch {
	case res.answered:
		line("→", fmt.Sprintf("put through to %s, which answers (the demo hangs up there)", res.connected))
	case res.connected != "":
		line("→", fmt.Sprintf("put through to %s; the call ended there (%s)", res.connected, res.info.EndReason))
	case res.info.State == "ended" && res.info.EndReason == "hung up":
		line("→", "the caller hung up")
	case res.info.State == "ended" && res.info.EndReason == "cleared":
		line("→", "ivrd hung up")
	case res.info.State == "ended":
		line("→", fmt.Sprintf("the call ended (%s)", res.info.EndReason))
	default:
		line("→", fmt.Sprintf("still %s", res.info.State))
	}
	if o := res.outcome; o.outcome != "" {
		line("ivrd", fmt.Sprintf("flow %s: %s", o.flow, o.describe()))
	}
	if res.scriptErr != nil {
		line("(!)", "the demo script: "+res.scriptErr.Error())
	}
}

// engineOutcome is how the engine logged a call's end.
type engineOutcome struct {
	outcome, target, flow string
}

// describe says an outcome in words.
func (o engineOutcome) describe() string {
	switch o.outcome {
	case engine.OutcomeTransferred:
		return "transferred to " + o.target
	case engine.OutcomeHangup:
		return "hung up"
	case engine.OutcomeCallerHangup:
		return "the caller hung up"
	case engine.OutcomeFallback:
		if o.target != "" {
			return "failed; handed to the fallback, " + o.target
		}
		return "failed; hung up (no fallback)"
	}
	return o.outcome
}

// outcomeSink is an hclog sink that picks the engine's "call started" and
// "call ended" lines to tell the demo how each call ended for ivrd,
// whatever the level of the printed log.
type outcomeSink struct {
	mu      sync.Mutex
	changed chan struct{}
	byID    map[string]string // call_id → from
	ended   map[string]engineOutcome
}

func newOutcomeSink() *outcomeSink {
	return &outcomeSink{changed: make(chan struct{}), byID: map[string]string{}, ended: map[string]engineOutcome{}}
}

// Accept implements hclog.SinkAdapter.
func (o *outcomeSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	if msg != "call started" && msg != "call ended" {
		return
	}
	kv := map[string]string{}
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok {
			kv[k] = fmt.Sprint(args[i+1])
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch msg {
	case "call started":
		o.byID[kv["call_id"]] = kv["from"]
	case "call ended":
		from, ok := o.byID[kv["call_id"]]
		if !ok {
			return
		}
		o.ended[from] = engineOutcome{outcome: kv["outcome"], target: kv["target"], flow: kv["flow"]}
	}
	close(o.changed)
	o.changed = make(chan struct{})
}

// wait returns the outcome of the call from a number, waiting up to d.
func (o *outcomeSink) wait(ctx context.Context, from string, d time.Duration) engineOutcome {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		res, ok := o.ended[from]
		ch := o.changed
		o.mu.Unlock()
		if ok {
			return res
		}
		select {
		case <-ch:
		case <-deadline.C:
			return engineOutcome{}
		case <-ctx.Done():
			return engineOutcome{}
		}
	}
}

// demoToken makes a random admin token for one run of the demo.
func demoToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
