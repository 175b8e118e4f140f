package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/omproto/omsim"
)

func TestParseSimConfig(t *testing.T) {
	const file = `
model = "OM200"
trunk = "02161204000"
exts = ["300", "301", "302"]
operator = "300"
file_duration = "500ms"
response_timeout = "3s"
report_url = "http://127.0.0.1:8080/om/om1"
report_method = "post"
command_allow = ["127.0.0.1", "10.0.0.0/8"]

[voice_files]
user_welcome = "4s"
user_extra = ""

[ext.301]
answer = "busy"

[number."13800000001"]
answer = "after"
delay = "3s"
keys = "1"

[outside]
answer = "no_answer"

[group.1]
exts = ["301", "302"]

[menu.5]
voicefile = "user_welcome"
repeat = 2
infolength = 4
exit = "#"
`
	cfg, err := parseSimConfig(strings.NewReader(file))
	if err != nil {
		t.Fatalf("parseSimConfig: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"model", cfg.Model, "OM200"},
		{"trunk", cfg.Trunk, "02161204000"},
		{"operator", cfg.Operator, "300"},
		{"exts", strings.Join(cfg.Exts, ","), "300,301,302"},
		{"file_duration", cfg.FileDuration, 500 * time.Millisecond},
		{"response_timeout", cfg.ResponseTimeout, 3 * time.Second},
		{"report_method", cfg.ReportMethod, "POST"},
		{"command_allow", len(cfg.CommandAllow), 2},
		{"command_allow[0]", cfg.CommandAllow[0].String(), "127.0.0.1/32"},
		{"voice_files.user_welcome", cfg.VoiceFiles["user_welcome"], 4 * time.Second},
		{"voice_files keeps defaults", hasKey(cfg.VoiceFiles, "user_digit_7"), true},
		{"voice_files adds", hasKey(cfg.VoiceFiles, "user_extra"), true},
		{"ext.301", cfg.ExtPolicies["301"].Answer, omsim.AnswerBusy},
		{"number delay", cfg.Numbers["13800000001"].Delay, 3 * time.Second},
		{"number keys", cfg.Numbers["13800000001"].Keys, "1"},
		{"outside", cfg.Outside.Answer, omsim.AnswerNoAnswer},
		{"group.1", strings.Join(cfg.Groups["1"], ","), "301,302"},
		{"menu.5", cfg.Menus[5], omsim.MenuSettings{VoiceFile: "user_welcome", Repeat: 2, InfoLength: 4, Exit: "#"}},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

func TestParseSimConfigErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name, file, want string
	}{
		{"unknown field", `trunks = "1"`, "unknown field trunks"},
		{"unknown nested field", "[ext.201]\nanswr = \"busy\"", "unknown field ext.201.answr"},
		{"bad duration", `file_duration = "two seconds"`, "file_duration"},
		{"bad policy duration", "[number.\"1\"]\ndelay = \"x\"", "number.1.delay"},
		{"bad answer", "[number.\"1\"]\nanswer = \"maybe\"", "numbers.1: answer"},
		{"bad method", `report_method = "PUT"`, "report_method"},
		{"bad allow", `command_allow = ["nonsense"]`, "command_allow[0]"},
		{"operator not an ext", `operator = "999"`, "operator"},
		{"menu id", "[menu.x]\nrepeat = 1", "menu.x"},
		{"menu range", "[menu.51]\nrepeat = 1", "menus: id 51"},
		{"group member", "[group.1]\nexts = [\"999\"]", "groups.1"},
		{"record not an ext", `record = ["999"]`, "record: 999"},
		{"web_user colon", `web_user = "a:b"`, "web_user"},
		{"bad toml", `model = `, "sim config"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseSimConfig(strings.NewReader(c.file))
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// The recording keys of sim.toml reach the device's configuration.
func TestParseSimConfigRecordings(t *testing.T) {
	cfg, err := parseSimConfig(strings.NewReader("record = [\"201\"]\nweb_user = \"rec\"\nweb_password = \"pw\"\nrecord_dir = \"/tmp/om\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Record) != 1 || cfg.Record[0] != "201" || cfg.WebUser != "rec" || cfg.WebPassword != "pw" || cfg.RecordDir != "/tmp/om" {
		t.Fatalf("config = %+v", cfg)
	}
	if cfg, _ = parseSimConfig(strings.NewReader("")); cfg.WebUser != "admin" || cfg.WebPassword != "admin" {
		t.Fatalf("default account = %q/%q", cfg.WebUser, cfg.WebPassword)
	}
}
