package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ivrd/ivrd/omproto/omsim"
)

// BenchmarkRecoverAfterKill: a real "ivrd serve" holds 1,000 calls parked
// in a gather, is killed with SIGKILL, and is started again; the figure is
// the time from the new process's start until every caller has heard the
// prompt again (journal read, replay, device query, prompt).
//
//	go test -run XXX -bench RecoverAfterKill -benchtime 1x ./cmd/ivrd/
func BenchmarkRecoverAfterKill(b *testing.B) {
	const calls = 1000
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		writeFile(b, filepath.Join(dir, "flows", "main.lua"), `
local flow = {}
function flow.incoming(call)
  call:gather{ prompt = "user_welcome", timeout = 3600 }
end
return flow
`)
		listen := freeAddr(b)
		simCfg := omsim.DefaultConfig()
		simCfg.FileDuration = 10 * time.Millisecond
		simCfg.ResponseTimeout = time.Minute
		simCfg.ReportURL = "http://" + listen + "/om/om1"
		sim := startSim(b, simCfg)
		config := filepath.Join(dir, "ivrd.toml")
		writeFile(b, config, fmt.Sprintf(`
listen = %q
flows = %q
state = %q
log_level = "info"

[[device]]
name = "om1"
url = %q
`, listen, filepath.Join(dir, "flows"), filepath.Join(dir, "ivrd.db"), sim.URL()))
		d := startDaemon(b, config, 0)
		waitLong(b, "ivrd to listen", func() bool { return strings.Contains(d.output(), "serving") })
		var cs []*omsim.Call
		for n := 0; n < calls; n++ {
			c, err := sim.PlaceCall(fmt.Sprintf("138%08d", n), "60001")
			if err != nil {
				b.Fatal(err)
			}
			cs = append(cs, c)
		}
		heardTimes := func(c *omsim.Call) int {
			n := 0
			for _, h := range c.Heard() {
				if h.File == "user_welcome" {
					n++
				}
			}
			return n
		}
		waitLong(b, "every call parked in its gather", func() bool {
			for _, c := range cs {
				if heardTimes(c) < 1 {
					return false
				}
			}
			return true
		})
		if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		<-d.done
		d.done <- nil

		b.ResetTimer()
		start := time.Now()
		d2 := startDaemon(b, config, 0)
		waitLong(b, "every call prompted again", func() bool {
			for _, c := range cs {
				if heardTimes(c) < 2 {
					return false
				}
			}
			return true
		})
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(elapsed.Seconds(), "s/recovery")
		b.ReportMetric(float64(calls), "calls")
		if strings.Contains(d2.output(), "[ERROR]") {
			b.Logf("second run:\n%s", d2.output())
		}
	}
}

// waitLong is waitFor with a minute's patience.
func waitLong(b testing.TB, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
