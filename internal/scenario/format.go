package scenario

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// Defaults of a scenario.
const (
	// DefaultFrom is the caller's number when a call names none.
	DefaultFrom = "13800000001"
	// DefaultLimit is how much virtual time a scenario may take before it
	// fails as unfinished.
	DefaultLimit = 48 * time.Hour
	// DefaultFallback is the device's fallback extension (the simulator's
	// operator).
	DefaultFallback = omsim.DefaultOperator
	// DeviceName is the name of the one simulated device.
	DeviceName = "om1"
)

// DefaultStart is the virtual time a scenario starts at when it names
// none: a Wednesday morning, UTC.
var DefaultStart = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// The TOML shapes. Scalars whose form is checked by hand (durations, keys,
// numbers written with or without quotes) are decoded as any, so that every
// error is made here, where it can name its field and find its line.

// setupTOML is what both a file's top and a scenario may set; a scenario's
// settings are laid over its file's.
type setupTOML struct {
	Flow     string         `toml:"flow"`
	Start    any            `toml:"start"`
	Limit    any            `toml:"limit"`
	Stop     any            `toml:"stop"`
	Routes   []routeTOML    `toml:"route"`
	Device   deviceTOML     `toml:"device"`
	Sim      simTOML        `toml:"sim"`
	Outbound outboundTOML   `toml:"outbound"`
	Store    map[string]any `toml:"store"`
}

type routeTOML struct {
	To   any    `toml:"to"`
	From any    `toml:"from"`
	Flow string `toml:"flow"`
}

type deviceTOML struct {
	Wait          string   `toml:"wait"`
	SilenceFile   string   `toml:"silence_file"`
	SilenceLength any      `toml:"silence_length"`
	Fallback      any      `toml:"fallback"`
	DigitFiles    []string `toml:"digit_files"`
	Menus         []int    `toml:"menus"`
}

type simTOML struct {
	Trunk                 any                   `toml:"trunk"`
	Operator              any                   `toml:"operator"`
	Exts                  []any                 `toml:"exts"`
	FileDuration          any                   `toml:"file_duration"`
	ResponseTimeout       any                   `toml:"response_timeout"`
	NoAnswerTimeout       any                   `toml:"no_answer_timeout"`
	ControlBeforeAnswer   *bool                 `toml:"control_before_answer"`
	DropKeysAfterEndOfAnn *bool                 `toml:"drop_keys_after_end_of_ann"`
	VoiceFiles            map[string]any        `toml:"voice_files"`
	MissingVoiceFiles     []string              `toml:"missing_voice_files"`
	Ext                   map[string]policyTOML `toml:"ext"`
	Number                map[string]policyTOML `toml:"number"`
	Outside               *policyTOML           `toml:"outside"`
	Group                 map[string]groupTOML  `toml:"group"`
}

type policyTOML struct {
	Answer    string `toml:"answer"`
	Delay     any    `toml:"delay"`
	Keys      any    `toml:"keys"`
	KeysDelay any    `toml:"keys_delay"`
	KeysGap   any    `toml:"keys_gap"`
}

type groupTOML struct {
	Exts []any `toml:"exts"`
}

type outboundTOML struct {
	Window        string  `toml:"window"`
	TZ            string  `toml:"tz"`
	RingTimeout   any     `toml:"ring_timeout"`
	MaxConcurrent int     `toml:"max_concurrent"`
	PerNumber     int     `toml:"per_number"`
	PerSecond     float64 `toml:"per_second"`
}

type fileTOML struct {
	setupTOML
	Scenarios []toml.Primitive `toml:"scenario"`
}

type scenarioTOML struct {
	setupTOML
	Name    string       `toml:"name"`
	Calls   []callTOML   `toml:"call"`
	Callees []calleeTOML `toml:"callee"`
	Dials   []dialTOML   `toml:"dial"`
	Expect  expectTOML   `toml:"expect"`
}

type callTOML struct {
	From   any             `toml:"from"`
	To     any             `toml:"to"`
	At     any             `toml:"at"`
	Steps  []stepTOML      `toml:"steps"`
	Expect partyExpectTOML `toml:"expect"`
}

type calleeTOML struct {
	Number any             `toml:"number"`
	Answer string          `toml:"answer"`
	Delay  any             `toml:"delay"`
	Steps  []stepTOML      `toml:"steps"`
	Expect partyExpectTOML `toml:"expect"`
}

type stepTOML struct {
	After   string `toml:"after"`
	Hearing string `toml:"hearing"`
	Wait    any    `toml:"wait"`
	Press   any    `toml:"press"`
	Gap     any    `toml:"gap"`
	Hangup  bool   `toml:"hangup"`
}

type dialTOML struct {
	To     any            `toml:"to"`
	Flow   string         `toml:"flow"`
	Vars   map[string]any `toml:"vars"`
	At     any            `toml:"at"`
	TZ     string         `toml:"tz"`
	Window string         `toml:"window"`
	Retry  retryTOML      `toml:"retry"`
	ID     string         `toml:"id"`
}

type retryTOML struct {
	Attempts int      `toml:"attempts"`
	Delay    any      `toml:"delay"`
	Backoff  float64  `toml:"backoff"`
	On       []string `toml:"on"`
}

type partyExpectTOML struct {
	Heard         *[]string `toml:"heard"`
	HeardIncludes []string  `toml:"heard_includes"`
	NotHeard      []string  `toml:"not_heard"`
	Keys          any       `toml:"keys"`
	Path          *[]string `toml:"path"`
	Target        *string   `toml:"target"`
	Outcome       string    `toml:"outcome"`
}

type expectTOML struct {
	Store       map[string]any  `toml:"store"`
	StoreAbsent []string        `toml:"store_absent"`
	Jobs        *int            `toml:"jobs"`
	Job         []jobExpectTOML `toml:"job"`
}

type jobExpectTOML struct {
	To       any      `toml:"to"`
	Flow     string   `toml:"flow"`
	State    string   `toml:"state"`
	Attempts *int     `toml:"attempts"`
	Outcomes []string `toml:"outcomes"`
	Outcome  string   `toml:"outcome"`
	// AttemptedAt are when the attempts started, written like a dial's at.
	AttemptedAt []any `toml:"attempted_at"`
}

// Scenario is one parsed scenario, ready to run.
type Scenario struct {
	// Name is the scenario's name ("scenario N" when it gives none).
	Name string
	// File and Line say where it is written.
	File string
	Line int

	flow     string // the flow of the default route, and of [store] and expect.store
	routes   []engine.Route
	start    time.Time
	limit    time.Duration
	stop     time.Duration // 0: run until nothing more is to happen
	device   engine.Device // settings only: no name, no PBX
	sim      omsim.Config
	dial     engine.DialLimits
	store    map[string]json.RawMessage
	calls    []*callScript
	callees  map[string][]*calleeScript // by number, in order of attempts
	numbers  []string                   // callee numbers in the order written
	dials    []engine.DialRequest
	expect   scenarioExpect
	silences map[string]bool // voice files that are silence, left out of what is heard
}

// Where returns "file:line", for messages.
func (sc *Scenario) Where() string { return fmt.Sprintf("%s:%d", sc.File, sc.Line) }

// script is what one outside party does, and what must come of its call.
type script struct {
	steps  []step
	expect partyExpect
}

type callScript struct {
	script
	from, to string
	at       time.Duration
}

type calleeScript struct {
	script
	number string
	policy omsim.Policy
}

// step is one thing a party does: when (after a prompt played to its
// end, when a prompt starts, or after the previous step), then what.
type step struct {
	after, hearing string
	wait           time.Duration
	press          string
	gap            time.Duration
	hangup         bool
}

func (st step) String() string {
	var b strings.Builder
	switch {
	case st.after != "":
		fmt.Fprintf(&b, "after %s", st.after)
	case st.hearing != "":
		fmt.Fprintf(&b, "on hearing %s", st.hearing)
	}
	if st.wait > 0 {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "wait %s", st.wait)
	}
	if b.Len() > 0 {
		b.WriteString(", ")
	}
	if st.hangup {
		b.WriteString("hang up")
	} else {
		fmt.Fprintf(&b, "press %s", st.press)
	}
	return b.String()
}

type partyExpect struct {
	heard         *[]string
	heardIncludes []string
	notHeard      []string
	keys          *string
	path          *[]string
	target        *string
	outcome       string
}

func (e partyExpect) any() bool {
	return e.heard != nil || len(e.heardIncludes) > 0 || len(e.notHeard) > 0 || e.keys != nil ||
		e.path != nil || e.target != nil || e.outcome != ""
}

type scenarioExpect struct {
	store       map[string]json.RawMessage
	storeAbsent []string
	jobs        *int
	job         []jobExpect
}

type jobExpect struct {
	to, flow, state string
	attempts        *int
	outcomes        []string
	outcome         string
	attemptedAt     []time.Time
}

// Outcomes a call may end with, as ended's summary gives them.
var callOutcomes = []string{engine.OutcomeTransferred, engine.OutcomeHangup, engine.OutcomeCallerHangup,
	engine.OutcomeFallback, engine.OutcomeFailed}

// partyOutcomes are what ivrd's history may say of a call: a call's
// outcome, or how an outbound call that was never answered ended.
var partyOutcomes = append(append([]string(nil), callOutcomes...),
	engine.DialBusy, engine.DialNoAnswer, engine.DialRejected)

var jobStates = []string{engine.JobScheduled, engine.JobDialing, engine.JobDone, engine.JobFailed,
	engine.JobCancelled, engine.JobDropped}

var attemptOutcomes = []string{engine.DialAnswered, engine.DialBusy, engine.DialNoAnswer, engine.DialFailed,
	engine.DialRejected, engine.DialRetry, engine.DialInterrupted}

// source is a scenario file's text, for finding the line a field is on.
type source struct {
	path    string
	lines   []string
	headers []int // 0-based line index of each [[scenario]]
}

var scenarioHeader = regexp.MustCompile(`^\s*\[\[\s*scenario\s*\]\]`)

// topTable matches the header of a file-wide table.
var topTable = regexp.MustCompile(`^\s*\[(\[?)\s*((?:route|device|sim|outbound|store)\b[^\]]*)\]`)

func newSource(path string, text []byte) *source {
	s := &source{path: path, lines: strings.Split(string(text), "\n")}
	for i, l := range s.lines {
		if scenarioHeader.MatchString(l) {
			s.headers = append(s.headers, i)
		}
	}
	return s
}

// span returns the 0-based line range [from, to) of scenario i, or of the
// file's top (before the first scenario) when i < 0.
func (s *source) span(i int) (int, int) {
	if i < 0 {
		if len(s.headers) == 0 {
			return 0, len(s.lines)
		}
		return 0, s.headers[0]
	}
	if i >= len(s.headers) {
		return len(s.lines), len(s.lines)
	}
	to := len(s.lines)
	if i+1 < len(s.headers) {
		to = s.headers[i+1]
	}
	return s.headers[i], to
}

var fieldPart = regexp.MustCompile(`^([a-z_]+)(?:\[(\d+)\])?$`)

// line finds the 1-based line of a field ("call[1].steps[0].press") in
// scenario i (the file's top when i < 0): it narrows to the n-th
// [[scenario.call]] table when the path indexes one, and to a [table]
// header naming the field's table when there is one, then looks for the
// last key, with its value when given. It falls back to the scenario's
// first line.
func (s *source) line(i int, field string, value string) int {
	from, to := s.span(i)
	fallback := from + 1
	prefix := "scenario"
	if i < 0 {
		// File-wide tables may be written anywhere (and are reported
		// when written below a scenario).
		from, to, fallback, prefix = 0, len(s.lines), 1, ""
	}
	if from >= len(s.lines) {
		return len(s.lines)
	}
	parts := strings.Split(field, ".")
	for _, p := range parts[:len(parts)-1] {
		m := fieldPart.FindStringSubmatch(p)
		if m == nil {
			prefix = strings.TrimPrefix(prefix+"."+p, ".")
			continue
		}
		prefix = strings.TrimPrefix(prefix+"."+m[1], ".")
		if m[2] == "" {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		hdr := regexp.MustCompile(`^\s*\[\[\s*` + regexp.QuoteMeta(prefix) + `\s*\]\]`)
		seen := -1
		for l := from; l < to; l++ {
			if hdr.MatchString(s.lines[l]) {
				seen++
				if seen == n {
					from, fallback = l, l+1
				} else if seen == n+1 {
					to = l
					break
				}
			}
		}
	}
	if len(parts) > 1 && prefix != "" && prefix != "scenario" {
		hdr := regexp.MustCompile(`^\s*\[\s*` + regexp.QuoteMeta(prefix) + `\s*\]`)
		for l := from; l < to; l++ {
			if !hdr.MatchString(s.lines[l]) {
				continue
			}
			from, fallback = l, l+1
			for e := l + 1; e < to; e++ {
				if anyHeader.MatchString(s.lines[e]) {
					to = e
					break
				}
			}
			break
		}
	}
	last := fieldPart.FindStringSubmatch(parts[len(parts)-1])
	if last == nil {
		return fallback
	}
	key := regexp.MustCompile(`(^|[\s{,.])` + regexp.QuoteMeta(last[1]) + `\s*=`)
	first := 0
	for l := from; l < to; l++ {
		loc := key.FindStringIndex(s.lines[l])
		if loc == nil {
			continue
		}
		if value == "" || strings.Contains(s.lines[l][loc[1]:], value) {
			return l + 1
		}
		if first == 0 {
			first = l + 1
		}
	}
	if first != 0 {
		return first
	}
	return fallback
}

var anyHeader = regexp.MustCompile(`^\s*\[`)

// fieldError is a problem with one field of a scenario file.
type fieldError struct {
	file  string
	line  int
	scen  string // the scenario's name, or "" for the file's top
	field string
	msg   string
}

func (e *fieldError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: ", e.file, e.line)
	if e.scen != "" {
		fmt.Fprintf(&b, "scenario %q: ", e.scen)
	}
	if e.field != "" {
		b.WriteString(e.field + ": ")
	}
	b.WriteString(e.msg)
	return b.String()
}

// parser checks one file's fields, collecting every problem.
type parser struct {
	src  *source
	idx  int    // the scenario being read, -1 for the file's top
	name string // its name, for messages
	errs []error
}

func (p *parser) fail(field, value, format string, args ...any) {
	p.errs = append(p.errs, &fieldError{file: p.src.path, line: p.src.line(p.idx, field, value),
		scen: p.name, field: field, msg: fmt.Sprintf(format, args...)})
}

// text reads a scalar written as a string or a number ("60001" or 60001).
func (p *parser) text(field string, v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	p.fail(field, "", "want a string, not %s", tomlType(v))
	return ""
}

// duration reads "2s", "1m30s", "500ms", or a number of seconds.
func (p *parser) duration(field string, v any) (time.Duration, bool) {
	var d time.Duration
	switch v := v.(type) {
	case nil:
		return 0, false
	case int64:
		d = time.Duration(v) * time.Second
	case float64:
		d = time.Duration(v * float64(time.Second))
	case string:
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			if f, ferr := strconv.ParseFloat(v, 64); ferr == nil {
				d, err = time.Duration(f*float64(time.Second)), nil
			}
		}
		if err != nil {
			p.fail(field, v, "%q is not a duration like \"2s\", \"500ms\" or \"1h30m\"", v)
			return 0, false
		}
	default:
		p.fail(field, "", "want a duration like \"2s\", not %s", tomlType(v))
		return 0, false
	}
	if d < 0 {
		p.fail(field, "", "%s is negative", d)
		return 0, false
	}
	return d, true
}

// keys reads DTMF keys: 0–9, *, #, A–D.
func (p *parser) keys(field string, v any) string {
	s := p.text(field, v)
	if s == "" {
		return ""
	}
	for _, k := range s {
		if !(k >= '0' && k <= '9') && k != '*' && k != '#' && !(k >= 'A' && k <= 'D') {
			p.fail(field, s, "%q is not a DTMF key (0–9, *, #, A–D)", string(k))
			return ""
		}
	}
	return s
}

// oneOf checks an enumerated value.
func (p *parser) oneOf(field, v string, allowed []string) bool {
	if v == "" {
		return true
	}
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	p.fail(field, v, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return false
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

// parseFile reads a scenario file. flows names the flows of the suite;
// defaultFlow is used when the file and scenario name none.
func parseFile(path string, text []byte, flows map[string]bool, defaultFlow string) ([]*Scenario, error) {
	src := newSource(path, text)
	var f fileTOML
	md, err := toml.Decode(string(text), &f)
	if err != nil {
		return nil, decodeError(src, -1, "", err)
	}
	p := &parser{src: src, idx: -1}
	var out []*Scenario
	if len(f.Scenarios) == 0 {
		p.fail("", "", "no [[scenario]] in the file")
	}
	if len(src.headers) > 0 {
		// A file-wide table written below a scenario still sets the whole
		// file: TOML has no way back into the scenario once a table opens.
		for l := src.headers[0]; l < len(src.lines); l++ {
			if m := topTable.FindStringSubmatch(src.lines[l]); m != nil {
				open, end := "["+m[1], "]"+strings.Repeat("]", len(m[1]))
				p.errs = append(p.errs, &fieldError{file: path, line: l + 1, msg: fmt.Sprintf(
					"%s%s%s below a [[scenario]] sets every scenario of the file: write %sscenario.%s%s for this scenario only, or move it above the first [[scenario]]",
					open, strings.TrimSpace(m[2]), end, open, strings.TrimSpace(m[2]), end)})
			}
		}
	}
	top := p.setup(f.setupTOML)
	names := make([]string, len(f.Scenarios))
	for i, prim := range f.Scenarios {
		var st scenarioTOML
		name := fmt.Sprintf("scenario %d", i+1)
		var named struct {
			Name string `toml:"name"`
		}
		if md.PrimitiveDecode(prim, &named) == nil && named.Name != "" {
			name = named.Name
		}
		names[i] = name
		if err := md.PrimitiveDecode(prim, &st); err != nil {
			p.errs = append(p.errs, decodeError(src, i, name, err))
			continue
		}
		if st.Name != "" {
			name = st.Name
			names[i] = name
		}
		p.idx, p.name = i, name
		line := 1
		if i < len(src.headers) {
			line = src.headers[i] + 1
		}
		sc := p.scenario(st, top, flows, defaultFlow)
		sc.Name, sc.File, sc.Line = name, path, line
		out = append(out, sc)
	}
	p.idx, p.name = -1, ""
	for _, k := range md.Undecoded() {
		if freeForm(k) {
			continue
		}
		field, idx := k.String(), -1
		if len(k) > 1 && k[0] == "scenario" {
			// The key does not say which scenario it is in: take the
			// first that writes it.
			field = strings.TrimPrefix(field, "scenario.")
			for j := range src.headers {
				from, to := src.span(j)
				if hasKey(src.lines[from:to], k[len(k)-1]) {
					idx = j
					break
				}
			}
		}
		p.idx, p.name = idx, ""
		if idx >= 0 {
			p.name = names[idx]
		}
		p.fail(field, "", "unknown field")
	}
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return lineOf(p.errs[i]) < lineOf(p.errs[j]) })
		return nil, errors.Join(p.errs...)
	}
	seen := map[string]bool{}
	for _, sc := range out {
		if seen[sc.Name] {
			return nil, &fieldError{file: path, line: sc.Line, scen: sc.Name, field: "name", msg: "another scenario in the file has this name"}
		}
		seen[sc.Name] = true
	}
	return out, nil
}

// freeForm reports whether a key lies inside a value of the flow's own
// shape (a store value, a dial's vars), which the decoder leaves alone.
func freeForm(k toml.Key) bool {
	for _, part := range k[:len(k)-1] {
		if part == "store" || part == "vars" {
			return true
		}
	}
	return false
}

func lineOf(err error) int {
	var fe *fieldError
	if errors.As(err, &fe) {
		return fe.line
	}
	return 0
}

func hasKey(lines []string, key string) bool {
	re := regexp.MustCompile(`(^|[\s{,.])` + regexp.QuoteMeta(key) + `\s*=`)
	for _, l := range lines {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}

var typeMismatch = regexp.MustCompile(`TOML value has type (\w+); destination has type (\w+)`)

func goTypeText(t string) string {
	switch t {
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "a table"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "float64", "float32":
		return "a number"
	}
	if strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint") {
		return "an integer"
	}
	return t
}

func tomlTypeText(t string) string {
	switch t {
	case "string":
		return "a string"
	case "int64", "integer":
		return "an integer"
	case "float64", "float":
		return "a number"
	case "bool":
		return "a boolean"
	}
	if strings.HasPrefix(t, "map") || t == "table" {
		return "a table"
	}
	if strings.HasPrefix(t, "[]") || t == "array" || t == "slice" {
		return "an array"
	}
	return t
}

var tomlLineErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// decodeError turns a TOML error into "file:line: field: message". Syntax
// errors carry their position; type errors name the last key, which is
// looked up in the scenario being decoded (the library's own line for it
// is that of the key's last use in the file).
func decodeError(src *source, idx int, name string, err error) error {
	msg := err.Error()
	var pe toml.ParseError
	if errors.As(err, &pe) {
		if pe.LastKey == "" {
			return &fieldError{file: src.path, line: pe.Position.Line, scen: name, msg: pe.Message}
		}
		msg = fmt.Sprintf("toml: line %d (last key %q): %s", pe.Position.Line, pe.LastKey, pe.Message)
	}
	m := tomlLineErr.FindStringSubmatch(msg)
	if m == nil {
		return &fieldError{file: src.path, line: 1, scen: name, msg: strings.TrimPrefix(msg, "toml: ")}
	}
	field := m[2]
	line, _ := strconv.Atoi(m[1])
	if idx >= 0 {
		field = strings.TrimPrefix(field, "scenario.")
		line = src.line(idx, field, "")
	}
	text := m[3]
	if t := typeMismatch.FindStringSubmatch(text); t != nil {
		text = fmt.Sprintf("want %s, not %s", goTypeText(t[2]), tomlTypeText(t[1]))
	}
	return &fieldError{file: src.path, line: line, scen: name, field: field, msg: text}
}
