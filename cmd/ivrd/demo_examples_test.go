package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestDemoExamples runs the demo's use-case part from the examples built
// into the binary (the tests run in cmd/ivrd, which has no ./examples).
func TestDemoExamples(t *testing.T) {
	var out bytes.Buffer
	if err := playDemoExamples(context.Background(), &out); err != nil {
		t.Fatalf("playDemoExamples: %v\n%s", err, out.String())
	}
	text := out.String()
	if !strings.Contains(text, "(the copy built into ivrd)") {
		t.Errorf("the demo did not say where the examples come from:\n%s", text)
	}
	if strings.Contains(text, "(!)") {
		t.Fatalf("a use case did not go as its scenario expects:\n%s", text)
	}
	parts := strings.Split(text, "── Use case ")
	if len(parts) != len(demoExamples)+1 {
		t.Fatalf("%d use cases shown, want %d:\n%s", len(parts)-1, len(demoExamples), text)
	}
	want := [][]string{
		{"presses   2\n", "transfer refused", "hears     user_busy", "transfers the call to ext 200", "talks     with ext 200",
			"(examples/menu/menu.lua:"},
		{"hears     user_survey_q3  “Would you recommend us? Press 0 to 10.”\n", "presses   10\n", "hears     user_survey_thanks  “Thank you for your answers.”\n", "outcome   hangup"},
		{"presses   0700\n", "dialled 2026-11-26 07:00:00 +0800", "hears     user_wakeup  “Good morning, this is your wake-up call.", "hears     user_wakeup_confirm  “Thank you, and have a nice day.”\n",
			"(flow wakeup), done, answered"},
		{"ended     busy\n", "attempt 2, dialled 2026-11-25 09:00:30 +0000", "hears     user_code_is  “Your verification code is”\n", "prompt [secret]",
			"attempt 2: answered"},
	}
	for i, ex := range demoExamples {
		part := parts[i+1]
		if !strings.HasPrefix(part, fmt.Sprintf("%d, %s: %s ──", i+1, ex.title, ex.scenario)) {
			t.Errorf("use case %d is not %q:\n%s", i+1, ex.title, part)
			continue
		}
		for _, w := range want[i] {
			if !strings.Contains(part, w) {
				t.Errorf("use case %d (%s) lacks %q:\n%s", i+1, ex.title, w, part)
			}
		}
	}
}
