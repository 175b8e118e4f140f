package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ivrd/ivrd/internal/scenario"
)

// TestCommand is "ivrd test": runs flow scenario tests against the
// simulator on a virtual clock.
type TestCommand struct {
	main *Main
}

// errTestFailed is returned when a scenario failed or a suite did not
// load; the details are printed.
var errTestFailed = errors.New("test failed")

// Run finds the suites under the folders named (default "."), runs their
// scenarios and prints a line per failure with its transcript, a line per
// suite and a summary. It returns errTestFailed (exit status 1) when any
// scenario failed or any suite did not load.
func (c *TestCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ivrd test", flag.ContinueOnError)
	fs.SetOutput(c.main.Stderr)
	verbose := fs.Bool("v", false, "print every scenario's transcript, not only the failures'")
	run := fs.String("run", "", "run only the scenarios whose name matches this regular expression")
	parallel := fs.Int("parallel", 0, "how many scenarios run at once (default: the number of CPUs)")
	trace := fs.Bool("trace", false, "with each transcript printed, print the simulated OM's log: every command it received, report it sent and prompt it played")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ivrd test [-v] [-trace] [-run regexp] [dir ...]\n\n"+
			"Runs the scenario tests of each folder: its flows (*.lua, or flows/*.lua) and\n"+
			"scenario files (*%s, or scenarios/*.toml), on a simulated OM and a\n"+
			"virtual clock. A folder without scenario files is searched for folders that\n"+
			"have some, so \"ivrd test examples\" runs every example. The format is described\n"+
			"in examples/README.md.\n\nFlags:\n", scenario.ScenarioSuffix)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var match func(*scenario.Scenario) bool
	if *run != "" {
		re, err := regexp.Compile(*run)
		if err != nil {
			return fmt.Errorf("test: -run: %v", err)
		}
		match = func(sc *scenario.Scenario) bool { return re.MatchString(sc.Name) }
	}
	dirs := fs.Args()
	if len(dirs) == 0 {
		dirs = []string{"."}
	}
	var suites []string
	for _, d := range dirs {
		d = strings.TrimSuffix(filepath.ToSlash(d), "/...")
		found, err := scenario.FindSuites(filepath.FromSlash(d))
		if err != nil {
			return fmt.Errorf("test: %w", err)
		}
		if len(found) == 0 {
			return fmt.Errorf("test: no scenario files (*%s, or scenarios/*.toml) in or under %s", scenario.ScenarioSuffix, d)
		}
		suites = append(suites, found...)
	}

	out := c.main.Stdout
	began := time.Now()
	var total, failed, broken, ran int
	var virtual time.Duration
	for _, dir := range suites {
		if ctx.Err() != nil {
			break
		}
		suite, err := scenario.Load(dir)
		if err != nil {
			broken++
			fmt.Fprintf(out, "FAIL %s: the suite does not load\n", dir)
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintf(out, "    %s\n", line)
			}
			continue
		}
		suiteBegan := time.Now()
		results := suite.Run(ctx, scenario.Options{Parallel: *parallel, Match: match, Trace: *trace})
		var suiteFailed int
		var suiteVirtual time.Duration
		for _, res := range results {
			suiteVirtual += res.Virtual
			if !res.Passed() {
				suiteFailed++
				fmt.Fprintf(out, "--- FAIL %s (%s of calls)\n", res.Title(), shortDuration(res.Virtual))
				res.WriteFailures(out, "    ")
				fmt.Fprintln(out)
				res.WriteTranscript(out, "    ")
				res.WriteTrace(out, "    ")
				fmt.Fprintln(out)
			} else if *verbose {
				fmt.Fprintf(out, "--- ok   %s (%s of calls)\n", res.Title(), shortDuration(res.Virtual))
				res.WriteTranscript(out, "    ")
				res.WriteTrace(out, "    ")
				fmt.Fprintln(out)
			}
		}
		total += len(results)
		failed += suiteFailed
		virtual += suiteVirtual
		if len(results) > 0 {
			ran++
		}
		status := "ok  "
		if suiteFailed > 0 {
			status = "FAIL"
		}
		fmt.Fprintf(out, "%s %s: %s, %s of calls in %s\n", status, dir, countText(len(results)-suiteFailed, len(results)),
			shortDuration(suiteVirtual), time.Since(suiteBegan).Round(time.Millisecond))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	summary := fmt.Sprintf("%s in %s, %s of calls in %s", count(total, "scenario"), count(len(suites), "folder"),
		shortDuration(virtual), time.Since(began).Round(time.Millisecond))
	if failed > 0 || broken > 0 {
		var what []string
		if failed > 0 {
			what = append(what, fmt.Sprintf("%d of %d scenarios failed", failed, total))
		}
		if broken > 0 {
			what = append(what, fmt.Sprintf("%s did not load", count(broken, "folder")))
		}
		fmt.Fprintf(out, "FAIL: %s (%s)\n", strings.Join(what, ", "), summary)
		return errTestFailed
	}
	if total == 0 {
		fmt.Fprintf(out, "no scenario matched -run %q\n", *run)
		return errTestFailed
	}
	fmt.Fprintf(out, "PASS: %s\n", summary)
	return nil
}

// count writes "1 folder", "2 folders".
func count(n int, noun string) string {
	return fmt.Sprintf("%d %s", n, plural(n, noun, noun+"s"))
}

// countText says how many of n passed.
func countText(passed, n int) string {
	if passed == n {
		if n == 1 {
			return "1 scenario passed"
		}
		return fmt.Sprintf("%d scenarios passed", n)
	}
	return fmt.Sprintf("%d of %d scenarios passed", passed, n)
}

// shortDuration writes a virtual duration plainly: 42s, 3m05s, 7h00m.
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", d/time.Minute, (d%time.Minute)/time.Second)
	}
	return fmt.Sprintf("%dh%02dm", d/time.Hour, (d%time.Hour)/time.Minute)
}
