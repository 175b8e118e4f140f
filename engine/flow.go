package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Flow is one compiled version of a flow file. It is immutable: a call
// keeps the Flow it started with whatever reloads happen.
type Flow struct {
	Name   string // the file name without .lua
	Path   string // where it was read from
	Hash   string // hex SHA-256 of Source
	Source []byte
	Proto  *lua.FunctionProto
}

// ShortHash is the first 12 hex digits of Hash, for logs.
func (f *Flow) ShortHash() string {
	if len(f.Hash) < 12 {
		return f.Hash
	}
	return f.Hash[:12]
}

// FlowSource gives the current version of a flow by name. The Catalog is
// one; tests may use a map.
type FlowSource interface {
	Flow(name string) (*Flow, bool)
}

// CompileFlow compiles a flow's source. chunkName is what error messages
// name the file by (flows/main.lua); a syntax error reads
// "flows/main.lua:12: …". Multiple assignments are rewritten before
// compiling, as gopher-lua gets them wrong (see rewriteAssignments).
func CompileFlow(name, chunkName string, src []byte) (*Flow, error) {
	chunk, err := parse.Parse(bytes.NewReader(src), chunkName)
	if err != nil {
		return nil, errors.New(tidyCompileError(chunkName, src, trimParseError(err.Error(), chunkName)))
	}
	// gopher-lua miscompiles multiple assignment (luafix.go).
	rewriteAssignments(chunk)
	proto, err := lua.Compile(chunk, chunkName)
	if err != nil {
		return nil, errors.New(tidyCompileError(chunkName, src, fmt.Sprintf("%s: %v", chunkName, err)))
	}
	sum := sha256.Sum256(src)
	return &Flow{Name: name, Path: chunkName, Hash: hex.EncodeToString(sum[:]), Source: src, Proto: proto}, nil
}

// trimParseError turns gopher-lua's "name line:3(column:5) near 'x': msg"
// into "name:3: near 'x': msg".
func trimParseError(msg, chunkName string) string {
	var line, col int
	var rest string
	prefix := chunkName + " line:"
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		if n, _ := fmt.Sscanf(msg[len(prefix):], "%d(column:%d)", &line, &col); n == 2 {
			if i := bytes.IndexByte([]byte(msg), ')'); i >= 0 {
				rest = msg[i+1:]
			}
			return fmt.Sprintf("%s:%d:%s", chunkName, line, rest)
		}
	}
	return msg
}

// Flows is a fixed set of flows by name, a FlowSource for tests and tools.
type Flows map[string]*Flow

// Flow returns the named flow.
func (f Flows) Flow(name string) (*Flow, bool) {
	fl, ok := f[name]
	return fl, ok
}

// compileErrorLine matches gopher-lua's compiler (not parser) errors:
// "flows/x.lua: compile error near line(2) flows/x.lua: no loop to break".
var compileErrorLine = regexp.MustCompile(`^compile error near line\((\d+)\) (.*)$`)

func tidyCompileError(path string, src []byte, msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	rest, ok := strings.CutPrefix(msg, path+" at EOF: ")
	if ok {
		// A parse error at the end of the file names no line: it is the
		// last one.
		last := bytes.Count(bytes.TrimRight(src, "\n"), []byte("\n")) + 1
		return fmt.Sprintf("%s:%d: at the end of the file: %s", path, last, rest)
	}
	if rest, ok := strings.CutPrefix(msg, path+": "); ok {
		if m := compileErrorLine.FindStringSubmatch(rest); m != nil {
			return fmt.Sprintf("%s:%s: %s", path, m[1], strings.TrimPrefix(m[2], path+": "))
		}
	}
	return msg
}
