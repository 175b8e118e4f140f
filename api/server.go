package api

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
)

// Backend is what the API needs of the running daemon. cmd/ivrd
// implements it over the engine's Router, Catalog and Store.
type Backend interface {
	// Dial schedules an outbound job (engine.Router.Dial).
	Dial(req engine.DialRequest) (engine.Job, error)
	// Jobs lists every job, newest first; Job returns one, or
	// engine.ErrNoJob.
	Jobs() ([]engine.Job, error)
	Job(id string) (engine.Job, error)
	// CancelJob cancels a job: engine.ErrNoJob, or engine.ErrJobOver with
	// the job when it has already ended.
	CancelJob(id string) (engine.Job, error)
	// Redirect moves a live device leg that is not in the IVR into a flow
	// and returns the new call's id.
	Redirect(device string, leg engine.Leg, flow string, vars json.RawMessage) (string, error)
	// LiveCalls lists the calls in the IVR now.
	LiveCalls() []Call
	// LiveCall returns one call in the IVR now, with its path so far.
	LiveCall(id string) (Call, bool)
	// History returns an ended call, or engine.ErrNoCall; SearchHistory
	// the ended calls a query selects, newest first
	// (engine.BoltStore.SearchHistory).
	History(callID string) (engine.HistoryEntry, error)
	SearchHistory(q engine.HistoryQuery) (engine.HistoryPage, error)
	// Flows lists the flows of the catalogue, with the files that do not
	// load; ReloadFlows rescans the folder and returns its failures.
	Flows() []FlowInfo
	ReloadFlows() error
	// KV returns a flow's ivr.store: every key with its JSON value.
	KV(flow string) (map[string]json.RawMessage, error)
	// Ready reports whether the daemon takes new calls (false while it
	// drains).
	Ready() bool
}

// Call is a call as the API shows it: live (in the IVR now) or ended,
// from the history.
type Call struct {
	ID        string `json:"id"`
	Live      bool   `json:"live"`
	Device    string `json:"device"`
	Leg       string `json:"leg"`              // "visitor 14"
	CallID    string `json:"callid,omitempty"` // the OM's
	From      string `json:"from"`
	To        string `json:"to"`
	Direction string `json:"direction"`
	Flow      string `json:"flow"`
	FlowHash  string `json:"flow_hash"`
	// Origin is where a call moved into the IVR came from ("ext 201"
	// after an agent's transfer to a flow).
	Origin string `json:"origin,omitempty"`
	// State is what a live call is doing ("playing user_welcome");
	// Activity the same, structured, with since when.
	State    string           `json:"state,omitempty"`
	Activity *engine.Activity `json:"activity,omitempty"`
	Started  time.Time        `json:"started"`
	// Ended, Outcome, Target, Path, Steps and Cdr describe an ended call.
	Ended   time.Time          `json:"ended,omitzero"`
	Outcome string             `json:"outcome,omitempty"`
	Target  string             `json:"target,omitempty"`
	Path    []engine.PathEntry `json:"path,omitempty"`
	Steps   int                `json:"steps,omitempty"`
	Cdr     *engine.CdrRecord  `json:"cdr,omitempty"`
}

// HistoryCall is an ended call as the API shows it.
func HistoryCall(h engine.HistoryEntry) Call {
	return Call{
		ID: h.ID, Device: h.Device, Leg: h.Leg.String(), CallID: h.CallID, From: h.From, To: h.To,
		Direction: h.Direction, Flow: h.Flow, FlowHash: h.FlowHash, Origin: h.Origin, Started: h.Started,
		Ended: h.Ended, Outcome: h.Outcome, Target: h.Target, Path: h.Path, Steps: h.Steps, Cdr: h.Cdr,
	}
}

// FlowInfo is a flow of the catalogue. Hash is the version serving new
// calls; Error says why the file's current content does not load (the
// previous version, if any, still serves).
type FlowInfo struct {
	Name  string `json:"name"`
	Hash  string `json:"hash,omitempty"`
	Path  string `json:"path,omitempty"`
	Error string `json:"error,omitempty"`
}

// Defaults of Options.
const (
	// DefaultMaxBody bounds a request body.
	DefaultMaxBody = 1 << 20
	// DefaultHistoryLimit is how many ended calls GET /api/v1/history
	// lists without ?limit; MaxHistoryLimit is the most it lists.
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 1000
)

// Options configure a Server.
type Options struct {
	// Token is the bearer token every /api/ request must carry. Required.
	Token string
	// Logger is the parent logger; the server logs as "api" (default:
	// none).
	Logger hclog.Logger
	// MaxBody bounds request bodies (default DefaultMaxBody).
	MaxBody int64
	// TZ is the time zone of a request's "at" given as a time of day
	// ("07:00") when the request names no tz (default UTC).
	TZ *time.Location
	// Now is the clock "at" is read against (default time.Now).
	Now func() time.Time
	// Metrics, when set, serves GET /metrics (the daemon's Prometheus
	// exposition). It needs a bearer token like /api/: Token, or
	// MetricsToken, which opens /metrics and nothing else (for a
	// scraper that should not be able to place calls).
	Metrics      http.Handler
	MetricsToken string
	// SessionTTL is how long a console sign-in lasts (default
	// DefaultSessionTTL).
	SessionTTL time.Duration
	// Sessions, when set, keeps the console's sessions across restarts
	// (without it a restart signs every console out).
	Sessions SessionStore
	// MaxAuthFailures is how many wrong tokens (bearer or sign-in) one
	// source address may send in AuthFailureWindow; past it, its token
	// attempts are answered 429 until the window ends (default
	// DefaultMaxAuthFailures; negative: no limit).
	MaxAuthFailures int
	// Devices, when set, serves GET /api/v1/devices (none listed
	// without it). Phone, when set, is a simulator running in the
	// process: GET /api/v1/phone describes it and /sim/ serves its
	// control API (404 without it). Prompts are the configuration's
	// prompt texts, by voice file (GET /api/v1/prompts).
	Devices Devices
	Phone   *Phone
	Prompts map[string]string
	// Cdrs, when set, serves GET /api/v1/cdrs, the devices' call records
	// (404 without it).
	Cdrs Cdrs
	// Recordings, when set, serves /api/v1/recordings, the call
	// recordings fetched from the devices, and shows each call record's
	// recording state in GET /api/v1/cdrs (404 without it).
	Recordings Recordings
	// Lists, when set, serves the caller lists under /api/v1/lists (501
	// without it).
	Lists Lists
	// Events, when set, serves GET /api/v1/events, the event log as
	// server-sent events (501 without it).
	Events *engine.EventLog
	// Agents, when set, serves agent call control under
	// /api/v1/devices/{name}/extensions/{ext}/ (501 without it).
	Agents Agents
	// EventHooks, when set, are the event log's outgoing webhooks, shown
	// and retried under /api/v1/webhooks (none listed without it).
	EventHooks *EventHooks
	// Clicks, when set, serves click-to-call: POST /api/v1/dial and
	// /api/v1/connect, and the clicks under /api/v1/dials (501 without
	// it).
	Clicks Clicks
	// EventWriteTimeout is how long one write to an event stream may take
	// before its client is dropped (default DefaultEventWriteTimeout).
	EventWriteTimeout time.Duration
	// StreamKeepAlive is how often an idle stream sends a comment (default
	// DefaultStreamKeepAlive).
	StreamKeepAlive time.Duration
}

// Server is the admin API, an http.Handler. /healthz and /readyz answer
// without a token; everything under /api/ needs it, and so does /metrics
// when Options.Metrics is set. The operator console is served at /; a
// browser signs in once with the token (POST /api/v1/session) and then
// uses a session cookie, with a CSRF token and a same-origin check on
// every request that changes something.
type Server struct {
	b       Backend
	opt     Options
	log     hclog.Logger
	mux     *http.ServeMux
	tokenID [sha256.Size]byte
	// metricsID is MetricsToken's digest; hasMetricsToken says it is set.
	metricsID       [sha256.Size]byte
	hasMetricsToken bool

	sessions *sessions
	limit    *authLimiter // wrong tokens per source address
	streams  atomic.Int32
	// eventStreams counts the open GET /api/v1/events.
	eventStreams atomic.Int32
	done         chan struct{} // closed by Close: streams end
	closeOnce    sync.Once
}

// ErrNoToken is a Server configured without a token.
var ErrNoToken = errors.New("api: the admin API needs a token")

// New returns the API over b.
func New(b Backend, opt Options) (*Server, error) {
	if opt.Token == "" {
		return nil, ErrNoToken
	}
	if opt.Logger == nil {
		opt.Logger = hclog.NewNullLogger()
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = DefaultMaxBody
	}
	if opt.TZ == nil {
		opt.TZ = time.UTC
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.EventWriteTimeout <= 0 {
		opt.EventWriteTimeout = DefaultEventWriteTimeout
	}
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = DefaultSessionTTL
	}
	if opt.StreamKeepAlive <= 0 {
		opt.StreamKeepAlive = DefaultStreamKeepAlive
	}
	if opt.MaxAuthFailures == 0 {
		opt.MaxAuthFailures = DefaultMaxAuthFailures
	}
	s := &Server{b: b, opt: opt, log: opt.Logger.Named("api"), mux: http.NewServeMux(), tokenID: sha256.Sum256([]byte(opt.Token)),
		limit: newAuthLimiter(opt.MaxAuthFailures, opt.Now), done: make(chan struct{})}
	s.sessions = newSessions(opt.SessionTTL, opt.Now, opt.Token, opt.Sessions, s.log)
	if err := s.sessions.load(); err != nil {
		// Not fatal: the consoles sign in again.
		s.log.Warn("cannot read the console sessions from the state file; consoles must sign in again", "error", err)
	}
	if opt.MetricsToken != "" {
		s.metricsID, s.hasMetricsToken = sha256.Sum256([]byte(opt.MetricsToken)), true
	}
	routes := map[string]func(*http.Request) (int, any, error){
		"POST /api/v1/calls":              s.dial,
		"GET /api/v1/calls":               s.liveCalls,
		"GET /api/v1/calls/{id}":          s.call,
		"POST /api/v1/calls/{id}/flow":    s.redirect,
		"GET /api/v1/history":             s.history,
		"GET /api/v1/jobs":                s.jobs,
		"GET /api/v1/jobs/{id}":           s.job,
		"DELETE /api/v1/jobs/{id}":        s.cancelJob,
		"GET /api/v1/flows":               s.flows,
		"POST /api/v1/flows/reload":       s.reload,
		"GET /api/v1/stores/{flow}":       s.kv,
		"GET /api/v1/stores/{flow}/{key}": s.kvKey,
		"GET /api/v1/flows/{name}/funnel": s.funnel,
	}
	routes["GET /api/v1/devices"] = s.devices
	routes["GET /api/v1/devices/{name}"] = s.device
	routes["POST /api/v1/devices/{name}/check"] = s.checkDevice
	routes["GET /api/v1/devices/{name}/extensions"] = s.deviceExts
	routes["GET /api/v1/phone"] = s.phone
	routes["GET /api/v1/prompts"] = s.prompts
	routes["GET /api/v1/recordings"] = s.recordings
	routes["GET /api/v1/recordings/{id}"] = s.recording
	routes["POST /api/v1/recordings/{id}/retry"] = s.retryRecording
	s.listRoutes(routes)
	s.agentRoutes(routes)
	s.webhookRoutes(routes)
	s.clickRoutes(routes)
	for pattern, h := range routes {
		s.mux.Handle(pattern, s.endpoint(h))
	}
	s.mux.HandleFunc("GET /api/v1/calls/stream", s.stream)
	s.mux.HandleFunc("GET /api/v1/events", s.events)
	s.mux.HandleFunc("GET /api/v1/surveys/{flow}", s.surveys)
	s.mux.HandleFunc("GET /api/v1/cdrs", s.cdrs)
	s.mux.HandleFunc("GET /api/v1/recordings/{id}/audio", s.recordingAudio)
	s.mux.HandleFunc("POST /api/v1/session", s.signIn)
	s.mux.HandleFunc("GET /api/v1/session", s.sessionInfo)
	s.mux.HandleFunc("DELETE /api/v1/session", s.signOut)
	s.mux.HandleFunc("/sim/", s.sim)
	ui := console()
	s.mux.Handle("GET /{$}", ui)
	s.mux.Handle("GET /console/", ui)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		probe(w, http.StatusOK, "ok")
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.b.Ready() {
			probe(w, http.StatusServiceUnavailable, "draining")
			return
		}
		probe(w, http.StatusOK, "ready")
	})
	return s, nil
}

func probe(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, body+"\n")
}

// ServeHTTP checks the token of /api/ requests — or, for a request that
// has no Authorization header but cookies, the console's session rules —
// and routes them. Paths and methods the API does not have get JSON
// errors too.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/metrics" && s.opt.Metrics != nil {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, &Error{Msg: "method not allowed here (allowed: GET, HEAD)"})
			return
		}
		if s.authorized(w, r, true) {
			s.opt.Metrics.ServeHTTP(w, r)
		}
		return
	}
	if guarded(r.URL.Path) {
		// A bearer token is checked as it always was; a request without
		// one is a console's, with the session cookie and its rules.
		_, hasCookie := r.Header["Cookie"]
		if r.Header.Get("Authorization") == "" && hasCookie {
			if !s.cookieAuth(w, r) {
				return
			}
		} else if !s.authorized(w, r, false) {
			return
		}
	}
	s.mux.ServeHTTP(&jsonErrors{ResponseWriter: w}, r)
}

// Close ends the live-call streams, so that the listener can shut down
// (http.Server.RegisterOnShutdown). The API answers other requests still.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// authorized checks the bearer token in constant time (comparing digests,
// so the token's length does not show either) and answers 401 when it is
// missing or wrong. metrics also accepts the metrics token.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request, metrics bool) bool {
	auth := r.Header.Get("Authorization")
	host := remoteHost(r)
	if auth != "" {
		if left, refused := s.limit.refused(host); refused {
			tooMany(w, left)
			return false
		}
	}
	scheme, token, ok := strings.Cut(auth, " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		admin, scrape := s.tokenIs(token)
		if admin || (metrics && scrape) {
			return true
		}
	}
	msg := "a bearer token is required (Authorization: Bearer TOKEN)"
	if auth != "" {
		msg = "the token is not valid"
		s.log.Warn("request with a wrong token", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
		s.wrongToken(host)
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="ivrd"`)
	writeJSON(w, http.StatusUnauthorized, &Error{Msg: msg})
	return false
}

// tokenIs reports whether token (spaces around it ignored) is the admin
// token, and whether it is the metrics token, comparing digests in
// constant time.
func (s *Server) tokenIs(token string) (admin, metrics bool) {
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	admin = subtle.ConstantTimeCompare(got[:], s.tokenID[:]) == 1
	metrics = s.hasMetricsToken && subtle.ConstantTimeCompare(got[:], s.metricsID[:]) == 1
	return admin, metrics
}

// jsonErrors turns the mux's own plain-text 404 and 405 answers into JSON
// errors; answers the handlers write (always JSON) pass untouched.
type jsonErrors struct {
	http.ResponseWriter
	swallow bool
}

func (j *jsonErrors) WriteHeader(status int) {
	h := j.ResponseWriter.Header()
	if (status == http.StatusNotFound || status == http.StatusMethodNotAllowed) && strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		j.swallow = true
		msg := "no such endpoint"
		if status == http.StatusMethodNotAllowed {
			msg = "method not allowed here (allowed: " + h.Get("Allow") + ")"
		}
		h.Del("X-Content-Type-Options")
		writeJSON(j.ResponseWriter, status, &Error{Msg: msg})
		return
	}
	j.ResponseWriter.WriteHeader(status)
}

// Unwrap gives http.ResponseController the connection (the stream's
// flushes and write deadlines).
func (j *jsonErrors) Unwrap() http.ResponseWriter { return j.ResponseWriter }

func (j *jsonErrors) Write(p []byte) (int, error) {
	if j.swallow {
		return len(p), nil
	}
	return j.ResponseWriter.Write(p)
}

// endpoint adapts a handler returning (status, value, error) to
// http.Handler: the value is written as JSON, an error as an Error with
// the status it maps to.
func (s *Server) endpoint(h func(*http.Request) (int, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		status, v, err := h(r)
		if err != nil {
			e := s.errorOf(r, err)
			status, v = e.Status, e
		}
		writeJSON(w, status, v)
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", status, "remote", r.RemoteAddr,
			"took", time.Since(start).Round(time.Microsecond))
	})
}

// errorOf maps an error to its answer; unexpected ones are logged.
func (s *Server) errorOf(r *http.Request, err error) *Error {
	var fe *engine.FieldError
	var ae *Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Msg: fe.Msg, Field: fe.Field}
	case errors.Is(err, engine.ErrCursor):
		return &Error{Status: http.StatusBadRequest, Msg: err.Error(), Field: "before"}
	case errors.As(err, &mbe):
		return &Error{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("the body passes %d bytes", mbe.Limit)}
	case errors.Is(err, engine.ErrNoJob), errors.Is(err, engine.ErrNoCall), errors.Is(err, engine.ErrNoClick), errors.Is(err, engine.ErrGone), errors.Is(err, ErrNotFound),
		errors.Is(err, engine.ErrNoRecording):
		return &Error{Status: http.StatusNotFound, Msg: err.Error()}
	case errors.Is(err, engine.ErrJobOver), errors.Is(err, engine.ErrInIVR), errors.Is(err, ErrConflict),
		errors.Is(err, engine.ErrRecordingNotFetched), errors.Is(err, engine.ErrRecordingNotFailed):
		return &Error{Status: http.StatusConflict, Msg: err.Error()}
	case errors.Is(err, engine.ErrNoDevice):
		return &Error{Status: http.StatusNotFound, Msg: err.Error()}
	case errors.Is(err, ErrNotAvailable), errors.Is(err, engine.ErrNoAgentControl):
		return &Error{Status: http.StatusNotImplemented, Msg: err.Error()}
	case errors.Is(err, engine.ErrDeviceDown):
		return &Error{Status: http.StatusBadGateway, Msg: err.Error(), Reason: engine.ReasonDeviceDown}
	case errors.Is(err, engine.ErrShuttingDown):
		return &Error{Status: http.StatusServiceUnavailable, Msg: err.Error()}
	}
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	return &Error{Status: http.StatusInternalServerError, Msg: err.Error()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		fmt.Fprintf(&b, "{\"error\": %q}\n", "encoding the answer: "+err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

func badField(field, format string, args ...any) error {
	return &engine.FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// readBody reads a request body of at most MaxBody bytes into an object
// of raw fields, rejecting any field not in known (named as prefix+name).
func (s *Server) readBody(r *http.Request, prefix string, known ...string) (map[string]json.RawMessage, error) {
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.opt.MaxBody))
	if err != nil {
		return nil, err
	}
	return objectFields(data, prefix, known...)
}

// objectFields decodes a JSON object into its raw fields, rejecting any
// name not in known.
func objectFields(data []byte, prefix string, known ...string) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		what := strings.TrimSuffix(prefix, ".")
		if what == "" {
			what = "the body"
			if len(bytes.TrimSpace(data)) == 0 {
				return nil, badField("", "the body is empty; send a JSON object")
			}
		}
		if err == nil || isTypeError(err) {
			return nil, badField(strings.TrimSuffix(prefix, "."), "%s must be a JSON object", what)
		}
		return nil, badField(strings.TrimSuffix(prefix, "."), "%s is not JSON: %v", what, err)
	}
	if dec.More() {
		return nil, badField("", "the body holds more than one JSON value")
	}
	allowed := map[string]bool{}
	for _, k := range known {
		allowed[k] = true
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch {
		case allowed[k]:
		case len(known) == 0:
			return nil, badField(prefix+k, "unknown field: this request takes none")
		default:
			return nil, badField(prefix+k, "unknown field (known: %s)", strings.Join(known, ", "))
		}
	}
	return fields, nil
}

func isTypeError(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.As(err, &te)
}

// field decodes one raw field into v; a wrong type is a 400 naming it.
func field(fields map[string]json.RawMessage, name, prefix string, v any, want string) error {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return badField(prefix+name, "must be %s", want)
	}
	return nil
}

// The fields of POST /api/v1/calls: engine.DialRequest's, with "at" also
// accepted as a local or time-of-day string (see ParseAt).
var dialFields = []string{"to", "flow", "vars", "secret", "at", "tz", "window", "retry", "device", "trunk", "webhook", "id"}

var retryFields = []string{"attempts", "delay", "backoff", "on"}

// dialRequest reads the body of POST /api/v1/calls.
func (s *Server) dialRequest(r *http.Request) (engine.DialRequest, error) {
	var req engine.DialRequest
	f, err := s.readBody(r, "", dialFields...)
	if err != nil {
		return req, err
	}
	var at string
	for _, c := range []struct {
		name string
		dst  *string
	}{{"to", &req.To}, {"flow", &req.Flow}, {"at", &at}, {"tz", &req.TZ}, {"window", &req.Window},
		{"device", &req.Device}, {"trunk", &req.Trunk}, {"webhook", &req.Webhook}, {"id", &req.ID}} {
		if err := field(f, c.name, "", c.dst, "a string"); err != nil {
			return req, err
		}
	}
	if raw, ok := f["vars"]; ok && string(raw) != "null" {
		if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			return req, badField("vars", "must be a JSON object")
		}
		req.Vars = raw
	}
	if err := field(f, "secret", "", &req.Secret, "a list of var names"); err != nil {
		return req, err
	}
	if raw, ok := f["retry"]; ok && string(raw) != "null" {
		rf, err := objectFields(raw, "retry.", retryFields...)
		if err != nil {
			return req, err
		}
		if err := field(rf, "attempts", "retry.", &req.Retry.Attempts, "a whole number"); err != nil {
			return req, err
		}
		if err := field(rf, "backoff", "retry.", &req.Retry.Backoff, "a number"); err != nil {
			return req, err
		}
		if err := field(rf, "on", "retry.", &req.Retry.On, "a list of outcomes"); err != nil {
			return req, err
		}
		if raw, ok := rf["delay"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &req.Retry.Delay); err != nil {
				return req, badField("retry.delay", "%v", err)
			}
		}
	}
	loc := s.opt.TZ
	if req.TZ != "" {
		if loc, err = time.LoadLocation(req.TZ); err != nil {
			return req, badField("tz", "unknown time zone %q (use an IANA name like \"Asia/Shanghai\")", req.TZ)
		}
	}
	if req.At, err = ParseAt(at, loc, s.opt.Now()); err != nil {
		return req, badField("at", "%v", err)
	}
	if req.Webhook != "" {
		if err := checkWebhook(req.Webhook); err != nil {
			return req, badField("webhook", "%v", err)
		}
	}
	req.Source = "api"
	return req, nil
}

// checkWebhook checks a webhook URL: absolute, http or https.
func checkWebhook(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", s)
	}
	return nil
}

// POST /api/v1/calls: 201 with the job made (200 with the job already
// made when the request's id names one).
func (s *Server) dial(r *http.Request) (int, any, error) {
	req, err := s.dialRequest(r)
	if err != nil {
		return 0, nil, err
	}
	if req.ID != "" {
		if j, err := s.b.Job(req.ID); err == nil {
			return http.StatusOK, shownJob(j), nil
		}
	}
	j, err := s.b.Dial(req)
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("call requested", "job", j.ID, "to", j.To, "flow", j.Flow, "due", j.Due.Format(time.RFC3339), "remote", r.RemoteAddr)
	return http.StatusCreated, shownJob(j), nil
}

// shownJob is a job as the API answers with it: its webhook without
// credentials or query string, which may carry the receiver's token, as
// GET /api/v1/webhooks shows the event webhooks.
func shownJob(j engine.Job) engine.Job {
	if j.Webhook != "" {
		j.Webhook = logURL(j.Webhook)
	}
	return j
}

// JobList is the answer of GET /api/v1/jobs.
type JobList struct {
	Jobs []engine.Job `json:"jobs"`
	// Total counts the jobs the request's state selects (Jobs is the
	// page of them limit and offset ask for); Counts counts every job by
	// phase (due, retrying, running, done, failed, cancelled, dropped).
	Total  int            `json:"total"`
	Counts map[string]int `json:"counts"`
}

var jobStates = []string{engine.JobScheduled, engine.JobDialing, engine.JobDone, engine.JobFailed, engine.JobCancelled, engine.JobDropped}

// limitParam reads ?limit=N: def when absent; at most max when max > 0.
func limitParam(r *http.Request, def, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || (max > 0 && n > max) {
		if max > 0 {
			return 0, badField("limit", "%q is not a number within 1–%d", v, max)
		}
		return 0, badField("limit", "%q is not a positive number", v)
	}
	return n, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// GET /api/v1/jobs/{id}
func (s *Server) job(r *http.Request) (int, any, error) {
	j, err := s.b.Job(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, shownJob(j), nil
}

// DELETE /api/v1/jobs/{id}: 200 with the cancelled job; 404 for an
// unknown id, 409 for a job that has already ended.
func (s *Server) cancelJob(r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	j, err := s.b.CancelJob(id)
	if errors.Is(err, engine.ErrJobOver) {
		return 0, nil, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("job %s has already ended (%s)", id, j.State)}
	}
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("job cancelled", "job", id, "remote", r.RemoteAddr)
	return http.StatusOK, shownJob(j), nil
}

// CallList is the answer of GET /api/v1/calls and /api/v1/history. Next,
// from a history search with more calls than its limit, is the ?before=
// of the next page.
type CallList struct {
	Calls []Call `json:"calls"`
	Next  string `json:"next,omitempty"`
}

// GET /api/v1/calls: the live calls.
func (s *Server) liveCalls(r *http.Request) (int, any, error) {
	calls := s.b.LiveCalls()
	if calls == nil {
		calls = []Call{}
	}
	return http.StatusOK, CallList{Calls: calls}, nil
}

// GET /api/v1/history[?number=N][&since=T][&until=T][&limit=N][&before=C]:
// the newest ended calls; with number, those from or to a number holding
// it; with since and until (RFC 3339), those that ended in [since,
// until). before continues a search where its last page's next left off.
func (s *Server) history(r *http.Request) (int, any, error) {
	limit, err := limitParam(r, DefaultHistoryLimit, MaxHistoryLimit)
	if err != nil {
		return 0, nil, err
	}
	p, err := periodParams(r)
	if err != nil {
		return 0, nil, err
	}
	qs := r.URL.Query()
	q := engine.HistoryQuery{Number: strings.TrimSpace(qs.Get("number")), Since: p.Since, Until: p.Until, Before: qs.Get("before"), Limit: limit}
	if q.Before != "" && !cursorRE.MatchString(q.Before) {
		return 0, nil, badField("before", "%q is not the next of an earlier answer", q.Before)
	}
	page, err := s.b.SearchHistory(q)
	if err != nil {
		return 0, nil, err
	}
	out := CallList{Calls: make([]Call, len(page.Calls)), Next: page.Next}
	for i, h := range page.Calls {
		out.Calls[i] = HistoryCall(h)
	}
	return http.StatusOK, out, nil
}

var cursorRE = regexp.MustCompile(`^[0-9a-f]{16,512}$`)

// GET /api/v1/calls/{id}: a live call, else an ended one with its IVR
// path.
func (s *Server) call(r *http.Request) (int, any, error) {
	c, err := s.findCall(r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c, nil
}

func (s *Server) findCall(id string) (Call, error) {
	if c, ok := s.b.LiveCall(id); ok {
		return c, nil
	}
	h, err := s.b.History(id)
	if errors.Is(err, engine.ErrNoCall) {
		return Call{}, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("no call %s, live or in the history", id)}
	}
	if err != nil {
		return Call{}, err
	}
	return HistoryCall(h), nil
}

var (
	deviceRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	legIDRE  = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// ParseLegRef reads a device call leg written DEVICE:KIND:ID
// ("om1:visitor:14"). ok is false when s is not written that way.
func ParseLegRef(s string) (device string, leg engine.Leg, ok bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || !deviceRE.MatchString(parts[0]) || !legIDRE.MatchString(parts[2]) ||
		(parts[1] != engine.LegVisitor && parts[1] != engine.LegOuter) {
		return "", engine.Leg{}, false
	}
	return parts[0], engine.Leg{Kind: parts[1], ID: parts[2]}, true
}

// Redirected is the answer of POST /api/v1/calls/{id}/flow.
type Redirected struct {
	ID     string `json:"id"` // the new call's
	Device string `json:"device"`
	Leg    string `json:"leg"`
	Flow   string `json:"flow"`
}

// POST /api/v1/calls/{id}/flow {"flow", "vars"}: moves a live device call
// that is not in the IVR into a flow. {id} is DEVICE:KIND:ID
// ("om1:visitor:14"), or the id of a call ivrd handled — typically one it
// transferred to an agent — whose device and leg are used.
func (s *Server) redirect(r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	f, err := s.readBody(r, "", "flow", "vars")
	if err != nil {
		return 0, nil, err
	}
	var flow string
	if err := field(f, "flow", "", &flow, "a string"); err != nil {
		return 0, nil, err
	}
	if flow == "" {
		return 0, nil, badField("flow", "the flow to move the call into is required")
	}
	var vars json.RawMessage
	if raw, ok := f["vars"]; ok && string(raw) != "null" {
		if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
			return 0, nil, badField("vars", "must be a JSON object")
		}
		vars = raw
	}
	device, leg, ok := ParseLegRef(id)
	if !ok {
		c, err := s.findCall(id)
		if err != nil {
			var ae *Error
			if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
				ae.Msg += " (name a device leg as DEVICE:KIND:ID, like om1:visitor:14)"
			}
			return 0, nil, err
		}
		device, leg = c.Device, legOf(c.Leg)
		if c.Live {
			return 0, nil, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("call %s is in the IVR, running flow %s", id, c.Flow)}
		}
	}
	for _, c := range s.b.LiveCalls() {
		if c.Device == device && c.Leg == leg.String() {
			return 0, nil, &Error{Status: http.StatusConflict, Msg: fmt.Sprintf("%s on %s is in the IVR already (call %s, flow %s)", leg, device, c.ID, c.Flow)}
		}
	}
	newID, err := s.b.Redirect(device, leg, flow, vars)
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("call moved into a flow", "call_id", newID, "device", device, "leg", leg.String(), "flow", flow, "remote", r.RemoteAddr)
	return http.StatusCreated, Redirected{ID: newID, Device: device, Leg: leg.String(), Flow: flow}, nil
}

// legOf reads "visitor 14".
func legOf(s string) engine.Leg {
	kind, id, _ := strings.Cut(s, " ")
	return engine.Leg{Kind: kind, ID: id}
}

// FlowList is the answer of GET /api/v1/flows and POST
// /api/v1/flows/reload.
type FlowList struct {
	Flows []FlowInfo `json:"flows"`
}

// GET /api/v1/flows
func (s *Server) flows(r *http.Request) (int, any, error) {
	fs := s.b.Flows()
	if fs == nil {
		fs = []FlowInfo{}
	}
	return http.StatusOK, FlowList{Flows: fs}, nil
}

// POST /api/v1/flows/reload: rescans the folder and lists the flows. Files
// that fail to load are listed with their error (200); a folder that
// cannot be read at all is a 500.
func (s *Server) reload(r *http.Request) (int, any, error) {
	err := s.b.ReloadFlows()
	fs := s.b.Flows()
	if err != nil {
		failed := false
		for _, f := range fs {
			failed = failed || f.Error != ""
		}
		if !failed {
			return 0, nil, fmt.Errorf("reload: %w", err)
		}
	}
	if fs == nil {
		fs = []FlowInfo{}
	}
	s.log.Info("flows reloaded through the API", "remote", r.RemoteAddr)
	return http.StatusOK, FlowList{Flows: fs}, nil
}

// Store is the answer of GET /api/v1/stores/{flow}: the flow's ivr.store.
type Store struct {
	Flow   string                     `json:"flow"`
	Values map[string]json.RawMessage `json:"values"`
}

// StoreValue is the answer of GET /api/v1/stores/{flow}/{key}.
type StoreValue struct {
	Flow  string          `json:"flow"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

func (s *Server) kvOf(r *http.Request) (string, map[string]json.RawMessage, error) {
	flow := r.PathValue("flow")
	if !deviceRE.MatchString(flow) {
		return "", nil, badField("flow", "%q is not a flow name (the file name without .lua)", flow)
	}
	kv, err := s.b.KV(flow)
	if err != nil {
		return "", nil, err
	}
	if kv == nil {
		kv = map[string]json.RawMessage{}
	}
	return flow, kv, nil
}

// GET /api/v1/stores/{flow}
func (s *Server) kv(r *http.Request) (int, any, error) {
	flow, kv, err := s.kvOf(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, Store{Flow: flow, Values: kv}, nil
}

// GET /api/v1/stores/{flow}/{key}
func (s *Server) kvKey(r *http.Request) (int, any, error) {
	flow, kv, err := s.kvOf(r)
	if err != nil {
		return 0, nil, err
	}
	key := r.PathValue("key")
	v, ok := kv[key]
	if !ok {
		return 0, nil, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("flow %s has no key %q in its store", flow, key)}
	}
	return http.StatusOK, StoreValue{Flow: flow, Key: key, Value: v}, nil
}
