package omsim

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults of a simulated device: a small hotel-like OM.
const (
	DefaultTrunk           = "60001"
	DefaultOperator        = "200"
	DefaultFileDuration    = 2 * time.Second
	DefaultSilenceDuration = 1 * time.Second
	DefaultResponseTimeout = 5 * time.Second
	DefaultExtAnswerDelay  = 1 * time.Second
	DefaultOuterDelay      = 2 * time.Second
	DefaultKeysDelay       = 1 * time.Second
	DefaultNoAnswerTimeout = 30 * time.Second
	DefaultSignatureWindow = 300 * time.Second
	DefaultReportTimeout   = 5 * time.Second
	DefaultModel           = "OM50"
	DefaultWebUser         = "admin"
	DefaultWebPassword     = "admin"
	DefaultVersion         = "2.1.5.112"
)

// DefaultPrompts are the uploaded prompts a default device holds besides the
// digit files and the built-ins: the ones the examples use.
var DefaultPrompts = []string{
	"user_welcome", "user_menu", "user_invalid", "user_noinput", "user_bye", "user_thanks",
	"user_transfer", "user_busy", "user_closed", "user_enter_room", "user_wakeup",
	"user_wakeup_confirm", "user_code_is", "user_repeat", "user_survey_intro",
	"user_survey_q1", "user_survey_q2", "user_survey_q3", "user_survey_thanks",
}

// Answer policies for extensions and outside numbers.
const (
	AnswerAfter    = "after"     // answer after Delay (the default)
	AnswerBusy     = "busy"      // refuse as busy
	AnswerNoAnswer = "no_answer" // ring until the caller gives up or NoAnswerTimeout passes
	AnswerFail     = "fail"      // the call cannot be placed (outside numbers only)
	AnswerManual   = "manual"    // ring until told to answer (Call.Answer, Sim.AnswerExt)
	AnswerOffline  = "offline"   // the extension is not registered (extensions only)
)

// Policy is how an extension or an outside number answers a call to it.
type Policy struct {
	Answer string        `json:"answer" toml:"answer"` // one of the Answer… constants; "" means AnswerAfter
	Delay  time.Duration `json:"-" toml:"-"`           // ring time before answering
	// Keys are pressed by an outside number KeysDelay after it answered
	// (how a callee confirms a wake-up call), with KeysGap between them.
	Keys      string        `json:"keys,omitempty" toml:"keys"`
	KeysDelay time.Duration `json:"-" toml:"-"`
	KeysGap   time.Duration `json:"-" toml:"-"`
}

// Config describes a simulated device. The zero value of each field means
// the default named in its comment; DefaultConfig fills them in.
type Config struct {
	// Model, Version, MAC answer Query DeviceInfo (default OM50, 2.1.5.112).
	Model, Version, MAC string
	// Trunk is the number incoming calls dial (default 60001).
	Trunk string
	// TrunkType is the Cdr Route of calls on the trunk: IP or XO (default IP).
	TrunkType string
	// Exts are the extensions (default 200–209); Operator (default 200)
	// takes incoming calls the app did not claim in time.
	Exts     []string
	Operator string
	// ExtPolicies says how each extension answers (default: after 1 s).
	ExtPolicies map[string]Policy
	// Groups are the groups configured on the device's web page, by id.
	Groups map[string][]string
	// Menus are the menus configured on the web page, by id (1–50). API
	// assignments override them until the device reboots.
	Menus map[int]MenuSettings
	// VoiceFiles maps each file the device holds to its duration; a zero
	// duration means FileDuration. Default: silence (1 s), user_digit_0…9,
	// the built-ins welcome, connect and busy, and DefaultPrompts.
	VoiceFiles map[string]time.Duration
	// FileDuration is the default length of a voice file (default 2 s).
	FileDuration time.Duration
	// ResponseTimeout is API_RESPONSE_TO: how long an INCOMING or INVITE
	// waits for a command before the device handles the call itself
	// (default 5 s).
	ResponseTimeout time.Duration
	// ControlBeforeAnswer makes incoming calls report INVITE (and INCOMING
	// once accepted) instead of INCOMING alone.
	ControlBeforeAnswer bool
	// KeysAfterEndOfAnn: a call parked in a menu after EndOfAnn still reports
	// keys (omapi.md assumption 1). Default true; set DropKeysAfterEndOfAnn
	// to model a device that proves the assumption wrong.
	DropKeysAfterEndOfAnn bool
	// Numbers says how outside numbers answer outbound calls; Outside is
	// the policy of any number not listed (default: answer after 2 s).
	Numbers map[string]Policy
	Outside Policy
	// NoAnswerTimeout is how long an unanswered outbound call rings before
	// the device gives up (default 30 s).
	NoAnswerTimeout time.Duration

	// ReportURL is where reports are pushed; empty keeps them in memory.
	ReportURL string
	// ReportMethod is GET (the OM's default, with the XML as body) or POST.
	ReportMethod string
	// ReportSecret signs reports when set.
	ReportSecret string
	// ReportTimeout bounds each report delivery (default 5 s).
	ReportTimeout time.Duration
	// CommandSecret, when set, lets commands from addresses outside
	// CommandAllow in if they carry a valid signature.
	CommandSecret string
	// CommandAllow lists the addresses commands are accepted from; empty
	// accepts any address (unless CommandSecret is set, which then
	// requires a signature from every address).
	CommandAllow []netip.Prefix
	// SignatureWindow is the validity of signatures (default 300 s).
	SignatureWindow time.Duration
	// Seed seeds the generator behind rate-based faults (default 1).
	Seed int64

	// Record lists the extensions whose calls the device records (an
	// extension's <record>on</record>): the Cdr of an answered call one of
	// them takes part in names a Recording, served at
	// GET /mcc/Recorder/<Recording>.
	Record []string
	// WebUser and WebPassword are the web account recordings are served to,
	// over HTTP Basic authentication (default admin / admin).
	WebUser, WebPassword string
	// RecordDir, when set, keeps the recordings as files there, as a device
	// keeps them on its storage: they survive a restart of the simulator's
	// process. Empty keeps them in memory (they still survive Reboot).
	RecordDir string
}

// MenuSettings are a voice menu's four settings (omapi.md §6).
type MenuSettings struct {
	VoiceFile  string `toml:"voicefile"`
	Repeat     int    `toml:"repeat"`     // 0 loops forever
	InfoLength int    `toml:"infolength"` // 0 means 1
	Exit       string `toml:"exit"`
}

// DefaultConfig returns the default device.
func DefaultConfig() Config {
	c := Config{}
	c.fill()
	return c
}

func (c *Config) fill() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defd := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Model, DefaultModel)
	def(&c.Version, DefaultVersion)
	def(&c.MAC, "00:0e:a9:00:00:01")
	def(&c.Trunk, DefaultTrunk)
	def(&c.TrunkType, "IP")
	def(&c.Operator, DefaultOperator)
	def(&c.ReportMethod, "GET")
	def(&c.WebUser, DefaultWebUser)
	def(&c.WebPassword, DefaultWebPassword)
	if len(c.Exts) == 0 {
		for i := 200; i <= 209; i++ {
			c.Exts = append(c.Exts, strconv.Itoa(i))
		}
	}
	defd(&c.FileDuration, DefaultFileDuration)
	defd(&c.ResponseTimeout, DefaultResponseTimeout)
	defd(&c.NoAnswerTimeout, DefaultNoAnswerTimeout)
	defd(&c.SignatureWindow, DefaultSignatureWindow)
	defd(&c.ReportTimeout, DefaultReportTimeout)
	if c.VoiceFiles == nil {
		c.VoiceFiles = DefaultVoiceFiles()
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
}

// DefaultVoiceFiles returns the voice files of a default device.
func DefaultVoiceFiles() map[string]time.Duration {
	files := map[string]time.Duration{
		"silence": DefaultSilenceDuration,
		"welcome": 0, "connect": 0, "busy": 0,
	}
	for d := 0; d <= 9; d++ {
		files["user_digit_"+strconv.Itoa(d)] = 0
	}
	for _, p := range DefaultPrompts {
		files[p] = 0
	}
	return files
}

// Validate checks the configuration and names the first bad field.
func (c *Config) Validate() error {
	if c.ReportMethod != "GET" && c.ReportMethod != "POST" {
		return fmt.Errorf("report_method: %q is neither GET nor POST", c.ReportMethod)
	}
	if c.TrunkType != "IP" && c.TrunkType != "XO" {
		return fmt.Errorf("trunk_type: %q is neither IP nor XO", c.TrunkType)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"file_duration", c.FileDuration}, {"response_timeout", c.ResponseTimeout},
		{"no_answer_timeout", c.NoAnswerTimeout}, {"signature_window", c.SignatureWindow},
		{"report_timeout", c.ReportTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s: %v is negative", d.field, d.v)
		}
	}
	seen := map[string]bool{}
	for _, e := range c.Exts {
		if e == "" {
			return fmt.Errorf("exts: an extension number is empty")
		}
		if seen[e] {
			return fmt.Errorf("exts: %s is listed twice", e)
		}
		seen[e] = true
	}
	if !seen[c.Operator] {
		return fmt.Errorf("operator: %s is not one of the extensions", c.Operator)
	}
	for _, e := range c.Record {
		if !seen[e] {
			return fmt.Errorf("record: %s is not one of the extensions", e)
		}
	}
	if strings.ContainsAny(c.WebUser, ":") {
		return fmt.Errorf("web_user: %q holds a ':', which Basic authentication cannot carry", c.WebUser)
	}
	for ext, p := range c.ExtPolicies {
		if !seen[ext] {
			return fmt.Errorf("ext_policies: %s is not one of the extensions", ext)
		}
		if err := p.validate(true); err != nil {
			return fmt.Errorf("ext_policies.%s: %w", ext, err)
		}
	}
	for id, members := range c.Groups {
		if n, err := strconv.Atoi(id); err != nil || n < 1 || n > 50 {
			return fmt.Errorf("groups: id %q is not in 1–50", id)
		}
		for _, m := range members {
			if !seen[m] {
				return fmt.Errorf("groups.%s: %s is not one of the extensions", id, m)
			}
		}
	}
	for id, m := range c.Menus {
		if id < 1 || id > 50 {
			return fmt.Errorf("menus: id %d is not in 1–50", id)
		}
		if m.Repeat < 0 || m.Repeat > 65535 {
			return fmt.Errorf("menus.%d.repeat: %d is not in 0–65535", id, m.Repeat)
		}
		if m.InfoLength < 0 || m.InfoLength > 255 {
			return fmt.Errorf("menus.%d.infolength: %d is not in 1–255", id, m.InfoLength)
		}
		if m.Exit != "" && (len(m.Exit) != 1 || !validKey(rune(m.Exit[0])) || m.Exit == "0") {
			return fmt.Errorf("menus.%d.exit: %q is not one of 1–9, A–D, * and #", id, m.Exit)
		}
		for _, f := range splitChain(m.VoiceFile) {
			if _, ok := c.VoiceFiles[f]; !ok {
				return fmt.Errorf("menus.%d.voicefile: %s is not one of the voice files", id, f)
			}
		}
	}
	for n, p := range c.Numbers {
		if err := p.validate(false); err != nil {
			return fmt.Errorf("numbers.%s: %w", n, err)
		}
	}
	if err := c.Outside.validate(false); err != nil {
		return fmt.Errorf("outside: %w", err)
	}
	for name, d := range c.VoiceFiles {
		if d < 0 {
			return fmt.Errorf("voice_files.%s: negative duration", name)
		}
	}
	return nil
}

func (p Policy) validate(ext bool) error {
	switch p.Answer {
	case "", AnswerAfter, AnswerBusy, AnswerNoAnswer, AnswerManual:
	case AnswerFail:
		if ext {
			return fmt.Errorf("answer: %q applies to outside numbers only", p.Answer)
		}
	case AnswerOffline:
		if !ext {
			return fmt.Errorf("answer: %q applies to extensions only", p.Answer)
		}
	default:
		return fmt.Errorf("answer: %q is not one of after, busy, no_answer, fail, manual, offline", p.Answer)
	}
	if p.Delay < 0 || p.KeysDelay < 0 || p.KeysGap < 0 {
		return fmt.Errorf("delay: negative duration")
	}
	for _, k := range p.Keys {
		if !validKey(k) {
			return fmt.Errorf("keys: %q is not a DTMF key", k)
		}
	}
	return nil
}

func validKey(k rune) bool {
	return (k >= '0' && k <= '9') || k == '*' || k == '#' || (k >= 'A' && k <= 'D')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
