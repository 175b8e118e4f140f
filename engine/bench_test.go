package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// BenchmarkEndToEnd measures whole calls through every layer over real
// loopback HTTP: simulator → Receiver → Router → Session → Lua → Client →
// simulator. Each iteration is one call: INCOMING, a gather prompt, a key,
// a transfer that rings and answers, a hang-up — 8 reports and 3 commands.
func BenchmarkEndToEnd(b *testing.B) {
	r := newBenchRig(b)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		c, err := r.sim.PlaceCall("1380000"+strconv.Itoa(i), "60001")
		if err != nil {
			b.Fatal(err)
		}
		r.sim.Settle()
		if err := c.Press("1"); err != nil {
			b.Fatal(err)
		}
		r.sim.Settle()
		r.clk.Advance(time.Second) // the extension answers
		if err := c.HangUp(); err != nil {
			b.Fatal(err)
		}
		r.sim.Settle()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	reports := len(r.sim.Reports())
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(reports)/elapsed.Seconds(), "reports/s")
}

// newBenchRig is newRig for benchmarks (quiet logs).
func newBenchRig(b *testing.B) *rig {
	return newRigTB(b, map[string]string{"main": menuFlow}, rigOptions{})
}

// BenchmarkParkedCallMemory measures the heap and stack a call holds while
// parked in a gather, with the device faked so only the engine's share is
// counted.
func BenchmarkParkedCallMemory(b *testing.B) {
	const calls = 2000
	const flow = `local f = {}
function f.incoming(call)
  call:gather{ prompt = "user_welcome", timeout = 3600 }
end
return f`
	for i := 0; i < b.N; i++ {
		clk := clock.NewVirtual(epoch)
		rt, err := engine.NewRouter(engine.Config{
			Devices: []*engine.Device{{Name: "om1", PBX: &fakePBX{}, Fallback: "200"}},
			Routes:  []engine.Route{{Flow: "main"}},
			Flows:   compileFlowsTB(b, map[string]string{"main": flow}),
			Clock:   clk,
			Logger:  hclog.NewNullLogger(),
		})
		if err != nil {
			b.Fatal(err)
		}
		rt.Start(context.Background())
		before := liveBytes()
		for n := 0; n < calls; n++ {
			id := strconv.Itoa(n + 1)
			rt.Deliver(engine.Event{Device: "om1", Kind: engine.EvIncoming, Leg: engine.Leg{Kind: engine.LegVisitor, ID: id},
				From: "1", To: "60001", CallID: id})
		}
		clk.Settle()
		// Every call has played its prompt and waits for EndOfAnn.
		if got := len(rt.Sessions()); got != calls {
			b.Fatalf("%d sessions, want %d", got, calls)
		}
		after := liveBytes()
		b.ReportMetric(float64(after-before)/calls, "B/parked-call")
		for n := 0; n < calls; n++ {
			id := strconv.Itoa(n + 1)
			rt.Deliver(engine.Event{Device: "om1", Kind: engine.EvBye, Leg: engine.Leg{Kind: engine.LegVisitor, ID: id}})
		}
		clk.Settle()
		rt.Close()
	}
}

// liveBytes is the heap in use plus goroutine stacks, after a GC.
func liveBytes() uint64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

func compileFlowsTB(tb testing.TB, src map[string]string) engine.Flows {
	tb.Helper()
	flows := engine.Flows{}
	for name, code := range src {
		f, err := engine.CompileFlow(name, "flows/"+name+".lua", []byte(code))
		if err != nil {
			tb.Fatal(fmt.Sprintf("compile %s: %v", name, err))
		}
		flows[name] = f
	}
	return flows
}

// BenchmarkRecover measures how long a restarted engine takes to recover
// 1,000 live calls parked in a gather: read each journal, replay each flow,
// ask the device about each call, and play each prompt again.
func BenchmarkRecover(b *testing.B) {
	const calls = 1000
	const flow = `local f = {}
function f.incoming(call)
  local n = ivr.store.incr("calls")
  local key = call:gather{ prompt = "user_welcome", timeout = 3600 }
  call:transfer{ ext = "201" }
end
return f`
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := newRigTB(b, map[string]string{"main": flow}, rigOptions{})
		for n := 0; n < calls; n++ {
			if _, err := r.sim.PlaceCall("1380000"+strconv.Itoa(n), "60001"); err != nil {
				b.Fatal(err)
			}
		}
		r.sim.Settle()
		r.advance(3 * time.Second) // every prompt played; all wait for a key
		if live, _ := r.store.LiveCalls(); len(live) != calls {
			b.Fatalf("%d live calls in the store, want %d", len(live), calls)
		}
		r.router.Crash()
		r.router.Close()
		b.StartTimer()
		start := time.Now()
		if n := r.restart(); n != calls {
			b.Fatalf("recovered %d calls, want %d", n, calls)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		if got := len(r.router.Sessions()); got != calls {
			b.Fatalf("%d sessions after recovery", got)
		}
		b.ReportMetric(elapsed.Seconds(), "s/1000-calls")
	}
}

// BenchmarkOutboundAnswered dials jobs in batches of 50 through the
// simulator: each callee answers, hears one prompt and is hung up; the job
// ends done. It measures the whole outbound path — job stored, attempt
// marked, Connect, TRANSIENT, ALERT, ANSWERED, the flow's answered(call),
// BYE, history, job done.
func BenchmarkOutboundAnswered(b *testing.B) {
	const flow = `local f = {}
function f.answered(call) call:play("user_thanks") end
return f`
	r := newRigTB(b, map[string]string{"main": flow}, rigOptions{
		sim: func(c *omsim.Config) {
			c.Outside = omsim.Policy{Answer: omsim.AnswerAfter, Delay: 100 * time.Millisecond}
		},
		config: func(c *engine.Config) { c.Dial = engine.DialLimits{MaxConcurrent: 1000, PerSecond: 1e6, PerNumber: 1} },
	})
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; {
		n := min(50, b.N-done)
		for i := 0; i < n; i++ {
			if _, err := r.router.Dial(engine.DialRequest{To: "139" + strconv.Itoa(10000000+done+i), Flow: "main"}); err != nil {
				b.Fatal(err)
			}
		}
		r.sim.Settle()
		for k := 0; k < 5; k++ {
			r.clk.Advance(time.Second)
			r.sim.Settle()
		}
		done += n
	}
	elapsed := time.Since(start)
	b.StopTimer()
	js, _ := r.router.Jobs()
	ok := 0
	for _, j := range js {
		if j.State == engine.JobDone {
			ok++
		}
	}
	if ok != b.N {
		b.Fatalf("%d of %d jobs done", ok, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
}
