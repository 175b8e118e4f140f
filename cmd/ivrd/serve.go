package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/ompbx"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// ServeCommand is "ivrd serve": the daemon.
type ServeCommand struct {
	main *Main
}

// Run reads the configuration, applies the flags over it and serves. It
// handles the signals itself: SIGHUP rescans the flows folder; SIGINT or
// SIGTERM drains (no new calls, live ones run to their end for at most
// drain_timeout) and stops, and a second one stops at once. Calls still
// live when it stops stay in the state file for the next start. ctx done
// stops at once too.
func (c *ServeCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ivrd serve", flag.ContinueOnError)
	fs.SetOutput(c.main.Stderr)
	configPath := fs.String("config", DefaultConfigPath, "the configuration file")
	listen := fs.String("listen", "", "where devices push reports, host:port (overrides listen)")
	flows := fs.String("flows", "", "the flows folder (overrides flows)")
	logLevel := fs.String("log-level", "", "trace, debug, info, warn or error (overrides log_level)")
	logJSON := fs.Bool("log-json", false, "log JSON lines (overrides log_json)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ivrd serve [-config ivrd.toml] [flags]\n\n"+
			"Runs the IVR engine: receives the reports of the devices in the configuration\n"+
			"(each device posts to http://LISTEN/om/NAME), runs each call's flow and drives\n"+
			"the devices. SIGHUP reloads the flows. SIGINT or SIGTERM stops taking new\n"+
			"calls, waits up to drain_timeout for the live ones to end, and stops; a\n"+
			"second signal stops at once. GET /healthz and /readyz on the listener\n"+
			"answer probes (/readyz is 503 while draining). With [admin] listen set,\n"+
			"the admin API serves there (see README.md, \"Admin API\").\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := ReadConfigFile(*configPath)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("serve: %w (write one with a [[device]]; see README.md, \"Your first flow\")", err)
	}
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["listen"] {
		cfg.Listen = *listen
	}
	if set["flows"] {
		cfg.Flows = *flows
	}
	if set["log-level"] {
		cfg.LogLevel = *logLevel
	}
	if set["log-json"] {
		cfg.LogJSON = *logJSON
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s (with flags): %w", *configPath, err)
	}

	log := newLogger(c.main.Stderr, cfg.hclogLevel(), cfg.LogJSON)
	// Registered before Open, so that a signal while the devices are
	// being set up drains as soon as serving starts.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	srv := NewServer(cfg, log)
	if err := srv.Open(ctx); err != nil {
		return err
	}
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				log.Info("SIGHUP: reloading flows")
				_ = srv.Reload()
				continue
			}
			log.Info("signal received; stopping", "signal", sig.String())
			return drainAndClose(ctx, srv, sigs, log)
		case <-ctx.Done():
			log.Info("stopping")
			return srv.Close()
		}
	}
}

// drainAndClose drains the server and closes it. Meanwhile SIGHUP still
// reloads, and a second SIGINT or SIGTERM ends the wait at once; after it
// a third one kills the process as if ivrd did not handle signals.
func drainAndClose(ctx context.Context, srv *Server, sigs <-chan os.Signal, log hclog.Logger) error {
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGHUP {
					log.Info("SIGHUP: reloading flows")
					_ = srv.Reload()
					continue
				}
				log.Warn("second signal: stopping at once", "signal", sig.String())
				signal.Reset(os.Interrupt, syscall.SIGTERM)
				stop()
				return
			case <-dctx.Done():
				return
			}
		}
	}()
	srv.Drain(dctx)
	log.Info("stopping")
	return srv.Close()
}

// newLogger builds the root logger: text or JSON lines at level.
func newLogger(w io.Writer, level hclog.Level, json bool) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "ivrd",
		Level:      level,
		Output:     w,
		JSONFormat: json,
		TimeFormat: "2006-01-02T15:04:05.000Z0700",
	})
}

// DefaultAdminWriteTimeout bounds the writing of one admin answer.
const DefaultAdminWriteTimeout = time.Minute

// Server is the daemon in-process: the flow catalogue, one omproto.Client
// and one omproto.Receiver per device, the engine's Router and the report
// listener. "ivrd serve", "ivrd demo" and the tests run it.
type Server struct {
	// Listener, when set before Open, serves the reports instead of a new
	// listener on the configuration's listen address.
	Listener net.Listener
	// Observer, when set before Open, is told what the engine does, as
	// the metrics of the admin listener are ("ivrd bench" counts the
	// calls handed to the fallback with it).
	Observer engine.Observer
	// Phone, when set before Open, is a simulated OM running in this
	// process that one of the devices is (as in "ivrd demo"): the admin
	// listener then serves its control API under /sim/, for the
	// console's phone.
	Phone *omsim.Sim
	// AdminWriteTimeout, when set before Open, bounds the writing of one
	// admin answer (default DefaultAdminWriteTimeout). The event streams
	// and the recordings' audio set their own deadlines.
	AdminWriteTimeout time.Duration

	cfg Config
	log hclog.Logger

	catalog *engine.Catalog
	store   *engine.BoltStore
	pruner  *historyPruner
	events  *engine.EventLog
	recs    *engine.Recordings
	router  *engine.Router
	srv     *http.Server
	ln      net.Listener
	hooks   *api.Webhooks
	// eventHooks are the [[webhook]]s (nil without any).
	eventHooks *api.EventHooks
	admin      *http.Server
	adminLn    net.Listener
	// metrics is nil when the admin listener, which serves /metrics, is
	// off; rvs are the report receivers by device, for their counts.
	metrics *metrics
	rvs     map[string]*omproto.Receiver
	rejects *rejectLog // rejected reports, logged without flooding the log
	// watch checks the devices for the admin API (nil when it is off).
	watch *deviceWatch
	// exts queries the devices' extensions to correct lost reports.
	exts *extWatch

	stopWatch context.CancelFunc
	watchDone chan struct{}
	draining  atomic.Bool // /readyz answers 503
	closeOnce sync.Once
	closeErr  error
}

// NewServer returns a Server for a validated configuration, logging to log.
func NewServer(cfg Config, log hclog.Logger) *Server {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Server{cfg: cfg, log: log}
}

// Open loads the flows, builds the engine, assigns the devices' menus and
// starts serving reports. It fails when a flow does not compile (the error
// names file:line) or a route names a flow that is not in the folder.
func (s *Server) Open(ctx context.Context) (err error) {
	cfg := s.cfg
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.catalog, err = engine.OpenCatalog(cfg.Flows, engine.CatalogOptions{Logger: s.log})
	if err != nil {
		return fmt.Errorf("loading flows: %w", err)
	}
	for i, rt := range cfg.Routes {
		if _, ok := s.catalog.Flow(rt.Flow); !ok {
			return fmt.Errorf("route[%d].flow: no flow %q in %s (want %s)", i, rt.Flow, cfg.Flows, flowFile(cfg.Flows, rt.Flow))
		}
	}

	observer := s.Observer
	storeOpts := engine.BoltOptions{}
	if cfg.Admin.Listen != "" {
		s.metrics = newMetrics(s)
		observer = s.metrics
		if s.Observer != nil {
			observer = observers{s.metrics, s.Observer}
		}
		storeOpts.OnCommit = s.metrics.commit
	}
	devices := make([]*engine.Device, len(cfg.Devices))
	for i := range cfg.Devices {
		dc := &cfg.Devices[i]
		dev := dc.engineDevice()
		dev.PBX = &ompbx.PBX{Client: deviceClient(dc, s.log)}
		if s.metrics != nil {
			dev.PBX = s.metrics.pbx(dc.Name, dev.PBX)
		}
		devices[i] = dev
	}
	spareProc()
	s.store, err = engine.OpenBolt(cfg.State, storeOpts)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	s.pruner = startPruner(s.store, cfg.History, s.log.Named("history"))
	evOpt, err := cfg.Events.options()
	if err != nil {
		return err
	}
	evOpt.Store, evOpt.Logger = s.store, s.log
	if s.events, err = engine.OpenEventLog(evOpt); err != nil {
		return fmt.Errorf("state: the event log: %w", err)
	}
	recOpt, err := cfg.Recordings.options(cfg.State)
	if err != nil {
		return err
	}
	recOpt.Source, recOpt.Events, recOpt.Logger = newRecordingSource(cfg.Devices), s.events, s.log
	if s.metrics != nil {
		recOpt.Observe = s.metrics.recording
	}
	if s.recs, err = engine.OpenRecordings(s.store, recOpt); err != nil {
		return fmt.Errorf("recordings.dir: %w", err)
	}
	for _, d := range cfg.Devices {
		if d.WebUser == "" {
			// Info, not a warning: most sites record nothing. A call record
			// that does name a recording fails it, logged at error level.
			s.log.Info("the device has no web account: the recordings its call records name will not be fetched", "device", d.Name)
		}
	}
	if err := s.startWebhooks(); err != nil {
		return err
	}
	limits, heap := cfg.engineLimits()
	dial, _ := cfg.Outbound.engine()
	httpOpts, _ := cfg.HTTP.engine()
	s.hooks = api.NewWebhooks(api.WebhookOptions{Secret: cfg.Admin.WebhookSecret, Logger: s.log})
	s.router, err = engine.NewRouter(engine.Config{
		Devices:   devices,
		Routes:    cfg.engineRoutes(),
		Flows:     s.catalog,
		Logger:    s.log,
		Limits:    limits,
		HeapLimit: heap,
		Store:     s.store,
		AfterStep: crashSwitch(),
		Dial:      dial,
		HTTP:      httpOpts,
		JobEnded:  s.hooks.JobEnded,
		CdrKept: func(c engine.Cdr) {
			if c.Recording != "" {
				s.recs.Wake()
			}
		},
		Observer: observer,
		Block:    cfg.Lists.engine(),
		Events:   s.events,
	})
	if err != nil {
		return err
	}
	s.exts = newExtWatch(s)
	if cfg.Admin.Listen != "" {
		s.watch = newDeviceWatch(s, s.phoneDevice())
	}

	ln := s.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	s.ln = ln
	// The router is started, and the calls a previous run left in the
	// state file recovered, before any report is read.
	s.router.Start(ctx)
	s.exts.start()
	if _, err := s.router.Recover(ctx); err != nil {
		return err
	}
	s.srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("report listener stopped", "error", err)
		}
	}()
	if err := s.openAdmin(); err != nil {
		return err
	}

	wctx, cancel := context.WithCancel(context.Background())
	s.stopWatch, s.watchDone = cancel, make(chan struct{})
	go func() {
		defer close(s.watchDone)
		if err := s.catalog.Watch(wctx); err != nil && wctx.Err() == nil {
			s.log.Error("watching the flows folder failed; send SIGHUP to reload", "flows", cfg.Flows, "error", err)
		}
	}()

	s.log.Info("serving", "listen", s.Addr(), "flows", cfg.Flows, "loaded", flowVersions(s.catalog.Flows()))
	if s.adminLn != nil {
		s.log.Info("admin API", "listen", s.AdminAddr())
	}
	for _, d := range cfg.Devices {
		s.log.Info("device", "device", d.Name, "url", d.URL, "reports", s.URL()+"/om/"+d.Name)
	}
	return nil
}

// observers tells each of its observers everything.
type observers []engine.Observer

func (obs observers) CallStarted(flow, direction string, recovered bool) {
	for _, o := range obs {
		o.CallStarted(flow, direction, recovered)
	}
}

func (obs observers) CallEnded(flow, direction, outcome string, d time.Duration) {
	for _, o := range obs {
		o.CallEnded(flow, direction, outcome, d)
	}
}

func (obs observers) Report(device, kind string) {
	for _, o := range obs {
		o.Report(device, kind)
	}
}

func (obs observers) Step(flow string, d time.Duration) {
	for _, o := range obs {
		o.Step(flow, d)
	}
}

func (obs observers) SandboxStop(flow, reason string) {
	for _, o := range obs {
		o.SandboxStop(flow, reason)
	}
}

func (obs observers) Job(event string) {
	for _, o := range obs {
		o.Job(event)
	}
}

func (obs observers) Attempt(outcome string) {
	for _, o := range obs {
		o.Attempt(outcome)
	}
}

func (obs observers) ClickEnded(typ, outcome string) {
	for _, o := range obs {
		o.ClickEnded(typ, outcome)
	}
}

// deviceClient builds a device's command client, tracing the XML at trace
// level on log's "om" logger. A command sent for a call (engine.WithCallID)
// is traced with the call's call_id, as the call's own log lines are; one
// that carries a secret (engine.WithSecret) shows its voice files, and any
// voice file its answer names, as [secret].
func deviceClient(dc *DeviceConfig, log hclog.Logger) *omproto.Client {
	timeout, _ := parseDurationField("command_timeout", dc.CommandTimeout)
	client := &omproto.Client{BaseURL: dc.URL, Secret: dc.CommandSecret, Timeout: timeout}
	omlog := log.Named("om").With("device", dc.Name)
	if omlog.IsTrace() {
		client.Trace = func(ctx context.Context, dir string, body []byte) {
			msg := "command"
			if dir == omproto.TraceResponse {
				msg = "answer"
			}
			if engine.IsSecret(ctx) {
				body = redactVoiceFiles(body)
			}
			if id := engine.CallID(ctx); id != "" {
				omlog.Trace(msg, "call_id", id, "xml", string(body))
				return
			}
			omlog.Trace(msg, "xml", string(body))
		}
	}
	return client
}

var (
	voiceFileElem = regexp.MustCompile(`(?is)(<voicefile>)[^<]*(</voicefile>)`)
	voiceFileText = regexp.MustCompile(`(?i)(voicefile:)[^<]*`)
)

// redactVoiceFiles hides the voice files a command or its answer names.
func redactVoiceFiles(body []byte) []byte {
	body = voiceFileElem.ReplaceAll(body, []byte("${1}[secret]${2}"))
	return voiceFileText.ReplaceAll(body, []byte("${1}[secret]"))
}

// handler serves /om/NAME for each device.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	replog := s.log.Named("om")
	s.rejects = newRejectLog(replog, rejectEvery)
	s.rvs = map[string]*omproto.Receiver{}
	for i := range s.cfg.Devices {
		dc := &s.cfg.Devices[i]
		name := dc.Name
		var to ompbx.Deliverer = recordingDeliverer{recs: s.recs, to: s.router}
		if s.watch != nil {
			to = s.watch.deliverer(to)
		}
		handler := ompbx.Handler(name, to)
		if s.log.IsTrace() {
			// The engine writes each report's XML at trace level, once it
			// knows the call the report belongs to (with its call_id).
			handler = ompbx.TracingHandler(name, to)
		}
		rv := &omproto.Receiver{
			Handler: handler,
			Allow:   dc.allowPrefixes(),
			Secret:  dc.ReportSecret,
			OnReject: func(r *http.Request, status int, err error) {
				s.rejects.rejected(name, r.RemoteAddr, status, err)
			},
		}
		s.rvs[name] = rv
		mux.Handle("/om/"+name, rv)
	}
	// Probes, outside /om/: the process is up; it takes new calls.
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		probeAnswer(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			probeAnswer(w, http.StatusServiceUnavailable, "draining")
			return
		}
		probeAnswer(w, http.StatusOK, "ready")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		replog.Warn("request for no configured device", "path", r.URL.Path, "remote", r.RemoteAddr)
		http.NotFound(w, r)
	})
	return mux
}

func probeAnswer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, body+"\n")
}

// Addr returns the report listener's address once Open has succeeded.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL returns http://ADDR, the base of the report URLs.
func (s *Server) URL() string { return "http://" + s.Addr() }

// openAdmin starts the admin API on admin.listen, when it is set.
func (s *Server) openAdmin() error {
	if s.cfg.Admin.Listen == "" {
		return nil
	}
	token, err := s.cfg.Admin.token()
	if err != nil {
		return err
	}
	opt := api.Options{Token: token, Logger: s.log, TZ: s.cfg.Outbound.location(), MetricsToken: s.cfg.Admin.MetricsToken}
	if s.metrics != nil {
		opt.Metrics = s.metrics.handler()
	}
	opt.Devices, opt.Phone, opt.Prompts = s.watch, s.phone(), s.cfg.Prompts
	opt.Cdrs = s.store
	opt.Sessions = s.store
	opt.Recordings = s.recs
	opt.Lists = s.router.Lists()
	opt.Events = s.events
	opt.Agents = s.router
	opt.EventHooks = s.eventHooks
	opt.Clicks = s.router
	h, err := api.New(adminBackend{s}, opt)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("admin.listen: %w", err)
	}
	s.adminLn = ln
	if !isLoopback(ln.Addr()) {
		s.log.Warn("the admin API listens beyond this machine over plain HTTP; put a TLS proxy in front of it", "listen", ln.Addr().String())
	}
	wt := s.AdminWriteTimeout
	if wt <= 0 {
		wt = DefaultAdminWriteTimeout
	}
	s.admin = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: wt, IdleTimeout: 2 * time.Minute}
	s.admin.RegisterOnShutdown(h.Close) // the console's live-call streams end, so the shutdown need not wait for them
	go func() {
		if err := s.admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin listener stopped", "error", err)
		}
	}()
	s.watch.start()
	if s.cfg.Admin.WebhookSecret == "" {
		s.log.Warn("admin.webhook_secret is not set: job webhooks go out unsigned")
	}
	return nil
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// AdminAddr returns the admin listener's address, or "" when the admin API
// is off.
func (s *Server) AdminAddr() string {
	if s.adminLn == nil {
		return ""
	}
	return s.adminLn.Addr().String()
}

// Router returns the engine's router, for status and tests.
func (s *Server) Router() *engine.Router { return s.router }

// Catalog returns the flow catalogue.
func (s *Server) Catalog() *engine.Catalog { return s.catalog }

// receivers returns the report receivers by device name.
func (s *Server) receivers() map[string]*omproto.Receiver { return s.rvs }

// eventLog returns the event log (nil until Open has built it).
func (s *Server) eventLog() *engine.EventLog { return s.events }

// Reload rescans the flows folder now (what SIGHUP does). The catalogue
// logs what changed and each flow that fails to load (it keeps its
// previous version); Reload adds one line with the outcome and returns the
// failures.
func (s *Server) Reload() error {
	err := s.catalog.Reload()
	s.log.Info("flows rescanned", "flows", flowVersions(s.catalog.Flows()), "failed", len(s.catalog.Errors()))
	return err
}

// Drain prepares a graceful stop: /readyz answers 503 from now on, new
// calls are left to the device (its response timeout sends them to the
// operator), and the live ones run on. It waits until none is live,
// drain_timeout has passed or ctx is done, and returns how many are still
// live; Close leaves those in the state file for the next start.
func (s *Server) Drain(ctx context.Context) int {
	s.draining.Store(true)
	drained := s.router.Drain()
	timeout, _ := s.cfg.drainTimeout()
	s.log.Info(fmt.Sprintf("draining: %d live calls; waiting up to %s (signal again to exit at once)", s.router.Live(), timeout))
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-drained:
		s.log.Info("drained: no live calls")
	case <-t.C:
		s.log.Warn("drain_timeout passed with calls still live", "calls", s.router.Live())
	case <-ctx.Done():
	}
	return s.router.Live()
}

// Close stops the sessions where they are, without another command or
// store write, stops taking reports and closes the state file and the
// catalogue. Calls still live stay on the device and in the state file,
// and the next Open recovers them; Drain first to let them end.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.admin != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.admin.Shutdown(ctx); err != nil {
				s.closeErr = fmt.Errorf("stop the admin listener: %w", err)
			}
			cancel()
		} else if s.adminLn != nil {
			s.adminLn.Close()
		}
		if s.watch != nil {
			s.watch.close()
		}
		if s.exts != nil {
			s.exts.close()
		}
		if s.router != nil {
			if n := s.router.Live(); n > 0 {
				s.log.Info("calls left in the state file for the next start to recover", "calls", n)
			}
			s.router.Crash()
		}
		if s.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.srv.Shutdown(ctx); err != nil {
				s.closeErr = fmt.Errorf("stop the report listener: %w", err)
			}
			cancel()
		} else if s.ln != nil {
			s.ln.Close()
		}
		if s.router != nil {
			s.router.Close()
		}
		if s.rejects != nil {
			s.rejects.close()
		}
		if s.hooks != nil {
			// Webhooks of jobs that ended on the way out get a moment.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.hooks.Close(ctx)
			cancel()
		}
		if s.pruner != nil {
			s.pruner.Stop()
		}
		if s.recs != nil {
			// After the router, before the event log it tells.
			s.recs.Close()
		}
		if s.eventHooks != nil {
			// A POST in flight is abandoned: its batch goes again at
			// the next start.
			s.eventHooks.Close()
		}
		if s.events != nil {
			// After the router, whose last calls publish their ends.
			s.events.Close()
		}
		if s.store != nil {
			if err := s.store.Close(); err != nil && s.closeErr == nil {
				s.closeErr = fmt.Errorf("close the state file: %w", err)
			}
		}
		if s.stopWatch != nil {
			s.stopWatch()
			<-s.watchDone
		}
		if s.catalog != nil {
			if err := s.catalog.Close(); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
	})
	return s.closeErr
}

// flowVersions lists flows as name@hash, for logs.
func flowVersions(flows []*engine.Flow) string {
	out := make([]string, len(flows))
	for i, f := range flows {
		out[i] = f.Name + "@" + f.ShortHash()
	}
	return strings.Join(out, ",")
}

func flowFile(dir, name string) string {
	return strings.TrimSuffix(dir, "/") + "/" + name + ".lua"
}

// crashEnv names the test-only switch that makes the process exit at once
// right after the Nth journal step it writes (counting every call's steps
// together): the crash tests use it to stop ivrd at chosen points. The
// exit code is crashExitCode.
const crashEnv = "IVRD_TEST_CRASH_AFTER_STEP"

const crashExitCode = 86

func crashSwitch() func(string, int) {
	n, err := strconv.Atoi(os.Getenv(crashEnv))
	if err != nil || n <= 0 {
		return nil
	}
	var count atomic.Int64
	return func(string, int) {
		if count.Add(1) == int64(n) {
			os.Exit(crashExitCode)
		}
	}
}
