package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto"
)

// Defaults of ivrd.toml. A field left out of the file takes its default.
const (
	DefaultConfigPath     = "ivrd.toml"
	DefaultListen         = "127.0.0.1:8080"
	DefaultFlowsDir       = "flows"
	DefaultStatePath      = "ivrd.db"
	DefaultLogLevel       = "info"
	DefaultHeapLimit      = "1GiB"
	DefaultMenuFirst      = 41
	DefaultMenuLast       = 50
	DefaultWait           = engine.WaitParked
	DefaultSilenceFile    = engine.DefaultSilenceFile
	DefaultSilenceLength  = "1s"
	DefaultCommandTimeout = "5s"
	DefaultDrainTimeout   = "30s"
	// DefaultRouteFlow is the flow of the route used when ivrd.toml has no
	// [[route]]: every call on every device goes to it.
	DefaultRouteFlow = "main"
)

// Config is ivrd.toml. Durations are strings as time.ParseDuration reads
// them ("1s", "250ms"); sizes are strings like "512MiB" (see Size).
// ParseConfig fills the defaults and checks every field; unknown keys are
// errors.
type Config struct {
	// Listen is where the OM devices push their reports; device NAME posts
	// to http://LISTEN/om/NAME (default DefaultListen).
	Listen string `toml:"listen"`
	// Flows is the folder of flow files, NAME.lua (default "flows").
	Flows string `toml:"flows"`
	// State is the state file (default "ivrd.db"): live calls and their
	// journals, history, flow sources, the flows' key/value space. Calls
	// in it when ivrd starts are recovered.
	State string `toml:"state"`
	// LogLevel is trace, debug, info, warn or error (default info). Trace
	// shows the XML of every command and report.
	LogLevel string `toml:"log_level"`
	// LogJSON writes log lines as JSON instead of text.
	LogJSON bool `toml:"log_json"`
	// HeapLimit stops running Lua steps while the process heap is above it
	// (default DefaultHeapLimit); "0" turns the watchdog off.
	HeapLimit Size `toml:"heap_limit"`
	// DrainTimeout is how long "ivrd serve" waits, on SIGINT or SIGTERM,
	// for live calls to end before it stops (default DefaultDrainTimeout).
	// Calls still live then stay in the state file and are recovered at
	// the next start; "0s" stops without waiting.
	DrainTimeout string `toml:"drain_timeout"`
	// Limits bound what one call's flow may use.
	Limits LimitsConfig `toml:"limits"`
	// History is how long ended calls stay in the state file.
	History HistoryConfig `toml:"history"`
	// Events is how long the event log (GET /api/v1/events) is kept.
	Events EventsConfig `toml:"events"`
	// Recordings is where the call recordings fetched from the devices
	// go, how long they stay, and how failed fetches are retried.
	Recordings RecordingsConfig `toml:"recordings"`
	// Admin is the admin HTTP API: its listener, token and webhook secret.
	Admin AdminConfig `toml:"admin"`
	// Outbound bounds outbound calling (jobs from the API and ivr.dial).
	Outbound OutboundConfig `toml:"outbound"`
	// HTTP is what flows may reach with ivr.http.
	HTTP HTTPConfig `toml:"http"`
	// Devices are the OM devices ivrd drives; at least one.
	Devices []DeviceConfig `toml:"device"`
	// Routes choose the flow of each incoming call; the first match wins.
	// None configured means one route: to = "*" → flow DefaultRouteFlow.
	Routes []RouteConfig `toml:"route"`
	// Webhooks are the event log's outgoing webhooks (see WebhookConfig).
	Webhooks []WebhookConfig `toml:"webhook"`
	// Lists are the caller lists applied before routing (see ListsConfig).
	Lists ListsConfig `toml:"lists"`
	// Prompts says what each voice file says, by file name
	// (user_welcome = "Welcome to the Grand Hotel"), for people: the
	// console's phone, the demo's transcript and "ivrd check". Optional.
	Prompts map[string]string `toml:"prompts"`
}

// LimitsConfig is [limits]: engine.Limits. Empty or zero fields keep the
// engine's defaults (engine.DefaultStepInstructions, DefaultCallInstructions,
// DefaultStepCPU, DefaultCallCPU, DefaultMaxVars).
type LimitsConfig struct {
	// StepInstructions bounds a step of a flow — the Lua run between two
	// blocking calls — in Lua VM instructions; CallInstructions a whole
	// call's.
	StepInstructions int64 `toml:"step_instructions"`
	CallInstructions int64 `toml:"call_instructions"`
	// StepCPU and CallCPU are wall-clock backstops for a step and for all
	// of a call's steps together (durations).
	StepCPU string `toml:"step_cpu"`
	CallCPU string `toml:"call_cpu"`
	// MaxVars bounds the JSON-encoded size of call.vars, in bytes.
	MaxVars int `toml:"max_vars"`
}

// Defaults of [history].
const (
	DefaultHistoryMaxAge   = "720h" // 30 days
	DefaultHistoryMaxCount = 100000
)

// HistoryConfig is [history]: the retention of ended calls (each with its
// journal, IVR path and Cdr). "ivrd serve" drops what falls outside it at
// start and then every hour.
type HistoryConfig struct {
	// MaxAge drops ended calls older than it (default
	// DefaultHistoryMaxAge); "0s" keeps them whatever their age.
	MaxAge string `toml:"max_age"`
	// MaxCount keeps only the newest MaxCount ended calls (default
	// DefaultHistoryMaxCount); 0 keeps them however many.
	MaxCount int `toml:"max_count"`
}

// retention returns [history] for engine.Store.Prune.
func (h HistoryConfig) retention() (maxAge time.Duration, maxCount int, err error) {
	maxAge, err = time.ParseDuration(h.MaxAge)
	if err != nil || maxAge < 0 {
		return 0, 0, fmt.Errorf("history.max_age: %q is not a duration like \"720h\" (\"0s\" keeps ended calls whatever their age)", h.MaxAge)
	}
	if h.MaxCount < 0 {
		return 0, 0, fmt.Errorf("history.max_count: %d is negative (0 keeps ended calls however many)", h.MaxCount)
	}
	return maxAge, h.MaxCount, nil
}

// Defaults of [admin] and [http].
const (
	// DefaultAdminURL is where "ivrd call" finds the admin API when
	// nothing names it: admin.listen's usual value.
	DefaultAdminURL = "http://127.0.0.1:8081"
	// MinAdminToken is the shortest admin token accepted, in bytes.
	MinAdminToken = 16
	// DefaultHTTPTimeout bounds an ivr.http request.
	DefaultHTTPTimeout = "5s"
	// maxHTTPTimeout bounds http.timeout: a flow waits for its backend
	// with the caller on the line.
	maxHTTPTimeout = 5 * time.Minute
)

// AdminConfig is [admin]: the admin HTTP API (see the api package). It is
// off unless Listen is set; it always needs a token.
type AdminConfig struct {
	// Listen is the API's own listener, host:port ("127.0.0.1:8081");
	// empty turns the API off. It speaks plain HTTP: on another address
	// than loopback, put it behind a TLS proxy.
	Listen string `toml:"listen"`
	// Token is the bearer token requests must carry (at least
	// MinAdminToken bytes); TokenFile names a file holding it instead
	// (surrounding white space is dropped). One of them is required when
	// Listen is set.
	Token     string `toml:"token"`
	TokenFile string `toml:"token_file"`
	// WebhookSecret signs job webhooks (X-Ivrd-Signature: sha256=HMAC of
	// the body); empty sends them unsigned.
	WebhookSecret string `toml:"webhook_secret"`
	// MetricsToken, when set (at least MinAdminToken bytes), is a second
	// bearer token that opens GET /metrics and nothing else, for a
	// Prometheus scraper; the admin token opens /metrics too.
	MetricsToken string `toml:"metrics_token"`
}

// token returns the admin token, reading TokenFile when it is the one
// set; "" when neither is.
func (a AdminConfig) token() (string, error) {
	switch {
	case a.Token != "" && a.TokenFile != "":
		return "", errors.New("admin.token_file: give token or token_file, not both")
	case a.TokenFile != "":
		b, err := readSmallFile(a.TokenFile, 4096)
		if err != nil {
			return "", fmt.Errorf("admin.token_file: %v", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("admin.token_file: %s is empty", a.TokenFile)
		}
		if len(tok) < MinAdminToken {
			return "", fmt.Errorf("admin.token_file: the token in %s is shorter than %d bytes", a.TokenFile, MinAdminToken)
		}
		return tok, nil
	case a.Token != "" && len(a.Token) < MinAdminToken:
		return "", fmt.Errorf("admin.token: shorter than %d bytes (make one with: openssl rand -hex 24)", MinAdminToken)
	}
	return a.Token, nil
}

func (a AdminConfig) validate() error {
	tok, err := a.token()
	if err != nil {
		return err
	}
	if a.Listen == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(a.Listen); err != nil {
		return fmt.Errorf("admin.listen: %q is not host:port", a.Listen)
	}
	if tok == "" {
		return errors.New("admin.token: the admin API needs a token (or token_file) when admin.listen is set")
	}
	if m := a.MetricsToken; m != "" {
		if len(m) < MinAdminToken {
			return fmt.Errorf("admin.metrics_token: shorter than %d bytes (make one with: openssl rand -hex 24)", MinAdminToken)
		}
		if m == tok {
			return errors.New("admin.metrics_token: the same as the admin token; leave it out to scrape with the admin token")
		}
	}
	return nil
}

// OutboundConfig is [outbound]: engine.DialLimits. Zero or empty fields
// keep the engine's defaults (engine.DefaultMaxConcurrent,
// DefaultPerSecond, DefaultPerNumber, DefaultRingTimeout).
type OutboundConfig struct {
	// MaxConcurrent caps live outbound calls over all devices.
	MaxConcurrent int `toml:"max_concurrent"`
	// PerSecond caps new outbound calls per second and device.
	PerSecond float64 `toml:"per_second"`
	// PerNumber caps live calls to one number.
	PerNumber int `toml:"per_number"`
	// Window is the daily calling window of jobs that name none
	// ("08:00-21:00"), in TZ (an IANA name, "Asia/Shanghai"; default
	// UTC); empty means any time. TZ is also the zone of the API's "at"
	// given as a time of day.
	Window string `toml:"window"`
	TZ     string `toml:"tz"`
	// RingTimeout ends an outbound call that has neither answered nor
	// ended after it (a duration).
	RingTimeout string `toml:"ring_timeout"`
}

func (o OutboundConfig) engine() (engine.DialLimits, error) {
	out := engine.DialLimits{Window: o.Window, TZ: o.TZ}
	if o.MaxConcurrent < 0 {
		return out, fmt.Errorf("outbound.max_concurrent: %d is negative", o.MaxConcurrent)
	}
	if o.PerSecond < 0 || math.IsNaN(o.PerSecond) || math.IsInf(o.PerSecond, 0) {
		return out, fmt.Errorf("outbound.per_second: %v is not a number of calls per second", o.PerSecond)
	}
	if o.PerNumber < 0 {
		return out, fmt.Errorf("outbound.per_number: %d is negative", o.PerNumber)
	}
	out.MaxConcurrent, out.PerSecond, out.PerNumber = o.MaxConcurrent, o.PerSecond, o.PerNumber
	if _, err := engine.ParseWindow(o.Window, o.TZ); err != nil {
		return out, fmt.Errorf("outbound.%w", err)
	}
	var err error
	if out.RingTimeout, err = parseDurationField("outbound.ring_timeout", o.RingTimeout); err != nil {
		return out, err
	}
	return out, nil
}

// location returns outbound.tz's zone (UTC when empty); Validate has
// checked it.
func (o OutboundConfig) location() *time.Location {
	if o.TZ == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(o.TZ)
	if err != nil {
		return time.UTC
	}
	return loc
}

// HTTPConfig is [http]: engine.HTTPOptions, what ivr.http may reach.
type HTTPConfig struct {
	// Allow lists the hosts flows may call: "crm.example.com" (any port)
	// or "10.0.0.5:8080" (that port); empty allows none.
	Allow []string `toml:"allow"`
	// Timeout bounds each request (default DefaultHTTPTimeout, at most
	// five minutes); a flow's own timeout may only be shorter.
	Timeout string `toml:"timeout"`
}

func (h HTTPConfig) engine() (engine.HTTPOptions, error) {
	out := engine.HTTPOptions{Allow: h.Allow}
	for i, a := range h.Allow {
		if err := engine.CheckHTTPAllow(a); err != nil {
			return out, fmt.Errorf("http.allow[%d]: %v", i, err)
		}
	}
	var err error
	if out.Timeout, err = parseDurationField("http.timeout", h.Timeout); err != nil {
		return out, err
	}
	if out.Timeout > maxHTTPTimeout {
		return out, fmt.Errorf("http.timeout: %s is longer than %s", out.Timeout, maxHTTPTimeout)
	}
	return out, nil
}

// DeviceConfig is one [[device]].
type DeviceConfig struct {
	// Name names the device in logs and routes, and in its report URL
	// /om/NAME: letters, digits, '-' and '_'. Required.
	Name string `toml:"name"`
	// URL is the device's web server, http://host[:port]; commands go to
	// URL/xml. Required.
	URL string `toml:"url"`
	// Menus is the range of voice menu ids ivrd may assign, [first, last]
	// within 1–50 (default [41, 50]). Leave them alone on the device.
	Menus []int `toml:"menus"`
	// Allow lists the addresses or prefixes ("192.168.1.10",
	// "10.0.0.0/8") reports are accepted from; empty accepts any.
	Allow []string `toml:"allow"`
	// ReportSecret, when set, requires every report to be signed with it.
	ReportSecret string `toml:"report_secret"`
	// CommandSecret, when set, signs every command.
	CommandSecret string `toml:"command_secret"`
	// Fallback is the extension that takes calls whose flow failed or that
	// no route matches; "" hangs them up.
	Fallback string `toml:"fallback"`
	// Wait is how gather waits after a prompt: "parked" (default) or
	// "silence" (see SilenceFile).
	Wait string `toml:"wait"`
	// SilenceFile is the device's silence voice file (default "silence"),
	// SilenceLength its length (default "1s").
	SilenceFile   string `toml:"silence_file"`
	SilenceLength string `toml:"silence_length"`
	// DigitFiles are the ten files say_digits plays for 0–9 (default
	// user_digit_0 … user_digit_9).
	DigitFiles []string `toml:"digit_files"`
	// CommandTimeout bounds each command to the device (default "5s").
	CommandTimeout string `toml:"command_timeout"`
	// Reconcile is how long a waiting call may go without a report before
	// ivrd asks the device whether it is still up (a lost BYE); MaxPrompt
	// how long a prompt may play before its end report is taken as lost
	// (defaults "2m", "10m").
	Reconcile string `toml:"reconcile"`
	MaxPrompt string `toml:"max_prompt"`
	// ExtQuery is how often ivrd asks the device for the state of every
	// extension (Query ext), to correct states a lost report left wrong
	// (default DefaultExtQuery, "1m"; at least "1s"; "off" never asks).
	ExtQuery string `toml:"ext_query"`
	// TZ is the zone of the device's clock (an IANA name,
	// "Asia/Shanghai"), in which it writes its call records' times
	// (default UTC).
	TZ string `toml:"tz"`
	// WebUser and WebPassword are an account of the device's web page:
	// ivrd fetches the recordings call records name with it
	// (GET URL/mcc/Recorder/<path>, HTTP Basic authentication). Without
	// one, such recordings are listed as failed: "not fetched: no web
	// account". The password is never logged nor shown by the API.
	WebUser     string `toml:"web_user"`
	WebPassword string `toml:"web_password"`
}

// DefaultExtQuery is the time between two queries of a device's
// extensions (DeviceConfig.ExtQuery).
const DefaultExtQuery = time.Minute

// extQueryEvery returns the validated ext_query: 0 when off.
func (d *DeviceConfig) extQueryEvery() time.Duration {
	switch d.ExtQuery {
	case "":
		return DefaultExtQuery
	case "off":
		return 0
	}
	v, _ := parseDurationField("ext_query", d.ExtQuery)
	return v
}

// RouteConfig is one [[route]]. Device, To and From are glob patterns
// ("6000*", "*"; empty matches anything).
type RouteConfig struct {
	Device string `toml:"device"`
	To     string `toml:"to"`
	From   string `toml:"from"`
	// Flow is the flow file's name without .lua. Required.
	Flow string `toml:"flow"`
	// List, when set, names a caller list the caller must be on for the
	// route to match; otherwise the next route is tried.
	List string `toml:"list"`
}

// Size is a number of bytes written as a string with an optional unit:
// "536870912", "512KiB", "512MiB", "2GiB" (powers of 1024) or "500KB",
// "500MB", "2GB" (powers of 1000). A TOML integer is read as bytes. "0"
// means none.
type Size string

// UnmarshalTOML accepts a string or an integer; the value is checked by
// Validate, which names the field.
func (s *Size) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*s = Size(v)
	case int64:
		*s = Size(strconv.FormatInt(v, 10))
	default:
		return fmt.Errorf("want a size like \"512MiB\", not a %T", v)
	}
	return nil
}

var sizeUnits = []struct {
	suffix string
	mult   uint64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// Bytes returns the size in bytes.
func (s Size) Bytes() (uint64, error) {
	str := strings.TrimSpace(string(s))
	mult := uint64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(str, u.suffix) {
			str, mult = strings.TrimSpace(strings.TrimSuffix(str, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(str, 10, 64)
	if err != nil || (n > 0 && n*mult/mult != n) {
		return 0, fmt.Errorf("%q is not a size like \"512MiB\" or a number of bytes", string(s))
	}
	return n * mult, nil
}

// DefaultConfig returns the configuration of an empty ivrd.toml (which is
// still invalid: it names no device).
func DefaultConfig() Config {
	return Config{
		Listen:       DefaultListen,
		Flows:        DefaultFlowsDir,
		State:        DefaultStatePath,
		LogLevel:     DefaultLogLevel,
		HeapLimit:    DefaultHeapLimit,
		History:      HistoryConfig{MaxAge: DefaultHistoryMaxAge, MaxCount: DefaultHistoryMaxCount},
		DrainTimeout: DefaultDrainTimeout,
		HTTP:         HTTPConfig{Timeout: DefaultHTTPTimeout},
	}
}

// DefaultRoutes is the routing when ivrd.toml has no [[route]].
func DefaultRoutes() []RouteConfig {
	return []RouteConfig{{To: "*", Flow: DefaultRouteFlow}}
}

// ParseConfig reads ivrd.toml over DefaultConfig, fills the per-device and
// route defaults and validates the result. Unknown keys are errors.
func ParseConfig(r io.Reader) (Config, error) {
	cfg := DefaultConfig()
	md, err := toml.NewDecoder(r).Decode(&cfg)
	if err != nil {
		return cfg, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return cfg, fmt.Errorf("unknown field %s", strings.Join(keys, ", "))
	}
	cfg.fill()
	return cfg, cfg.Validate()
}

// ReadConfigFile parses the configuration file at path; errors start with
// the path.
func ReadConfigFile(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	cfg, err := ParseConfig(f)
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// fill sets the defaults of fields that are empty in the file.
func (c *Config) fill() {
	for i := range c.Devices {
		d := &c.Devices[i]
		if d.Menus == nil {
			d.Menus = []int{DefaultMenuFirst, DefaultMenuLast}
		}
		if d.Wait == "" {
			d.Wait = DefaultWait
		}
		if d.SilenceFile == "" {
			d.SilenceFile = DefaultSilenceFile
		}
		if d.SilenceLength == "" {
			d.SilenceLength = DefaultSilenceLength
		}
		if d.CommandTimeout == "" {
			d.CommandTimeout = DefaultCommandTimeout
		}
	}
	if len(c.Routes) == 0 {
		c.Routes = DefaultRoutes()
	}
	if c.History.MaxAge == "" {
		c.History.MaxAge = DefaultHistoryMaxAge
	}
	if c.DrainTimeout == "" {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.HTTP.Timeout == "" {
		c.HTTP.Timeout = DefaultHTTPTimeout
	}
}

var (
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	fileRE  = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	levelRE = regexp.MustCompile(`^(trace|debug|info|warn|error)$`)
)

// Validate checks every field; the error names the first bad one
// ("device[0].menus: …").
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if c.Flows == "" {
		return errors.New("flows: the flows folder is empty")
	}
	if c.State == "" {
		return errors.New("state: the state file is empty")
	}
	if !levelRE.MatchString(strings.ToLower(c.LogLevel)) {
		return fmt.Errorf("log_level: %q is not trace, debug, info, warn or error", c.LogLevel)
	}
	if _, err := c.HeapLimit.Bytes(); err != nil {
		return fmt.Errorf("heap_limit: %v", err)
	}
	if _, err := c.drainTimeout(); err != nil {
		return err
	}
	if _, err := c.Limits.engine(); err != nil {
		return err
	}
	if _, _, err := c.History.retention(); err != nil {
		return err
	}
	if _, err := c.Events.options(); err != nil {
		return err
	}
	if _, err := c.Recordings.options(c.State); err != nil {
		return err
	}
	if err := c.Admin.validate(); err != nil {
		return err
	}
	if _, err := c.Outbound.engine(); err != nil {
		return err
	}
	if _, err := c.HTTP.engine(); err != nil {
		return err
	}
	if len(c.Devices) == 0 {
		return errors.New("device: no [[device]] is configured; ivrd needs at least one OM")
	}
	names := map[string]int{}
	for i := range c.Devices {
		if err := c.Devices[i].validate(); err != nil {
			return fmt.Errorf("device[%d].%w", i, err)
		}
		if j, ok := names[c.Devices[i].Name]; ok {
			return fmt.Errorf("device[%d].name: %q is already the name of device[%d]", i, c.Devices[i].Name, j)
		}
		names[c.Devices[i].Name] = i
	}
	for i, rt := range c.Routes {
		if err := rt.validate(names); err != nil {
			return fmt.Errorf("route[%d].%w", i, err)
		}
	}
	if err := c.Lists.validate(); err != nil {
		return err
	}
	if _, err := c.webhooks(); err != nil {
		return err
	}
	return validatePrompts(c.Prompts)
}

func (l LimitsConfig) engine() (engine.Limits, error) {
	var out engine.Limits
	var err error
	if out.StepCPU, err = parseDurationField("limits.step_cpu", l.StepCPU); err != nil {
		return out, err
	}
	if out.CallCPU, err = parseDurationField("limits.call_cpu", l.CallCPU); err != nil {
		return out, err
	}
	if l.StepInstructions < 0 {
		return out, fmt.Errorf("limits.step_instructions: %d is negative", l.StepInstructions)
	}
	if l.CallInstructions < 0 {
		return out, fmt.Errorf("limits.call_instructions: %d is negative", l.CallInstructions)
	}
	out.StepInstructions, out.CallInstructions = l.StepInstructions, l.CallInstructions
	if l.MaxVars < 0 {
		return out, fmt.Errorf("limits.max_vars: %d is negative", l.MaxVars)
	}
	out.MaxVars = l.MaxVars
	return out, nil
}

// drainTimeout returns drain_timeout: a duration, zero or more.
func (c *Config) drainTimeout() (time.Duration, error) {
	d, err := time.ParseDuration(c.DrainTimeout)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("drain_timeout: %q is not a duration like \"30s\" (\"0s\" does not wait)", c.DrainTimeout)
	}
	return d, nil
}

// parseDurationField reads a positive duration; "" is zero (the default).
func parseDurationField(field, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration like \"1s\" or \"250ms\"", field, v)
	}
	return d, nil
}

// validate checks a device; its errors start with the field name, for
// Validate to prefix with the device's index.
func (d *DeviceConfig) validate() error {
	if d.Name == "" {
		return errors.New("name: a device needs a name")
	}
	if !engine.ValidDeviceName(d.Name) {
		return fmt.Errorf("name: %q may only hold letters, digits, '-' and '_' (it is part of the report URL /om/%s)", d.Name, d.Name)
	}
	if d.URL == "" {
		return errors.New("url: the device's URL (http://host[:port]) is required")
	}
	if _, err := omproto.NewClient(d.URL); err != nil {
		return fmt.Errorf("url: %v", strings.TrimPrefix(err.Error(), "omproto: "))
	}
	if len(d.Menus) != 2 {
		return fmt.Errorf("menus: want [first, last], got %d numbers", len(d.Menus))
	}
	if first, last := d.Menus[0], d.Menus[1]; first < 1 || last > 50 || first > last {
		return fmt.Errorf("menus: [%d, %d] is not a range within 1–50", first, last)
	}
	for i, a := range d.Allow {
		if _, err := parsePrefix(a); err != nil {
			return fmt.Errorf("allow[%d]: %q is not an address or prefix (\"192.168.1.10\", \"10.0.0.0/8\")", i, a)
		}
	}
	if d.Fallback != "" && !engine.ValidExt(d.Fallback) {
		return fmt.Errorf("fallback: %q is not an extension number (\"\" hangs up)", d.Fallback)
	}
	if d.Wait != engine.WaitParked && d.Wait != engine.WaitSilence {
		return fmt.Errorf("wait: %q is neither %q nor %q", d.Wait, engine.WaitParked, engine.WaitSilence)
	}
	if !fileRE.MatchString(d.SilenceFile) {
		return fmt.Errorf("silence_file: %q is not a voice file name (letters, digits, '_')", d.SilenceFile)
	}
	if _, err := parseDurationField("silence_length", d.SilenceLength); err != nil {
		return err
	}
	if len(d.DigitFiles) != 0 && len(d.DigitFiles) != 10 {
		return fmt.Errorf("digit_files: want 10 names (for 0–9), got %d", len(d.DigitFiles))
	}
	for i, f := range d.DigitFiles {
		if !fileRE.MatchString(f) {
			return fmt.Errorf("digit_files[%d]: %q is not a voice file name (letters, digits, '_')", i, f)
		}
	}
	if _, err := parseDurationField("command_timeout", d.CommandTimeout); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"reconcile", d.Reconcile}, {"max_prompt", d.MaxPrompt}} {
		if f.v == "" {
			continue
		}
		v, err := parseDurationField(f.name, f.v)
		if err != nil {
			return err
		}
		if v < 10*time.Second {
			return fmt.Errorf("%s: %s is shorter than 10s", f.name, f.v)
		}
	}
	if d.ExtQuery != "" && d.ExtQuery != "off" {
		v, err := parseDurationField("ext_query", d.ExtQuery)
		if err != nil {
			return fmt.Errorf("%w (or \"off\")", err)
		}
		if v < time.Second {
			return fmt.Errorf("ext_query: %s is shorter than 1s", d.ExtQuery)
		}
	}
	if d.TZ != "" {
		if _, err := time.LoadLocation(d.TZ); err != nil {
			return fmt.Errorf("tz: %q is not a time zone (an IANA name, \"Asia/Shanghai\")", d.TZ)
		}
	}
	switch {
	case d.WebUser == "" && d.WebPassword != "":
		return errors.New("web_user: web_password is set but web_user is not")
	case d.WebUser != "" && d.WebPassword == "":
		return errors.New("web_password: web_user is set but web_password is not")
	case strings.ContainsAny(d.WebUser, ":\r\n"):
		return fmt.Errorf("web_user: %q holds a ':' or a line break, which HTTP Basic authentication cannot carry", d.WebUser)
	case strings.ContainsAny(d.WebPassword, "\r\n"):
		return errors.New("web_password: holds a line break")
	}
	return nil
}

func (rt RouteConfig) validate(devices map[string]int) error {
	for _, p := range []struct{ field, v string }{{"device", rt.Device}, {"to", rt.To}, {"from", rt.From}} {
		if _, err := path.Match(p.v, ""); err != nil {
			return fmt.Errorf("%s: %q is not a valid pattern", p.field, p.v)
		}
	}
	if rt.Device != "" && !strings.ContainsAny(rt.Device, `*?[\`) {
		if _, ok := devices[rt.Device]; !ok {
			return fmt.Errorf("device: no [[device]] is named %q", rt.Device)
		}
	}
	if rt.Flow == "" {
		return errors.New("flow: a route needs a flow")
	}
	if !nameRE.MatchString(rt.Flow) {
		return fmt.Errorf("flow: %q is not a flow name (the file name without .lua)", rt.Flow)
	}
	return validateRouteList(rt.List)
}

// hclogLevel returns the log level; Validate has checked it.
func (c *Config) hclogLevel() hclog.Level {
	return hclog.LevelFromString(strings.ToLower(c.LogLevel))
}

// engineLimits returns [limits] and heap_limit for the engine; Validate has
// checked them.
func (c *Config) engineLimits() (engine.Limits, uint64) {
	l, _ := c.Limits.engine()
	heap, _ := c.HeapLimit.Bytes()
	return l, heap
}

// engineRoutes returns the routes for the engine.
func (c *Config) engineRoutes() []engine.Route {
	out := make([]engine.Route, len(c.Routes))
	for i, rt := range c.Routes {
		out[i] = engine.Route{Device: rt.Device, To: rt.To, From: rt.From, Flow: rt.Flow, List: rt.List}
	}
	return out
}

// engineDevice returns the engine's view of a validated device, without
// its PBX.
func (d *DeviceConfig) engineDevice() *engine.Device {
	silence, _ := parseDurationField("silence_length", d.SilenceLength)
	timeout, _ := parseDurationField("command_timeout", d.CommandTimeout)
	ed := &engine.Device{
		Name: d.Name, MenuFirst: d.Menus[0], MenuLast: d.Menus[1], Fallback: d.Fallback, Wait: d.Wait,
		SilenceFile: d.SilenceFile, SilenceLength: silence, CommandTimeout: timeout,
	}
	if d.Reconcile != "" {
		ed.Reconcile, _ = parseDurationField("reconcile", d.Reconcile)
	}
	if d.MaxPrompt != "" {
		ed.MaxPrompt, _ = parseDurationField("max_prompt", d.MaxPrompt)
	}
	if d.TZ != "" {
		ed.TZ, _ = time.LoadLocation(d.TZ)
	}
	copy(ed.DigitFiles[:], d.DigitFiles)
	return ed
}

// allowPrefixes returns the validated allow list.
func (d *DeviceConfig) allowPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, a := range d.Allow {
		if p, err := parsePrefix(a); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// readSmallFile reads a regular file of at most max bytes: a FIFO or a
// device named by mistake would block the start or fill memory.
func readSmallFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return io.ReadAll(io.LimitReader(f, max))
}
