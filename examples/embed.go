// Package examples holds the use cases ivrd ships with — menu, survey,
// wakeup, verify — each a folder with its flows, README and scenario
// tests, and embeds the flows and scenarios so that "ivrd demo" can run
// them from any folder.
package examples

import (
	"embed"
	"io/fs"
)

//go:embed */*.lua */flows/*.lua */*.scenario.toml
var files embed.FS

// FS returns the embedded flows and scenario files, one folder per
// example at its root (menu/menu.lua, wakeup/flows/wakeup.lua …).
func FS() fs.FS { return files }
