// Package flows holds the flows a default install loads, <name>.lua, and
// embeds them so that "ivrd demo" runs from any folder. ivrd serve reads
// the folder itself, not this copy.
package flows

import (
	"embed"
	"io/fs"
)

//go:embed *.lua
var files embed.FS

// FS returns the embedded flow files, <name>.lua at its root.
func FS() fs.FS { return files }
