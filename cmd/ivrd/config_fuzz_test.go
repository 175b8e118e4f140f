package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/ivrd/ivrd/engine"
)

// tomlBlock finds the ```toml blocks of a README.
var tomlBlock = regexp.MustCompile("(?s)```toml\n(.*?)```")

var tokenFile = regexp.MustCompile(`token_file = "[^"]*"`)

// configSeeds are real ivrd.toml texts: the README's blocks, alone and
// together (the first names a device, the others add sections to it), and
// one that sets every key.
func configSeeds(t testing.TB) []string {
	var blocks []string
	readmes, _ := filepath.Glob("../../examples/*/README.md")
	for _, p := range append([]string{"../../README.md", "../../examples/README.md"}, readmes...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tomlBlock.FindAllSubmatch(b, -1) {
			blocks = append(blocks, string(m[1]))
		}
	}
	if len(blocks) < 3 {
		t.Fatalf("found %d toml blocks in the READMEs; the seeds expect the README's ivrd.toml examples", len(blocks))
	}
	seeds := append([]string{}, blocks...)
	// The README's [admin] reads its token from a file this machine lacks.
	joined := tokenFile.ReplaceAllString(strings.Join(blocks[:2], "\n"), `token = "0123456789abcdef0123"`)
	return append(seeds, joined, everyKey)
}

// everyKey sets every key ivrd.toml has.
const everyKey = `
listen = "0.0.0.0:9000"
flows = "/etc/ivrd/flows"
state = "/var/lib/ivrd/ivrd.db"
log_level = "DEBUG"
log_json = true
heap_limit = "512MiB"
drain_timeout = "0s"

[limits]
step_instructions = 1000000
call_instructions = 5000000
step_cpu = "100ms"
call_cpu = "2s"
max_vars = 4096

[history]
max_age = "0s"
max_count = 10

[admin]
listen = "127.0.0.1:8081"
token = "0123456789abcdef0123"
webhook_secret = "w"

[outbound]
max_concurrent = 20
per_second = 2
per_number = 1
window = "08:00-21:00"
tz = "Asia/Shanghai"
ring_timeout = "45s"

[http]
allow = ["crm.example.com", "10.0.0.5:8080"]
timeout = "2s"

[lists]
block = "blocked"
block_prompt = "user_blocked"

[[device]]
name = "front-desk"
url = "http://10.0.0.2:80"
menus = [31, 40]
allow = ["10.0.0.2", "10.1.0.0/16"]
report_secret = "r"
command_secret = "c"
fallback = "200"
wait = "silence"
silence_file = "quiet"
silence_length = "500ms"
digit_files = ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9"]
command_timeout = "3s"

[[device]]
name = "om2"
url = "http://10.0.0.3"
web_user = "recorder"
web_password = "pw"

[recordings]
dir = "/var/lib/ivrd/recordings"
max_age = "720h"
first_backoff = "10s"
max_backoff = "10m"
give_up = "24h"
max_size = "16MiB"
max_total = "1GiB"

[[webhook]]
name = "crm"
url = "https://crm.example/ivrd?key=k"
secret = "s"
kinds = ["call.*", "cdr"]
devices = ["om2"]
exts = ["201"]
batch_size = 50
timeout = "5s"
backoff = "2s"
max_backoff = "1m"
give_up_after = "2h"

[[route]]
device = "front-*"
to = "6000[1-3]"
from = "138*"
flow = "hotel"
list = "vip"

[[route]]
device = "om2"
flow = "main"
`

// FuzzParseConfig: any text gives a configuration or an error, never a
// panic; a configuration ParseConfig accepts validates again, survives
// being written out and read back, and builds what serve builds from it.
func FuzzParseConfig(f *testing.F) {
	for _, s := range configSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := ParseConfig(strings.NewReader(text))
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("an empty error for %q", text)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("a parsed configuration does not validate again: %v\n%s", err, text)
		}
		checkBuilds(t, cfg, text)

		var out bytes.Buffer
		if err := toml.NewEncoder(&out).Encode(cfg); err != nil {
			t.Fatalf("cannot write the configuration out: %v\n%s", err, text)
		}
		again, err := ParseConfig(&out)
		if err != nil {
			t.Fatalf("the configuration written out does not parse: %v\n--- read\n%s\n--- written\n%s", err, text, out.String())
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("the configuration read back does not validate: %v", err)
		}
	})
}

// checkBuilds builds what serve builds from a validated configuration:
// the engine's limits, routes, devices, dial limits and HTTP options. A
// configuration that validates must never fail there.
func checkBuilds(t *testing.T, cfg Config, text string) {
	t.Helper()
	if _, _, err := cfg.History.retention(); err != nil {
		t.Fatalf("history: %v\n%s", err, text)
	}
	dial, err := cfg.Outbound.engine()
	if err != nil {
		t.Fatalf("outbound: %v\n%s", err, text)
	}
	httpOpts, err := cfg.HTTP.engine()
	if err != nil {
		t.Fatalf("http: %v\n%s", err, text)
	}
	if _, err := cfg.drainTimeout(); err != nil {
		t.Fatalf("drain_timeout: %v\n%s", err, text)
	}
	if _, err := cfg.Recordings.options(cfg.State); err != nil {
		t.Fatalf("recordings: %v\n%s", err, text)
	}
	if _, err := cfg.webhooks(); err != nil {
		t.Fatalf("webhooks: %v\n%s", err, text)
	}
	limits, heap := cfg.engineLimits()
	var devices []*engine.Device
	for i := range cfg.Devices {
		d := cfg.Devices[i].engineDevice()
		d.PBX = refusingPBX{}
		devices = append(devices, d)
		_ = cfg.Devices[i].allowPrefixes()
	}
	rt, err := engine.NewRouter(engine.Config{
		Devices:   devices,
		Routes:    cfg.engineRoutes(),
		Flows:     engine.Flows{},
		Limits:    limits,
		HeapLimit: heap,
		Dial:      dial,
		HTTP:      httpOpts,
	})
	if err != nil {
		t.Fatalf("the engine refuses a configuration that validated: %v\n%s", err, text)
	}
	_ = rt
}

// refusingPBX is a device that is never reached: the fuzz target only
// builds the router.
type refusingPBX struct{}

var errNotReached = errors.New("not reached")

func (refusingPBX) AssignMenu(context.Context, int, engine.MenuSettings) error { return errNotReached }
func (refusingPBX) Play(context.Context, engine.Leg, int, string) error        { return errNotReached }
func (refusingPBX) Transfer(context.Context, engine.Leg, engine.Target) error  { return errNotReached }
func (refusingPBX) Dial(context.Context, int, string, string, string) (engine.Leg, engine.LegStatus, error) {
	return engine.Leg{}, engine.LegStatus{}, errNotReached
}
func (refusingPBX) DialFromExt(context.Context, string, string, string) (engine.Leg, engine.LegStatus, error) {
	return engine.Leg{}, engine.LegStatus{}, errNotReached
}
func (refusingPBX) ConnectExts(context.Context, string, string) error  { return errNotReached }
func (refusingPBX) Accept(context.Context, engine.Leg) error           { return errNotReached }
func (refusingPBX) Hangup(context.Context, engine.Leg) error           { return errNotReached }
func (refusingPBX) VoiceFiles(context.Context) ([]string, error)       { return nil, errNotReached }
func (refusingPBX) Outers(context.Context) ([]engine.LegStatus, error) { return nil, errNotReached }
func (refusingPBX) Waiting(context.Context) ([]engine.Event, error)    { return nil, errNotReached }
func (refusingPBX) Query(context.Context, engine.Leg) (engine.LegStatus, error) {
	return engine.LegStatus{}, errNotReached
}
