package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ivrd/ivrd/examples"
	"github.com/ivrd/ivrd/internal/scenario"
)

// DefaultExamplesDir is where "ivrd demo" looks for the examples before
// falling back to the copy built into the binary.
const DefaultExamplesDir = "examples"

// demoExamples are the use cases "ivrd demo" shows after its live calls:
// one scenario of each example, run on a simulated OM of its own in
// virtual time.
var demoExamples = []struct {
	title, dir, scenario string
}{
	{"a hotel menu", "menu", "the restaurant is busy; the caller takes the operator"},
	{"a satisfaction survey", "survey", "a guest answers every question"},
	{"a wake-up call", "wakeup", "a guest books 07:00 in the evening and confirms in the morning"},
	{"a verification code", "verify", "busy at first, answered on the second attempt 30 s later"},
}

// playDemoExamples runs one scenario of each example and prints its
// transcript. The examples are read from ./examples when it holds them
// (the demo is run from the repository), else from the copy built into
// ivrd.
func playDemoExamples(ctx context.Context, out io.Writer) error {
	fsys, where := examples.FS(), "the copy built into ivrd"
	if scenario.IsSuite(filepath.Join(DefaultExamplesDir, demoExamples[0].dir)) {
		fsys, where = os.DirFS(DefaultExamplesDir), "./"+DefaultExamplesDir
	}
	fmt.Fprintf(out, "\nThe four use cases of examples/ (%s), each on a simulated OM of its own in\n"+
		"virtual time, so a night of wake-up calls takes milliseconds. \"ivrd test -v examples\"\n"+
		"runs all their scenarios; each example's README says how to deploy it.\n", where)
	for i, ex := range demoExamples {
		sub, err := fs.Sub(fsys, ex.dir)
		if err != nil {
			return err
		}
		suite, err := scenario.LoadFS(sub, filepath.Join(DefaultExamplesDir, ex.dir))
		if err != nil {
			return fmt.Errorf("examples/%s: %w", ex.dir, err)
		}
		var sc *scenario.Scenario
		for _, s := range suite.Scenarios {
			if s.Name == ex.scenario {
				sc = s
			}
		}
		if sc == nil {
			return fmt.Errorf("examples/%s: no scenario %q", ex.dir, ex.scenario)
		}
		res := suite.RunScenario(ctx, sc)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(out, "\n── Use case %d, %s: %s ──\n", i+1, ex.title, sc.Name)
		res.WriteTranscriptTexts(out, "   ", demoPrompts)
		if !res.Passed() {
			fmt.Fprintf(out, "   (!) the scenario did not go as its file expects:\n")
			res.WriteFailures(out, "       ")
		}
	}
	return nil
}
