package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/api"
)

// phoneFlow greets, offers a menu, thanks the caller for the key and
// waits long enough for the browser to look around; called by ivrd, it
// wakes the callee up.
const phoneFlow = `
local flow = {}
function flow.incoming(call)
  call:play("user_welcome")
  local key = call:gather{ prompt = "user_menu", timeout = 30 }
  call.vars.key = key
  call:gather{ prompt = "user_thanks", timeout = 30 }
  call:play("user_bye")
end
function flow.answered(call)
  call:gather{ prompt = "user_wakeup", timeout = 30 }
end
return flow
`

// TestConsolePhoneInBrowser drives the Devices and Phone pages in a real
// headless Chromium against a daemon whose simulator runs in-process, as
// under "ivrd demo": sign in, see the device reachable with its model and
// firmware, dial into the IVR from the phone, read each prompt's text as
// it plays, press a key on the keypad, find the call in Live calls, hang
// up; then have ivrd call the phone and answer it. Screenshots go to
// $IVRD_SCREENSHOTS (default: a temporary folder).
func TestConsolePhoneInBrowser(t *testing.T) {
	a := startPhoneStack(t, map[string]string{"phone": phoneFlow}, func(c *Config) {
		c.Routes = []RouteConfig{{To: "*", Flow: "phone"}}
		c.Prompts = map[string]string{
			"user_welcome": "Welcome to the Grand Hotel.",
			"user_menu":    "For reception, press 1.",
			"user_thanks":  "Thank you!",
			"user_wakeup":  "Good morning! This is your wake-up call.",
		}
	})
	b := openBrowser(t)
	s := b.s

	if err := s.Navigate(a.base + "/"); err != nil {
		t.Fatal(err)
	}
	b.waitText("#signin-box", "Admin token")
	b.find("#token").SendKeys(adminToken)
	b.click("#signin")
	b.waitText("#live-rows", "No call is in the IVR now")
	// The phone's nav entry shows: a simulator runs in the process.
	b.waitJS("the Phone entry in the nav", `const a = document.querySelector('#nav a[data-page="phone"]'); return !!a && !a.hidden`)

	// Devices: the simulator, reachable, with its DeviceInfo and menus.
	b.click(`#nav a[data-page="devices"]`)
	b.waitJS("om1 reachable", `const e = document.getElementById("reach-om1"); return !!e && e.textContent === "reachable"`)
	dev := b.text(`section[data-device="om1"]`)
	for _, want := range []string{"OM50", "2.1.5.112", "simulated in this process", "prompts and keys", "Extensions"} {
		if !strings.Contains(dev, want) {
			t.Errorf("the device's card lacks %q:\n%s", want, dev)
		}
	}
	b.click("#check-om1")
	b.waitJS("om1 still reachable after a check", `const e = document.getElementById("reach-om1"); return !!e && e.textContent === "reachable"`)
	b.screenshot("devices")

	// Phone: dial the trunk; the prompts show with their texts.
	b.click(`#nav a[data-page="phone"]`)
	b.waitJS("the trunk in the dial field", `const e = document.getElementById("phone-to"); return !!e && e.value === "60001"`)
	b.find("#phone-from").Clear()
	b.find("#phone-from").SendKeys("13900000001")
	b.click("#phone-call")
	b.waitText("#phone-heard", "Welcome to the Grand Hotel.")
	b.waitText("#phone-heard", "For reception, press 1.")
	b.waitText("#phone-status", "waiting for keys")
	b.waitText("#phone-link", "this call's path")
	b.screenshot("phone")
	b.click("#key-1")
	b.waitText("#phone-keys", "keys pressed: 1")
	b.waitText("#phone-heard", "Thank you!")

	// The call is in Live calls; back on the phone, it is still there.
	b.click(`#nav a[data-page="live"]`)
	b.waitText("#live-rows", "13900000001")
	if row := b.text("#live-rows tr"); !strings.Contains(row, "phone") || !strings.Contains(row, "waiting for keys") {
		t.Errorf("the live call's row: %q", row)
	}
	b.screenshot("phone-live")
	b.click(`#nav a[data-page="phone"]`)
	b.waitText("#phone-status", "waiting for keys")
	b.click("#phone-hangup")
	b.waitText("#phone-status", "call ended")
	var hist api.CallList
	poll(t, "the call in the history", func() bool {
		a.req(t, "GET", "/api/v1/history?number=13900000001", adminToken, "", &hist)
		return len(hist.Calls) == 1
	})
	if c := hist.Calls[0]; c.Outcome != "caller_hangup" || !pathHas(c, "keys", "1") {
		t.Errorf("the phone's call in the history: %+v", c)
	}
	// Its path in the console says what each prompt said.
	b.click("#phone-link a")
	b.waitText("#timeline", "“Welcome to the Grand Hotel.”")
	b.click(`#nav a[data-page="phone"]`)
	b.waitJS("the phone page again", `return !!document.getElementById("phone-callme")`)

	// ivrd calls the phone: it rings until answered, then the flow plays.
	b.click("#phone-callme")
	b.waitText("#phone-callme-result", "job ")
	b.waitText("#phone-status", "ivrd is calling you")
	b.screenshot("phone-ringing")
	b.click("#phone-answer")
	b.waitText("#phone-heard", "Good morning! This is your wake-up call.")
	b.click("#phone-hangup")
	b.waitText("#phone-status", "call ended")
	t.Logf("screenshots in %s", b.shots)
}

func pathHas(c api.Call, kind, value string) bool {
	for _, p := range c.Path {
		if p.Kind == kind && p.Value == value {
			return true
		}
	}
	return false
}

// waitJS waits until script returns true in the page.
func (p *page) waitJS(what, script string) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ok bool
		if err := p.s.Execute(&ok, script); err != nil {
			p.t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			p.screenshot("failed")
			p.t.Fatalf("no %s after 10s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
