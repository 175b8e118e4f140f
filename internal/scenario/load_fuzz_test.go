package scenario

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// fuzzFlows are the flows a fuzzed scenario file may name: those of the
// examples, and main as the default.
var fuzzFlows = map[string]bool{"main": true, "menu": true, "survey": true, "verify": true, "wakeup": true, "frontdesk": true}

// FuzzLoadScenario: any scenario file gives scenarios or an error that
// says where, never a panic; a file that loads sets up a simulator and a
// router without complaint (what `ivrd test` builds before it runs).
func FuzzLoadScenario(f *testing.F) {
	seeds, err := filepath.Glob("../../examples/*/*.scenario.toml")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no example scenario files (%v)", err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("[[scenario]]\n[[scenario.call]]\nsteps = [{ press = \"1\" }]\n")
	f.Fuzz(func(t *testing.T, text string) {
		const file = "fuzz.scenario.toml"
		scs, err := parseFile(file, []byte(text), fuzzFlows, "main")
		if err != nil {
			if !strings.HasPrefix(err.Error(), file) {
				t.Fatalf("the error does not name the file: %v", err)
			}
			return
		}
		if len(scs) == 0 {
			t.Fatal("no error and no scenario")
		}
		for _, sc := range scs {
			if sc.Name == "" || !strings.HasPrefix(sc.Where(), file+":") {
				t.Fatalf("scenario %q at %q", sc.Name, sc.Where())
			}
			if !fuzzFlows[sc.flow] {
				t.Fatalf("scenario %q runs flow %q, which the suite lacks", sc.Name, sc.flow)
			}
			checkSetup(t, sc, text)
		}
	})
}

// checkSetup builds the simulator configuration and the router a run of
// sc would build (newRig), without listening or running anything.
func checkSetup(t *testing.T, sc *Scenario, text string) {
	t.Helper()
	cfg := sc.sim
	cfg.VoiceFiles = mergeMap(cfg.VoiceFiles, nil)
	cfg.Numbers = mergeMap(cfg.Numbers, nil)
	if cfg.Numbers == nil {
		cfg.Numbers = map[string]omsim.Policy{}
	}
	for _, n := range sc.numbers {
		if len(sc.callees[n]) == 0 {
			t.Fatalf("%s: callee %s has no script", sc.Name, n)
		}
		cfg.Numbers[n] = sc.callees[n][0].policy
	}
	sim, err := omsim.New(cfg, nil)
	if err != nil {
		t.Fatalf("%s: the simulator refuses a scenario that loaded: %v\n%s", sc.Name, err, text)
	}
	sim.Close()
	dev := sc.device
	dev.Name, dev.PBX = DeviceName, idlePBX{}
	if _, err := engine.NewRouter(engine.Config{
		Devices: []*engine.Device{&dev},
		Routes:  sc.routes,
		Flows:   engine.Flows{},
		Dial:    sc.dial,
	}); err != nil {
		t.Fatalf("%s: the engine refuses a scenario that loaded: %v\n%s", sc.Name, err, text)
	}
}

// idlePBX is a device never reached: the target only builds the router.
type idlePBX struct{}

var errIdle = errors.New("not reached")

func (idlePBX) AssignMenu(context.Context, int, engine.MenuSettings) error { return errIdle }
func (idlePBX) Play(context.Context, engine.Leg, int, string) error        { return errIdle }
func (idlePBX) Transfer(context.Context, engine.Leg, engine.Target) error  { return errIdle }
func (idlePBX) Dial(context.Context, int, string, string, string) (engine.Leg, engine.LegStatus, error) {
	return engine.Leg{}, engine.LegStatus{}, errIdle
}
func (idlePBX) DialFromExt(context.Context, string, string, string) (engine.Leg, engine.LegStatus, error) {
	return engine.Leg{}, engine.LegStatus{}, errIdle
}
func (idlePBX) ConnectExts(context.Context, string, string) error  { return errIdle }
func (idlePBX) Accept(context.Context, engine.Leg) error           { return errIdle }
func (idlePBX) Hangup(context.Context, engine.Leg) error           { return errIdle }
func (idlePBX) VoiceFiles(context.Context) ([]string, error)       { return nil, errIdle }
func (idlePBX) Outers(context.Context) ([]engine.LegStatus, error) { return nil, errIdle }
func (idlePBX) Waiting(context.Context) ([]engine.Event, error)    { return nil, errIdle }
func (idlePBX) Query(context.Context, engine.Leg) (engine.LegStatus, error) {
	return engine.LegStatus{}, errIdle
}
