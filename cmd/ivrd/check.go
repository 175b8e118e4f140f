package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
)

// CheckCommand is "ivrd check": compiles every flow and checks the voice
// files they name against the devices.
type CheckCommand struct {
	main *Main
}

// errCheckFailed is returned when check found problems; they are printed.
var errCheckFailed = errors.New("check failed")

// Run runs the check and returns errCheckFailed (exit status 1) when a flow
// does not load, a route names no flow, a device cannot be asked, or a
// voice file a flow names is missing on a device.
func (c *CheckCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ivrd check", flag.ContinueOnError)
	fs.SetOutput(c.main.Stderr)
	configPath := fs.String("config", "", "the configuration file (default: ./ivrd.toml when it exists; without one only the flows are checked)")
	flowsDir := fs.String("flows", "", "the flows folder (default: the configuration's flows, or ./flows)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ivrd check [-config ivrd.toml] [-flows dir]\n\n"+
			"Compiles every flow, checks that each route's flow exists, and asks each device\n"+
			"for its voice files to report those the flows name but the device lacks.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("check: unexpected argument %q", fs.Arg(0))
	}
	var cfg *Config
	path := *configPath
	if path == "" {
		if _, err := os.Stat(DefaultConfigPath); err == nil {
			path = DefaultConfigPath
		}
	}
	if path != "" {
		cf, err := ReadConfigFile(path)
		if err != nil {
			return err
		}
		cfg = &cf
	}
	dir := *flowsDir
	if dir == "" {
		dir = DefaultFlowsDir
		if cfg != nil {
			dir = cfg.Flows
		}
	}
	ch := &checker{out: c.main.Stdout, dir: dir, cfg: cfg, configPath: path}
	return ch.run(ctx)
}

// checker does one "ivrd check".
type checker struct {
	out        io.Writer
	dir        string
	cfg        *Config
	configPath string

	problems int
	// onDevice holds the voice files of each device that listed them.
	onDevice map[string]map[string]bool
}

func (ch *checker) problem(format string, args ...any) {
	ch.problems++
	fmt.Fprintf(ch.out, "  FAIL  "+format+"\n", args...)
}

// flowRefs is what check learned of one flow file.
type flowRefs struct {
	file      string
	refs      []voiceRef
	sayDigits bool
}

func (ch *checker) run(ctx context.Context) error {
	fmt.Fprintf(ch.out, "Flows in %s:\n", ch.dir)
	entries, err := os.ReadDir(ch.dir)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	loaded := map[string]bool{}
	var flows []flowRefs
	for _, e := range entries {
		if e.IsDir() || !engine.IsFlowFile(e.Name()) {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ".lua")
		file := filepath.Join(ch.dir, e.Name())
		src, err := os.ReadFile(file)
		if err != nil {
			ch.problem("%s: %v", file, err)
			continue
		}
		fr := flowRefs{file: file, refs: voiceFilesIn(src), sayDigits: strings.Contains(string(src), "say_digits")}
		flows = append(flows, fr)
		f, err := engine.CompileFlow(name, file, src)
		if err == nil {
			err = engine.CheckFlow(f)
		}
		if err != nil {
			// Some parse errors come on several lines with padding.
			ch.problem("%s", strings.Join(strings.Fields(err.Error()), " "))
			continue
		}
		loaded[name] = true
		fmt.Fprintf(ch.out, "  ok    %s (%s@%s, %d voice files named)\n", file, name, f.ShortHash(), len(uniqueNames(fr.refs)))
	}
	if len(flows) == 0 {
		fmt.Fprintf(ch.out, "  (no flows: files NAME.lua)\n")
	}

	if ch.cfg == nil {
		fmt.Fprintf(ch.out, "No configuration (-config ivrd.toml): routes and the devices' voice files not checked.\n")
		return ch.result()
	}
	fmt.Fprintf(ch.out, "Routes in %s:\n", ch.configPath)
	for i, rt := range ch.cfg.Routes {
		if !loaded[rt.Flow] {
			ch.problem("%s: route[%d].flow: no flow %q loads from %s", ch.configPath, i, rt.Flow, ch.dir)
			continue
		}
		fmt.Fprintf(ch.out, "  ok    route[%d] %s → %s\n", i, describeRoute(rt), rt.Flow)
	}
	for i := range ch.cfg.Devices {
		ch.device(ctx, &ch.cfg.Devices[i], flows)
	}
	ch.promptTexts(flows)
	return ch.result()
}

// device asks one device for its voice files and reports those missing.
func (ch *checker) device(ctx context.Context, dc *DeviceConfig, flows []flowRefs) {
	fmt.Fprintf(ch.out, "Voice files on device %s (%s):\n", dc.Name, dc.URL)
	client := deviceClient(dc, hclog.NewNullLogger())
	timeout, _ := parseDurationField("command_timeout", dc.CommandTimeout)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	names, err := client.VoiceFiles(cctx)
	cancel()
	if err != nil {
		ch.problem("device %s: cannot list its voice files: %v", dc.Name, err)
		return
	}
	has := map[string]bool{}
	for _, n := range names {
		has[n] = true
	}
	if ch.onDevice == nil {
		ch.onDevice = map[string]map[string]bool{}
	}
	ch.onDevice[dc.Name] = has
	missing := 0
	for _, fr := range flows {
		for _, r := range fr.refs {
			if !has[r.Name] {
				missing++
				ch.problem("%s:%d: voice file %q is not on device %s", fr.file, r.Line, r.Name, dc.Name)
			}
		}
	}
	// The device's own files, when something will play them.
	own := map[string]string{}
	if dc.Wait == engine.WaitSilence {
		own[dc.SilenceFile] = "silence_file"
	}
	for _, fr := range flows {
		if fr.sayDigits {
			ed := dc.engineDevice()
			fillDigitFiles(ed)
			for i, f := range ed.DigitFiles {
				own[f] = fmt.Sprintf("digit_files[%d]", i)
			}
			break
		}
	}
	if ch.cfg != nil && ch.cfg.Lists.BlockPrompt != "" {
		for _, f := range strings.Split(ch.cfg.Lists.BlockPrompt, "+") {
			own[f] = "lists.block_prompt"
		}
	}
	for _, f := range sortedNames(own) {
		if !has[f] {
			missing++
			ch.problem("%s: device %s: %s: voice file %q is not on the device", ch.configPath, dc.Name, own[f], f)
		}
	}
	if missing == 0 {
		fmt.Fprintf(ch.out, "  ok    every voice file the flows name is there (%d on the device)\n", len(names))
	}
}

// fillDigitFiles gives a device the engine's default digit files where its
// configuration names none.
func fillDigitFiles(d *engine.Device) {
	for i := range d.DigitFiles {
		if d.DigitFiles[i] == "" {
			d.DigitFiles[i] = fmt.Sprintf("user_digit_%d", i)
		}
	}
}

func (ch *checker) result() error {
	if ch.problems > 0 {
		fmt.Fprintf(ch.out, "%d problem(s).\n", ch.problems)
		return fmt.Errorf("%w: %d problem(s)", errCheckFailed, ch.problems)
	}
	fmt.Fprintf(ch.out, "All good.\n")
	return nil
}

// describeRoute shows a route's patterns, those that are set.
func describeRoute(rt RouteConfig) string {
	var parts []string
	for _, p := range []struct{ k, v string }{{"device", rt.Device}, {"to", rt.To}, {"from", rt.From}} {
		if p.v != "" {
			parts = append(parts, fmt.Sprintf("%s=%q", p.k, p.v))
		}
	}
	if len(parts) == 0 {
		return "(every call)"
	}
	return strings.Join(parts, " ")
}

func uniqueNames(refs []voiceRef) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range refs {
		if !seen[r.Name] {
			seen[r.Name] = true
			out = append(out, r.Name)
		}
	}
	sort.Strings(out)
	return out
}
