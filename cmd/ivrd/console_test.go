package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/internal/webdriver"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// consoleFlow asks for a PIN, marked secret, then offers a menu: key 1 puts
// the caller through to ext 201. Its timeouts are long so the call stays
// live while the browser looks at it.
const consoleFlow = `
local flow = {}
function flow.incoming(call)
  local pin = call:gather{ prompt = "user_welcome", min = 4, max = 4, timeout = 30 }
  ivr.secret(pin)
  local key = call:gather{ prompt = "user_menu", timeout = 30 }
  if key == "1" then return call:transfer{ ext = "201" } end
  call:play("user_bye")
end
return flow
`

// TestConsoleInBrowser drives the console in a real headless Chromium
// against a real daemon and simulator: sign in, watch a call arrive in
// Live calls, open its path, see the keys pressed on the simulator (the
// PIN redacted) and its end, find it in the call search, reload the flows
// and see a broken one's error, sign out. It saves a screenshot of each
// page in $IVRD_SCREENSHOTS (default: a temporary folder).
func TestConsoleInBrowser(t *testing.T) {
	a := startAdminStack(t, map[string]string{"main": consoleFlow}, nil)
	b := openBrowser(t)
	s := b.s

	// Sign in with the admin token.
	if err := s.Navigate(a.base + "/"); err != nil {
		t.Fatal(err)
	}
	b.waitText("#signin-box", "Admin token")
	b.screenshot("signin")
	b.find("#token").SendKeys("not-the-admin-token")
	b.click("#signin")
	b.waitText("#signin-error", "not valid")
	b.find("#token").Clear()
	b.find("#token").SendKeys(adminToken)
	b.click("#signin")
	b.waitText("#live-rows", "No call is in the IVR now")
	var cookies string
	s.Execute(&cookies, "return document.cookie")
	if strings.Contains(cookies, "ivrd_session") {
		t.Fatalf("the session cookie is readable by scripts: %q", cookies)
	}

	// A call arrives by itself in Live calls.
	call, err := a.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	b.waitText("#live-rows", "13800000001")
	b.waitText("#live-rows td.step", "waiting for keys")
	b.waitText("#live-total", "1 call")
	row := b.text("#live-rows tr")
	if !strings.Contains(row, "60001") || !strings.Contains(row, "main") {
		t.Fatalf("live call row %q lacks the called number or the flow", row)
	}
	b.screenshot("live-calls")

	// Its path, live: the prompt, then the PIN typed on the simulator
	// (redacted), then the menu key and the transfer.
	b.click("#live-rows a.caller")
	b.waitText("#call-facts", "13800000001")
	b.waitText("#timeline", "Prompt played")
	b.waitText("#call-now", "waiting for keys")
	if err := call.Press("4821"); err != nil {
		t.Fatal(err)
	}
	b.waitText("#timeline", "[secret]")
	b.waitText("#timeline", "user_menu")
	if strings.Contains(b.text("#call"), "4821") {
		t.Fatalf("the call page shows the PIN: %s", b.text("#call"))
	}
	b.screenshot("call-live")
	if err := call.Press("1"); err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the agent", func(in omsim.CallInfo) bool { return in.Connected == "ext 201" })
	b.waitText("#call-outcome", "transferred → ext 201")
	timeline := b.text("#timeline")
	for _, want := range []string{"Prompt played user_welcome", "Keys pressed [secret]", "Keys pressed 1", "Transferred to ext 201"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}
	// The agent hangs up; the OM's call record comes to the page.
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	b.waitText("#call-cdr", "13800000001")
	b.screenshot("call")

	// Live calls empties; the call search finds the call by number.
	b.click(`#nav a[data-page="live"]`)
	b.waitText("#live-rows", "No call is in the IVR now")
	b.click(`#nav a[data-page="calls"]`)
	b.waitText("#calls-rows", "13800000001")
	b.find("#search-number").SendKeys("13900000000")
	b.click("#search")
	b.waitText("#calls-rows", "No ended call matches")
	b.find("#search-number").Clear()
	b.find("#search-number").SendKeys("0000001")
	b.click("#search")
	b.waitText("#calls-rows", "transferred → ext 201")
	// By when it ended: not after tomorrow, but before it.
	tomorrow := time.Now().Add(24 * time.Hour).Format("2006-01-02T15:04")
	b.setValue("#search-since", tomorrow)
	b.click("#search")
	b.waitText("#calls-rows", "No ended call matches")
	b.setValue("#search-since", "")
	b.setValue("#search-until", tomorrow)
	b.click("#search")
	b.waitText("#calls-rows", "transferred → ext 201")
	b.screenshot("calls")

	// A #/ path that names no page, not even one every JavaScript object
	// has, shows Live calls, and the nav goes on working after it.
	if err := s.Navigate(a.base + "/#/constructor"); err != nil {
		t.Fatal(err)
	}
	b.waitText("#live-table", "Caller")

	// Flows: with a call live on main, main is edited and a broken file
	// appears; after a reload main serves its new version while the call
	// keeps the old one, and the broken file shows its error.
	b.click(`#nav a[data-page="flows"]`)
	b.waitText(`#flows-rows tr[data-flow="main"]`, "none")
	second, err := a.sim.PlaceCall("13800000002", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, second, "the welcome", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	old, _ := a.srv.Catalog().Flow("main")
	writeFile(t, filepath.Join(a.srv.cfg.Flows, "main.lua"), consoleFlow+"-- edited\n")
	writeFile(t, filepath.Join(a.srv.cfg.Flows, "broken.lua"), "return {\n")
	b.click("#reload")
	b.waitText("#reload-result", "Reloaded")
	b.waitText(`#flows-rows tr[data-flow="broken"]`, "broken.lua:")
	b.waitText(`#flows-rows tr[data-flow="main"] td.live`, "1 on "+old.ShortHash())
	if cur, _ := a.srv.Catalog().Flow("main"); cur.Hash == old.Hash || !strings.Contains(b.text(`#flows-rows tr[data-flow="main"]`), cur.ShortHash()) {
		t.Fatalf("main's row %q does not show its new version %s", b.text(`#flows-rows tr[data-flow="main"]`), cur.ShortHash())
	}
	b.screenshot("flows")
	if err := second.HangUp(); err != nil {
		t.Fatal(err)
	}

	// The session ends elsewhere (signed out from another tab) while Live
	// calls is open: the page asks for the token again.
	b.click(`#nav a[data-page="live"]`)
	b.waitText("#live-status", "live")
	endSession(t, a, s)
	b.waitText("#signin-error", "session has ended")
	b.find("#token").SendKeys(adminToken)
	b.click("#signin")
	b.waitText("#live-status", "live")

	// Sign out: the console asks for the token again, and the API no
	// longer takes the browser's requests.
	b.click("#signout")
	b.waitText("#signin-error", "Signed out")
	var got json.RawMessage
	if err := s.Execute(&got, `return fetch("/api/v1/flows").then(r => r.status)`); err != nil {
		t.Fatal(err)
	}
	if string(got) != "401" {
		t.Fatalf("GET /api/v1/flows after sign-out: %s, want 401", got)
	}
	t.Logf("screenshots in %s", b.shots)
}

// endSession signs the browser's session out from outside the page, as
// another tab would: with its cookie, its CSRF token and the origin.
func endSession(t *testing.T, a *adminStack, s *webdriver.Session) {
	t.Helper()
	id, err := s.Cookie("ivrd_session")
	if err != nil {
		t.Fatal(err)
	}
	cookie := "ivrd_session=" + id
	req, _ := http.NewRequest("GET", a.base+"/api/v1/session", nil)
	req.Header.Set("Cookie", cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info api.SessionInfo
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	req, _ = http.NewRequest("DELETE", a.base+"/api/v1/session", nil)
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Origin", a.base)
	req.Header.Set(api.HeaderCSRF, info.CSRF)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("signing the browser out: %d", resp.StatusCode)
	}
}

// openBrowser opens a headless Chromium for a browser test, closed when
// the test ends, or skips the test without one (webdriver.Require). Its
// screenshots go to $IVRD_SCREENSHOTS (default: a temporary folder).
func openBrowser(t *testing.T) *page {
	t.Helper()
	webdriver.Require(t, webdriver.Options{})
	shots := os.Getenv("IVRD_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var driverLog syncBuffer
	d, err := webdriver.Start(ctx, webdriver.Options{Log: &driverLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s, err := d.NewSession(ctx)
	if err != nil {
		t.Fatalf("%v\n%s", err, driverLog.String())
	}
	t.Cleanup(func() { s.Close() })
	return &page{t: t, s: s, shots: shots}
}

// page is the browser as a test drives it; every failure fails the test.
type page struct {
	t     *testing.T
	s     *webdriver.Session
	shots string
}

// signIn opens the console at base and signs in with the admin token,
// waiting for the first page.
func (p *page) signIn(base string) {
	p.t.Helper()
	if err := p.s.Navigate(base + "/"); err != nil {
		p.t.Fatal(err)
	}
	p.find("#token").SendKeys(adminToken)
	p.click("#signin")
	p.waitText("#live-rows", "No call is in the IVR now")
}

func (p *page) find(css string) *webdriver.Element {
	p.t.Helper()
	e, err := p.s.Find(css)
	if err != nil {
		p.t.Fatal(err)
	}
	return e
}

func (p *page) click(css string) {
	p.t.Helper()
	if err := p.find(css).Click(); err != nil {
		p.t.Fatalf("click %s: %v", css, err)
	}
}

// setValue sets an input's value as if typed (a datetime-local input
// takes keys in the browser's locale; its value is always ISO).
func (p *page) setValue(css, v string) {
	p.t.Helper()
	if err := p.s.Execute(nil, `document.querySelector(arguments[0]).value = arguments[1]`, css, v); err != nil {
		p.t.Fatal(err)
	}
}

// text is the rendered text of the first element css matches ("" when
// none does).
func (p *page) text(css string) string {
	p.t.Helper()
	var s string
	if err := p.s.Execute(&s, `const e = document.querySelector(arguments[0]); return e ? e.innerText : ""`, css); err != nil {
		p.t.Fatal(err)
	}
	return s
}

// waitText waits until the element css matches shows want.
func (p *page) waitText(css, want string) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := p.text(css)
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			p.screenshot("failed")
			p.t.Fatalf("%s shows %q, not %q, after 10s", css, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *page) screenshot(name string) {
	p.t.Helper()
	png, err := p.s.Screenshot()
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(p.shots, fmt.Sprintf("console-%s.png", name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}
