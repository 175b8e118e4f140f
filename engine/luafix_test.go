package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// runSandboxed compiles src as flows/t.lua, runs it in a fresh sandbox
// under a budget of instructions and returns what it returns, as a
// string, with the budget (to see why it stopped).
func runSandboxed(t *testing.T, ctx context.Context, instructions int64, src string, setup ...func(*lua.LState)) (string, *budget, error) {
	t.Helper()
	f, err := CompileFlow("t", "flows/t.lua", []byte(src))
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	L := newSandbox(Limits{}.withDefaults(), StdlibModules())
	defer L.Close()
	for _, s := range setup {
		s(L)
	}
	b := newBudget(ctx, instructions, time.Minute)
	L.SetContext(b)
	L.Push(L.NewFunctionFromProto(f.Proto))
	if err := L.PCall(0, 1, nil); err != nil {
		return "", b, err
	}
	return L.Get(-1).String(), b, nil
}

// evalSandboxed is runSandboxed for code that must not fail.
func evalSandboxed(t *testing.T, src string) string {
	t.Helper()
	got, _, err := runSandboxed(t, context.Background(), 1_000_000, src)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return got
}

type luaCase struct{ name, src, want string }

func checkLuaCases(t *testing.T, cases []luaCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := evalSandboxed(t, c.src); got != c.want {
				t.Errorf("got %q, want %q\n%s", got, c.want, c.src)
			}
		})
	}
}

// Multiple assignment, which gopher-lua compiles wrongly when a target is
// a local (the swap gave 2 2); the expected values are those of Lua 5.1.
func TestMultipleAssignment(t *testing.T) {
	checkLuaCases(t, []luaCase{
		{"swap of locals", `local a, b = 1, 2; a, b = b, a; return a .. " " .. b`, "2 1"},
		{"expressions reading the targets", `local a, b = 1, 2; a, b = a + 1, a + b; return a .. " " .. b`, "2 3"},
		{"rotation of three", `local a, b, c = 1, 2, 3; a, b, c = c, a, b; return a .. b .. c`, "312"},
		{"a local and a global", `g = 1; local a = 2; a, g = g, a; return a .. " " .. g`, "1 2"},
		{"upvalues", `local a, b = 1, 2
			local function swap() a, b = b, a end
			swap(); return a .. " " .. b`, "2 1"},
		{"index target after its key is reassigned", `local i, a = 1, {}
			i, a[i] = i + 1, 20
			return i .. " " .. tostring(a[1]) .. " " .. tostring(a[2])`, "2 20 nil"},
		{"index target before its key is reassigned", `local i, a = 1, {}
			a[i], i = 20, 30
			return i .. " " .. tostring(a[1]) .. " " .. tostring(a[30])`, "30 20 nil"},
		{"table reassigned with its field", `local t = {}; local old = t
			t, t.x = {}, 5
			return tostring(old.x) .. " " .. tostring(t.x)`, "5 nil"},
		{"field of a field", `local t = { u = { v = 1 } }; local u = t.u
			t.u, t.u.v = {}, 2
			return tostring(u.v) .. " " .. tostring(t.u.v)`, "2 nil"},
		{"targets' tables and keys before the values", `local log = {}
			local function k(n) log[#log + 1] = "k" .. n; return n end
			local function v(n) log[#log + 1] = "v" .. n; return n end
			local t = {}
			t[k(1)], t[k(2)] = v(1), v(2)
			return table.concat(log, " ")`, "k1 k2 v1 v2"},
		{"a call's several values", `local function f() return 1, 2, 3 end
			local a, b, c = 0, 0, 0
			a, b = f()
			c, a, b = 9, f()
			return a .. b .. c`, "129"},
		{"a call in the middle gives one value", `local function f() return 1, 2 end
			local a, b, c = 0, 0, 0
			a, b, c = f(), 7
			return tostring(a) .. tostring(b) .. tostring(c)`, "17nil"},
		{"a parenthesised call gives one value", `local function f() return 1, 2 end
			local a, b = 0, 0
			a, b = (f())
			return tostring(a) .. tostring(b)`, "1nil"},
		{"varargs", `local function f(...)
				local a, b, c = 0, 0, 0
				a, b, c = ...
				return tostring(a) .. tostring(b) .. tostring(c)
			end
			return f(1, 2) .. " " .. f(1, 2, 3, 4)`, "12nil 123"},
		{"varargs after a value", `local function f(...)
				local a, b = 0, 0
				b, a = 5, ...
				return tostring(a) .. tostring(b)
			end
			return f() .. " " .. f(1, 2)`, "nil5 15"},
		{"fewer values than targets", `local a, b = 1, 2; a, b = 3; return tostring(a) .. tostring(b)`, "3nil"},
		{"more values than targets, all evaluated", `local n = 0
			local function f() n = n + 1 return n end
			local a, b = 0, 0
			a, b = f(), f(), f()
			return a .. b .. n`, "123"},
		{"the same local twice", `local a; a, a = 1, 2; return a`, "1"},
		{"the same field twice", `local t = {}; t.x, t.x = 1, 2; return t.x`, "1"},
		{"__newindex sees the last target first", `local log = {}
			local t = setmetatable({}, { __newindex = function(_, k, v) log[#log + 1] = k .. "=" .. v end })
			t.a, t.b = 1, 2
			return table.concat(log, " ")`, "b=2 a=1"},
		{"method call as the value", `local o = { n = 4 }
			function o:two() return self.n, self.n * 2 end
			local a, b = 0, 0
			a, b = o:two()
			return a .. " " .. b`, "4 8"},
		{"a flow's own names are untouched", `local assign, t = 1, 2
			assign, t = t, assign
			return assign .. " " .. t`, "2 1"},
	})
}

// The rewrite reaches every place a statement can be.
func TestMultipleAssignmentEverywhere(t *testing.T) {
	const swap = `local a, b = 1, 2; a, b = b, a; return a .. b`
	checkLuaCases(t, []luaCase{
		{"function in a table constructor", `local t = { f = function() ` + swap + ` end }; return t.f()`, "21"},
		{"function as a table key's value in a list", `local t = { function() ` + swap + ` end }; return t[1]()`, "21"},
		{"function as a call argument", `local function call(f) return f() end; return call(function() ` + swap + ` end)`, "21"},
		{"function in an expression", `return (nil or function() ` + swap + ` end)()`, "21"},
		{"nested functions", `local function outer()
				local function inner() ` + swap + ` end
				return inner()
			end
			return outer()`, "21"},
		{"function statement with a method name", `local o = {}
			function o:m() ` + swap + ` end
			return o:m()`, "21"},
		{"while", `local a, b, n = 1, 2, 0
			while n < 3 do a, b = b, a; n = n + 1 end
			return a .. b`, "21"},
		{"repeat", `local a, b, n = 1, 2, 0
			repeat a, b = b, a; n = n + 1 until n == 3
			return a .. b`, "21"},
		{"numeric for", `local a, b = 1, 2
			for i = 1, 3 do a, b = b, a end
			return a .. b`, "21"},
		{"generic for", `local a, b = 1, 2
			for _, v in ipairs({ 1, 2, 3 }) do a, b = b, a end
			return a .. b`, "21"},
		{"if, elseif and else", `local a, b = 1, 2
			local function f(n)
				if n == 1 then a, b = b, a
				elseif n == 2 then a, b = b, a
				else a, b = b, a end
			end
			f(1); f(2); f(3)
			return a .. b`, "21"},
		{"do block", `local a, b = 1, 2
			do a, b = b, a end
			return a .. b`, "21"},
		{"function in a loop's condition", `local a, b = 1, 2
			while (function() a, b = b, a; return false end)() do end
			return a .. b`, "21"},
		{"function in a for's range", `local r = ""
			for i = 1, (function() ` + swap + ` end)() - 19 do r = r .. i end
			return r`, "12"},
		{"function in a return", `return (function() ` + swap + ` end)()`, "21"},
		{"function in an assignment's value", `local f
			f = function() ` + swap + ` end
			return f()`, "21"},
		{"function in a multiple assignment", `local f, g
			f, g = function() ` + swap + ` end, 1
			return f()`, "21"},
	})
}

// Errors in a rewritten statement keep the flow's file and line.
func TestMultipleAssignmentErrorLines(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"indexing nil as a target", "local a, t = 1, nil\n\na, t.x = 2, 3\n",
			"flows/t.lua:3: attempt to index a non-table object(nil) with key 'x'"},
		{"an error in a value", "local a, b = 1, 2\na, b =\n  b,\n  a + nil\n",
			"flows/t.lua:4: cannot perform add operation between number and nil"},
		{"a call failing in a value", "local a, b = 1, 2\nlocal function f() error('boom') end\n\na, b = b, f()\n",
			"flows/t.lua:2: boom"},
		{"in a nested function", "local function f()\n  local a, t = 1, nil\n  a, t[a] = 2, 3\nend\nf()\n",
			"flows/t.lua:3: attempt to index a non-table object(nil) with key '1'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runSandboxed(t, context.Background(), 1_000_000, c.src)
			if err == nil {
				t.Fatal("no error")
			}
			if got := luaError(err); !strings.HasPrefix(got, c.want) {
				t.Errorf("error %q, want %q", got, c.want)
			}
		})
	}
}

// After pcall catches an error, closures still share their variables with
// the functions that made them. gopher-lua closes every open upvalue of
// the state when an error is raised: x stayed 0 in each case below.
func TestPcallKeepsClosuresShared(t *testing.T) {
	checkLuaCases(t, []luaCase{
		{"the issue's example", `local x = 0
			local function inc() x = x + 1 end
			pcall(function() error("e") end)
			inc()
			return x`, "1"},
		{"a variable of the main chunk, from deeper down", `local x = 0
			local function inc() x = x + 1 end
			local function g()
				local y = 0
				local function incy() y = y + 1 end
				pcall(error, "e")
				inc(); incy()
				return y
			end
			local y = g()
			inc()
			return x .. " " .. y`, "2 1"},
		{"a runtime error", `local x = 0
			local function inc() x = x + 1 end
			pcall(function() return nil + 1 end)
			inc()
			return x`, "1"},
		{"an error raised from Go", `local x = 0
			local function inc() x = x + 1 end
			pcall(string.rep)
			inc()
			return x`, "1"},
		{"a closure made inside the protected call", `local x = 0
			local ok = pcall(function()
				local function inc() x = x + 1 end
				inc(); error("e")
			end)
			local function inc() x = x + 1 end
			inc()
			return x`, "2"},
		{"an error after a nested pcall", `local x = 0
			local function inc() x = x + 1 end
			pcall(function()
				local y = 0
				local function incy() y = y + 1 end
				pcall(error, "inner")
				incy(); inc()
				if y ~= 1 then x = -100 end
				error("outer")
			end)
			inc()
			return x`, "2"},
		{"errors in a loop", `local x = 0
			local function inc() x = x + 1 end
			for i = 1, 10 do pcall(error, i); inc() end
			return x`, "10"},
		{"xpcall", `local x = 0
			local function inc() x = x + 1 end
			xpcall(function() error("e") end, function(e) inc() return e end)
			inc()
			return x`, "2"},
		{"a variable of the failed function keeps its value", `local g
			pcall(function()
				local r = tostring(1) -- a call that lowers the register top
				local y = 42
				g = function() return y end
				local z = nil + 1
			end)
			local a, b, c, d, e = 1, 2, 3, 4, 5
			return g()`, "42"},
		{"the same through xpcall", `local g
			xpcall(function()
				local y = 42
				g = function() return y end
				error("e")
			end, function(e) return e end)
			local a, b, c, d, e = 1, 2, 3, 4, 5
			return g()`, "42"},
		{"a stdlib menu option's pcall", `local x = 0
			local function inc() x = x + 1 end
			local U = require "ivr._util"
			pcall(U.relay, "f", function() error("inner") end)
			inc()
			return x`, "1"},
	})
}

// pcall and xpcall still return what gopher-lua's do.
func TestPcallResults(t *testing.T) {
	cases := []luaCase{
		{"an error table comes back as it is", `local e = { code = 7 }
			local ok, got = pcall(error, e)
			return tostring(ok) .. " " .. tostring(got == e) .. " " .. got.code`, "false true 7"},
		{"a message with its position", "local ok, e = pcall(function()\n error('boom')\nend)\nreturn e", "flows/t.lua:2: boom"},
		{"a message at level 0", `local ok, e = pcall(error, "bare", 0); return e`, "bare"},
		// gopher-lua counts levels its own way; the sandbox's pcall must
		// not change that.
		{"level 2", "local function f() error('up', 2) end\nlocal ok, e = pcall(function()\n f()\nend)\nreturn e",
			"flows/t.lua:1: up"},
		{"a runtime error", `local ok, e = pcall(function() local t; return t.x end); return e`,
			"flows/t.lua:1: attempt to index a non-table object(nil) with key 'x'"},
		{"results and arguments on success", `local function f(...) return select("#", ...), ... end
			local r = { pcall(f, 1, nil, 3) }
			return tostring(r[1]) .. " " .. r[2] .. " " .. r[3] .. " " .. tostring(r[4]) .. " " .. r[5]`, "true 3 1 nil 3"},
		{"no results", `return select("#", pcall(function() end))`, "1"},
		{"not a function", `local ok, e = pcall(nil); return tostring(ok) .. " " .. e`, "false attempt to call a nil value"},
		{"a table with __call", `local t = setmetatable({}, { __call = function(self, a) return a * 2 end })
			local ok, v = pcall(t, 21); return tostring(ok) .. " " .. v`, "true 42"},
		{"nested pcall", `local ok, inner, e = pcall(pcall, error, "x", 0)
			return tostring(ok) .. " " .. tostring(inner) .. " " .. e`, "true false x"},
		{"xpcall's handler result", `local ok, e = xpcall(function() error({ 1 }) end, function(e) return "handled " .. e[1] end)
			return tostring(ok) .. " " .. e`, "false handled 1"},
		{"xpcall's results on success", `local r = { xpcall(function() return 1, 2 end, print) }
			return tostring(r[1]) .. r[2] .. r[3] .. #r`, "true123"},
		{"xpcall's failing handler", `local ok, e = xpcall(function() error("a", 0) end, function(e) error("b", 0) end)
			return tostring(ok) .. " " .. e`, "false b"},
		{"the stdlib's positions", "local U = require 'ivr._util'\nlocal ok, e = pcall(function()\n  U.fail('bad %s', 'thing')\nend)\nreturn e",
			"flows/t.lua:3: bad thing"},
	}
	checkLuaCases(t, cases)
	// The same in a stock state, where there is no stdlib.
	for _, c := range cases {
		if strings.Contains(c.src, "require") {
			continue
		}
		L := lua.NewState()
		fn, err := L.Load(strings.NewReader(c.src), "flows/t.lua")
		if err != nil {
			t.Fatal(err)
		}
		L.Push(fn)
		if err := L.PCall(0, 1, nil); err != nil {
			t.Fatalf("%s, in stock gopher-lua: %v", c.name, err)
		}
		if got := L.Get(-1).String(); got != c.want {
			t.Errorf("%s: stock gopher-lua gives %q, the test wants %q", c.name, got, c.want)
		}
		L.Close()
	}
}

// The budget and cancellation still stop a flow through pcall and xpcall:
// a caught stop is raised again at the next instruction.
func TestPcallBudgetAndCancel(t *testing.T) {
	for _, c := range []struct{ name, src string }{
		{"pcall around an endless loop, retried", `while true do pcall(function() while true do end end) end`},
		{"nested pcall", `while true do pcall(pcall, function() while true do end end) end`},
		{"xpcall whose handler loops", `while true do xpcall(function() while true do end end, function() while true do end end) end`},
		{"errors swallowed in a loop", `local x = 0
			local function inc() x = x + 1 end
			while true do pcall(error, "again"); inc() end`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, b, err := runSandboxed(t, context.Background(), 100_000, c.src)
			if err == nil || b.reason() != stopInstructions {
				t.Fatalf("err %v, stop reason %d; want stopped for instructions", err, b.reason())
			}
			if b.used > 200_000 {
				t.Errorf("ran %d instructions on a budget of 100000", b.used)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, b, err = runSandboxed(t, ctx, 1<<40, c.src)
			if err == nil || b.reason() != stopCancel {
				t.Fatalf("cancelled: err %v, stop reason %d; want stopped by cancellation", err, b.reason())
			}
		})
	}
}

// A Go panic inside a protected call closes nothing, and PCall clears the
// registers the open upvalues point at: the variables are lost, and pcall
// says so by raising instead of letting the flow go on with nils.
func TestPcallLoudWhenGoPanicLosesVariables(t *testing.T) {
	boom := func(L *lua.LState) { L.SetGlobal("boom", L.NewFunction(func(*lua.LState) int { panic("boom") })) }
	ok, _, err := runSandboxed(t, context.Background(), 1_000_000,
		`local ok, e = pcall(boom) return tostring(ok) .. " " .. e`, boom)
	if err != nil || !strings.HasPrefix(ok, "false ") || !strings.Contains(ok, "boom") {
		t.Fatalf("a Go panic with no captured variables: %q, %v; want it caught", ok, err)
	}
	_, _, err = runSandboxed(t, context.Background(), 1_000_000, `local g
		pcall(function()
			local y = 42
			g = function() return y end
			boom()
		end)
		return g()`, boom)
	if err == nil || !strings.Contains(luaError(err), "were lost") || !strings.Contains(luaError(err), "boom") {
		t.Fatalf("err %v; want pcall to raise the panic, saying variables were lost", err)
	}
}
