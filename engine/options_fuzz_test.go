package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/clock"
)

// The option fuzz target: a flow hands one option table, written by the
// fuzzer as a Lua table of constants, to call:gather, call:play, ivr.dial,
// ivr.http.get and call:transfer, each under pcall. Each either works (on a
// device that refuses everything, so nothing waits) or raises a Lua error
// that starts with the flow's file:line and the function's name and names
// an option — never a Go panic, a hang, or an error from somewhere else.

// optionCalls are the functions under test, as the flow calls them (OPTS
// stands for the table) and the options each knows.
var optionCalls = []struct {
	fn, call string
	opts     []string
}{
	{"call:gather", "call:gather(OPTS)", []string{"prompt", "invalid_prompt", "noinput_prompt", "min", "max", "tries", "timeout", "digit_timeout", "flush", "terminator", "valid"}},
	{"call:play", `call:play("user_welcome", OPTS)`, nil},
	{"ivr.dial", "ivr.dial(OPTS)", []string{"to", "flow", "tz", "window", "device", "trunk", "vars", "at", "retry", "secret",
		"attempts", "delay", "backoff", "on"}},
	{"ivr.http.get", "ivr.http.get(URL, OPTS)", []string{"headers", "timeout", "json"}},
	{"call:transfer", "call:transfer(OPTS)", []string{"ext", "group", "queue", "number", "menu", "trunk"}},
}

// tableWide are the errors about the whole table rather than one option.
var tableWide = regexp.MustCompile(`options must be a table|option names must be strings|unknown option|give exactly one of|trunk goes with number|to is required|the request is too large|is greater than max`)

// constantTable reports whether src is one Lua expression made only of
// constants — tables, strings, numbers (with arithmetic, for 0/0 and 1/0),
// booleans, nil and empty functions — so that the fuzzer varies options,
// not code.
func constantTable(src string) bool {
	if len(src) > 4096 {
		return false
	}
	chunk, err := parse.Parse(strings.NewReader("return "+src), "opts")
	if err != nil || len(chunk) != 1 {
		return false
	}
	ret, ok := chunk[0].(*ast.ReturnStmt)
	if !ok || len(ret.Exprs) != 1 {
		return false
	}
	// Arithmetic only on numbers and concatenation only of strings and
	// numbers, so that building the table never raises.
	var number, text func(e ast.Expr, depth int) bool
	number = func(e ast.Expr, depth int) bool {
		switch x := e.(type) {
		case *ast.NumberExpr:
			return true
		case *ast.UnaryMinusOpExpr:
			return depth < 12 && number(x.Expr, depth+1)
		case *ast.ArithmeticOpExpr:
			return depth < 12 && number(x.Lhs, depth+1) && number(x.Rhs, depth+1)
		}
		return false
	}
	text = func(e ast.Expr, depth int) bool {
		switch x := e.(type) {
		case *ast.StringExpr:
			return true
		case *ast.StringConcatOpExpr:
			return depth < 12 && text(x.Lhs, depth+1) && text(x.Rhs, depth+1)
		}
		return number(e, depth)
	}
	var constant func(e ast.Expr, depth int) bool
	constant = func(e ast.Expr, depth int) bool {
		if depth > 12 {
			return false
		}
		switch x := e.(type) {
		case *ast.NilExpr, *ast.TrueExpr, *ast.FalseExpr:
			return true
		case *ast.NumberExpr, *ast.StringExpr, *ast.UnaryMinusOpExpr, *ast.ArithmeticOpExpr, *ast.StringConcatOpExpr:
			return text(e, depth)
		case *ast.FunctionExpr:
			return len(x.Stmts) == 0
		case *ast.TableExpr:
			for _, f := range x.Fields {
				if (f.Key != nil && !constant(f.Key, depth+1)) || !constant(f.Value, depth+1) {
					return false
				}
			}
			return true
		}
		return false
	}
	return constant(ret.Exprs[0], 0)
}

// optionSeeds are the option tables of the repository's flows and stdlib
// (those written with constants only), and a few the flows' authors get
// wrong.
func optionSeeds(t testing.TB) []string {
	var files []string
	for _, g := range []string{"../flows/*.lua", "../examples/*/*.lua", "../examples/*/flows/*.lua", "../stdlib/*.lua"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	call := regexp.MustCompile(`(call:gather|call:transfer|call:play\([^,()]*,|ivr\.dial|ivr\.http\.(get|post)\([^,()]*,)\s*\(?\s*\{`)
	seen := map[string]bool{}
	var seeds []string
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		for _, loc := range call.FindAllStringIndex(src, -1) {
			start := loc[1] - 1 // the opening brace
			if lit, ok := braced(src[start:]); ok && constantTable(lit) && !seen[lit] {
				seen[lit] = true
				seeds = append(seeds, lit)
			}
		}
	}
	if len(seeds) < 5 {
		t.Fatalf("found %d constant option tables in the flows; the seeds expect the repository's flows", len(seeds))
	}
	return append(seeds,
		`{ prompt = "user_welcome", max = 1, timeout = 5, tries = 3, valid = "[1-3]", invalid_prompt = "user_invalid" }`,
		`{ prompt = { "user_welcome", "user_menu" }, min = 4, max = 4, terminator = "#", digit_timeout = 0.5, flush = true }`,
		`{ to = "13800000001", flow = "main", vars = { room = "1203", n = 2 }, at = 1795000000, retry = { attempts = 3, delay = 60, backoff = 2, on = { "busy", "no_answer" } }, secret = { "code" } }`,
		`{ number = "13800000001", trunk = "1" }`,
		`{ headers = { ["X-Room"] = "1203", Accept = "application/json" }, timeout = 2, json = true }`,
		`{ max = 0/0, timeout = 1/0, tries = -1/0, min = 1e300 }`,
		`{ [1] = "x", [true] = 1, [2.5] = false, valid = "[", terminator = "##" }`,
		`{ ext = function() end, vars = { { { {} } } } }`,
	)
}

// braced returns the balanced {…} that src starts with (strings and
// comments are not understood; seeds that come out wrong fail
// constantTable and are left out).
func braced(src string) (string, bool) {
	depth := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return src[:i+1], true
			}
		}
	}
	return "", false
}

// refusingDevice accepts menu assignments and hang-ups and refuses the
// rest, so that no option table leaves a call waiting on the device.
type refusingDevice struct{}

var errRefusing = errors.New("the fuzzed device refuses")

func (refusingDevice) AssignMenu(context.Context, int, engine.MenuSettings) error { return nil }
func (refusingDevice) Play(context.Context, engine.Leg, int, string) error        { return errRefusing }
func (refusingDevice) Transfer(context.Context, engine.Leg, engine.Target) error {
	return &engine.Refusal{Reason: engine.ReasonBusy}
}
func (refusingDevice) Dial(context.Context, int, string, string, string) (engine.Leg, engine.LegStatus, error) {
	return engine.Leg{}, engine.LegStatus{}, &engine.Refusal{Reason: engine.ReasonFailed, Code: 1}
}
func (refusingDevice) DialFromExt(context.Context, string, string, string) (engine.Leg, engine.LegStatus, error) {
	return engine.Leg{}, engine.LegStatus{}, nil
}
func (refusingDevice) ConnectExts(context.Context, string, string) error  { return nil }
func (refusingDevice) Accept(context.Context, engine.Leg) error           { return nil }
func (refusingDevice) Hangup(context.Context, engine.Leg) error           { return nil }
func (refusingDevice) VoiceFiles(context.Context) ([]string, error)       { return nil, errRefusing }
func (refusingDevice) Outers(context.Context) ([]engine.LegStatus, error) { return nil, nil }
func (refusingDevice) Waiting(context.Context) ([]engine.Event, error)    { return nil, nil }
func (refusingDevice) Query(context.Context, engine.Leg) (engine.LegStatus, error) {
	return engine.LegStatus{}, engine.ErrGone
}

// jsonLines keeps JSON log lines.
type jsonLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (j *jsonLines) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.buf.Write(p)
}

func (j *jsonLines) records(t *testing.T) []map[string]any {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(j.buf.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func FuzzLuaOptions(f *testing.F) {
	for _, s := range optionSeeds(f) {
		f.Add(s)
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok": true}`)
	}))
	defer backend.Close()
	f.Fuzz(func(t *testing.T, opts string) {
		if !constantTable(opts) {
			return
		}
		runOptions(t, backend.URL, opts)
	})
}

// runOptions runs the flow on opts and checks what each call gave.
func runOptions(t *testing.T, backendURL, opts string) {
	var body strings.Builder
	body.WriteString(`local f = {}
local function try(name, fn)
  local ok, err = pcall(fn)
  ivr.log.info("fuzz", { fn = name, ok = tostring(ok), err = tostring(err) })
end
function f.incoming(call)
`)
	for _, c := range optionCalls {
		expr := strings.ReplaceAll(c.call, "URL", fmt.Sprintf("%q", backendURL+"/x"))
		expr = strings.Replace(expr, "OPTS", "(\n"+opts+"\n)", 1)
		fmt.Fprintf(&body, "  try(%q, function() return %s end)\n", c.fn, expr)
	}
	body.WriteString("end\nreturn f\n")
	flow, err := engine.CompileFlow("main", "flows/main.lua", []byte(body.String()))
	if err != nil {
		return // a constant the compiler refuses (a number too big, say)
	}
	logs := &jsonLines{}
	clk := clock.NewVirtual(epoch)
	rt, err := engine.NewRouter(engine.Config{
		Devices: []*engine.Device{{Name: "om1", PBX: refusingDevice{}, Fallback: "200"}},
		Routes:  []engine.Route{{Flow: "main"}},
		Flows:   engine.Flows{"main": flow},
		Clock:   clk,
		Logger:  hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info, JSONFormat: true}),
		HTTP:    engine.HTTPOptions{Allow: []string{strings.TrimPrefix(backendURL, "http://")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(context.Background())
	rt.Deliver(engine.Event{Device: "om1", Kind: engine.EvIncoming, Leg: engine.Leg{Kind: engine.LegVisitor, ID: "1"}, From: "13800000001", To: "60001", CallID: "c1"})
	// A gather with no prompt waits for its timeouts: let the virtual
	// clock run until the call is over. Real time bounds it: a call
	// still live after that is stuck.
	deadline := time.Now().Add(10 * time.Second)
	for clk.Settle(); rt.Live() > 0; clk.Settle() {
		if time.Now().After(deadline) {
			t.Fatalf("the call is still live after every timer ran (options %s)", opts)
		}
		clk.Advance(10 * time.Minute)
	}
	rt.Wait()
	rt.Close()

	got := map[string]bool{}
	for _, rec := range logs.records(t) {
		msg, _ := rec["@message"].(string)
		if lvl, _ := rec["@level"].(string); lvl == "error" && strings.Contains(msg, "panic") {
			t.Fatalf("%s: %v\noptions: %s", msg, rec, opts)
		}
		if msg != "fuzz" {
			continue
		}
		fn, _ := rec["fn"].(string)
		got[fn] = true
		if rec["ok"] == "true" {
			continue
		}
		checkOptionError(t, fn, rec["err"].(string), opts)
	}
	for _, c := range optionCalls {
		if !got[c.fn] {
			t.Fatalf("%s never returned (options %s)", c.fn, opts)
		}
	}
}

var optionErr = regexp.MustCompile(`^flows/main\.lua:\d+: ([a-z.:]+): (.+)$`)

// checkOptionError checks that an error is the function's own, about an
// option.
func checkOptionError(t *testing.T, fn, msg, opts string) {
	t.Helper()
	m := optionErr.FindStringSubmatch(strings.SplitN(msg, "\n", 2)[0])
	if m == nil || m[1] != fn {
		t.Fatalf("%s raised %q: not an error of %s at the flow's line\noptions: %s", fn, msg, fn, opts)
	}
	if tableWide.MatchString(m[2]) {
		return
	}
	for _, c := range optionCalls {
		if c.fn != fn {
			continue
		}
		for _, o := range c.opts {
			if strings.Contains(m[2], o) {
				return
			}
		}
	}
	t.Fatalf("%s raised %q, which names no option\noptions: %s", fn, msg, opts)
}
