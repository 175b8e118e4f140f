package stdlib_test

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/stdlib"
)

func TestSourcesAndNames(t *testing.T) {
	src := stdlib.Sources()
	for _, name := range []string{"ivr.menu", "ivr.survey", "ivr.say", "ivr.verify", "ivr.wakeup", "ivr._util"} {
		if len(src[name]) == 0 {
			t.Errorf("no source for %s", name)
		}
	}
	for name := range src {
		file := stdlib.FileName(name)
		if got := stdlib.ModuleName(strings.TrimPrefix(file, "stdlib/")); got != name {
			t.Errorf("%s → %s → %s", name, file, got)
		}
	}
	if !stdlib.Internal("ivr._util") || stdlib.Internal("ivr.menu") {
		t.Error("Internal tells helpers from modules wrongly")
	}
	// The map is the caller's.
	delete(src, "ivr.menu")
	if stdlib.Sources()["ivr.menu"] == nil {
		t.Error("Sources shares its map")
	}
}

// Every module of the flow API has a type file that require resolves to.
func TestEveryModuleHasTypes(t *testing.T) {
	metas := map[string]bool{}
	files, err := fs.Glob(stdlib.Types(), "*.lua")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(stdlib.Types(), f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		name, ok := strings.CutPrefix(first, "---@meta ")
		if !ok {
			t.Errorf("%s does not begin with ---@meta", f)
			continue
		}
		metas[strings.TrimSpace(name)] = true
	}
	if !metas["_"] {
		t.Error("no type file for the call object and the ivr global (---@meta _)")
	}
	for name := range stdlib.Sources() {
		if !stdlib.Internal(name) && !metas[name] {
			t.Errorf("module %s has no type file (---@meta %s)", name, name)
		}
	}
}
