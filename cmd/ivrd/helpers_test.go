package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// writeFile writes a test file, creating its folder.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startSim starts a simulated OM on real time on a loopback port, closed
// when the test ends.
func startSim(t testing.TB, cfg omsim.Config) *omsim.Sim {
	t.Helper()
	sim, err := omsim.New(cfg, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}
