package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
)

const oneDevice = `
[[device]]
name = "om1"
url = "http://192.168.1.10"
`

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader(oneDevice))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != DefaultListen || cfg.Flows != "flows" || cfg.State != "ivrd.db" || cfg.LogLevel != "info" || cfg.LogJSON {
		t.Errorf("top-level defaults: got %+v", cfg)
	}
	if heap, _ := cfg.HeapLimit.Bytes(); heap != 1<<30 {
		t.Errorf("heap_limit: got %d, want %d", heap, 1<<30)
	}
	if d, err := cfg.drainTimeout(); d != 30*time.Second || err != nil {
		t.Errorf("drain_timeout: got %v, %v; want 30s", d, err)
	}
	d := cfg.Devices[0]
	want := DeviceConfig{
		Name: "om1", URL: "http://192.168.1.10", Menus: []int{41, 50}, Wait: "parked",
		SilenceFile: "silence", SilenceLength: "1s", CommandTimeout: "5s",
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("device defaults:\n got %+v\nwant %+v", d, want)
	}
	if want := []RouteConfig{{To: "*", Flow: "main"}}; !reflect.DeepEqual(cfg.Routes, want) {
		t.Errorf("routes: got %+v, want %+v", cfg.Routes, want)
	}
	ed := d.engineDevice()
	if ed.MenuFirst != 41 || ed.MenuLast != 50 || ed.SilenceLength != time.Second || ed.CommandTimeout != 5*time.Second {
		t.Errorf("engine device: got %+v", ed)
	}
	limits, heap := cfg.engineLimits()
	if limits != (engine.Limits{}) || heap != 1<<30 {
		t.Errorf("engine limits: got %+v, heap %d", limits, heap)
	}
}

func TestParseConfigFull(t *testing.T) {
	in := `
listen = "0.0.0.0:9000"
flows = "/etc/ivrd/flows"
state = "/var/lib/ivrd/ivrd.db"
log_level = "debug"
log_json = true
heap_limit = "512MiB"

[limits]
step_instructions = 1000000
call_instructions = 5000000
step_cpu = "100ms"
call_cpu = "2s"
max_vars = 4096

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
silence_length = "2s"
digit_files = ["d0","d1","d2","d3","d4","d5","d6","d7","d8","d9"]
command_timeout = "3s"
reconcile = "90s"
max_prompt = "5m"

[[route]]
device = "front-desk"
to = "6000*"
from = "138*"
flow = "vip"

[[route]]
flow = "main"
`
	cfg, err := ParseConfig(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	limits, heap := cfg.engineLimits()
	if want := (engine.Limits{StepInstructions: 1e6, CallInstructions: 5e6, StepCPU: 100 * time.Millisecond, CallCPU: 2 * time.Second, MaxVars: 4096}); limits != want {
		t.Errorf("limits: got %+v, want %+v", limits, want)
	}
	if heap != 512<<20 {
		t.Errorf("heap_limit: got %d, want %d", heap, 512<<20)
	}
	if !cfg.LogJSON || cfg.hclogLevel().String() != "debug" {
		t.Errorf("log: got json=%v level=%s", cfg.LogJSON, cfg.hclogLevel())
	}
	ed := cfg.Devices[0].engineDevice()
	want := &engine.Device{
		Name: "front-desk", MenuFirst: 31, MenuLast: 40, Fallback: "200", Wait: "silence",
		SilenceFile: "quiet", SilenceLength: 2 * time.Second, CommandTimeout: 3 * time.Second,
		DigitFiles: [10]string{"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9"},
		Reconcile:  90 * time.Second, MaxPrompt: 5 * time.Minute,
	}
	if !reflect.DeepEqual(ed, want) {
		t.Errorf("engine device:\n got %+v\nwant %+v", ed, want)
	}
	if got := cfg.Devices[0].allowPrefixes(); len(got) != 2 || got[0].String() != "10.0.0.2/32" || got[1].String() != "10.1.0.0/16" {
		t.Errorf("allow: got %v", got)
	}
	wantRoutes := []engine.Route{{Device: "front-desk", To: "6000*", From: "138*", Flow: "vip"}, {Flow: "main"}}
	if got := cfg.engineRoutes(); !reflect.DeepEqual(got, wantRoutes) {
		t.Errorf("routes: got %+v, want %+v", got, wantRoutes)
	}
}

func TestSizeBytes(t *testing.T) {
	for _, tc := range []struct {
		in   Size
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"1048576", 1 << 20, true},
		{"512KiB", 512 << 10, true},
		{"512MiB", 512 << 20, true},
		{"2GiB", 2 << 30, true},
		{"500MB", 500e6, true},
		{"10 B", 10, true},
		{"", 0, false},
		{"1.5GiB", 0, false},
		{"-1", 0, false},
		{"12XB", 0, false},
		{"99999999999TiB", 0, false},
	} {
		got, err := tc.in.Bytes()
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Size(%q).Bytes() = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	cfg, err := ParseConfig(strings.NewReader("heap_limit = 4096\n" + oneDevice))
	if err != nil {
		t.Fatal(err)
	}
	if heap, _ := cfg.HeapLimit.Bytes(); heap != 4096 {
		t.Errorf("heap_limit as a TOML integer: got %d, want 4096", heap)
	}
}

// TestParseConfigErrors checks that every invalid field is refused with an
// error that starts with (or, for TOML type errors, names) the field.
func TestParseConfigErrors(t *testing.T) {
	dev := func(extra string) string {
		return "[[device]]\nname = \"om1\"\nurl = \"http://10.0.0.2\"\n" + extra + "\n"
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unknown top-level key", "listn = \"x\"\n" + oneDevice, "unknown field listn"},
		{"unknown device key", dev("menu = [1, 2]"), "unknown field device.menu"},
		{"unknown limits key", "[limits]\nstep = \"1s\"\n" + oneDevice, "unknown field limits.step"},
		{"syntax", "listen = \n", "toml:"},
		{"type mismatch", dev("menus = \"41-50\""), `"device.menus"`},
		{"no device", "", "device: no [[device]]"},
		{"listen", "listen = \"8080\"\n" + oneDevice, "listen: "},
		{"flows", "flows = \"\"\n" + oneDevice, "flows: "},
		{"state", "state = \"\"\n" + oneDevice, "state: "},
		{"log_level", "log_level = \"loud\"\n" + oneDevice, "log_level: "},
		{"heap_limit", "heap_limit = \"lots\"\n" + oneDevice, "heap_limit: "},
		{"heap_limit type", "heap_limit = 1.5\n" + oneDevice, `"heap_limit"`},
		{"drain_timeout", "drain_timeout = \"soon\"\n" + oneDevice, "drain_timeout: "},
		{"drain_timeout negative", "drain_timeout = \"-1s\"\n" + oneDevice, "drain_timeout: "},
		{"limits.step_cpu", "[limits]\nstep_cpu = \"fast\"\n" + oneDevice, "limits.step_cpu: "},
		{"limits.call_cpu", "[limits]\ncall_cpu = \"-1s\"\n" + oneDevice, "limits.call_cpu: "},
		{"limits.max_vars", "[limits]\nmax_vars = -1\n" + oneDevice, "limits.max_vars: "},
		{"limits.step_instructions", "[limits]\nstep_instructions = -5\n" + oneDevice, "limits.step_instructions: "},
		{"limits.call_instructions", "[limits]\ncall_instructions = -5\n" + oneDevice, "limits.call_instructions: "},
		{"name missing", "[[device]]\nurl = \"http://10.0.0.2\"\n", "device[0].name: "},
		{"name chars", "[[device]]\nname = \"om 1\"\nurl = \"http://10.0.0.2\"\n", "device[0].name: "},
		{"name twice", oneDevice + oneDevice, "device[1].name: "},
		{"url missing", "[[device]]\nname = \"om1\"\n", "device[0].url: "},
		{"url scheme", "[[device]]\nname = \"om1\"\nurl = \"ftp://10.0.0.2\"\n", "device[0].url: "},
		{"url no scheme", "[[device]]\nname = \"om1\"\nurl = \"10.0.0.2\"\n", "device[0].url: "},
		{"menus length", dev("menus = [41]"), "device[0].menus: "},
		{"menus order", dev("menus = [50, 41]"), "device[0].menus: "},
		{"menus range", dev("menus = [0, 51]"), "device[0].menus: "},
		{"allow", dev(`allow = ["10.0.0.2", "ten"]`), "device[0].allow[1]: "},
		{"fallback", dev(`fallback = "operator"`), "device[0].fallback: "},
		{"wait", dev(`wait = "music"`), "device[0].wait: "},
		{"silence_file", dev(`silence_file = "a+b"`), "device[0].silence_file: "},
		{"silence_length", dev(`silence_length = "1"`), "device[0].silence_length: "},
		{"digit_files count", dev(`digit_files = ["a", "b"]`), "device[0].digit_files: "},
		{"digit_files name", dev(`digit_files = ["d0","d1","d2","d3","d4","d5","d6","d7","d8","d 9"]`), "device[0].digit_files[9]: "},
		{"command_timeout", dev(`command_timeout = "0s"`), "device[0].command_timeout: "},
		{"reconcile", dev(`reconcile = "soon"`), "device[0].reconcile: \"soon\" is not a positive duration"},
		{"reconcile too short", dev(`reconcile = "1s"`), "device[0].reconcile: 1s is shorter than 10s"},
		{"max_prompt", dev(`max_prompt = "5s"`), "device[0].max_prompt: 5s is shorter than 10s"},
		{"ext_query", dev(`ext_query = "often"`), "device[0].ext_query: \"often\" is not a positive duration"},
		{"ext_query too short", dev(`ext_query = "500ms"`), "device[0].ext_query: 500ms is shorter than 1s"},
		{"tz", dev(`tz = "Mars/Olympus"`), "device[0].tz: \"Mars/Olympus\" is not a time zone"},
		{"web_user without password", dev(`web_user = "rec"`), "device[0].web_password: "},
		{"web_password without user", dev(`web_password = "pw"`), "device[0].web_user: "},
		{"web_user colon", dev("web_user = \"a:b\"\nweb_password = \"pw\""), "device[0].web_user: "},
		{"recordings.max_age", "[recordings]\nmax_age = \"forever\"\n" + oneDevice, "recordings.max_age: "},
		{"recordings.first_backoff", "[recordings]\nfirst_backoff = \"0s\"\n" + oneDevice, "recordings.first_backoff: "},
		{"recordings.max_backoff", "[recordings]\nmax_backoff = \"soon\"\n" + oneDevice, "recordings.max_backoff: "},
		{"recordings.max_backoff short", "[recordings]\nfirst_backoff = \"1m\"\nmax_backoff = \"10s\"\n" + oneDevice, "recordings.max_backoff: "},
		{"recordings.give_up", "[recordings]\ngive_up = \"-1h\"\n" + oneDevice, "recordings.give_up: "},
		{"recordings.max_size", "[recordings]\nmax_size = \"big\"\n" + oneDevice, "recordings.max_size: "},
		{"recordings.max_size zero", "[recordings]\nmax_size = 0\n" + oneDevice, "recordings.max_size: "},
		{"recordings.max_total", "[recordings]\nmax_total = \"lots\"\n" + oneDevice, "recordings.max_total: "},
		{"recordings.max_total under max_size", "[recordings]\nmax_total = \"10MiB\"\n" + oneDevice, "recordings.max_total: 10MiB is less than max_size 64MiB"},
		{"recordings unknown", "[recordings]\nfolder = \"x\"\n" + oneDevice, "unknown field recordings.folder"},
		{"second device", oneDevice + "[[device]]\nname = \"om2\"\nurl = \"http://10.0.0.3\"\nwait = \"x\"\n", "device[1].wait: "},
		{"route flow missing", oneDevice + "[[route]]\nto = \"*\"\n", "route[0].flow: "},
		{"route flow name", oneDevice + "[[route]]\nflow = \"../etc/passwd\"\n", "route[0].flow: "},
		{"route device unknown", oneDevice + "[[route]]\nflow = \"main\"\n[[route]]\nflow = \"main\"\n[[route]]\ndevice = \"om9\"\nflow = \"main\"\n", "route[2].device: "},
		{"route to pattern", oneDevice + "[[route]]\nto = \"[6000\"\nflow = \"main\"\n", "route[0].to: "},
		{"route from pattern", oneDevice + "[[route]]\nfrom = \"[\"\nflow = \"main\"\n", "route[0].from: "},
		{"route device pattern", oneDevice + "[[route]]\ndevice = \"om[\"\nflow = \"main\"\n", "route[0].device: "},
	} {
		t.Run(tc.name, func(t *testing.T) { wantConfigError(t, tc.in, tc.want) })
	}
}

func TestReadConfigFileNamesThePath(t *testing.T) {
	path := t.TempDir() + "/ivrd.toml"
	writeFile(t, path, "[[device]]\nname = \"om1\"\n")
	_, err := ReadConfigFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+": device[0].url: ") {
		t.Errorf("got %v, want an error starting with the path and the field", err)
	}
}

func TestParseConfigHistory(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		age      time.Duration
		count    int
		err      string
	}{
		{"defaults", oneDevice, 720 * time.Hour, 100000, ""},
		{"set", "[history]\nmax_age = \"24h\"\nmax_count = 500\n" + oneDevice, 24 * time.Hour, 500, ""},
		{"no limits", "[history]\nmax_age = \"0s\"\nmax_count = 0\n" + oneDevice, 0, 0, ""},
		{"empty age is the default", "[history]\nmax_age = \"\"\n" + oneDevice, 720 * time.Hour, 100000, ""},
		{"max_age", "[history]\nmax_age = \"a month\"\n" + oneDevice, 0, 0, "history.max_age: "},
		{"max_age negative", "[history]\nmax_age = \"-1h\"\n" + oneDevice, 0, 0, "history.max_age: "},
		{"max_count negative", "[history]\nmax_count = -1\n" + oneDevice, 0, 0, "history.max_count: "},
		{"max_count type", "[history]\nmax_count = \"many\"\n" + oneDevice, 0, 0, `"history.max_count"`},
		{"unknown key", "[history]\nmax_days = 30\n" + oneDevice, 0, 0, "unknown field history.max_days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				if strings.HasSuffix(tc.err, ": ") && !strings.HasPrefix(err.Error(), tc.err) {
					t.Errorf("error %q does not start with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			age, count, err := cfg.History.retention()
			if err != nil || age != tc.age || count != tc.count {
				t.Errorf("retention: got %v, %d, %v; want %v, %d", age, count, err, tc.age, tc.count)
			}
		})
	}
}

// [recordings] defaults: the folder beside the state file, the documented
// retention, retry policy and size cap.
func TestParseConfigRecordings(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader("state = \"/var/lib/ivrd/ivrd.db\"\n" + oneDevice))
	if err != nil {
		t.Fatal(err)
	}
	opt, err := cfg.Recordings.options(cfg.State)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Dir != "/var/lib/ivrd/recordings" || opt.MaxAge != 90*24*time.Hour || opt.FirstBackoff != 30*time.Second ||
		opt.MaxBackoff != 30*time.Minute || opt.GiveUp != 72*time.Hour || opt.MaxSize != 64<<20 || opt.MaxTotal != 0 {
		t.Fatalf("defaults = %+v", opt)
	}
	cfg, err = ParseConfig(strings.NewReader("[recordings]\ndir = \"/srv/rec\"\nmax_age = \"0s\"\nmax_size = \"1MiB\"\nmax_total = \"20GiB\"\n" + oneDevice))
	if err != nil {
		t.Fatal(err)
	}
	if opt, _ = cfg.Recordings.options(cfg.State); opt.Dir != "/srv/rec" || opt.MaxAge != 0 || opt.MaxSize != 1<<20 || opt.MaxTotal != 20<<30 {
		t.Fatalf("set = %+v", opt)
	}
}

// wantConfigError checks that ParseConfig refuses in with an error that
// starts with want when want ends in ": " (the key at fault,
// "route[0].to: "), or else mentions it.
func wantConfigError(t *testing.T, in, want string) {
	t.Helper()
	_, err := ParseConfig(strings.NewReader(in))
	if err == nil {
		t.Fatalf("ParseConfig accepted:\n%s", in)
	}
	if strings.HasSuffix(want, ": ") {
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q does not start with %q", err, want)
		}
	} else if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not mention %q", err, want)
	}
}
