package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// loadFlow is the ordinary call of the load test: a menu whose answer is
// computed with the string library and kept in call.vars, so a sandbox
// another call had tampered with would show in the result.
const loadFlow = `
local f = {}
function f.incoming(call)
  local key = call:gather{ prompt = "user_welcome", timeout = 5, valid = "[1-8]" }
  if not key then return end
  call.vars.choice = ("k"):rep(2) .. string.format("%02d", tonumber(key))
  call:play("user_thanks")
  ivr.log.info("ordinary done", { caller = call.from, choice = call.vars.choice })
end
return f`

// loadHostile are hostile flows of the sandbox suite, by name: those that
// burn CPU (stopped by the instruction budget) or fail, not those that
// allocate, which a hundred at once would make a test of the machine.
var loadHostile = []string{
	"endless loop", "endless tail calls", "endless recursion", "pcall swallowing the stop, then carrying on",
	"xpcall whose handler loops, then carrying on", "errors swallowed in a loop",
}

// TestHostileFlowsAmongOrdinaryCalls: 100 hostile calls among 1,000
// ordinary ones (20 among 200 under -short or -race). Every ordinary call
// completes with its own answer; every hostile call is stopped and ends;
// no session is left.
func TestHostileFlowsAmongOrdinaryCalls(t *testing.T) {
	ordinary, hostile := 1000, 100
	if testing.Short() || raceOn {
		ordinary, hostile = 200, 20
	}
	byName := map[string]hostileCase{}
	for _, hc := range hostileCases {
		byName[hc.name] = hc
	}
	flows := map[string]string{"main": loadFlow}
	var routes []engine.Route
	for i, name := range loadHostile {
		hc, ok := byName[name]
		if !ok {
			t.Fatalf("no hostile case %q in the sandbox suite", name)
		}
		flow := fmt.Sprintf("hostile%d", i)
		flows[flow] = hc.source()
		routes = append(routes, engine.Route{From: fmt.Sprintf("1390%d*", i), Flow: flow})
	}
	routes = append(routes, engine.Route{Flow: "main"})
	r := newRig(t, flows, rigOptions{config: func(c *engine.Config) {
		c.Routes = routes
		c.Limits = sandboxLimits()
	}})
	start := time.Now()
	calls := make([]*omsim.Call, ordinary)
	per := ordinary / hostile
	for i := range calls {
		if i%per == 0 {
			k := (i / per) % len(loadHostile)
			if _, err := r.sim.PlaceCall(fmt.Sprintf("1390%d%06d", k, i), "60001"); err != nil {
				t.Fatal(err)
			}
		}
		c, err := r.sim.PlaceCall(fmt.Sprintf("138%08d", i), "60001")
		if err != nil {
			t.Fatal(err)
		}
		calls[i] = c
	}
	r.sim.Settle()
	r.advance(2500 * time.Millisecond) // the welcome has played
	r.sim.Settle()
	for i, c := range calls {
		if err := c.Press(fmt.Sprint(1 + i%8)); err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	r.sim.Settle()
	for i := 0; i < 30 && r.router.Live() > 0; i++ {
		r.advance(time.Second)
		r.sim.Settle()
	}
	if n := r.router.Live(); n != 0 {
		t.Fatalf("%d sessions still live", n)
	}
	done := map[string]string{}
	stopped := 0
	for _, l := range r.logs.all() {
		if strings.Contains(l, "ordinary done") {
			done[field(l, "caller")] = field(l, "choice")
		}
		if strings.Contains(l, "[ERROR]") && strings.Contains(l, "from=1390") || strings.Contains(l, "flow stopped") || strings.Contains(l, "flow failed") {
			stopped++
		}
	}
	for i, c := range calls {
		from := fmt.Sprintf("138%08d", i)
		if want := fmt.Sprintf("kk%02d", 1+i%8); done[from] != want {
			t.Fatalf("ordinary caller %s: choice %q, want %q; heard %v", from, done[from], want, heard(c))
		}
		if h := heard(c); len(h) != 2 || h[1] != "user_thanks" {
			t.Fatalf("ordinary caller %s heard %v", from, h)
		}
	}
	if stopped < hostile {
		t.Errorf("%d hostile calls logged as stopped or failed, want %d", stopped, hostile)
	}
	t.Logf("%d ordinary and %d hostile calls in %s", ordinary, hostile, time.Since(start))
}
