package loadgen

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Flows holds the workloads' flows, flows/<workload>.lua.
//
//go:embed flows/*.lua
var Flows embed.FS

// WriteFlows copies the workloads' flows into dir, a flows folder ivrd can
// load.
func WriteFlows(dir string) error {
	files, err := fs.Glob(Flows, "flows/*.lua")
	if err != nil {
		return err
	}
	for _, name := range files {
		src, err := Flows.ReadFile(name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), src, 0o644); err != nil {
			return fmt.Errorf("write flows: %w", err)
		}
	}
	return nil
}
