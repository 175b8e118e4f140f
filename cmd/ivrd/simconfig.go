package main

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/ivrd/ivrd/omproto/omsim"
)

// simFile is the simulator's configuration file (sim.toml). Every field is
// optional; what is left out keeps the default device of omsim.
type simFile struct {
	Model                 string                `toml:"model"`
	Version               string                `toml:"version"`
	Trunk                 string                `toml:"trunk"`
	TrunkType             string                `toml:"trunk_type"`
	Operator              string                `toml:"operator"`
	Exts                  []string              `toml:"exts"`
	FileDuration          string                `toml:"file_duration"`
	ResponseTimeout       string                `toml:"response_timeout"`
	NoAnswerTimeout       string                `toml:"no_answer_timeout"`
	ControlBeforeAnswer   bool                  `toml:"control_before_answer"`
	DropKeysAfterEndOfAnn bool                  `toml:"drop_keys_after_end_of_ann"`
	ReportURL             string                `toml:"report_url"`
	ReportMethod          string                `toml:"report_method"`
	ReportSecret          string                `toml:"report_secret"`
	CommandSecret         string                `toml:"command_secret"`
	CommandAllow          []string              `toml:"command_allow"`
	SignatureWindow       string                `toml:"signature_window"`
	VoiceFiles            map[string]string     `toml:"voice_files"`
	Ext                   map[string]policyTOML `toml:"ext"`
	Number                map[string]policyTOML `toml:"number"`
	Outside               *policyTOML           `toml:"outside"`
	Group                 map[string]groupTOML  `toml:"group"`
	Menu                  map[string]menuTOML   `toml:"menu"`
	Record                []string              `toml:"record"`
	WebUser               string                `toml:"web_user"`
	WebPassword           string                `toml:"web_password"`
	RecordDir             string                `toml:"record_dir"`
}

type policyTOML struct {
	Answer    string `toml:"answer"`
	Delay     string `toml:"delay"`
	Keys      string `toml:"keys"`
	KeysDelay string `toml:"keys_delay"`
	KeysGap   string `toml:"keys_gap"`
}

type groupTOML struct {
	Exts []string `toml:"exts"`
}

type menuTOML struct {
	VoiceFile  string `toml:"voicefile"`
	Repeat     int    `toml:"repeat"`
	InfoLength int    `toml:"infolength"`
	Exit       string `toml:"exit"`
}

// parseSimConfig reads a sim.toml over the default device. Unknown keys and
// bad values are errors naming the field.
func parseSimConfig(r io.Reader) (omsim.Config, error) {
	cfg := omsim.DefaultConfig()
	var f simFile
	md, err := toml.NewDecoder(r).Decode(&f)
	if err != nil {
		return cfg, fmt.Errorf("sim config: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return cfg, fmt.Errorf("sim config: unknown field %s", strings.Join(keys, ", "))
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Model, f.Model)
	set(&cfg.Version, f.Version)
	set(&cfg.Trunk, f.Trunk)
	set(&cfg.TrunkType, f.TrunkType)
	set(&cfg.Operator, f.Operator)
	set(&cfg.ReportURL, f.ReportURL)
	set(&cfg.ReportMethod, strings.ToUpper(f.ReportMethod))
	set(&cfg.ReportSecret, f.ReportSecret)
	set(&cfg.CommandSecret, f.CommandSecret)
	set(&cfg.WebUser, f.WebUser)
	set(&cfg.WebPassword, f.WebPassword)
	set(&cfg.RecordDir, f.RecordDir)
	cfg.Record = f.Record
	if len(f.Exts) > 0 {
		cfg.Exts = f.Exts
	}
	cfg.ControlBeforeAnswer = f.ControlBeforeAnswer
	cfg.DropKeysAfterEndOfAnn = f.DropKeysAfterEndOfAnn
	durations := []struct {
		field string
		value string
		dst   *time.Duration
	}{
		{"file_duration", f.FileDuration, &cfg.FileDuration},
		{"response_timeout", f.ResponseTimeout, &cfg.ResponseTimeout},
		{"no_answer_timeout", f.NoAnswerTimeout, &cfg.NoAnswerTimeout},
		{"signature_window", f.SignatureWindow, &cfg.SignatureWindow},
	}
	for _, d := range durations {
		if err := parseDuration(d.field, d.value, d.dst); err != nil {
			return cfg, err
		}
	}
	for i, a := range f.CommandAllow {
		p, err := parsePrefix(a)
		if err != nil {
			return cfg, fmt.Errorf("sim config: command_allow[%d]: %v", i, err)
		}
		cfg.CommandAllow = append(cfg.CommandAllow, p)
	}
	for _, name := range sortedNames(f.VoiceFiles) {
		var d time.Duration
		if err := parseDuration("voice_files."+name, f.VoiceFiles[name], &d); err != nil {
			return cfg, err
		}
		cfg.VoiceFiles[name] = d
	}
	var err2 error
	if cfg.ExtPolicies, err2 = policies("ext", f.Ext); err2 != nil {
		return cfg, err2
	}
	if cfg.Numbers, err2 = policies("number", f.Number); err2 != nil {
		return cfg, err2
	}
	if f.Outside != nil {
		if cfg.Outside, err2 = f.Outside.policy("outside"); err2 != nil {
			return cfg, err2
		}
	}
	if len(f.Group) > 0 {
		cfg.Groups = map[string][]string{}
		for id, g := range f.Group {
			cfg.Groups[id] = g.Exts
		}
	}
	if len(f.Menu) > 0 {
		cfg.Menus = map[int]omsim.MenuSettings{}
		for id, m := range f.Menu {
			n, err := strconv.Atoi(id)
			if err != nil {
				return cfg, fmt.Errorf("sim config: menu.%s: the menu id must be a number 1–50", id)
			}
			cfg.Menus[n] = omsim.MenuSettings{VoiceFile: m.VoiceFile, Repeat: m.Repeat, InfoLength: m.InfoLength, Exit: m.Exit}
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("sim config: %w", err)
	}
	return cfg, nil
}

func parseDuration(field, v string, dst *time.Duration) error {
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("sim config: %s: %q is not a duration like \"2s\" or \"500ms\"", field, v)
	}
	*dst = d
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func policies(section string, in map[string]policyTOML) (map[string]omsim.Policy, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := map[string]omsim.Policy{}
	for _, k := range sortedNames(in) {
		p, err := in[k].policy(section + "." + k)
		if err != nil {
			return nil, err
		}
		out[k] = p
	}
	return out, nil
}

func (p policyTOML) policy(field string) (omsim.Policy, error) {
	out := omsim.Policy{Answer: p.Answer, Keys: p.Keys}
	for _, d := range []struct {
		name string
		v    string
		dst  *time.Duration
	}{{"delay", p.Delay, &out.Delay}, {"keys_delay", p.KeysDelay, &out.KeysDelay}, {"keys_gap", p.KeysGap, &out.KeysGap}} {
		if err := parseDuration(field+"."+d.name, d.v, d.dst); err != nil {
			return out, err
		}
	}
	return out, nil
}

func sortedNames[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
