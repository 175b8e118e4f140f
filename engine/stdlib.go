package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"sync"

	lua "github.com/yuin/gopher-lua"

	"github.com/ivrd/ivrd/stdlib"
)

// stdlibOnce compiles the embedded stdlib the first time it is asked for.
var stdlibOnce = sync.OnceValues(compileStdlib)

// compiledStdlib is the embedded stdlib, compiled.
type compiledStdlib struct {
	protos map[string]*lua.FunctionProto
	hash   string
}

func compileStdlib() (compiledStdlib, error) {
	src := stdlib.Sources()
	names := make([]string, 0, len(src))
	for name := range src {
		names = append(names, name)
	}
	sort.Strings(names)
	sum := sha256.New()
	out := compiledStdlib{protos: make(map[string]*lua.FunctionProto, len(src))}
	for _, name := range names {
		// Each module enters the hash with its name and length, so that
		// moving text from one module to another changes it.
		sum.Write([]byte(name))
		sum.Write(binary.BigEndian.AppendUint64([]byte{0}, uint64(len(src[name]))))
		sum.Write(src[name])
		f, err := CompileFlow(name, stdlib.FileName(name), src[name])
		if err != nil {
			return compiledStdlib{}, err
		}
		out.protos[name] = f.Proto
	}
	out.hash = hex.EncodeToString(sum.Sum(nil))
	return out, nil
}

// StdlibModules returns the embedded Lua stdlib (require "ivr.menu" …),
// compiled once, by module name; chunk names are stdlib/<file>.lua, so
// errors inside a module read "stdlib/menu.lua:40: …". It is what a
// Router offers flows when Config.Modules is nil. The map is new on each
// call; the protos are shared and immutable.
//
// The stdlib is part of the binary and covered by the tests: one that does
// not compile is a build defect, and StdlibModules panics.
func StdlibModules() map[string]*lua.FunctionProto {
	c, err := stdlibOnce()
	if err != nil {
		panic("engine: the embedded stdlib does not compile: " + err.Error())
	}
	out := make(map[string]*lua.FunctionProto, len(c.protos))
	for k, v := range c.protos {
		out[k] = v
	}
	return out
}

// StdlibHash is the hex SHA-256 of the embedded stdlib's sources (names
// and text of every module), for the journal: a replay must run the stdlib
// the call started with.
func StdlibHash() string {
	c, err := stdlibOnce()
	if err != nil {
		panic("engine: the embedded stdlib does not compile: " + err.Error())
	}
	return c.hash
}

// modulesOr returns the modules a Router offers: those configured, or the
// stdlib when none are (nil; an empty map offers none).
// libHashOf is the hash journaled for a router's modules: the stdlib's,
// or "" for modules a test supplied.
func libHashOf(m map[string]*lua.FunctionProto) string {
	if m == nil {
		return StdlibHash()
	}
	return ""
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func modulesOr(m map[string]*lua.FunctionProto) map[string]*lua.FunctionProto {
	if m == nil {
		return StdlibModules()
	}
	return m
}
