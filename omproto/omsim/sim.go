package omsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto"
)

// maxCommandBody bounds a command body; the OM's own limit is not
// documented, real commands are a few hundred bytes.
const maxCommandBody = 64 << 10

// Sim is one simulated OM device.
type Sim struct {
	cfg Config
	clk clock.Clock
	// Logf, when set, receives one readable line per thing that happens.
	logf func(format string, args ...any)

	mu       sync.Mutex
	exts     map[string]*ext
	menus    [51]*menu
	groups   map[string]*group
	legs     map[legKey]*leg
	calls    map[string]*Call // by simulator call id
	order    []*Call          // calls in the order placed
	callSeq  int
	callIDs  int
	cdrSeq   int
	recSeq   int
	recs     map[string][]byte // recordings by path, without RecordDir
	commands []CommandRecord
	reports  []ReportRecord
	// executing is the command being carried out, if any. The reports
	// it causes wait in held until its answer is written, and every later
	// report waits behind them.
	executing *answer
	held      []heldReport
	faults    Faults
	rng       *rand.Rand

	out      *reporter
	srv      *http.Server
	ln       net.Listener
	refuse   bool
	closed   bool
	bootTime time.Time
}

// CommandRecord is a command the device received, with its answer.
type CommandRecord struct {
	Time   time.Time `json:"time"`
	Remote string    `json:"remote"`
	Root   string    `json:"root,omitempty"`
	Verb   string    `json:"verb,omitempty"`
	Body   string    `json:"body"` // the request body as received
	Status int       `json:"status"`
	Answer string    `json:"answer"` // the response body, as sent
}

// ReportRecord is a report the device generated, with what became of it.
type ReportRecord struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // event name or "Cdr"
	Body string    `json:"body"` // as encoded (without signature)
	// Result is "sent", "dropped", "failed: …" or "kept" when no report URL
	// is set; it is "" while the report waits in the queue.
	Result string `json:"result"`
}

// New builds a simulated device on clk (clock.Real{} when nil). It starts no
// listener; use Start, or mount Handler yourself.
func New(cfg Config, clk clock.Clock) (*Sim, error) {
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The simulator changes policies at run time; it owns its maps.
	cfg.Numbers = copyMap(cfg.Numbers)
	cfg.ExtPolicies = copyMap(cfg.ExtPolicies)
	if clk == nil {
		clk = clock.Real{}
	}
	s := &Sim{
		cfg:    cfg,
		clk:    clk,
		exts:   map[string]*ext{},
		groups: map[string]*group{},
		legs:   map[legKey]*leg{},
		calls:  map[string]*Call{},
		recs:   map[string][]byte{},
		rng:    rand.New(rand.NewSource(cfg.Seed)),
	}
	for _, e := range cfg.Exts {
		x := &ext{id: e, state: extIdle, policy: cfg.ExtPolicies[e]}
		if x.policy.Answer == AnswerOffline {
			x.state = extOffline
		}
		s.exts[e] = x
	}
	s.resetConfigured()
	s.out = newReporter(s)
	return s, nil
}

// SetLogf sets the function that receives one line per event (nil: none).
func (s *Sim) SetLogf(f func(format string, args ...any)) {
	s.mu.Lock()
	s.logf = f
	s.mu.Unlock()
}

func (s *Sim) log(format string, args ...any) {
	if s.logf != nil {
		s.logf(format, args...)
	}
}

// resetConfigured sets menus and groups to their web-page configuration,
// forgetting API assignments, as a reboot does.
func (s *Sim) resetConfigured() {
	for id := 1; id <= 50; id++ {
		m := &menu{id: strconv.Itoa(id)}
		if set, ok := s.cfg.Menus[id]; ok {
			m.settings = set
		}
		s.menus[id] = m
	}
	s.groups = map[string]*group{}
	for id, members := range s.cfg.Groups {
		s.groups[id] = &group{id: id, exts: append([]string(nil), members...)}
	}
}

// Start listens on addr (host:port; port 0 picks one), serves the command
// side and the control API, and reports BOOTUP. It returns once listening.
func (s *Sim) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("omsim: listen %s: %w", addr, err)
	}
	s.mu.Lock()
	s.ln = &refusingListener{Listener: ln, sim: s}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	srv, l := s.srv, s.ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
	s.Boot()
	return nil
}

// Addr returns the listening address, or "" before Start.
func (s *Sim) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL returns the base URL of the command side (http://addr).
func (s *Sim) URL() string { return "http://" + s.Addr() }

// Boot reports BOOTUP, as a device does when it starts. Start calls it.
func (s *Sim) Boot() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bootTime = s.clk.Now()
	s.log("device %s %s booted", s.cfg.Model, s.cfg.Version)
	s.emit(&omproto.Event{Name: omproto.EventBootup})
}

// Reboot drops every call without reports (the device goes away), forgets
// API-assigned menus and groups, and reports BOOTUP.
func (s *Sim) Reboot() {
	s.mu.Lock()
	for _, l := range s.sortedLegs() {
		s.dropLeg(l)
	}
	for _, x := range s.exts {
		s.stopExt(x)
		x.leg, x.other, x.onAnswer = nil, nil, nil
		x.held, x.muted, x.caller = false, false, false
		x.sup, x.supervisor = nil, nil
		if x.state != extOffline {
			x.state = extIdle
		}
	}
	s.resetConfigured()
	s.log("device rebooting: calls dropped, API assignments forgotten")
	s.mu.Unlock()
	s.Boot()
}

// Close stops the listener and the report sender. Reports still queued are
// discarded.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, l := range s.legs {
		s.stopLeg(l)
	}
	for _, x := range s.exts {
		s.stopExt(x)
	}
	srv := s.srv
	s.mu.Unlock()
	s.out.close()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	}
	return nil
}

// Settle waits until every exchange in flight has finished, when the
// simulator runs on a virtual clock; on the real clock it returns at once.
func (s *Sim) Settle() {
	if v, ok := s.clk.(*clock.Virtual); ok {
		v.Settle()
	}
}

// Clock returns the simulator's clock.
func (s *Sim) Clock() clock.Clock { return s.clk }

// Config returns the configuration in effect, defaults filled in, with the
// number and extension policies as last set. It is a copy: the caller may
// keep and read it while the device runs.
func (s *Sim) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cfg
	c.Numbers = copyMap(s.cfg.Numbers)
	c.ExtPolicies = copyMap(s.cfg.ExtPolicies)
	return c
}

// Handler serves POST /xml (the command side), the recordings under
// /mcc/Recorder/ and the control API under /sim/.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/xml", s.serveCommand)
	mux.HandleFunc("GET "+RecorderPrefix, s.serveRecording)
	mux.Handle("/sim/", s.ControlHandler())
	return mux
}

// serveCommand answers one command with the OM's strictness: a fixed
// Content-Length is required, chunked bodies are refused, and the
// connection is closed after the answer.
func (s *Sim) serveCommand(w http.ResponseWriter, r *http.Request) {
	done := s.clk.Work()
	defer done()
	w.Header().Set("Connection", "close")
	if r.Method != http.MethodPost {
		http.Error(w, "commands are POSTed to /xml", http.StatusMethodNotAllowed)
		return
	}
	if len(r.TransferEncoding) > 0 {
		s.logLocked("command refused: chunked body from %s", r.RemoteAddr)
		http.Error(w, "chunked request bodies are not accepted", http.StatusBadRequest)
		return
	}
	if r.ContentLength < 0 {
		http.Error(w, "Content-Length required", http.StatusLengthRequired)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCommandBody+1))
	if err != nil {
		return
	}
	if len(body) > maxCommandBody {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	faults := s.Faults()
	if faults.CommandDelay > 0 {
		// Real time on purpose: the delay exercises clients' network
		// timeouts, which run on real time.
		time.Sleep(faults.CommandDelay)
	}
	rec, a := s.handleCommand(r.RemoteAddr, body, faults)
	// The reports the command caused go out once its answer has been
	// written, as on a device: a TRANSIENT answer comes before the ALERT
	// of the leg it names.
	defer s.answered(rec, a)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(rec.Answer)))
	w.WriteHeader(rec.Status)
	_, _ = io.WriteString(w, rec.Answer)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Sim) logLocked(format string, args ...any) {
	s.mu.Lock()
	s.log(format, args...)
	s.mu.Unlock()
}

// authorized applies the OM's order of checks: the source address first,
// the signature only when the address is not allowed.
func (s *Sim) authorized(remote string, auth *omproto.Auth) bool {
	if len(s.cfg.CommandAllow) == 0 && s.cfg.CommandSecret == "" {
		return true
	}
	if len(s.cfg.CommandAllow) > 0 {
		if ap, err := netip.ParseAddrPort(remote); err == nil {
			for _, p := range s.cfg.CommandAllow {
				if p.Contains(ap.Addr().Unmap()) {
					return true
				}
			}
		}
	}
	if s.cfg.CommandSecret == "" || auth == nil {
		return false
	}
	return auth.Verify(s.cfg.CommandSecret, s.clk.Now(), s.cfg.SignatureWindow) == nil
}

// answer is a command whose answer may not be written yet.
type answer struct{ written bool }

// heldReport is a report waiting for the answer of the command that caused
// it (by, nil for none), or for the reports before it.
type heldReport struct {
	index int // in Sim.reports
	by    *answer
}

// handleCommand authorizes, decodes and carries out one command, applies
// the answer faults and records it. Reports the command causes are held
// until answered is called with the answer returned.
func (s *Sim) handleCommand(remote string, body []byte, faults Faults) (CommandRecord, *answer) {
	cmd, auth, err := omproto.DecodeCommand(body)
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &answer{}
	s.executing = a
	defer func() { s.executing = nil }()
	rec := CommandRecord{Time: s.clk.Now(), Remote: remote, Body: string(body)}
	status, answer := http.StatusOK, []byte(nil)
	switch {
	case !s.authorized(remote, auth):
		status, answer = http.StatusUnauthorized, []byte("Unauthorized")
		s.log("command from %s refused: unauthorized", remote)
	case errors.Is(err, omproto.ErrEmpty):
		s.log("command from %s: empty body", remote)
	case err != nil:
		// The device answers what it cannot read with a comment.
		answer = omproto.EncodeComment("Error, bad request")
		s.log("command from %s unreadable: %v", remote, err)
	default:
		rec.Root, rec.Verb = cmd.Root(), cmd.Verb()
		s.log("command %s %s", cmd.Root(), describeCommand(cmd))
		answer = s.execute(cmd)
	}
	switch {
	case faults.CommandStatus != 0:
		status, answer = faults.CommandStatus, []byte(http.StatusText(faults.CommandStatus))
	case faults.CommandGarbage:
		answer = []byte("<Status><visitor id=\"1\"><stat")
	}
	rec.Status, rec.Answer = status, string(answer)
	s.commands = append(s.commands, rec)
	return rec, a
}

// answered records that a command's answer has been written and sends the
// held reports that were waiting only for it.
func (s *Sim) answered(rec CommandRecord, a *answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.Root != "" {
		s.log("answered %s %s: HTTP %d", rec.Root, rec.Verb, rec.Status)
	}
	a.written = true
	for len(s.held) > 0 && (s.held[0].by == nil || s.held[0].by.written) {
		h := s.held[0]
		s.held = s.held[1:]
		s.sendReport(h.index)
	}
}

// Commands returns the commands received so far, oldest first.
func (s *Sim) Commands() []CommandRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CommandRecord(nil), s.commands...)
}

// Reports returns the reports generated so far, oldest first.
func (s *Sim) Reports() []ReportRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ReportRecord(nil), s.reports...)
}

func describeCommand(c omproto.Command) string {
	body := string(omproto.EncodeCommand(c, nil))
	if i := strings.Index(body, "?>"); i >= 0 {
		body = strings.TrimSpace(body[i+2:])
	}
	return c.Verb() + " " + body
}

// refusingListener closes accepted connections while the refuse fault is
// on, so clients see a connection reset.
type refusingListener struct {
	net.Listener
	sim *Sim
}

func (l *refusingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.sim.Faults().RefuseConnections {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			c.Close()
			continue
		}
		return c, nil
	}
}

func copyMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
