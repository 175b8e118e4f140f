package engine

import (
	"fmt"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Limits bound what one call's flow may use. The zero value of each field
// means the default named in its comment.
type Limits struct {
	// StepInstructions bounds one step of a flow — the Lua code run
	// between two blocking calls — in VM instructions, which cost the same
	// on a loaded machine as on an idle one (default
	// DefaultStepInstructions, about 10–30 ms of one core).
	StepInstructions int64
	// CallInstructions bounds the instructions of a whole call (default
	// DefaultCallInstructions).
	CallInstructions int64
	// StepCPU is a wall-clock backstop for one step (default
	// DefaultStepCPU); it also bounds time spent inside library functions,
	// which count as one instruction.
	StepCPU time.Duration
	// CallCPU bounds the wall-clock time of all a call's steps together
	// (default DefaultCallCPU).
	CallCPU time.Duration
	// MaxString bounds the strings string.rep, string.format and
	// table.concat make, and how much string.gsub may grow its subject
	// (default 1 MiB).
	MaxString int
	// MaxVars bounds the JSON-encoded size of call.vars (default 64 KiB).
	MaxVars int
	// MaxValue bounds the JSON-encoded size of each ivr.store value
	// (default 64 KiB).
	MaxValue int
	// CallStack bounds Lua call depth (default 200).
	CallStack int
	// Registry bounds the Lua value stack, in slots (default 256 Ki).
	Registry int
}

// Defaults for Limits.
const (
	DefaultStepInstructions = 1_000_000
	DefaultCallInstructions = 100_000_000
	DefaultStepCPU          = 5 * time.Second
	DefaultCallCPU          = 60 * time.Second
	DefaultMaxString        = 1 << 20
	DefaultMaxVars          = 64 << 10
	DefaultMaxValue         = 64 << 10
	DefaultCallStack        = 200
	DefaultRegistry         = 256 << 10
)

func (l Limits) withDefaults() Limits {
	if l.StepInstructions <= 0 {
		l.StepInstructions = DefaultStepInstructions
	}
	if l.CallInstructions <= 0 {
		l.CallInstructions = DefaultCallInstructions
	}
	if l.StepCPU <= 0 {
		l.StepCPU = DefaultStepCPU
	}
	if l.CallCPU <= 0 {
		l.CallCPU = DefaultCallCPU
	}
	if l.MaxString <= 0 {
		l.MaxString = DefaultMaxString
	}
	if l.MaxVars <= 0 {
		l.MaxVars = DefaultMaxVars
	}
	if l.MaxValue <= 0 {
		l.MaxValue = DefaultMaxValue
	}
	if l.CallStack <= 0 {
		l.CallStack = DefaultCallStack
	}
	if l.Registry <= 0 {
		l.Registry = DefaultRegistry
	}
	return l
}

// removed lists what the sandbox takes out of the libraries it opens:
// file and dynamic loading, the process-wide garbage collector, and
// randomness (flows use the journaled ivr.random).
var removed = map[string][]string{
	"_G":     {"dofile", "loadfile", "load", "loadstring", "module", "require", "collectgarbage", "_printregs", "getfenv", "setfenv", "newproxy"},
	"string": {"dump"},
	"math":   {"random", "randomseed"},
}

// newSandbox returns a fresh Lua state with only base, table, string and
// math (minus what removed lists), pcall and xpcall mended (luafix.go),
// the capped and budgeted library functions of installCapped, and require
// of the embedded modules in modules.
func newSandbox(lim Limits, modules map[string]*lua.FunctionProto) *lua.LState {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:    true,
		CallStackSize:   lim.CallStack,
		RegistrySize:    512,
		RegistryMaxSize: lim.Registry,
		// gopher-lua grows the value stack by this many slots at a time,
		// copying it each time: with its default of 32, one unpack or
		// string.byte of a few hundred thousand values spent 15 s in Go,
		// out of the budget's reach.
		RegistryGrowStep:    max(lim.Registry/64, 1024),
		MinimizeStackMemory: true,
	})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	for lib, names := range removed {
		t := L.GetGlobal(lib).(*lua.LTable)
		if lib == "_G" {
			t = L.G.Global
		}
		for _, n := range names {
			t.RawSetString(n, lua.LNil)
		}
	}
	// pcall and xpcall that close only the upvalues of the frames they
	// unwind (luafix.go); installCapped then charges their caught errors.
	L.SetGlobal("pcall", L.NewFunction(sandboxPCall))
	L.SetGlobal("xpcall", L.NewFunction(sandboxXPCall))
	installCapped(L, lim)
	L.SetGlobal("require", L.NewFunction(requireEmbedded(modules)))
	return L
}

// requireEmbedded loads modules compiled into the binary, once per state.
// Anything else — a file path included — is an error.
func requireEmbedded(modules map[string]*lua.FunctionProto) lua.LGFunction {
	return func(L *lua.LState) int {
		name := L.CheckString(1)
		loaded, _ := L.G.Registry.RawGetString("_ivrd_loaded").(*lua.LTable)
		if loaded == nil {
			loaded = L.NewTable()
			L.G.Registry.RawSetString("_ivrd_loaded", loaded)
		}
		if v := loaded.RawGetString(name); v != lua.LNil {
			L.Push(v)
			return 1
		}
		proto, ok := modules[name]
		if !ok {
			L.RaiseError("require: no module %q (flows can require only the modules built into ivrd)", name)
		}
		L.Push(L.NewFunctionFromProto(proto))
		L.Call(0, 1)
		v := L.Get(-1)
		if v == lua.LNil {
			v = lua.LTrue
		}
		loaded.RawSetString(name, v)
		L.Push(v)
		return 1
	}
}

// luaError renders an error from a protected call: the message with its
// file:line, without gopher-lua's stack trace.
func luaError(err error) string {
	if ae, ok := err.(*lua.ApiError); ok {
		msg := ae.Object.String()
		if ae.Type == lua.ApiErrorSyntax {
			return truncateError(strings.TrimSpace(msg))
		}
		return truncateError(msg)
	}
	return truncateError(fmt.Sprint(err))
}
