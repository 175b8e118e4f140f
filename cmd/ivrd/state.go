package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// StateCommand is "ivrd state": shows and compacts the state file of a
// stopped daemon.
type StateCommand struct {
	main *Main
}

// stateLockTimeout is how long "ivrd state" waits for the state file
// before saying that a daemon holds it.
const stateLockTimeout = 200 * time.Millisecond

// DefaultHistoryList is how many ended calls "ivrd state history" lists.
const DefaultHistoryList = 20

const stateUsage = `Usage: ivrd state [-config ivrd.toml | -state FILE] <command>

Shows or compacts the state file of a stopped daemon: live calls with their
journals, and the history of ended calls. A running daemon holds the file;
stop it first.

Commands:

	ls              the live calls: device, leg, numbers, flow@version,
	                start, steps journaled and the last one
	show CALL       a call (live or ended): its record, journal and IVR path
	history [-n N]  the N most recent ended calls (default 20; 0 lists all)
	compact         rewrite the file without its free pages, through a
	                temporary file renamed over it

Without -config or -state the file is ./ivrd.toml's state, or ivrd.db.

Flags:
`

// stateFlags are the flags that name the state file; they are accepted
// before and after the subcommand.
type stateFlags struct {
	config string
	state  string
}

// register adds the flags to fs, keeping what earlier flag sets have set.
func (f *stateFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", f.config, "the configuration file whose state file to use (default ./ivrd.toml when it exists)")
	fs.StringVar(&f.state, "state", f.state, "the state file (default: the configuration's, or "+DefaultStatePath+")")
}

// path returns the state file the flags name.
func (f *stateFlags) path() (string, error) {
	switch {
	case f.config != "" && f.state != "":
		return "", errors.New("state: give -config or -state, not both")
	case f.state != "":
		return f.state, nil
	}
	config := f.config
	if config == "" {
		if _, err := os.Stat(DefaultConfigPath); err != nil {
			return DefaultStatePath, nil
		}
		config = DefaultConfigPath
	}
	cfg, err := ReadConfigFile(config)
	if err != nil {
		return "", err
	}
	return cfg.State, nil
}

// Run runs one state subcommand.
func (c *StateCommand) Run(ctx context.Context, args []string) error {
	var loc stateFlags
	fs := flag.NewFlagSet("ivrd state", flag.ContinueOnError)
	fs.SetOutput(c.main.Stderr)
	loc.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), stateUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("state: name a command: ls, show CALL, history or compact")
	}
	sub := fs.Arg(0)
	sfs := flag.NewFlagSet("ivrd state "+sub, flag.ContinueOnError)
	sfs.SetOutput(c.main.Stderr)
	loc.register(sfs)
	n := DefaultHistoryList
	want := 0 // positional arguments
	switch sub {
	case "ls", "compact":
	case "show":
		want = 1
	case "history":
		sfs.IntVar(&n, "n", DefaultHistoryList, "how many ended calls to list, newest first (0: all)")
	default:
		return fmt.Errorf("state: unknown command %q (ls, show CALL, history or compact)", sub)
	}
	if err := sfs.Parse(fs.Args()[1:]); err != nil {
		return err
	}
	if sfs.NArg() != want {
		if want == 1 {
			return errors.New("state: show needs one call id (ivrd state ls and ivrd state history list them)")
		}
		return fmt.Errorf("state %s: unexpected argument %q", sub, sfs.Arg(0))
	}
	if n < 0 {
		return fmt.Errorf("state history: -n %d is negative", n)
	}
	path, err := loc.path()
	if err != nil {
		return err
	}
	store, err := openState(path)
	if err != nil {
		return err
	}
	defer store.Close()
	out := c.main.Stdout
	switch sub {
	case "ls":
		return stateList(out, path, store)
	case "show":
		return stateShow(out, store, sfs.Arg(0))
	case "history":
		return stateHistory(out, path, store, n)
	default:
		return stateCompact(out, path, store)
	}
}

// openState opens an existing state file, failing at once when a daemon
// holds it.
func openState(path string) (*engine.BoltStore, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("state: there is no state file %s (-state FILE or -config ivrd.toml names another)", path)
		}
		return nil, fmt.Errorf("state: %w", err)
	}
	store, err := engine.OpenBolt(path, engine.BoltOptions{LockTimeout: stateLockTimeout})
	if errors.Is(err, engine.ErrStoreLocked) {
		return nil, fmt.Errorf("state: %s is held by another process, most likely a running \"ivrd serve\"; "+
			"\"ivrd state\" works on the file of a stopped daemon: stop the daemon and try again "+
			"(showing a running daemon's calls is for the admin API, not in this version yet)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return store, nil
}

// stateList prints one line per live call.
func stateList(out io.Writer, path string, store *engine.BoltStore) error {
	live, err := store.LiveCalls()
	if err != nil {
		return fmt.Errorf("state ls: %w", err)
	}
	if len(live) == 0 {
		fmt.Fprintf(out, "%s: no live calls\n", path)
		return nil
	}
	fmt.Fprintf(out, "%s: %d live %s\n", path, len(live), plural(len(live), "call", "calls"))
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CALL\tDEVICE\tLEG\tFROM → TO\tFLOW\tSTARTED\tSTEPS\tLAST STEP")
	for _, rec := range live {
		steps, err := store.Journal(rec.ID)
		if err != nil && !errors.Is(err, engine.ErrNoCall) {
			return fmt.Errorf("state ls: %w", err)
		}
		last := "-"
		if len(steps) > 0 {
			last = steps[len(steps)-1].Kind
		}
		fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s → %s\t%s\t%s\t%d\t%s\n", rec.ID, rec.Device, rec.Leg.Kind, rec.Leg.ID,
			rec.From, rec.To, flowVersion(rec), rec.Started.Format(time.RFC3339), len(steps), last)
	}
	return tw.Flush()
}

// stateShow prints a call's record, journal and IVR path.
func stateShow(out io.Writer, store *engine.BoltStore, id string) error {
	h, err := store.History(id)
	ended := err == nil
	if errors.Is(err, engine.ErrNoCall) {
		live, lerr := store.LiveCalls()
		if lerr != nil {
			return fmt.Errorf("state show: %w", lerr)
		}
		for _, rec := range live {
			if rec.ID == id {
				h, err = engine.HistoryEntry{CallRecord: rec}, nil
			}
		}
		if err != nil {
			return fmt.Errorf("state show: no call %q in the state file, live or ended (ivrd state ls and ivrd state history list them)", id)
		}
	} else if err != nil {
		return fmt.Errorf("state show: %w", err)
	}
	steps, err := store.Journal(id)
	if err != nil && !errors.Is(err, engine.ErrNoCall) {
		return fmt.Errorf("state show: %w", err)
	}

	state := "live"
	if ended {
		state = "ended"
	}
	fmt.Fprintf(out, "call %s (%s)\n", h.ID, state)
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	field := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{name}, args...)...)
	}
	field("device", "%s", h.Device)
	field("leg", "%s %s", h.Leg.Kind, h.Leg.ID)
	field("from → to", "%s → %s", h.From, h.To)
	if h.CallID != "" {
		field("om callid", "%s", h.CallID)
	}
	if h.Direction != "" {
		field("direction", "%s", h.Direction)
	}
	field("flow", "%s", flowVersion(h.CallRecord))
	field("started", "%s", h.Started.Format(timeMillis))
	if ended {
		field("ended", "%s (after %s)", h.Ended.Format(timeMillis), callDuration(h))
		field("outcome", "%s", outcomeText(h.Outcome, h.Target))
		if c := h.Cdr; c != nil {
			field("om cdr", "id %s, %s, %s → %s, %s – %s, %d s", c.ID, c.Type, c.CPN, c.CDPN, c.TimeStart, c.TimeEnd, c.Duration)
			if c.Recording != "" {
				field("recording", "%s", c.Recording)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// A live call's path is what its journaled steps added; an ended
	// call's is in its history entry, with what came after the last step.
	var path []engine.PathEntry
	fmt.Fprintf(out, "\njournal: %d %s (arguments and results as the flow saw them)\n", len(steps), plural(len(steps), "step", "steps"))
	for _, st := range steps {
		line := fmt.Sprintf("  %4d  %s  %-12s %s", st.Seq, st.At.Format("15:04:05.000"), st.Kind, compactJSON(st.Args))
		res, err := st.DecodeResult()
		switch {
		case err != nil:
			line += "  → " + compactJSON(st.Result)
		default:
			if len(res.R) > 0 {
				line += "  → " + compactJSON(res.R)
			}
			if res.Outcome != "" {
				line += "  [" + outcomeText(res.Outcome, res.Target) + "]"
			}
			path = append(path, res.Path...)
		}
		if !st.Deadline.IsZero() {
			line += "  deadline " + st.Deadline.Format("15:04:05.000")
		}
		if len(st.Vars) > 0 {
			line += "  vars " + compactJSON(st.Vars)
		}
		fmt.Fprintln(out, strings.TrimRight(line, " "))
	}
	if ended {
		path = h.Path
	}
	fmt.Fprintf(out, "\npath: %d %s\n", len(path), plural(len(path), "entry", "entries"))
	for _, p := range path {
		fmt.Fprintln(out, strings.TrimRight(fmt.Sprintf("  %s  %-15s %s", p.At.Format("15:04:05.000"), p.Kind, p.Value), " "))
	}
	return nil
}

// stateHistory lists the n most recent ended calls (all for 0).
func stateHistory(out io.Writer, path string, store *engine.BoltStore, n int) error {
	hist, err := store.ListHistory(n)
	if err != nil {
		return fmt.Errorf("state history: %w", err)
	}
	if len(hist) == 0 {
		fmt.Fprintf(out, "%s: no ended calls\n", path)
		return nil
	}
	if n > 0 && len(hist) == n {
		fmt.Fprintf(out, "%s: the %d most recent ended %s, newest first (-n 0 lists all)\n", path, n, plural(n, "call", "calls"))
	} else {
		fmt.Fprintf(out, "%s: %d ended %s, newest first\n", path, len(hist), plural(len(hist), "call", "calls"))
	}
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDED\tCALL\tDEVICE\tFROM → TO\tFLOW\tOUTCOME\tTARGET\tDURATION\tSTEPS")
	for _, h := range hist {
		target := h.Target
		if target == "" {
			target = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s → %s\t%s\t%s\t%s\t%s\t%d\n", h.Ended.Format(time.RFC3339), h.ID, h.Device,
			h.From, h.To, flowVersion(h.CallRecord), h.Outcome, target, callDuration(h), h.Steps)
	}
	return tw.Flush()
}

// stateCompact writes a compacted copy beside the state file and renames
// it over the original. The original stays open, and so locked, until the
// rename is done, so that no daemon starts on it in between.
func stateCompact(out io.Writer, path string, store *engine.BoltStore) error {
	before, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("state compact: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".compact-*")
	if err != nil {
		return fmt.Errorf("state compact: %w", err)
	}
	tmpPath := tmp.Name()
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmpPath)
		}
	}()
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state compact: %w", err)
	}
	// The daemon must be able to open the new file as it did the old.
	if err := os.Chmod(tmpPath, before.Mode().Perm()); err != nil {
		return fmt.Errorf("state compact: %w", err)
	}
	if err := copyOwner(tmpPath, before); err != nil {
		return fmt.Errorf("state compact: the compacted file cannot have the owner of %s: %w", path, err)
	}
	if err := store.CompactTo(tmpPath); err != nil {
		return fmt.Errorf("state compact: %w", err)
	}
	if err := os.Rename(tmpPath, path); err != nil {
		return fmt.Errorf("state compact: %w", err)
	}
	renamed = true
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		// Make the rename durable.
		dir.Sync()
		dir.Close()
	}
	after, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("state compact: %w", err)
	}
	fmt.Fprintf(out, "%s compacted: %s → %s\n", path, byteSize(before.Size()), byteSize(after.Size()))
	return nil
}

// timeMillis is how "ivrd state show" writes a call's start and end.
const timeMillis = "2006-01-02T15:04:05.000Z07:00"

func flowVersion(rec engine.CallRecord) string {
	hash := rec.FlowHash
	if len(hash) > 12 {
		hash = hash[:12]
	}
	if hash == "" {
		return rec.Flow
	}
	return rec.Flow + "@" + hash
}

func outcomeText(outcome, target string) string {
	if target == "" {
		return outcome
	}
	return outcome + " → " + target
}

func callDuration(h engine.HistoryEntry) time.Duration {
	return h.Ended.Sub(h.Started).Round(100 * time.Millisecond)
}

// compactJSON shows a journaled value on one line; "-" when there is none.
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "-"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// byteSize shows a file size in bytes, KiB or MiB.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
