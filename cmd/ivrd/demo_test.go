package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemo runs "ivrd demo" in-process until its transcript is printed, on
// a copy of flows/main.lua whose gather timeouts are cut to half a second,
// with 100 ms voice files, so that the silent caller does not take a
// quarter of a minute.
func TestDemo(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoFlows, "main.lua"))
	if err != nil {
		t.Fatal(err)
	}
	timeouts := regexp.MustCompile(`timeout = \d+`)
	if !timeouts.Match(src) {
		t.Fatal("flows/main.lua sets no gather timeout; update this test's shortcut")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "main.lua"), timeouts.ReplaceAllString(string(src), "timeout = 0.5"))

	out := &syncBuffer{}
	logs := &syncBuffer{}
	m := &Main{Stdout: out, Stderr: logs}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []string{"demo", "-flows", dir, "-file-duration", "100ms"}) }()

	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "Ctrl-C stops") {
		select {
		case err := <-done:
			t.Fatalf("demo returned early: %v\n%s\n%s", err, out, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no transcript after 20s:\n%s\n%s", out, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The console's address and token are printed, and they work.
	m1 := regexp.MustCompile(`console +(http://127\.0\.0\.1:\d+/) \(sign in with the admin token ([0-9a-f]{32})\)`).FindStringSubmatch(out.String())
	if m1 == nil {
		t.Fatalf("the demo does not print the console's address and token:\n%s", out)
	}
	resp, err := http.Post(m1[1]+"api/v1/session", "application/json", strings.NewReader(`{"token":"`+m1[2]+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(resp.Cookies()) != 1 {
		t.Fatalf("signing in to the demo's console: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	// The console's phone works: the simulator runs inside the demo.
	req, _ := http.NewRequest("GET", m1[1]+"api/v1/phone", nil)
	req.Header.Set("Authorization", "Bearer "+m1[2])
	if phone, err := http.DefaultClient.Do(req); err != nil || phone.StatusCode != 200 {
		t.Errorf("the demo's phone: %v %v", phone, err)
	} else {
		phone.Body.Close()
	}
	// So are the shell variables the README's curl examples use.
	vars := regexp.MustCompile(`(?m)^  A=(http://127\.0\.0\.1:\d+); IVRD_TOKEN=([0-9a-f]{32}); H="Authorization: Bearer \$IVRD_TOKEN"$`).FindStringSubmatch(out.String())
	if vars == nil || vars[1]+"/" != m1[1] || vars[2] != m1[2] {
		t.Errorf("the demo does not print A and IVRD_TOKEN for the README's examples as the console's (%s, %s):\n%s", m1[1], m1[2], out)
	}
	if page, err := http.Get(m1[1]); err != nil || page.StatusCode != 200 {
		t.Fatalf("the demo's console page: %v %v", page, err)
	} else {
		page.Body.Close()
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not stop")
	}
	text := out.String()
	t.Logf("demo output:\n%s", text)

	// Each caller's transcript, and where each call went.
	calls := strings.Split(text, "── Call ")
	if len(calls) != len(demoCallers)+1 {
		t.Fatalf("got %d transcripts, want %d", len(calls)-1, len(demoCallers))
	}
	want := map[string][]string{
		"Ana": {"hears     user_welcome  “Welcome to the Grand Hotel.”\n", "hears     user_menu  “For reception, press 1.", "presses   1\n",
			"put through to ext 201, which answers", "flow main: transferred to ext 201"},
		"Chloé": {"presses   7\n", "hears     user_invalid  “Sorry, that key is not on the menu.”\n", "presses   3\n", "hears     user_thanks  “Thank you!”\n",
			"→         ivrd hung up", "flow main: hung up"},
		"Dev": {"hears     user_welcome  “Welcome to the Grand Hotel.”  (cut off)\n", "hangs up\n", "→         the caller hung up",
			"flow main: the caller hung up"},
		"Ben": {"hears     user_noinput  “Sorry, we did not hear a key.”\n", "put through to ext 200, which answers", "flow main: transferred to ext 200"},
	}
	for i, c := range demoCallers {
		tr := calls[i+1]
		if !strings.Contains(tr, c.name+" ("+c.from+")") {
			t.Errorf("transcript %d is not %s's:\n%s", i+1, c.name, tr)
			continue
		}
		for _, w := range want[c.name] {
			if !strings.Contains(tr, w) {
				t.Errorf("%s's transcript does not mention %q:\n%s", c.name, w, tr)
			}
		}
		if strings.Contains(tr, "(!)") {
			t.Errorf("%s's script went wrong:\n%s", c.name, tr)
		}
	}
	if !strings.Contains(text, "curl -s -X POST http://127.0.0.1:") || !strings.Contains(text, `/sim/calls/c5/keys`) {
		t.Errorf("the demo does not say how to place a call of one's own:\n%s", text)
	}
	// Quiet by default: nothing at info level.
	if strings.Contains(logs.String(), "[INFO]") {
		t.Errorf("the demo logged info lines without -v:\n%s", logs)
	}
}

// TestDemoFlowsEmbedded: outside the repository the demo uses a temporary
// copy of the flows built into the binary.
func TestDemoFlowsEmbedded(t *testing.T) {
	t.Chdir(t.TempDir())
	dir, fromEmbed, cleanup, err := demoFlows("")
	if err != nil {
		t.Fatal(err)
	}
	if !fromEmbed {
		t.Errorf("demoFlows used %s, not the embedded flows", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.lua")); err != nil {
		t.Errorf("the copy has no main.lua: %v", err)
	}
	cleanup()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cleanup left %s: %v", dir, err)
	}
}
