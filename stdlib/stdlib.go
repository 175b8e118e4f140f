// Package stdlib holds the Lua modules ivrd offers to flows — require
// "ivr.menu", "ivr.survey", "ivr.say", "ivr.verify", "ivr.wakeup" — and the
// editor type definitions of the whole Lua API, all embedded in the binary.
//
// The modules are plain Lua 5.1 written on the flow API alone (the call
// object and the ivr global), so they run in the same sandbox as flows,
// are journaled like flows, and replay like flows. The engine compiles them
// once (engine.StdlibModules).
//
// Module files are named after the last part of the module name: menu.lua
// is "ivr.menu". A file whose name begins with an underscore is a helper
// the modules share, not part of the flow API.
//
// types/ holds ---@meta files for the Lua language server: point an
// editor's workspace.library at that folder (Types gives the same files to
// a tool that writes them out) and flows get completion and checks for
// every call method, ivr service, stdlib function and option.
package stdlib

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed *.lua
var modules embed.FS

//go:embed types
var types embed.FS

// Sources returns the source of every module by module name ("ivr.menu"
// for menu.lua). The map is new on each call; the byte slices are shared
// and must not be changed.
func Sources() map[string][]byte {
	entries, err := fs.ReadDir(modules, ".")
	if err != nil {
		panic("stdlib: " + err.Error()) // embedded: cannot fail
	}
	out := make(map[string][]byte, len(entries))
	for _, e := range entries {
		src, err := modules.ReadFile(e.Name())
		if err != nil {
			panic("stdlib: " + err.Error())
		}
		out[ModuleName(e.Name())] = src
	}
	return out
}

// ModuleName is the module a file defines: "ivr.menu" for menu.lua.
func ModuleName(file string) string {
	return "ivr." + strings.TrimSuffix(file, ".lua")
}

// FileName is the file that defines a module, as error messages name it:
// "stdlib/menu.lua" for ivr.menu.
func FileName(module string) string {
	return "stdlib/" + strings.TrimPrefix(module, "ivr.") + ".lua"
}

// Internal reports whether a module is a helper the stdlib modules share
// rather than part of the flow API (its name begins with an underscore).
func Internal(module string) bool {
	return strings.HasPrefix(strings.TrimPrefix(module, "ivr."), "_")
}

// Types returns the Lua language server definition files (---@meta), one
// per file at the root of the returned file system.
func Types() fs.FS {
	sub, err := fs.Sub(types, "types")
	if err != nil {
		panic("stdlib: " + err.Error())
	}
	return sub
}
