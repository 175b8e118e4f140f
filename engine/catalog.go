package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"
	lua "github.com/yuin/gopher-lua"
)

// DefaultDebounce is how long a flows folder must stay quiet after a change
// before it is rescanned.
const DefaultDebounce = 200 * time.Millisecond

// ErrCatalogClosed is returned by Watch on a closed Catalog.
var ErrCatalogClosed = errors.New("catalog closed")

// CatalogOptions tune a Catalog. The zero value of each field means the
// default named in its comment.
type CatalogOptions struct {
	// Debounce is how long the folder must stay quiet after the last
	// change before Watch rescans it (default DefaultDebounce).
	Debounce time.Duration
	// Logger is the parent logger; the catalog logs as "catalog"
	// (default: none).
	Logger hclog.Logger
}

// Catalog is the set of flows loaded from a folder: an immutable snapshot
// behind an atomic.Pointer, replaced whole on each rescan. A flow is a file
// <name>.lua directly in the folder (see IsFlowFile); subfolders are not
// read.
//
// A rescan reads every flow file again. A file whose content is unchanged
// keeps its *Flow; a changed one is compiled and checked (CheckFlow) and
// serves new calls from then on; a file that no longer loads keeps its
// previous version, and Errors says why. A file that disappeared takes its
// flow away from new calls. Calls already running keep the *Flow they
// started with whatever happens: Flow values are immutable.
type Catalog struct {
	dir      string
	debounce time.Duration
	log      hclog.Logger

	snap    atomic.Pointer[catalogSnapshot]
	scanMu  sync.Mutex // one rescan at a time
	rescans atomic.Uint64
	// loadErrors counts failures to load: a file content that does not
	// load, once per content (and per error), and a folder that cannot be
	// read, once per rescan.
	loadErrors atomic.Uint64

	mu      sync.Mutex
	closed  bool
	done    chan struct{}
	watches sync.WaitGroup
}

// catalogSnapshot is one state of the folder. Nothing in it changes once it
// is published.
type catalogSnapshot struct {
	flows  map[string]*Flow
	sorted []*Flow
	failed map[string]loadFailure // by flow name: files whose content did not load
}

// loadFailure is why a file's current content does not load.
type loadFailure struct {
	hash string // of the content that failed; empty when it could not be read
	err  error
}

// same reports whether two failures are of the same content, for the
// same reason.
func (f loadFailure) same(g loadFailure) bool {
	return f.hash == g.hash && f.err.Error() == g.err.Error()
}

// err joins the failures, in name order.
func (s *catalogSnapshot) err() error {
	var errs []error
	for _, name := range sortedKeys(s.failed) {
		errs = append(errs, s.failed[name].err)
	}
	return errors.Join(errs...)
}

// OpenCatalog loads every flow in dir. A flow that does not load fails it,
// with an error naming each bad file and line ("flows/x.lua:3: …"; files
// are named by dir as given joined with the file name). A folder with no
// flows is not an error: the catalog is empty, calls routed to a flow go to
// the fallback, and a flow added later is picked up by Watch or Reload. A
// missing folder is an error.
func OpenCatalog(dir string, opt CatalogOptions) (*Catalog, error) {
	if opt.Debounce <= 0 {
		opt.Debounce = DefaultDebounce
	}
	if opt.Logger == nil {
		opt.Logger = hclog.NewNullLogger()
	}
	c := &Catalog{
		dir:      dir,
		debounce: opt.Debounce,
		log:      opt.Logger.Named("catalog"),
		done:     make(chan struct{}),
	}
	snap, err := c.scan(&catalogSnapshot{})
	if err != nil {
		return nil, err
	}
	if err := snap.err(); err != nil {
		return nil, err
	}
	c.snap.Store(snap)
	if len(snap.sorted) == 0 {
		c.log.Warn("no flows in the folder; calls will go to the fallback until one is added", "dir", dir)
	} else {
		c.log.Info("flows loaded", "dir", dir, "flows", versionsOf(snap.sorted))
	}
	return c, nil
}

// Flow returns the current version of the named flow (the file name
// without .lua). It makes the Catalog a FlowSource.
func (c *Catalog) Flow(name string) (*Flow, bool) {
	f, ok := c.snap.Load().flows[name]
	return f, ok
}

// Flows returns the current flows, sorted by name.
func (c *Catalog) Flows() []*Flow {
	return append([]*Flow(nil), c.snap.Load().sorted...)
}

// Errors returns, by flow name, why each flow file whose current content
// does not load failed ("flows/x.lua:3: …"). A flow listed here that loaded
// before still serves its previous version; a new file that never loaded
// has no flow. An entry goes when the file loads again or is removed.
func (c *Catalog) Errors() map[string]string {
	snap := c.snap.Load()
	out := make(map[string]string, len(snap.failed))
	for name, f := range snap.failed {
		out[name] = f.err.Error()
	}
	return out
}

// Rescans counts the rescans done since the catalog was opened: Reload
// calls and Watch's own (one when it starts, then one per quiet period
// after changes).
func (c *Catalog) Rescans() uint64 { return c.rescans.Load() }

// LoadErrors counts, since the catalog was opened, the flow files whose
// new content failed to load (each failing content once, however many
// rescans see it) and the rescans that could not read the folder.
func (c *Catalog) LoadErrors() uint64 { return c.loadErrors.Load() }

// Reload rescans the whole folder now; SIGHUP calls it. It logs what
// changed and what failed like Watch does, and returns the failures of the
// files that do not load (their previous versions still serve), joined, so
// a caller need not log them again. When the folder cannot be read at all,
// every flow is kept and the error is returned.
func (c *Catalog) Reload() error { return c.rescan(true) }

// rescan builds and publishes the next snapshot. force logs every failure,
// not only those that are new since the last rescan.
func (c *Catalog) rescan(force bool) error {
	c.scanMu.Lock()
	defer c.scanMu.Unlock()
	c.rescans.Add(1)
	prev := c.snap.Load()
	next, err := c.scan(prev)
	if err != nil {
		// A folder that vanished or cannot be read is more likely a deploy
		// in progress than a wish to serve no flows.
		c.log.Error("cannot rescan the flows folder; keeping the flows loaded", "dir", c.dir, "error", err)
		c.loadErrors.Add(1)
		return err
	}
	for name, f := range next.failed {
		if pf, ok := prev.failed[name]; !ok || !pf.same(f) {
			c.loadErrors.Add(1)
		}
	}
	c.snap.Store(next)
	c.report(prev, next, force)
	return next.err()
}

// scan reads the folder and builds the snapshot that follows prev.
func (c *Catalog) scan(prev *catalogSnapshot) (*catalogSnapshot, error) {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, fmt.Errorf("read flows folder: %w", err)
	}
	next := &catalogSnapshot{flows: map[string]*Flow{}, failed: map[string]loadFailure{}}
	for _, e := range entries {
		if e.IsDir() || !IsFlowFile(e.Name()) {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ".lua")
		path := filepath.Join(c.dir, e.Name())
		old := prev.flows[name]
		src, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			// Gone since ReadDir; if it comes back (a save by rename),
			// its event brings another rescan.
			continue
		}
		if err != nil {
			next.fail(name, old, loadFailure{err: err})
			continue
		}
		sum := sha256.Sum256(src)
		hash := hex.EncodeToString(sum[:])
		if old != nil && old.Hash == hash {
			next.flows[name] = old
			continue
		}
		if pf, ok := prev.failed[name]; ok && pf.hash == hash {
			next.fail(name, old, pf)
			continue
		}
		f, err := CompileFlow(name, path, src)
		if err == nil {
			err = CheckFlow(f)
		}
		if err != nil {
			next.fail(name, old, loadFailure{hash: hash, err: err})
			continue
		}
		next.flows[name] = f
	}
	for _, name := range sortedKeys(next.flows) {
		next.sorted = append(next.sorted, next.flows[name])
	}
	return next, nil
}

// fail records a file that does not load; its previous version, if any,
// stays.
func (s *catalogSnapshot) fail(name string, old *Flow, f loadFailure) {
	s.failed[name] = f
	if old != nil {
		s.flows[name] = old
	}
}

// report logs how next differs from prev: one Info line for the flows
// added, changed, removed or fixed, one Error line per failure that is new
// (every failure when force is set).
func (c *Catalog) report(prev, next *catalogSnapshot, force bool) {
	var added, changed, removed, fixed []string
	for _, f := range next.sorted {
		old, ok := prev.flows[f.Name]
		switch {
		case !ok:
			added = append(added, versionOf(f))
		case old != f:
			changed = append(changed, versionOf(f))
		case hasKey(prev.failed, f.Name) && !hasKey(next.failed, f.Name):
			// Put back as it was before the failed edit.
			fixed = append(fixed, versionOf(f))
		}
	}
	for _, old := range prev.sorted {
		if _, ok := next.flows[old.Name]; !ok {
			removed = append(removed, versionOf(old))
		}
	}
	for _, name := range sortedKeys(next.failed) {
		f := next.failed[name]
		if pf, ok := prev.failed[name]; ok && !force && pf.same(f) {
			continue
		}
		file := filepath.Join(c.dir, name+".lua")
		if old, ok := next.flows[name]; ok {
			c.log.Error("flow does not load; its previous version still serves new calls",
				"flow", name, "file", file, "flow_hash", old.ShortHash(), "error", f.err.Error())
		} else {
			c.log.Error("flow does not load", "flow", name, "file", file, "error", f.err.Error())
		}
	}
	if len(added)+len(changed)+len(removed)+len(fixed) == 0 {
		c.log.Debug("flows rescanned; nothing changed", "dir", c.dir)
		return
	}
	args := []any{"dir", c.dir}
	for _, kv := range []struct {
		key  string
		list []string
	}{{"added", added}, {"changed", changed}, {"removed", removed}, {"fixed", fixed}} {
		if len(kv.list) > 0 {
			args = append(args, kv.key, kv.list)
		}
	}
	c.log.Info("flows reloaded", args...)
}

// Watch watches the folder until ctx ends or the catalog is closed, then
// returns nil; it returns an error only when the watch cannot be set up.
// It rescans once when the watch is in place (catching up with changes
// made since OpenCatalog), then after every change to a flow file once the
// folder has been quiet for the debounce period: one timer, restarted by
// every event. Events on files that are not flows (IsFlowFile: editors'
// swap, backup and lock files) are ignored, but saving by rename — writing
// a temporary file and renaming it over x.lua — counts as a change to
// x.lua.
func (c *Catalog) Watch(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrCatalogClosed
	}
	c.watches.Add(1)
	c.mu.Unlock()
	defer c.watches.Done()

	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", c.dir, err)
	}
	defer w.Close()
	if err := w.Add(c.dir); err != nil {
		return fmt.Errorf("watch %s: %w", c.dir, err)
	}
	c.log.Debug("watching the flows folder", "dir", c.dir, "debounce", c.debounce)
	c.rescan(false)

	quiet := time.NewTimer(c.debounce)
	quiet.Stop()
	defer quiet.Stop()
	self := filepath.Clean(c.dir)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.done:
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) == self {
				// The rescan this leads to fails and keeps the flows; the
				// watch itself is gone with the folder.
				c.log.Error("the flows folder was removed or moved; changes to it are no longer watched (SIGHUP still rescans)",
					"dir", c.dir, "op", ev.Op.String())
			} else if !IsFlowFile(filepath.Base(ev.Name)) {
				continue
			}
			c.log.Trace("flows folder changed", "file", ev.Name, "op", ev.Op.String())
			quiet.Reset(c.debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// Events may have been lost (an overflow): rescan to be sure.
			c.log.Warn("watching the flows folder", "dir", c.dir, "error", err)
			quiet.Reset(c.debounce)
		case <-quiet.C:
			c.rescan(false)
		}
	}
}

// Close stops Watch and waits for it to return. The flows stay readable:
// Flow, Flows and Errors keep answering with the last snapshot.
func (c *Catalog) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
	c.mu.Unlock()
	c.watches.Wait()
	return nil
}

// IsFlowFile reports whether a file name in a flows folder names a flow:
// <name>.lua, not hidden. Editors' swap, backup, lock and temporary files
// (x.lua.swp, x.lua.swx, x.lua~, #x.lua#, .#x.lua, 4913, .x.lua.tmp) are
// not flows, and their changes do not make Watch rescan.
func IsFlowFile(name string) bool {
	return strings.HasSuffix(name, ".lua") && len(name) > len(".lua") &&
		!strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "#")
}

// checkWall is the wall-clock backstop of CheckFlow's run of a chunk:
// shorter than a call step's, since a rescan waits for it.
const checkWall = time.Second

// CheckFlow checks that a compiled flow is one: its chunk, run in a fresh
// sandbox within one step's instruction budget (DefaultStepInstructions,
// with a wall-clock backstop of a second), must return a table with an
// incoming(call) or answered(call) handler, and whatever handlers it has
// (incoming, answered, failed, ended) must be functions. Errors name the
// file, and the line when there is one.
//
// The chunk runs as it does at the start of a call, except that the ivr
// global is a stand-in whose every member exists and does nothing (so
// `local log = ivr.log` at the top level passes), print prints nothing, and
// require finds the embedded stdlib.
func CheckFlow(f *Flow) error {
	lim := Limits{}.withDefaults()
	L := newSandbox(lim, StdlibModules())
	defer L.Close()
	installStandIns(L)
	b := newBudget(context.Background(), lim.StepInstructions, checkWall)
	L.SetContext(b)
	L.Push(L.NewFunctionFromProto(f.Proto))
	if err := L.PCall(0, 1, nil); err != nil {
		if r := b.reason(); r != stopNone {
			return fmt.Errorf("%s: the top level did not finish: %s (%d instructions, %s)",
				f.Path, stopText[r], lim.StepInstructions, checkWall)
		}
		msg := luaError(err)
		if !strings.HasPrefix(msg, f.Path+":") {
			msg = f.Path + ": " + msg
		}
		return errors.New(msg)
	}
	v := L.Get(-1)
	t, ok := v.(*lua.LTable)
	if !ok {
		what := "it returns nothing"
		if v != lua.LNil {
			what = "not a " + v.Type().String()
		}
		return fmt.Errorf("%s: the flow must return a table of handlers, %s", f.Path, what)
	}
	for _, h := range []string{"incoming", "answered", "failed", "ended"} {
		if hv := t.RawGetString(h); hv != lua.LNil {
			if _, ok := hv.(*lua.LFunction); !ok {
				return fmt.Errorf("%s: handler %s must be a function, not a %s", f.Path, h, hv.Type())
			}
		}
	}
	if t.RawGetString("incoming") == lua.LNil && t.RawGetString("answered") == lua.LNil {
		return fmt.Errorf("%s: the flow must return a table of handlers with incoming(call) or answered(call)", f.Path)
	}
	return nil
}

// installStandIns gives a check sandbox an ivr global whose members all
// exist and do nothing, and a silent print.
func installStandIns(L *lua.LState) {
	stub := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.Push(stub)
		return 1
	}))
	mt.RawSetString("__call", L.NewFunction(func(*lua.LState) int { return 0 }))
	L.SetMetatable(stub, mt)
	L.SetGlobal("ivr", stub)
	L.SetGlobal("print", L.NewFunction(func(*lua.LState) int { return 0 }))
}

func versionOf(f *Flow) string { return f.Name + "@" + f.ShortHash() }

func versionsOf(flows []*Flow) []string {
	out := make([]string, len(flows))
	for i, f := range flows {
		out[i] = versionOf(f)
	}
	return out
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
