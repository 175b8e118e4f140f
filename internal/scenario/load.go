package scenario

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ivrd/ivrd/engine"
)

// Suite is a folder's flows and the scenarios written for them.
type Suite struct {
	// Dir is the folder, as given to Load.
	Dir string
	// Flows are the folder's flows, compiled, by name.
	Flows engine.Flows
	// Scenarios are every scenario of every file, files in name order.
	Scenarios []*Scenario
}

// ScenarioSuffix ends the name of a scenario file beside the flows; files
// in a scenarios/ subfolder need only end in .toml.
const ScenarioSuffix = ".scenario.toml"

// IsSuite reports whether dir holds scenario files.
func IsSuite(dir string) bool {
	files, _ := scenarioFiles(os.DirFS(dir))
	return len(files) > 0
}

// FindSuites returns dir, when it is a suite, or else every folder under it
// that is one, in name order. Hidden folders and the flows/ and scenarios/
// subfolders of a suite are not searched.
func FindSuites(dir string) ([]string, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if p != dir && (strings.HasPrefix(name, ".") || name == "flows" || name == "scenarios" || name == "testdata") {
			return filepath.SkipDir
		}
		if IsSuite(p) {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// scenarioFiles lists a suite's scenario files, relative to its root:
// *.scenario.toml, then scenarios/*.toml.
func scenarioFiles(fsys fs.FS) ([]string, error) {
	top, err := fs.Glob(fsys, "*"+ScenarioSuffix)
	if err != nil {
		return nil, err
	}
	sub, err := fs.Glob(fsys, "scenarios/*.toml")
	if err != nil {
		return nil, err
	}
	sort.Strings(top)
	sort.Strings(sub)
	return append(top, sub...), nil
}

// flowFiles lists a suite's flow files by flow name, relative to its
// root: *.lua and flows/*.lua. The same name in both is an error.
func flowFiles(fsys fs.FS, root string) (map[string]string, error) {
	out := map[string]string{}
	for _, d := range []string{".", "flows"} {
		entries, err := fs.ReadDir(fsys, d)
		if errors.Is(err, fs.ErrNotExist) && d != "." {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() || !engine.IsFlowFile(e.Name()) {
				continue
			}
			name := strings.TrimSuffix(e.Name(), ".lua")
			p := path.Join(d, e.Name())
			if prev, ok := out[name]; ok {
				return nil, fmt.Errorf("%s: flow %q is also %s; keep one", display(root, p), name, display(root, prev))
			}
			out[name] = p
		}
	}
	return out, nil
}

// display is how messages name a file of a suite.
func display(root, rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }

// Load reads the suite in dir: it compiles and checks every flow, and reads
// every scenario file. The error lists every problem found, each as
// file:line: what.
func Load(dir string) (*Suite, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	return LoadFS(os.DirFS(dir), dir)
}

// LoadFS reads a suite from fsys, naming its files root/… in flows'
// errors and logs and in scenario messages ("examples/menu/menu.lua:12").
func LoadFS(fsys fs.FS, root string) (*Suite, error) {
	paths, err := flowFiles(fsys, root)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no flows (*.lua, here or in flows/)", root)
	}
	s := &Suite{Dir: root, Flows: engine.Flows{}}
	var errs []error
	names := map[string]bool{}
	for _, name := range sortedKeys(paths) {
		p := paths[name]
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f, err := engine.CompileFlow(name, display(root, p), src)
		if err == nil {
			err = engine.CheckFlow(f)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Flows[name] = f
	}
	// Scenarios naming a flow that failed to compile should say so, not
	// that the flow is missing.
	for name := range paths {
		names[name] = true
	}
	defaultFlow := ""
	switch {
	case len(paths) == 1:
		for name := range paths {
			defaultFlow = name
		}
	case paths["main"] != "":
		defaultFlow = "main"
	}
	files, err := scenarioFiles(fsys)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		errs = append(errs, fmt.Errorf("%s: no scenario files (*%s, or scenarios/*.toml)", root, ScenarioSuffix))
	}
	for _, p := range files {
		text, err := fs.ReadFile(fsys, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		scs, err := parseFile(display(root, p), text, names, defaultFlow)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Scenarios = append(s.Scenarios, scs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}
