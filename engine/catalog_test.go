package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// testDebounce keeps the watch tests quick; a burst of writes still lands
// well inside it.
const testDebounce = 20 * time.Millisecond

// flowVersion is a valid flow whose source, and so hash, differs per tag.
func flowVersion(tag string) string {
	return fmt.Sprintf(`-- version %s
local flow = {}
function flow.incoming(call)
  call:play("user_welcome")
end
return flow
`, tag)
}

// brokenAtLine3 does not compile: line 3 has a syntax error.
const brokenAtLine3 = `local flow = {}
function flow.incoming(call)
  call:play("user_welcome" "user_bye")
end
return flow
`

func hashOf(src string) string {
	sum := sha256.Sum256([]byte(src))
	return hex.EncodeToString(sum[:])
}

// flowDir makes a folder holding files (name → content).
func flowDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		writeFile(t, dir, name, src)
	}
	return dir
}

// writeFile writes a file in place, as an editor without safe-write does.
func writeFile(t *testing.T, dir, name, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// saveByRename writes a temporary file and renames it over name, as most
// editors and deploy tools save.
func saveByRename(t *testing.T, dir, name, src string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func openCatalog(t *testing.T, dir string) (*engine.Catalog, *logSink) {
	t.Helper()
	logs := &logSink{}
	c, err := engine.OpenCatalog(dir, engine.CatalogOptions{
		Debounce: testDebounce,
		Logger:   hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
	})
	if err != nil {
		t.Fatalf("OpenCatalog: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, logs
}

// watch runs c.Watch until the test ends and returns once the watch is in
// place (Watch rescans once it is).
func watch(t *testing.T, c *engine.Catalog) {
	t.Helper()
	before := c.Rescans()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after its context ended")
		}
	})
	waitFor(t, "the watch to start", func() bool {
		select {
		case err := <-errc:
			t.Fatalf("Watch: %v", err)
		default:
		}
		return c.Rescans() > before
	})
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func flowNames(c *engine.Catalog) []string {
	var names []string
	for _, f := range c.Flows() {
		names = append(names, f.Name)
	}
	return names
}

func mustFlow(t *testing.T, c *engine.Catalog, name string) *engine.Flow {
	t.Helper()
	f, ok := c.Flow(name)
	if !ok {
		t.Fatalf("flow %q is not loaded; flows %v, errors %v", name, flowNames(c), c.Errors())
	}
	return f
}

func servedHash(c *engine.Catalog, name string) string {
	if f, ok := c.Flow(name); ok {
		return f.Hash
	}
	return ""
}

// stillUsable checks that a version replaced in the catalog is intact, as
// a call that started with it needs.
func stillUsable(t *testing.T, f *engine.Flow, src string) {
	t.Helper()
	if f.Hash != hashOf(src) || string(f.Source) != src {
		t.Fatalf("old version of %s changed: hash %s", f.Name, f.ShortHash())
	}
	if err := engine.CheckFlow(f); err != nil {
		t.Fatalf("old version of %s no longer runs: %v", f.Name, err)
	}
}

func logged(logs *logSink, parts ...string) bool {
	for _, l := range logs.all() {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}

// editorFiles are what vim, emacs and friends leave beside x.lua; each
// holds something that would fail to load were it taken for a flow.
var editorFiles = []string{"main.lua.swp", "main.lua.swx", "main.lua~", "#main.lua#", "4913", ".main.lua.tmp", "notes.txt"}

func TestCatalogOpen(t *testing.T) {
	main, survey := flowVersion("main"), flowVersion("survey")
	dir := flowDir(t, map[string]string{"main.lua": main, "survey.lua": survey})
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "sub/other.lua", flowVersion("other"))
	if err := os.Mkdir(filepath.Join(dir, "folder.lua"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range editorFiles {
		writeFile(t, dir, name, brokenAtLine3)
	}
	// Emacs's lock file is a dangling symbolic link.
	if err := os.Symlink("user@host.1234:1700000000", filepath.Join(dir, ".#main.lua")); err != nil {
		t.Fatal(err)
	}

	c, logs := openCatalog(t, dir)
	if got, want := flowNames(c), []string{"main", "survey"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("flows %v, want %v", got, want)
	}
	f := mustFlow(t, c, "main")
	if f.Path != filepath.Join(dir, "main.lua") || f.Hash != hashOf(main) || string(f.Source) != main {
		t.Fatalf("main: path %s hash %s, want %s and %s", f.Path, f.ShortHash(), filepath.Join(dir, "main.lua"), hashOf(main)[:12])
	}
	for _, name := range []string{"other", "main.lua", "folder", ""} {
		if _, ok := c.Flow(name); ok {
			t.Errorf("Flow(%q) found a flow", name)
		}
	}
	if errs := c.Errors(); len(errs) != 0 {
		t.Fatalf("errors %v, want none", errs)
	}
	if n := c.Rescans(); n != 0 {
		t.Fatalf("rescans %d after open, want 0", n)
	}
	if !logged(logs, "flows loaded", "main@"+f.ShortHash()) {
		t.Fatalf("no flows loaded line naming main@%s: %q", f.ShortHash(), logs.all())
	}
	var _ engine.FlowSource = c
}

func TestCatalogOpenEmptyFolder(t *testing.T) {
	c, logs := openCatalog(t, t.TempDir())
	if fl := c.Flows(); len(fl) != 0 {
		t.Fatalf("flows %v, want none", flowNames(c))
	}
	if !logged(logs, "[WARN]", "no flows in the folder") {
		t.Fatalf("no warning about the empty folder: %q", logs.all())
	}
	if _, err := engine.OpenCatalog(filepath.Join(t.TempDir(), "missing"), engine.CatalogOptions{}); err == nil {
		t.Fatal("OpenCatalog of a missing folder succeeded")
	}
}

// A flow that does not load fails the start with its file (as the folder
// was named) and line.
func TestCatalogOpenFailsWithFileLine(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want string
	}{
		{"syntax error", brokenAtLine3, "flows/bad.lua:3: near 'user_bye': syntax error"},
		{"unfinished at the end", "local flow = {}\nfunction flow.incoming(call)\n  if x then\nend\nreturn flow\n", "flows/bad.lua:5: at the end of the file: syntax error"},
		{"compile error", "local flow = {}\nbreak\n", "flows/bad.lua:2: no loop to break"},
		{"runtime error at the top level", "local flow = {}\nlocal n = nil + 1\nreturn flow\n", "flows/bad.lua:2: cannot perform add operation"},
		{"returns a number", "return 42\n", "flows/bad.lua: the flow must return a table of handlers, not a number"},
		{"returns nothing", "local flow = {}\n", "flows/bad.lua: the flow must return a table of handlers, it returns nothing"},
		{"no incoming nor answered", "return { ended = function() end }\n", "flows/bad.lua: the flow must return a table of handlers with incoming(call) or answered(call)"},
		{"handler not a function", "return { incoming = \"menu\" }\n", "flows/bad.lua: handler incoming must be a function, not a string"},
		{"unknown module", "local m = require \"ivr.nothing\"\nreturn { incoming = function() end }\n", "flows/bad.lua:1: require: no module \"ivr.nothing\""},
		{"endless top level", "local flow = {}\nwhile true do end\nreturn flow\n", "flows/bad.lua: the top level did not finish: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			if err := os.Mkdir("flows", 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, "flows", "good.lua", flowVersion("good"))
			writeFile(t, "flows", "bad.lua", tc.src)
			c, err := engine.OpenCatalog("flows", engine.CatalogOptions{})
			if err == nil {
				c.Close()
				t.Fatal("OpenCatalog succeeded")
			}
			if got := err.Error(); !strings.HasPrefix(got, tc.want) || strings.Contains(got, "good.lua") {
				t.Fatalf("error %q, want it to start with %q (and not name good.lua)", got, tc.want)
			}
		})
	}
	t.Run("every bad file is named", func(t *testing.T) {
		t.Chdir(t.TempDir())
		if err := os.Mkdir("flows", 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, "flows", "a.lua", brokenAtLine3)
		writeFile(t, "flows", "b.lua", "return 42\n")
		_, err := engine.OpenCatalog("flows", engine.CatalogOptions{})
		want := "flows/a.lua:3: near 'user_bye': syntax error\nflows/b.lua: the flow must return a table of handlers, not a number"
		if err == nil || err.Error() != want {
			t.Fatalf("error %v, want %q", err, want)
		}
	})
}

func TestCheckFlowAccepts(t *testing.T) {
	cases := []struct{ name, src string }{
		{"incoming", "return { incoming = function(call) end }"},
		{"answered only", "return { answered = function(call) end, failed = function(job, reason) end }"},
		{"ivr and print at the top level", `
local log = ivr.log
log.info("loading", { version = 2 })
print("loading")
local flow = { incoming = function(call) log.info("call") end, ended = function() end }
flow.helpers = { greeting = "user_welcome" }
return flow`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := engine.CompileFlow("x", "flows/x.lua", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if err := engine.CheckFlow(f); err != nil {
				t.Fatalf("CheckFlow: %v", err)
			}
		})
	}
}

func TestIsFlowFile(t *testing.T) {
	for name, want := range map[string]bool{
		"main.lua": true, "hotel-menu.lua": true, "a.b.lua": true,
		"main.lua.swp": false, "main.lua.swx": false, ".main.lua.swp": false, "main.lua~": false,
		"#main.lua#": false, ".#main.lua": false, "4913": false, ".main.lua.tmp": false,
		".hidden.lua": false, ".lua": false, "main.LUA": false, "main.txt": false, "main": false,
	} {
		if got := engine.IsFlowFile(name); got != want {
			t.Errorf("IsFlowFile(%q) = %v, want %v", name, got, want)
		}
	}
}

// Reload rescans without a watch: what SIGHUP does.
func TestCatalogReload(t *testing.T) {
	v1, survey := flowVersion("1"), flowVersion("survey")
	dir := flowDir(t, map[string]string{"main.lua": v1, "survey.lua": survey})
	c, logs := openCatalog(t, dir)
	m1, s1 := mustFlow(t, c, "main"), mustFlow(t, c, "survey")

	if err := c.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if mustFlow(t, c, "main") != m1 || mustFlow(t, c, "survey") != s1 {
		t.Fatal("a rescan of unchanged files replaced their flows")
	}

	v2 := flowVersion("2")
	writeFile(t, dir, "main.lua", v2)
	writeFile(t, dir, "extra.lua", flowVersion("extra"))
	if err := c.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	m2 := mustFlow(t, c, "main")
	if m2 == m1 || m2.Hash != hashOf(v2) {
		t.Fatalf("main after the edit: hash %s, want %s", m2.ShortHash(), hashOf(v2)[:12])
	}
	stillUsable(t, m1, v1)
	if mustFlow(t, c, "survey") != s1 {
		t.Fatal("an unchanged flow was replaced")
	}
	if got, want := flowNames(c), []string{"extra", "main", "survey"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("flows %v, want %v", got, want)
	}
	if !logged(logs, "flows reloaded", `added=["extra@`, `changed=["main@`+m2.ShortHash()) {
		t.Fatalf("no reload line with added extra and changed main: %q", logs.all())
	}

	// A broken edit keeps the previous version; Reload and Errors say why.
	writeFile(t, dir, "main.lua", brokenAtLine3)
	file := filepath.Join(dir, "main.lua")
	err := c.Reload()
	if err == nil || !strings.HasPrefix(err.Error(), file+":3: ") {
		t.Fatalf("Reload = %v, want an error at %s:3", err, file)
	}
	if mustFlow(t, c, "main") != m2 {
		t.Fatal("a version that does not compile replaced the previous one")
	}
	if got := c.Errors()["main"]; got != err.Error() {
		t.Fatalf("Errors()[main] = %q, want %q", got, err.Error())
	}
	if !logged(logs, "[ERROR]", "file="+file, "flow_hash="+m2.ShortHash(), file+":3: ") {
		t.Fatalf("no error line naming the file, the version kept and file:line: %q", logs.all())
	}

	// Putting the previous content back clears the error and keeps the
	// same version.
	writeFile(t, dir, "main.lua", v2)
	if err := c.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if mustFlow(t, c, "main") != m2 || len(c.Errors()) != 0 {
		t.Fatalf("after the fix: same version %v, errors %v", mustFlow(t, c, "main") == m2, c.Errors())
	}

	// A new file that never loaded has an error and no flow; removing it
	// clears both, and removing a flow takes it away.
	writeFile(t, dir, "new.lua", "return 42\n")
	if err := c.Reload(); err == nil || !strings.Contains(c.Errors()["new"], "new.lua: the flow must return a table") {
		t.Fatalf("Reload = %v, errors %v, want new.lua named", err, c.Errors())
	}
	if _, ok := c.Flow("new"); ok {
		t.Fatal("a file that never loaded has a flow")
	}
	for _, name := range []string{"new.lua", "survey.lua"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got, want := flowNames(c), []string{"extra", "main"}; !reflect.DeepEqual(got, want) || len(c.Errors()) != 0 {
		t.Fatalf("flows %v errors %v, want %v and none", got, c.Errors(), want)
	}
	stillUsable(t, s1, survey)
	if n := c.Rescans(); n != 6 {
		t.Fatalf("rescans %d, want 6 (one per Reload)", n)
	}
}

func TestCatalogWatchEditInPlace(t *testing.T) {
	v1 := flowVersion("1")
	dir := flowDir(t, map[string]string{"main.lua": v1, "survey.lua": flowVersion("survey")})
	c, logs := openCatalog(t, dir)
	m1, s1 := mustFlow(t, c, "main"), mustFlow(t, c, "survey")
	watch(t, c)

	v2 := flowVersion("2")
	writeFile(t, dir, "main.lua", v2)
	waitFor(t, "the edited main to be served", func() bool { return servedHash(c, "main") == hashOf(v2) })
	stillUsable(t, m1, v1)
	if mustFlow(t, c, "survey") != s1 {
		t.Fatal("an unchanged flow was replaced")
	}
	waitFor(t, "the reload to be logged", func() bool {
		return logged(logs, "[INFO]", "flows reloaded", `changed=["main@`+hashOf(v2)[:12]+`"]`)
	})
}

func TestCatalogWatchRenameOnSave(t *testing.T) {
	v1 := flowVersion("1")
	dir := flowDir(t, map[string]string{"main.lua": v1})
	c, _ := openCatalog(t, dir)
	m1 := mustFlow(t, c, "main")
	watch(t, c)

	v2 := flowVersion("2")
	saveByRename(t, dir, "main.lua", v2)
	waitFor(t, "the renamed-over main to be served", func() bool { return servedHash(c, "main") == hashOf(v2) })
	stillUsable(t, m1, v1)

	// A new flow saved the same way appears.
	saveByRename(t, dir, "survey.lua", flowVersion("survey"))
	waitFor(t, "survey to appear", func() bool { _, ok := c.Flow("survey"); return ok })
	if got, want := flowNames(c), []string{"main", "survey"}; !reflect.DeepEqual(got, want) || len(c.Errors()) != 0 {
		t.Fatalf("flows %v errors %v, want %v and none", got, c.Errors(), want)
	}
}

func TestCatalogWatchKeepsPreviousVersion(t *testing.T) {
	dir := flowDir(t, map[string]string{"main.lua": flowVersion("1")})
	c, logs := openCatalog(t, dir)
	m1 := mustFlow(t, c, "main")
	watch(t, c)

	saveByRename(t, dir, "main.lua", brokenAtLine3)
	file := filepath.Join(dir, "main.lua")
	waitFor(t, "the error to be reported", func() bool { return c.Errors()["main"] != "" })
	if got := c.Errors()["main"]; !strings.HasPrefix(got, file+":3: ") {
		t.Fatalf("Errors()[main] = %q, want it at %s:3", got, file)
	}
	if mustFlow(t, c, "main") != m1 {
		t.Fatal("a version that does not compile replaced the previous one")
	}
	waitFor(t, "the error to be logged", func() bool {
		return logged(logs, "[ERROR]", "flow=main", "flow_hash="+m1.ShortHash(), file+":3: ")
	})

	v3 := flowVersion("3")
	saveByRename(t, dir, "main.lua", v3)
	waitFor(t, "the fixed main to be served", func() bool { return servedHash(c, "main") == hashOf(v3) })
	if errs := c.Errors(); len(errs) != 0 {
		t.Fatalf("errors %v after the fix, want none", errs)
	}
}

func TestCatalogWatchIgnoresEditorFiles(t *testing.T) {
	dir := flowDir(t, map[string]string{"main.lua": flowVersion("1")})
	c, _ := openCatalog(t, dir)
	m1 := mustFlow(t, c, "main")
	watch(t, c)

	for _, name := range editorFiles {
		writeFile(t, dir, name, brokenAtLine3)
	}
	if err := os.Symlink("user@host.1234:1700000000", filepath.Join(dir, ".#main.lua")); err != nil {
		t.Fatal(err)
	}
	// Events arrive in order: once a flow written after them is served,
	// the editor files have been seen too.
	writeFile(t, dir, "later.lua", flowVersion("later"))
	waitFor(t, "later to appear", func() bool { _, ok := c.Flow("later"); return ok })
	if got, want := flowNames(c), []string{"later", "main"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("flows %v, want %v", got, want)
	}
	if errs := c.Errors(); len(errs) != 0 {
		t.Fatalf("errors %v, want none", errs)
	}
	if mustFlow(t, c, "main") != m1 {
		t.Fatal("main was replaced")
	}
}

func TestCatalogWatchDelete(t *testing.T) {
	survey := flowVersion("survey")
	dir := flowDir(t, map[string]string{"main.lua": flowVersion("1"), "survey.lua": survey})
	c, logs := openCatalog(t, dir)
	s1 := mustFlow(t, c, "survey")
	watch(t, c)

	if err := os.Remove(filepath.Join(dir, "survey.lua")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "survey to go", func() bool { _, ok := c.Flow("survey"); return !ok })
	stillUsable(t, s1, survey) // a live call keeps it
	if got, want := flowNames(c), []string{"main"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("flows %v, want %v", got, want)
	}
	if !logged(logs, "flows reloaded", `removed=["survey@`+s1.ShortHash()) {
		t.Fatalf("no reload line with survey removed: %q", logs.all())
	}
}

// A folder that goes away keeps its flows: more likely a deploy in
// progress than a wish to serve none.
func TestCatalogWatchFolderRemoved(t *testing.T) {
	dir := flowDir(t, map[string]string{"main.lua": flowVersion("1")})
	c, logs := openCatalog(t, dir)
	m1 := mustFlow(t, c, "main")
	watch(t, c)

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed rescan to be logged", func() bool {
		return logged(logs, "[ERROR]", "cannot rescan the flows folder; keeping the flows loaded")
	})
	if !logged(logs, "[ERROR]", "the flows folder was removed or moved") {
		t.Fatalf("the lost watch is not logged: %q", logs.all())
	}
	if mustFlow(t, c, "main") != m1 {
		t.Fatal("main was replaced")
	}
	if err := c.Reload(); err == nil {
		t.Fatal("Reload of a missing folder succeeded")
	}
}

// A burst of saves is debounced into few rescans, and the last save wins.
func TestCatalogWatchBurst(t *testing.T) {
	dir := flowDir(t, map[string]string{"main.lua": flowVersion("0")})
	c, _ := openCatalog(t, dir)
	watch(t, c)

	before := c.Rescans()
	start := time.Now()
	var last string
	for i := 1; i <= 20; i++ {
		last = flowVersion(fmt.Sprint(i))
		if i%2 == 0 {
			writeFile(t, dir, "main.lua", last)
		} else {
			saveByRename(t, dir, "main.lua", last)
		}
	}
	writes := time.Since(start)
	waitFor(t, "the last save to be served", func() bool {
		return servedHash(c, "main") == hashOf(last) && len(c.Errors()) == 0
	})
	n := c.Rescans() - before
	t.Logf("20 saves in %s: %d rescans, last version served %s after the first save", writes, n, time.Since(start))
	if n > 4 {
		t.Fatalf("20 saves caused %d rescans, want at most 4", n)
	}
}

func TestCatalogCloseStopsWatch(t *testing.T) {
	dir := flowDir(t, map[string]string{"main.lua": flowVersion("1")})
	c, err := engine.OpenCatalog(dir, engine.CatalogOptions{Debounce: testDebounce})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Watch(context.Background()) }()
	waitFor(t, "the watch to start", func() bool { return c.Rescans() > 0 })
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close waits for the watch loop; Watch's goroutine hands its result
	// over just after, so the test waits for it rather than racing it.
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Watch = %v after Close, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after Close")
	}
	if err := c.Watch(context.Background()); !errors.Is(err, engine.ErrCatalogClosed) {
		t.Fatalf("Watch after Close = %v, want ErrCatalogClosed", err)
	}
	mustFlow(t, c, "main") // the last snapshot stays readable
}

// The flows a default install ships load without errors.
func TestCatalogRepositoryFlows(t *testing.T) {
	c, err := engine.OpenCatalog("../flows", engine.CatalogOptions{})
	if err != nil {
		t.Fatalf("the repository's flows do not load: %v", err)
	}
	defer c.Close()
	mustFlow(t, c, "main")
	if errs := c.Errors(); len(errs) != 0 {
		t.Fatalf("errors %v", errs)
	}
}

// flows/main.lua on the simulator's defaults: each key, a busy extension,
// a caller who presses nothing.
func TestCatalogMainFlowOnSimulator(t *testing.T) {
	cat, err := engine.OpenCatalog("../flows", engine.CatalogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	useCatalog := func(cfg *engine.Config) { cfg.Flows = cat }
	cases := []struct {
		name      string
		busy      string        // an extension that refuses as busy
		keys      []string      // pressed one second apart, from one second into the call
		wait      time.Duration // after the keys
		heard     []string      // what the caller heard, "!" marking a file cut off
		connected string        // "" when the call must have ended
		ended     []string      // parts of the flow's "main menu finished" line
	}{
		{name: "1 is reception", keys: []string{"1"}, wait: 2 * time.Second,
			heard: []string{"user_welcome!"}, connected: "ext 201",
			ended: []string{"outcome=transferred", `target="ext 201"`, "choice=1"}},
		{name: "1 when busy goes to the operator", busy: "201", keys: []string{"1"}, wait: 2 * time.Second,
			heard: []string{"user_welcome!"}, connected: "ext 200",
			ended: []string{"outcome=transferred", `target="ext 200"`, "choice=1"}},
		{name: "2 is the restaurant", keys: []string{"2"}, wait: 2 * time.Second,
			heard: []string{"user_welcome!"}, connected: "ext 202",
			ended: []string{"outcome=transferred", `target="ext 202"`, "choice=2"}},
		{name: "2 when busy offers the operator", busy: "202", keys: []string{"2", "0"}, wait: 2 * time.Second,
			heard: []string{"user_welcome!", "user_busy!"}, connected: "ext 200",
			ended: []string{"outcome=transferred", `target="ext 200"`, "choice=2"}},
		{name: "2 when busy and no answer says goodbye", busy: "202", keys: []string{"2"}, wait: 12 * time.Second,
			heard: []string{"user_welcome!", "user_busy", "user_bye"},
			ended: []string{"outcome=hangup", "choice=2"}},
		{name: "3 thanks and hangs up", keys: []string{"3"}, wait: 4 * time.Second,
			heard: []string{"user_welcome!", "user_thanks"},
			ended: []string{"outcome=hangup", "choice=3"}},
		{name: "0 is the operator", keys: []string{"0"}, wait: 2 * time.Second,
			heard: []string{"user_welcome!"}, connected: "ext 200",
			ended: []string{"outcome=transferred", `target="ext 200"`, "choice=0"}},
		{name: "a wrong key, then 1", keys: []string{"9", "1"}, wait: 2 * time.Second,
			heard: []string{"user_welcome!", "user_invalid!"}, connected: "ext 201",
			ended: []string{"outcome=transferred", "choice=1"}},
		{name: "silence goes to the operator", wait: 30 * time.Second,
			heard:     []string{"user_welcome", "user_menu", "user_noinput", "user_menu", "user_noinput", "user_menu"},
			connected: "ext 200",
			ended:     []string{"outcome=transferred", `target="ext 200"`, "choice=timeout"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil, rigOptions{config: useCatalog, sim: func(c *omsim.Config) {
				if tc.busy != "" {
					c.ExtPolicies = map[string]omsim.Policy{tc.busy: {Answer: omsim.AnswerBusy}}
				}
			}})
			call := r.call("13800000001")
			for _, k := range tc.keys {
				r.advance(time.Second)
				r.press(call, k)
			}
			r.advance(tc.wait)
			info := call.Info()
			if got := heard(call); !reflect.DeepEqual(got, tc.heard) {
				t.Fatalf("heard %v, want %v", got, tc.heard)
			}
			if tc.connected != "" && (info.State != "talking" || info.Connected != tc.connected) {
				t.Fatalf("call %s to %q, want talking to %s", info.State, info.Connected, tc.connected)
			}
			if tc.connected == "" && info.State != "ended" {
				t.Fatalf("call %s, want ended", info.State)
			}
			if !logged(r.logs, append([]string{"main menu finished"}, tc.ended...)...) {
				t.Fatalf("no ended line with %v: %q", tc.ended, r.logs.all())
			}
		})
	}
}
