package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto"
)

// metrics is the daemon's Prometheus registry: the engine.Observer that
// counts calls, reports, Lua steps and jobs; the engine.PBX decorator
// that times device commands; the state file's commit hook; and, read at
// scrape time, the live calls, the outbound queue, the catalogue and the
// report receivers. README.md, "Metrics", lists every series.
type metrics struct {
	reg *prometheus.Registry

	callsStarted   *prometheus.CounterVec
	callsRecovered *prometheus.CounterVec
	callsEnded     *prometheus.CounterVec
	callDuration   *prometheus.HistogramVec
	reports        *prometheus.CounterVec
	commands       *prometheus.CounterVec
	commandTime    *prometheus.HistogramVec
	commitTime     prometheus.Histogram
	commitWrites   prometheus.Histogram
	stepTime       *prometheus.HistogramVec
	sandboxStops   *prometheus.CounterVec
	jobsScheduled  prometheus.Counter
	jobsRetried    prometheus.Counter
	jobsEnded      *prometheus.CounterVec
	attempts       *prometheus.CounterVec
	clicks         *prometheus.CounterVec
	listDecisions  *prometheus.CounterVec
	recordings     *prometheus.CounterVec
	hookAttempts   *prometheus.CounterVec
	hookEvents     *prometheus.CounterVec
	hookSetAside   *prometheus.CounterVec
}

// The state newMetrics reads at scrape time, once the server has built it.
type scrapeSource interface {
	Router() *engine.Router
	Catalog() *engine.Catalog
	receivers() map[string]*omproto.Receiver
	eventLog() *engine.EventLog
	EventHooks() *api.EventHooks
}

// newMetrics builds the registry. src is read at each scrape; its parts may
// still be nil then (a scrape during Open), and are skipped.
func newMetrics(src scrapeSource) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
		m.reg.MustRegister(h)
		return h
	}
	m.callsStarted = counter("ivrd_calls_started_total", "Calls that started a flow, by flow and direction (in, out).", "flow", "direction")
	m.callsRecovered = counter("ivrd_calls_recovered_total", "Calls an earlier process left in the state file, resumed by this one.", "flow", "direction")
	m.callsEnded = counter("ivrd_calls_ended_total", "Calls that left their flow, by flow, direction and outcome.", "flow", "direction", "outcome")
	m.callDuration = histogram("ivrd_call_duration_seconds", "How long calls were in the IVR, by flow.",
		[]float64{1, 5, 10, 20, 30, 60, 120, 300, 600, 1800}, "flow")
	m.reports = counter("ivrd_reports_total", "Device reports received, by device and kind.", "device", "kind")
	m.commands = counter("ivrd_om_commands_total", "Commands sent to the devices, by device, command and result (ok, refused, not_found, timeout, canceled, error).", "device", "command", "result")
	m.commandTime = histogram("ivrd_om_command_duration_seconds", "Round trip of a command to a device, answer included, by device and command.",
		[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "device", "command")
	m.stepTime = histogram("ivrd_lua_step_duration_seconds", "Wall-clock time of one Lua step (the run between two blocking calls), by flow.",
		[]float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}, "flow")
	m.sandboxStops = counter("ivrd_sandbox_stops_total", "Lua steps the sandbox stopped, by flow and reason (instructions, wall_clock, heap).", "flow", "reason")
	m.jobsEnded = counter("ivrd_outbound_jobs_ended_total", "Outbound jobs that ended, by state (done, failed, cancelled, dropped).", "state")
	m.attempts = counter("ivrd_outbound_attempts_total", "Outbound attempts that ended, by outcome.", "outcome")
	m.recordings = counter("ivrd_recording_fetches_total", "Attempts to fetch a call recording from its device, by outcome (fetched; retry: failed, will try again; failed: given up, see GET /api/v1/recordings?state=failed).", "outcome")
	m.clicks = counter("ivrd_clicks_ended_total", "Click-to-calls (POST /api/v1/dial, /connect) that ended, refused ones included, by type and outcome.", "type", "outcome")
	m.listDecisions = counter("ivrd_list_decisions_total", "Caller-list decisions before routing, by list and decision (blocked, member, not_member).", "list", "decision")
	m.hookAttempts = counter("ivrd_webhook_deliveries_total", "POSTs of event webhooks, by webhook and result (ok, error: no answer, retry: 5xx 408 429, refused: another 4xx).", "webhook", "result")
	m.hookEvents = counter("ivrd_webhook_events_delivered_total", "Events event webhooks' receivers took, by webhook.", "webhook")
	m.hookSetAside = counter("ivrd_webhook_failures_total", "Failed deliveries set aside, by webhook and reason (failed: not taken within the retry policy; missing: the events left the log first).", "webhook", "reason")
	m.commitTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ivrd_store_commit_duration_seconds",
		Help:    "Time of one group commit of the state file, fsync included.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}})
	m.commitWrites = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ivrd_store_commit_writes",
		Help:    "Writes (journal steps, call starts and ends, job changes) carried by one group commit.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10)})
	m.jobsScheduled = prometheus.NewCounter(prometheus.CounterOpts{Name: "ivrd_outbound_jobs_scheduled_total", Help: "Outbound jobs scheduled (API, ivrd call, ivr.dial)."})
	m.jobsRetried = prometheus.NewCounter(prometheus.CounterOpts{Name: "ivrd_outbound_jobs_retried_total", Help: "Outbound attempts that ended with another attempt scheduled."})
	m.reg.MustRegister(m.commitTime, m.commitWrites, m.jobsScheduled, m.jobsRetried,
		scrapeCollector{src}, hookCollector{src},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler serves the registry in the exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ---- engine.Observer ----

var _ engine.Observer = (*metrics)(nil)

// flowLabel names a call with no flow "none": no route matched it.
func flowLabel(flow string) string {
	if flow == "" {
		return "none"
	}
	return flow
}

func (m *metrics) CallStarted(flow, direction string, recovered bool) {
	if recovered {
		m.callsRecovered.WithLabelValues(flowLabel(flow), direction).Inc()
		return
	}
	m.callsStarted.WithLabelValues(flowLabel(flow), direction).Inc()
}

func (m *metrics) CallEnded(flow, direction, outcome string, d time.Duration) {
	m.callsEnded.WithLabelValues(flowLabel(flow), direction, outcome).Inc()
	m.callDuration.WithLabelValues(flowLabel(flow)).Observe(d.Seconds())
}

// reportKinds are the kinds the engine knows; a device's own event names
// are counted as "other", so that a device cannot make series without
// bound.
var reportKinds = map[string]bool{
	engine.EvIncoming: true, engine.EvInvite: true, engine.EvDTMF: true, engine.EvEndOfAnn: true,
	engine.EvBye: true, engine.EvRing: true, engine.EvAlert: true, engine.EvAnswer: true,
	engine.EvAnswered: true, engine.EvBusy: true, engine.EvIdle: true, engine.EvOnline: true,
	engine.EvOffline: true, engine.EvBootup: true, engine.EvConfigChange: true, engine.EvFailed: true,
	engine.EvTransient: true, engine.EvQueue: true, engine.EvDivert: true, engine.EvCdr: true,
}

func (m *metrics) Report(device, kind string) {
	if !reportKinds[kind] {
		kind = "other"
	}
	m.reports.WithLabelValues(device, kind).Inc()
}

func (m *metrics) Step(flow string, d time.Duration) {
	m.stepTime.WithLabelValues(flowLabel(flow)).Observe(d.Seconds())
}

func (m *metrics) SandboxStop(flow, reason string) {
	m.sandboxStops.WithLabelValues(flowLabel(flow), reason).Inc()
}

func (m *metrics) Job(event string) {
	switch event {
	case engine.JobEventScheduled:
		m.jobsScheduled.Inc()
	case engine.JobEventRetried:
		m.jobsRetried.Inc()
	default:
		m.jobsEnded.WithLabelValues(event).Inc()
	}
}

func (m *metrics) Attempt(outcome string) { m.attempts.WithLabelValues(outcome).Inc() }

// recording is engine.RecordingOptions.Observe.
func (m *metrics) recording(outcome string) { m.recordings.WithLabelValues(outcome).Inc() }

func (m *metrics) ClickEnded(typ, outcome string) { m.clicks.WithLabelValues(typ, outcome).Inc() }

// commit is the state file's engine.BoltOptions.OnCommit.
func (m *metrics) commit(writes int, d time.Duration) {
	m.commitTime.Observe(d.Seconds())
	m.commitWrites.Observe(float64(writes))
}

// ---- commands ----

// pbx wraps a device's engine.PBX so that each command is counted and
// timed.
func (m *metrics) pbx(device string, p engine.PBX) engine.PBX {
	return &meteredPBX{PBX: p, device: device, m: m}
}

// meteredPBX is an engine.PBX that counts and times the commands of the
// one it wraps.
type meteredPBX struct {
	engine.PBX
	device string
	m      *metrics
}

// done records one command that started at start and ended with err.
func (p *meteredPBX) done(command string, start time.Time, err error) {
	p.m.commands.WithLabelValues(p.device, command, commandResult(err)).Inc()
	p.m.commandTime.WithLabelValues(p.device, command).Observe(time.Since(start).Seconds())
}

// commandResult classifies a command's error: ok; refused (the device
// answered FAILED); not_found (the device does not know the call or
// object); timeout (no answer in time); canceled (ivrd stopped waiting);
// error (transport failures and answers that could not be read).
func commandResult(err error) string {
	var ref *engine.Refusal
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, engine.ErrGone):
		return "not_found"
	case errors.As(err, &ref):
		if ref.Reason == engine.ReasonNotFound {
			return "not_found"
		}
		return "refused"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}

func (p *meteredPBX) AssignMenu(ctx context.Context, id int, s engine.MenuSettings) error {
	start := time.Now()
	err := p.PBX.AssignMenu(ctx, id, s)
	p.done("assign_menu", start, err)
	return err
}

func (p *meteredPBX) Play(ctx context.Context, leg engine.Leg, menu int, prompt string) error {
	start := time.Now()
	err := p.PBX.Play(ctx, leg, menu, prompt)
	p.done("play", start, err)
	return err
}

func (p *meteredPBX) Transfer(ctx context.Context, leg engine.Leg, to engine.Target) error {
	start := time.Now()
	err := p.PBX.Transfer(ctx, leg, to)
	p.done("transfer", start, err)
	return err
}

func (p *meteredPBX) Dial(ctx context.Context, menu int, prompt, to, trunk string) (engine.Leg, engine.LegStatus, error) {
	start := time.Now()
	leg, st, err := p.PBX.Dial(ctx, menu, prompt, to, trunk)
	p.done("dial", start, err)
	return leg, st, err
}

func (p *meteredPBX) DialFromExt(ctx context.Context, ext, number, trunk string) (engine.Leg, engine.LegStatus, error) {
	start := time.Now()
	leg, st, err := p.PBX.DialFromExt(ctx, ext, number, trunk)
	p.done("dial_from_ext", start, err)
	return leg, st, err
}

func (p *meteredPBX) ConnectExts(ctx context.Context, from, to string) error {
	start := time.Now()
	err := p.PBX.ConnectExts(ctx, from, to)
	p.done("connect_exts", start, err)
	return err
}

func (p *meteredPBX) Accept(ctx context.Context, leg engine.Leg) error {
	start := time.Now()
	err := p.PBX.Accept(ctx, leg)
	p.done("accept", start, err)
	return err
}

func (p *meteredPBX) Hangup(ctx context.Context, leg engine.Leg) error {
	start := time.Now()
	err := p.PBX.Hangup(ctx, leg)
	p.done("hangup", start, err)
	return err
}

func (p *meteredPBX) VoiceFiles(ctx context.Context) ([]string, error) {
	start := time.Now()
	files, err := p.PBX.VoiceFiles(ctx)
	p.done("voice_files", start, err)
	return files, err
}

func (p *meteredPBX) Query(ctx context.Context, leg engine.Leg) (engine.LegStatus, error) {
	start := time.Now()
	st, err := p.PBX.Query(ctx, leg)
	p.done("query", start, err)
	return st, err
}

func (p *meteredPBX) Outers(ctx context.Context) ([]engine.LegStatus, error) {
	start := time.Now()
	legs, err := p.PBX.Outers(ctx)
	p.done("query_outers", start, err)
	return legs, err
}

func (p *meteredPBX) Waiting(ctx context.Context) ([]engine.Event, error) {
	start := time.Now()
	evs, err := p.PBX.Waiting(ctx)
	p.done("query_waiting", start, err)
	return evs, err
}

// ---- read at scrape time ----

var (
	descLive = prometheus.NewDesc("ivrd_calls_live",
		"Calls in the IVR now (sessions running a flow, outbound calls ringing included).", nil, nil)
	descJobs = prometheus.NewDesc("ivrd_outbound_jobs",
		"Outbound jobs now, by state: waiting (not yet due, or outside their calling window), due (waiting for a free slot), running (an attempt being dialled or live).", []string{"state"}, nil)
	descUnmatched = prometheus.NewDesc("ivrd_reports_unmatched_total",
		"Call reports that matched no live call.", nil, nil)
	descRejected = prometheus.NewDesc("ivrd_reports_rejected_total",
		"Requests the report listener refused, by device and HTTP status (400 malformed, 401 signature, 403 source address, 405 method, 413 too large).", []string{"device", "status"}, nil)
	descFlows = prometheus.NewDesc("ivrd_flows",
		"Flows in the catalogue, by state: loaded (serving new calls), failed (the file's current content does not load; a previous version may still serve).", []string{"state"}, nil)
	descRescans = prometheus.NewDesc("ivrd_flow_rescans_total",
		"Rescans of the flows folder: on changes, SIGHUP and the reload API.", nil, nil)
	descLoadErrors = prometheus.NewDesc("ivrd_flow_load_errors_total",
		"Flow file contents that failed to load (each once), and rescans that could not read the folder.", nil, nil)
	descEventsDropped = prometheus.NewDesc("ivrd_events_dropped_total",
		"Events the event log could not take: too many were waiting for the disk, or ivrd was stopping. They reach no stream and no webhook.", nil, nil)
)

// scrapeCollector reports the values read from the running daemon at
// scrape time.
type scrapeCollector struct{ src scrapeSource }

func (c scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLive, descJobs, descUnmatched, descRejected, descFlows, descRescans, descLoadErrors, descEventsDropped} {
		ch <- d
	}
}

func (c scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	count := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if r := c.src.Router(); r != nil {
		gauge(descLive, r.Live())
		st := r.DialStats()
		gauge(descJobs, st.Scheduled-st.Due, "waiting")
		gauge(descJobs, st.Due, "due")
		gauge(descJobs, st.Running, "running")
		count(descUnmatched, r.UnknownReports())
	}
	if cat := c.src.Catalog(); cat != nil {
		gauge(descFlows, len(cat.Flows()), "loaded")
		gauge(descFlows, len(cat.Errors()), "failed")
		count(descRescans, cat.Rescans())
		count(descLoadErrors, cat.LoadErrors())
	}
	if ev := c.src.eventLog(); ev != nil {
		count(descEventsDropped, ev.Dropped())
	}
	for device, rv := range c.src.receivers() {
		st := rv.Stats()
		for status, n := range map[int]uint64{
			http.StatusBadRequest:            st.Malformed,
			http.StatusUnauthorized:          st.Unauthorized,
			http.StatusForbidden:             st.Forbidden,
			http.StatusMethodNotAllowed:      st.Method,
			http.StatusRequestEntityTooLarge: st.TooLarge,
		} {
			count(descRejected, n, device, strconv.Itoa(status))
		}
	}
}

var _ engine.AgentPBX = (*meteredPBX)(nil)

// agent returns the wrapped PBX's agent call control, or
// engine.ErrNoAgentControl.
func (p *meteredPBX) agent() (engine.AgentPBX, error) {
	a, ok := p.PBX.(engine.AgentPBX)
	if !ok {
		return nil, engine.ErrNoAgentControl
	}
	return a, nil
}

func (p *meteredPBX) ExtCall(ctx context.Context, ext string) (engine.ExtCall, error) {
	a, err := p.agent()
	if err != nil {
		return engine.ExtCall{}, err
	}
	start := time.Now()
	c, err := a.ExtCall(ctx, ext)
	p.done("query_ext", start, err)
	return c, err
}

func (p *meteredPBX) Hold(ctx context.Context, ext string, on bool) error {
	a, err := p.agent()
	if err != nil {
		return err
	}
	start := time.Now()
	err = a.Hold(ctx, ext, on)
	name := "hold"
	if !on {
		name = "unhold"
	}
	p.done(name, start, err)
	return err
}

func (p *meteredPBX) HangupExt(ctx context.Context, ext string) error {
	a, err := p.agent()
	if err != nil {
		return err
	}
	start := time.Now()
	err = a.HangupExt(ctx, ext)
	p.done("hangup_ext", start, err)
	return err
}

func (p *meteredPBX) Supervise(ctx context.Context, mode, supervisor, ext string) error {
	a, err := p.agent()
	if err != nil {
		return err
	}
	start := time.Now()
	err = a.Supervise(ctx, mode, supervisor, ext)
	p.done("supervise", start, err)
	return err
}
