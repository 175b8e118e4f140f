package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/omproto/omsim"
)

// TestParseConfigPrompts: [prompts] maps voice files to their texts.
func TestParseConfigPrompts(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader(oneDevice + `
[prompts]
user_welcome = "Welcome to the Grand Hotel"
user_menu = "For reception, press 1."
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Prompts["user_welcome"]; got != "Welcome to the Grand Hotel" {
		t.Errorf("user_welcome: %q", got)
	}
	if got := cfg.Prompts["user_bye"]; got != "" {
		t.Errorf("user_bye, which has no text: %q", got)
	}
}

// TestParseConfigPromptErrors: a bad [prompts] table is refused with an
// error naming the key at fault.
func TestParseConfigPromptErrors(t *testing.T) {
	for _, c := range []struct{ table, want string }{
		{`"user-welcome" = "Welcome"`, `prompts."user-welcome": "user-welcome" is not a voice file name`},
		{`"user_a+user_b" = "Welcome"`, `prompts.user_a+user_b: a key names one voice file, not a chain`},
		{`user_welcome = "  "`, `prompts.user_welcome: the text is empty`},
		{`user_welcome = "Welcome\nto the hotel"`, `prompts.user_welcome: the text holds a control character`},
		{`user_welcome = "` + strings.Repeat("a", maxPromptText+1) + `"`, `prompts.user_welcome: the text is longer than 500 characters`},
		{`user_welcome = 3`, `prompts.user_welcome`},
		{`user_bye = "Goodbye"` + "\n" + `user_menu = ""`, `prompts.user_menu: the text is empty`},
	} {
		_, err := ParseConfig(strings.NewReader(oneDevice + "\n[prompts]\n" + c.table + "\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("[prompts] %s: got %v, want an error with %q", c.table, err, c.want)
		}
	}
}

// TestCheckPromptTexts: "ivrd check" warns of a text whose file is on no
// device and in no flow (a typo), and of one whose file the device lacks;
// it lists the files the flows name without a text; none of that fails
// the check, since texts only serve people.
func TestCheckPromptTexts(t *testing.T) {
	sim := startSim(t, omsim.DefaultConfig())
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.lua"), `local flow = {}
function flow.incoming(call)
  call:play("user_welcome")
  call:gather{ prompt = "user_menu" }
  call:play("user_bye")
end
return flow
`)
	cfg := checkConfig(t, sim.URL(), dir, `
[prompts]
user_welcome = "Welcome to the Grand Hotel"
user_welcom = "Welcome (a typo)"
user_closing = "We close at ten"
`)
	// user_closing is named by a flow (soon) but not on the device yet.
	writeFile(t, filepath.Join(dir, "late.lua"), `local flow = {}
function flow.incoming(call) call:play("user_closing") end
return flow
`)
	out, err := runCheck(t, "-config", cfg)
	if !errors.Is(err, errCheckFailed) {
		// user_closing is missing on the device: that is the flow's
		// problem, and fails the check as before.
		t.Fatalf("check returned %v, want errCheckFailed for late.lua's missing file\n%s", err, out)
	}
	for _, want := range []string{
		"Prompt texts in " + cfg + " ([prompts], 3):",
		`WARN  prompts.user_welcom: no device has voice file "user_welcom" and no flow names it (a typo in the key?)`,
		`WARN  prompts.user_closing: voice file "user_closing" is not on device om1`,
		"note  2 voice file(s) the flows name have no text",
		"user_menu (" + filepath.Join(dir, "main.lua") + ":4)",
		"user_bye (" + filepath.Join(dir, "main.lua") + ":5)",
		"1 problem(s).",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not mention %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "prompts.user_welcome:") {
		t.Errorf("check complains about a good text:\n%s", out)
	}

	// Every file with a text on the device, every flow's file with a
	// text: all good, and said so.
	if err := os.Remove(filepath.Join(dir, "late.lua")); err != nil {
		t.Fatal(err)
	}
	cfg = checkConfig(t, sim.URL(), dir, `
[prompts]
user_welcome = "Welcome to the Grand Hotel"
user_menu = "For reception, press 1."
user_bye = "Goodbye."
`)
	out, err = runCheck(t, "-config", cfg)
	if err != nil || !strings.Contains(out, "ok    every voice file the flows name has a text") {
		t.Errorf("check with complete texts: %v\n%s", err, out)
	}
}
