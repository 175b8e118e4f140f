package main

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/omproto/omsim"
)

func TestParseConfigLists(t *testing.T) {
	cfg, err := ParseConfig(strings.NewReader(oneDevice + `
[lists]
block = "blocked"
block_prompt = "user_blocked+user_bye"

[[route]]
to = "*"
list = "vip"
flow = "vip"

[[route]]
to = "*"
flow = "main"
`))
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.Lists.engine(); b.List != "blocked" || b.Prompt != "user_blocked+user_bye" {
		t.Fatalf("[lists] = %+v", b)
	}
	if rts := cfg.engineRoutes(); len(rts) != 2 || rts[0].List != "vip" || rts[1].List != "" {
		t.Fatalf("routes = %+v", rts)
	}

	for _, c := range []struct{ name, toml, want string }{
		{"block name", "[lists]\nblock = \"no such/list\"", "lists.block: \"no such/list\" is not a list name"},
		{"prompt without a list", "[lists]\nblock_prompt = \"user_blocked\"", "lists.block_prompt: set lists.block"},
		{"prompt name", "[lists]\nblock = \"b\"\nblock_prompt = \"user blocked\"", "lists.block_prompt: \"user blocked\" is not a voice file name"},
		{"empty chain link", "[lists]\nblock = \"b\"\nblock_prompt = \"a++b\"", "lists.block_prompt:"},
		{"unknown key", "[lists]\nallow = \"vip\"", "unknown field lists.allow"},
		{"route list", "[[route]]\nflow = \"main\"\nlist = \"v i p\"", "route[0].list: \"v i p\" is not a list name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(oneDevice + "\n" + c.toml + "\n"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

// TestServeBlockList runs the daemon from its configuration: a number put
// on the block list through the admin API is refused before routing — it
// hears the block prompt, is hung up, and its flow never runs — while
// another caller reaches the flow; the decision shows in the metrics.
func TestServeBlockList(t *testing.T) {
	a := startAdminStack(t, map[string]string{"main": adminMainFlow}, func(c *Config) {
		c.Lists = ListsConfig{Block: "blocked", BlockPrompt: "user_closed"}
	})

	var e struct {
		Number string `json:"number"`
		Note   string `json:"note"`
	}
	if st := a.req(t, "PUT", "/api/v1/lists/blocked/+86%20139-0000-0009", adminToken, `{"note": "spam"}`, &e); st != http.StatusCreated || e.Number != "+8613900000009" {
		t.Fatalf("PUT = %d %+v", st, e)
	}

	blocked, err := a.sim.PlaceCall("+8613900000009", "60001")
	if err != nil {
		t.Fatal(err)
	}
	in := waitCall(t, blocked, "the blocked call to end", func(in omsim.CallInfo) bool { return in.State == "ended" })
	if len(in.Heard) != 1 || in.Heard[0].File != "user_closed" || in.EndReason != "cleared" {
		t.Fatalf("blocked call = %+v, want the block prompt, then a hang-up by ivrd", in)
	}
	if v, ok, _ := a.srv.store.Get("main", "calls"); ok {
		t.Fatalf("the flow ran for a blocked caller (calls = %s)", v)
	}

	other, err := a.sim.PlaceCall("+8613900000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, other, "the welcome", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	if v, _, _ := a.srv.store.Get("main", "calls"); string(v) != "1" {
		t.Fatalf("calls = %s, want 1 (the caller not on the list)", v)
	}

	req, _ := http.NewRequest("GET", a.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `ivrd_list_decisions_total{decision="blocked",list="blocked"} 1`; !strings.Contains(string(body), want) {
		t.Fatalf("metrics lack %s", want)
	}
	if !strings.Contains(a.logs.String(), "caller on the block list") {
		t.Fatal("no log line of the refusal")
	}
}

// TestCheckBlockPrompt: "ivrd check" asks each device for the block
// prompt's voice files.
func TestCheckBlockPrompt(t *testing.T) {
	sim := startSim(t, omsim.DefaultConfig())
	out, err := runCheck(t, "-config", checkConfig(t, sim.URL(), repoFlows, "\n[lists]\nblock = \"blocked\"\nblock_prompt = \"user_closed+user_blocked\"\n"))
	if !errors.Is(err, errCheckFailed) {
		t.Fatalf("check returned %v, want errCheckFailed\n%s", err, out)
	}
	if want := `device om1: lists.block_prompt: voice file "user_blocked" is not on the device`; !strings.Contains(out, want) || strings.Contains(out, `"user_closed" is not`) {
		t.Fatalf("output does not name only the missing file (%q):\n%s", want, out)
	}

	out, err = runCheck(t, "-config", checkConfig(t, sim.URL(), repoFlows, "\n[lists]\nblock = \"blocked\"\nblock_prompt = \"user_closed\"\n"))
	if err != nil || !strings.Contains(out, "All good.") {
		t.Fatalf("check with a block prompt the device holds: %v\n%s", err, out)
	}
}

// TestConsoleListsInBrowser drives the Caller lists page in a real headless
// Chromium against a real daemon and simulator: the configured block list
// shows empty; a number put on it from the form (a bad one first, its
// field named) shows in the table and is refused when it calls; Remove
// takes it off and it reaches the flow.
func TestConsoleListsInBrowser(t *testing.T) {
	a := startAdminStack(t, map[string]string{"main": adminMainFlow}, func(c *Config) {
		c.Lists = ListsConfig{Block: "blocked", BlockPrompt: "user_closed"}
	})
	b := openBrowser(t)
	b.signIn(a.base)

	b.click(`#nav a[data-page="lists"]`)
	b.waitText("#lists-names", "blocked (0)")
	b.waitText("#list-empty", "No number is on this list")

	b.find("#list-number").SendKeys("12/34")
	b.click("#list-add button[type=submit]")
	b.waitText("#list-form-error", "number:")
	b.find("#list-number").Clear()
	b.find("#list-number").SendKeys("+86 139-0000-0009")
	b.find("#list-note").SendKeys("robocalls")
	b.click("#list-add button[type=submit]")
	b.waitText("#list-rows", "+8613900000009")
	b.waitText("#list-rows", "robocalls")
	b.waitText("#lists-names", "blocked (1)")
	b.screenshot("lists")

	call, err := a.sim.PlaceCall("+8613900000009", "60001")
	if err != nil {
		t.Fatal(err)
	}
	in := waitCall(t, call, "the blocked call to end", func(in omsim.CallInfo) bool { return in.State == "ended" })
	if len(in.Heard) != 1 || in.Heard[0].File != "user_closed" {
		t.Fatalf("blocked call = %+v, want the block prompt only", in)
	}

	b.click(`#list-rows tr[data-number="+8613900000009"] button.remove`)
	b.waitText("#list-empty", "No number is on this list")
	again, err := a.sim.PlaceCall("+8613900000009", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, again, "the welcome", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
}
