package scenario

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// setup is a file's or a scenario's settings, read and checked; unset
// fields are zero (or nil), so that a scenario's setup can be laid over
// its file's.
type setup struct {
	flow   string
	start  *time.Time
	limit  *time.Duration
	stop   *time.Duration
	routes []routeSetup

	wait, silenceFile string
	silenceLength     *time.Duration
	fallback          *string
	digitFiles        []string
	menus             []int

	trunk, operator string
	exts            []string
	fileDuration    *time.Duration
	responseTimeout *time.Duration
	noAnswerTimeout *time.Duration
	controlBefore   *bool
	dropKeys        *bool
	voiceFiles      map[string]time.Duration
	missingFiles    []string
	extPolicies     map[string]omsim.Policy
	numberPolicies  map[string]omsim.Policy
	outside         *omsim.Policy
	groups          map[string][]string
	window, tz      string
	ringTimeout     *time.Duration
	maxConcurrent   int
	perNumber       int
	perSecond       float64
	store           map[string]json.RawMessage
}

type routeSetup struct {
	to, from, flow string
	field          string
}

// over returns s laid over base: what s sets wins; maps are merged by key.
func (s setup) over(base setup) setup {
	out := base
	str := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	str(&out.flow, s.flow)
	str(&out.wait, s.wait)
	str(&out.silenceFile, s.silenceFile)
	str(&out.trunk, s.trunk)
	str(&out.operator, s.operator)
	str(&out.window, s.window)
	str(&out.tz, s.tz)
	for _, p := range []struct{ dst, v **time.Duration }{
		{&out.limit, &s.limit}, {&out.stop, &s.stop}, {&out.silenceLength, &s.silenceLength}, {&out.fileDuration, &s.fileDuration},
		{&out.responseTimeout, &s.responseTimeout}, {&out.noAnswerTimeout, &s.noAnswerTimeout},
		{&out.ringTimeout, &s.ringTimeout},
	} {
		if *p.v != nil {
			*p.dst = *p.v
		}
	}
	if s.start != nil {
		out.start = s.start
	}
	if len(s.routes) > 0 {
		out.routes = s.routes
	}
	if s.fallback != nil {
		out.fallback = s.fallback
	}
	if s.digitFiles != nil {
		out.digitFiles = s.digitFiles
	}
	if s.menus != nil {
		out.menus = s.menus
	}
	if s.exts != nil {
		out.exts = s.exts
	}
	if s.controlBefore != nil {
		out.controlBefore = s.controlBefore
	}
	if s.dropKeys != nil {
		out.dropKeys = s.dropKeys
	}
	if s.outside != nil {
		out.outside = s.outside
	}
	out.missingFiles = append(append([]string(nil), base.missingFiles...), s.missingFiles...)
	out.voiceFiles = mergeMap(base.voiceFiles, s.voiceFiles)
	out.extPolicies = mergeMap(base.extPolicies, s.extPolicies)
	out.numberPolicies = mergeMap(base.numberPolicies, s.numberPolicies)
	out.groups = mergeMap(base.groups, s.groups)
	out.store = mergeMap(base.store, s.store)
	if s.maxConcurrent != 0 {
		out.maxConcurrent = s.maxConcurrent
	}
	if s.perNumber != 0 {
		out.perNumber = s.perNumber
	}
	if s.perSecond != 0 {
		out.perSecond = s.perSecond
	}
	return out
}

func mergeMap[V any](base, over map[string]V) map[string]V {
	if len(base) == 0 && len(over) == 0 {
		return nil
	}
	out := make(map[string]V, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// Dial answers a callee may give (the simulator's policies for outside
// numbers, but manual, which needs someone to pick up).
var calleeAnswers = []string{omsim.AnswerAfter, omsim.AnswerBusy, omsim.AnswerNoAnswer, omsim.AnswerFail}

var extAnswers = []string{omsim.AnswerAfter, omsim.AnswerBusy, omsim.AnswerNoAnswer, omsim.AnswerOffline}

// setup reads the settings a file's top or a scenario gives.
func (p *parser) setup(t setupTOML) setup {
	var s setup
	s.flow = t.Flow
	if t.Start != nil {
		if st, ok := p.start("start", t.Start); ok {
			s.start = &st
		}
	}
	if d, ok := p.duration("limit", t.Limit); ok {
		if d == 0 {
			p.fail("limit", "", "must be more than zero")
		}
		s.limit = &d
	}
	if d, ok := p.duration("stop", t.Stop); ok {
		if d == 0 {
			p.fail("stop", "", "must be more than zero")
		}
		s.stop = &d
	}
	for i, r := range t.Routes {
		f := fmt.Sprintf("route[%d]", i)
		rs := routeSetup{to: p.text(f+".to", r.To), from: p.text(f+".from", r.From), flow: r.Flow, field: f}
		for _, pat := range []struct{ field, v string }{{f + ".to", rs.to}, {f + ".from", rs.from}} {
			if _, err := path.Match(pat.v, ""); err != nil {
				p.fail(pat.field, pat.v, "%q is not a pattern like \"6000*\"", pat.v)
			}
		}
		if rs.flow == "" {
			p.fail(f+".flow", "", "the route names no flow")
		}
		s.routes = append(s.routes, rs)
	}

	d := t.Device
	if d.Wait != "" {
		p.oneOf("device.wait", d.Wait, []string{engine.WaitParked, engine.WaitSilence})
	}
	s.wait, s.silenceFile = d.Wait, d.SilenceFile
	if v, ok := p.duration("device.silence_length", d.SilenceLength); ok {
		if v == 0 {
			p.fail("device.silence_length", "", "must be more than zero")
		}
		s.silenceLength = &v
	}
	if d.Fallback != nil {
		fb := p.text("device.fallback", d.Fallback)
		s.fallback = &fb
	}
	if d.DigitFiles != nil && len(d.DigitFiles) != 10 {
		p.fail("device.digit_files", "", "want ten files, for 0 to 9; got %d", len(d.DigitFiles))
	}
	s.digitFiles = d.DigitFiles
	if d.Menus != nil {
		if len(d.Menus) != 2 || d.Menus[0] < 1 || d.Menus[1] > 50 || d.Menus[0] > d.Menus[1] {
			p.fail("device.menus", "", "want [first, last] within 1–50, like [41, 50]")
		}
		s.menus = d.Menus
	}

	m := t.Sim
	s.trunk = p.text("sim.trunk", m.Trunk)
	s.operator = p.text("sim.operator", m.Operator)
	if m.Exts != nil {
		s.exts = []string{}
		for i, e := range m.Exts {
			s.exts = append(s.exts, p.text(fmt.Sprintf("sim.exts[%d]", i), e))
		}
	}
	for _, f := range []struct {
		field string
		v     any
		dst   **time.Duration
	}{
		{"sim.file_duration", m.FileDuration, &s.fileDuration},
		{"sim.response_timeout", m.ResponseTimeout, &s.responseTimeout},
		{"sim.no_answer_timeout", m.NoAnswerTimeout, &s.noAnswerTimeout},
	} {
		if v, ok := p.duration(f.field, f.v); ok {
			*f.dst = &v
		}
	}
	s.controlBefore, s.dropKeys = m.ControlBeforeAnswer, m.DropKeysAfterEndOfAnn
	if len(m.VoiceFiles) > 0 {
		s.voiceFiles = map[string]time.Duration{}
		for _, name := range sortedKeys(m.VoiceFiles) {
			v := m.VoiceFiles[name]
			if str, ok := v.(string); ok && str == "" {
				s.voiceFiles[name] = 0 // the device's file_duration
				continue
			}
			if d, ok := p.duration("sim.voice_files."+name, v); ok {
				s.voiceFiles[name] = d
			}
		}
	}
	s.missingFiles = m.MissingVoiceFiles
	s.extPolicies = p.policies("sim.ext", m.Ext, extAnswers)
	s.numberPolicies = p.policies("sim.number", m.Number, calleeAnswers)
	if m.Outside != nil {
		pol := p.policy("sim.outside", *m.Outside, calleeAnswers)
		s.outside = &pol
	}
	if len(m.Group) > 0 {
		s.groups = map[string][]string{}
		for _, id := range sortedKeys(m.Group) {
			var exts []string
			for i, e := range m.Group[id].Exts {
				exts = append(exts, p.text(fmt.Sprintf("sim.group.%s.exts[%d]", id, i), e))
			}
			s.groups[id] = exts
		}
	}

	o := t.Outbound
	s.window, s.tz = o.Window, o.TZ
	if _, err := engine.ParseWindow(o.Window, o.TZ); err != nil {
		field, msg, _ := strings.Cut(err.Error(), ": ")
		p.fail("outbound."+field, "", "%s", msg)
	}
	if v, ok := p.duration("outbound.ring_timeout", o.RingTimeout); ok {
		s.ringTimeout = &v
	}
	if o.MaxConcurrent < 0 || o.PerNumber < 0 || o.PerSecond < 0 {
		p.fail("outbound", "", "limits must not be negative")
	}
	s.maxConcurrent, s.perNumber, s.perSecond = o.MaxConcurrent, o.PerNumber, o.PerSecond

	if len(t.Store) > 0 {
		s.store = map[string]json.RawMessage{}
		for _, k := range sortedKeys(t.Store) {
			if b, ok := p.json("store."+k, t.Store[k]); ok {
				s.store[k] = b
			}
		}
	}
	return s
}

func (p *parser) policies(field string, in map[string]policyTOML, answers []string) map[string]omsim.Policy {
	if len(in) == 0 {
		return nil
	}
	out := map[string]omsim.Policy{}
	for _, k := range sortedKeys(in) {
		out[k] = p.policy(field+"."+k, in[k], answers)
	}
	return out
}

func (p *parser) policy(field string, t policyTOML, answers []string) omsim.Policy {
	p.oneOf(field+".answer", t.Answer, answers)
	pol := omsim.Policy{Answer: t.Answer, Keys: p.keys(field+".keys", t.Keys)}
	pol.Delay, _ = p.duration(field+".delay", t.Delay)
	pol.KeysDelay, _ = p.duration(field+".keys_delay", t.KeysDelay)
	pol.KeysGap, _ = p.duration(field+".keys_gap", t.KeysGap)
	return pol
}

// json encodes a TOML value as ivr.store keeps values.
func (p *parser) json(field string, v any) (json.RawMessage, bool) {
	if t, ok := v.(time.Time); ok {
		v = t.Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(v)
	if err != nil {
		p.fail(field, "", "cannot be kept as JSON: %v", err)
		return nil, false
	}
	return b, true
}

// start reads an absolute time: a TOML date-time with an offset, or the
// same as a string.
func (p *parser) start(field string, v any) (time.Time, bool) {
	switch v := v.(type) {
	case time.Time:
		if strings.HasSuffix(v.Location().String(), "-local") {
			p.fail(field, "", "give the time with its UTC offset, like 2026-11-25T21:30:00+08:00")
			return time.Time{}, false
		}
		return v, true
	case string:
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			p.fail(field, v, "%q is not a time like 2026-11-25T21:30:00+08:00", v)
			return time.Time{}, false
		}
		return t, true
	}
	p.fail(field, "", "want a time like 2026-11-25T21:30:00+08:00, not %s", tomlType(v))
	return time.Time{}, false
}

var clockTime = regexp.MustCompile(`^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$`)

// at reads when a dial is due: a duration after the scenario's start
// ("90m"), the next time a clock in tz shows a time of day ("07:00"), or
// a date-time. Absent is the start.
func (p *parser) at(field string, v any, start time.Time, tz string) time.Time {
	switch x := v.(type) {
	case nil:
		return time.Time{}
	case time.Time:
		t, _ := p.start(field, x)
		return t
	case string:
		if m := clockTime.FindStringSubmatch(x); m != nil {
			loc := start.Location()
			if tz != "" {
				l, err := time.LoadLocation(tz)
				if err != nil {
					return time.Time{} // the tz field says why
				}
				loc = l
			}
			h, _ := strconv.Atoi(m[1])
			mi, _ := strconv.Atoi(m[2])
			sec, _ := strconv.Atoi(m[3])
			ls := start.In(loc)
			t := time.Date(ls.Year(), ls.Month(), ls.Day(), h, mi, sec, 0, loc)
			if t.Before(start) {
				t = time.Date(ls.Year(), ls.Month(), ls.Day()+1, h, mi, sec, 0, loc)
			}
			return t
		}
		if t, err := time.Parse(time.RFC3339, x); err == nil {
			return t
		}
		if _, err := time.ParseDuration(x); err != nil {
			p.fail(field, x, "%q is not a duration after the start (\"90m\"), a time of day (\"07:00\", \"07:05:30\") or a date-time (2026-11-26T07:00:00+08:00)", x)
			return time.Time{}
		}
	}
	d, ok := p.duration(field, v)
	if !ok {
		return time.Time{}
	}
	return start.Add(d)
}

// scenario reads one [[scenario]] over its file's settings.
func (p *parser) scenario(t scenarioTOML, top setup, flows map[string]bool, defaultFlow string) *Scenario {
	s := p.setup(t.setupTOML).over(top)
	sc := &Scenario{}

	// Flows and routes.
	sc.flow = s.flow
	if sc.flow == "" && len(s.routes) > 0 {
		sc.flow = s.routes[0].flow
	}
	if sc.flow == "" {
		sc.flow = defaultFlow
	}
	if sc.flow == "" {
		p.fail("flow", "", "the folder has several flows and none is main.lua: say which one calls run (flow = \"name\")")
	} else if !flows[sc.flow] {
		p.fail("flow", sc.flow, "no flow %q in the folder (%s)", sc.flow, strings.Join(sortedKeys(flows), ", "))
	}
	for _, r := range s.routes {
		if r.flow != "" && !flows[r.flow] {
			p.fail(r.field+".flow", r.flow, "no flow %q in the folder", r.flow)
		}
		sc.routes = append(sc.routes, engine.Route{Device: "", To: r.to, From: r.from, Flow: r.flow})
	}
	if len(sc.routes) == 0 {
		sc.routes = []engine.Route{{To: "*", Flow: sc.flow}}
	}
	sc.start = DefaultStart
	if s.start != nil {
		sc.start = *s.start
	}
	sc.limit = DefaultLimit
	if s.limit != nil {
		sc.limit = *s.limit
	}
	if s.stop != nil {
		sc.stop = *s.stop
		if sc.stop > sc.limit {
			p.fail("stop", "", "%s is past the limit, %s", sc.stop, sc.limit)
		}
	}

	// The device, as ivrd.toml's [[device]] would set it.
	dev := engine.Device{Wait: s.wait, SilenceFile: s.silenceFile, Fallback: DefaultFallback}
	if s.silenceLength != nil {
		dev.SilenceLength = *s.silenceLength
	}
	if s.fallback != nil {
		dev.Fallback = *s.fallback
	}
	copy(dev.DigitFiles[:], s.digitFiles)
	if s.menus != nil {
		dev.MenuFirst, dev.MenuLast = s.menus[0], s.menus[1]
	}
	sc.device = dev
	silence := s.silenceFile
	if silence == "" {
		silence = engine.DefaultSilenceFile
	}
	sc.silences = map[string]bool{silence: true}

	// The simulated OM.
	cfg := omsim.DefaultConfig()
	if s.trunk != "" {
		cfg.Trunk = s.trunk
	}
	if s.exts != nil {
		cfg.Exts = s.exts
	}
	if s.operator != "" {
		cfg.Operator = s.operator
	}
	for _, f := range []struct {
		v   *time.Duration
		dst *time.Duration
	}{{s.fileDuration, &cfg.FileDuration}, {s.responseTimeout, &cfg.ResponseTimeout}, {s.noAnswerTimeout, &cfg.NoAnswerTimeout}} {
		if f.v != nil && *f.v > 0 {
			*f.dst = *f.v
		}
	}
	if s.controlBefore != nil {
		cfg.ControlBeforeAnswer = *s.controlBefore
	}
	if s.dropKeys != nil {
		cfg.DropKeysAfterEndOfAnn = *s.dropKeys
	}
	for name, d := range s.voiceFiles {
		cfg.VoiceFiles[name] = d
	}
	for _, name := range s.missingFiles {
		if _, ok := cfg.VoiceFiles[name]; !ok {
			p.fail("sim.missing_voice_files", name, "%q is not one of the device's voice files", name)
		}
		delete(cfg.VoiceFiles, name)
	}
	cfg.ExtPolicies = map[string]omsim.Policy{}
	for ext, pol := range s.extPolicies {
		cfg.ExtPolicies[ext] = pol
	}
	cfg.Numbers = map[string]omsim.Policy{}
	for n, pol := range s.numberPolicies {
		cfg.Numbers[n] = pol
	}
	if s.outside != nil {
		cfg.Outside = *s.outside
	}
	cfg.Groups = s.groups
	if dev.Fallback != "" && !contains(cfg.Exts, dev.Fallback) {
		p.fail("device.fallback", dev.Fallback, "%s is not one of the simulated extensions", dev.Fallback)
	}

	// Outbound limits.
	sc.dial = engine.DialLimits{Window: s.window, TZ: s.tz, MaxConcurrent: s.maxConcurrent,
		PerNumber: s.perNumber, PerSecond: s.perSecond}
	if s.ringTimeout != nil {
		sc.dial.RingTimeout = *s.ringTimeout
	}
	sc.store = s.store

	// Inbound calls.
	for i, c := range t.Calls {
		f := fmt.Sprintf("call[%d]", i)
		cs := &callScript{from: p.text(f+".from", c.From), to: p.text(f+".to", c.To)}
		if cs.from == "" {
			cs.from = DefaultFrom
		}
		if cs.to == "" {
			cs.to = cfg.Trunk
		}
		cs.at, _ = p.duration(f+".at", c.At)
		cs.steps = p.steps(f, c.Steps)
		cs.expect = p.partyExpect(f+".expect", c.Expect)
		sc.calls = append(sc.calls, cs)
	}

	// Callees of outbound calls: entries for one number are its attempts.
	sc.callees = map[string][]*calleeScript{}
	for i, c := range t.Callees {
		f := fmt.Sprintf("callee[%d]", i)
		cs := &calleeScript{number: p.text(f+".number", c.Number)}
		if cs.number == "" {
			p.fail(f+".number", "", "the callee's number is required")
		}
		p.oneOf(f+".answer", c.Answer, calleeAnswers)
		cs.policy = omsim.Policy{Answer: c.Answer}
		cs.policy.Delay, _ = p.duration(f+".delay", c.Delay)
		cs.steps = p.steps(f, c.Steps)
		if len(cs.steps) > 0 && c.Answer != "" && c.Answer != omsim.AnswerAfter {
			p.fail(f+".steps", "", "a callee that does not answer (%s) cannot press keys", c.Answer)
		}
		cs.expect = p.partyExpect(f+".expect", c.Expect)
		if _, ok := sc.callees[cs.number]; !ok {
			sc.numbers = append(sc.numbers, cs.number)
		}
		sc.callees[cs.number] = append(sc.callees[cs.number], cs)
	}

	// Outbound jobs asked for at the start.
	for i, d := range t.Dials {
		f := fmt.Sprintf("dial[%d]", i)
		req := engine.DialRequest{To: p.text(f+".to", d.To), Flow: d.Flow, TZ: d.TZ, Window: d.Window, ID: d.ID, Source: "scenario"}
		if req.To == "" {
			p.fail(f+".to", "", "the number to call is required")
		}
		if req.Flow == "" {
			req.Flow = sc.flow
		} else if !flows[req.Flow] {
			p.fail(f+".flow", req.Flow, "no flow %q in the folder", req.Flow)
		}
		if d.Vars != nil {
			req.Vars, _ = p.json(f+".vars", d.Vars)
		}
		if _, err := engine.ParseWindow(d.Window, d.TZ); err != nil {
			field, msg, _ := strings.Cut(err.Error(), ": ")
			p.fail(f+"."+field, "", "%s", msg)
		}
		req.At = p.at(f+".at", d.At, sc.start, d.TZ)
		rd, _ := p.duration(f+".retry.delay", d.Retry.Delay)
		req.Retry = engine.RetryPolicy{Attempts: d.Retry.Attempts, Delay: engine.Duration(rd), Backoff: d.Retry.Backoff, On: d.Retry.On}
		for j, o := range d.Retry.On {
			p.oneOf(fmt.Sprintf("%s.retry.on[%d]", f, j), o, attemptOutcomes)
		}
		sc.dials = append(sc.dials, req)
	}

	if len(sc.calls) == 0 && len(sc.dials) == 0 {
		p.fail("", "", "nobody calls: add a [[scenario.call]] or a [[scenario.dial]]")
	}
	sc.expect = p.scenarioExpect(t.Expect, sc.start)
	expects := sc.expect.store != nil || len(sc.expect.storeAbsent) > 0 || sc.expect.jobs != nil || len(sc.expect.job) > 0
	for _, c := range sc.calls {
		expects = expects || c.expect.any()
	}
	for _, n := range sc.numbers {
		for _, c := range sc.callees[n] {
			expects = expects || c.expect.any()
		}
	}
	if !expects {
		p.fail("expect", "", "the scenario expects nothing: say what must come of it ([scenario.call.expect], [scenario.expect] …)")
	}
	sc.sim = cfg
	if len(p.errs) == 0 {
		// Only when nothing else is wrong: the device's own checks would
		// repeat what was said.
		if err := cfg.Validate(); err != nil {
			p.fail("sim", "", "%v", err)
		}
	}
	return sc
}

func (p *parser) steps(field string, in []stepTOML) []step {
	var out []step
	for i, t := range in {
		f := fmt.Sprintf("%s.steps[%d]", field, i)
		st := step{after: t.After, hearing: t.Hearing, hangup: t.Hangup}
		st.wait, _ = p.duration(f+".wait", t.Wait)
		st.gap, _ = p.duration(f+".gap", t.Gap)
		st.press = p.keys(f+".press", t.Press)
		switch {
		case st.after != "" && st.hearing != "":
			p.fail(f, "", "give after (a prompt played to its end) or hearing (a prompt starting), not both")
		case t.Press == nil && !st.hangup:
			p.fail(f, "", "a step presses keys (press = \"1\") or hangs up (hangup = true)")
		case t.Press != nil && st.hangup:
			p.fail(f, "", "a step either presses keys or hangs up; make two steps")
		case t.Gap != nil && t.Press == nil:
			p.fail(f+".gap", "", "gap is the pause between pressed keys; this step presses none")
		}
		out = append(out, st)
	}
	return out
}

func (p *parser) partyExpect(field string, t partyExpectTOML) partyExpect {
	e := partyExpect{heard: t.Heard, heardIncludes: t.HeardIncludes, notHeard: t.NotHeard,
		path: t.Path, target: t.Target, outcome: t.Outcome}
	if t.Keys != nil {
		k := p.text(field+".keys", t.Keys)
		e.keys = &k
	}
	p.oneOf(field+".outcome", t.Outcome, partyOutcomes)
	return e
}

func (p *parser) scenarioExpect(t expectTOML, start time.Time) scenarioExpect {
	e := scenarioExpect{jobs: t.Jobs, storeAbsent: t.StoreAbsent}
	if t.Store != nil {
		e.store = map[string]json.RawMessage{}
		for _, k := range sortedKeys(t.Store) {
			if b, ok := p.json("expect.store."+k, t.Store[k]); ok {
				e.store[k] = b
			}
		}
	}
	if t.Jobs != nil && *t.Jobs < 0 {
		p.fail("expect.jobs", "", "must not be negative")
	}
	for i, j := range t.Job {
		f := fmt.Sprintf("expect.job[%d]", i)
		je := jobExpect{to: p.text(f+".to", j.To), flow: j.Flow, state: j.State, attempts: j.Attempts,
			outcomes: j.Outcomes, outcome: j.Outcome}
		p.oneOf(f+".state", j.State, jobStates)
		p.oneOf(f+".outcome", j.Outcome, attemptOutcomes)
		for k, o := range j.Outcomes {
			p.oneOf(fmt.Sprintf("%s.outcomes[%d]", f, k), o, attemptOutcomes)
		}
		for k, v := range j.AttemptedAt {
			if v == nil {
				continue
			}
			je.attemptedAt = append(je.attemptedAt, p.at(fmt.Sprintf("%s.attempted_at[%d]", f, k), v, start, ""))
		}
		e.job = append(e.job, je)
	}
	return e
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
