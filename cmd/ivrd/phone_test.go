package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// startPhoneStack is startAdminStack with the simulator running as the
// daemon's own (Server.Phone), as "ivrd demo" runs it: the admin listener
// serves its control API under /sim/.
func startPhoneStack(t *testing.T, flows map[string]string, edit func(*Config)) *adminStack {
	t.Helper()
	return openAdminStack(t, flows, edit, true)
}

// TestAdminDevices: GET /api/v1/devices shows the simulator reachable,
// with its DeviceInfo, the menus ivrd assigned, the extensions' states as
// reported, and its BOOTUP; a device that stops answering shows as not
// reachable once checked.
func TestAdminDevices(t *testing.T) {
	a := startPhoneStack(t, map[string]string{"main": adminMainFlow}, func(c *Config) {
		c.Devices[0].CommandTimeout = "1s"
		c.Devices[0].ExtQuery = "off" // the states here are the reports' alone
	})
	device := func() api.Device {
		t.Helper()
		var d api.Device
		if code := a.req(t, "GET", "/api/v1/devices/om1", adminToken, "", &d); code != 200 {
			t.Fatalf("GET /api/v1/devices/om1: %d", code)
		}
		return d
	}
	var d api.Device
	poll(t, "the first check", func() bool { d = device(); return d.Reachable != "unknown" })
	if d.Reachable != "yes" || d.Model != omsim.DefaultModel || d.Firmware != omsim.DefaultVersion || d.Manufacturer == "" || !d.Simulated {
		t.Errorf("device after its first check: %+v", d)
	}
	if d.MenuRange != [2]int{41, 50} || len(d.Menus) == 0 || d.Menus[0].ID != 41 || d.Menus[0].Purpose != "prompts" {
		t.Errorf("menus: range %v, in use %+v", d.MenuRange, d.Menus)
	}
	if len(d.Exts) != 10 || d.Exts[0].ID != "200" || d.Exts[0].State != "unknown" {
		t.Errorf("extensions before any report: %+v", d.Exts)
	}

	// A call put through to ext 201: the device reports it busy.
	call, err := a.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the welcome", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	poll(t, "the call counted on the device", func() bool { return device().LiveCalls == 1 })
	if err := call.Press("1"); err != nil {
		t.Fatal(err)
	}
	poll(t, "ext 201 busy", func() bool {
		for _, x := range device().Exts {
			if x.ID == "201" {
				return x.State == "busy"
			}
		}
		return false
	})
	call.HangUp()

	// The device reboots: its BOOTUP is shown, with its time.
	booted := device().LastBootup // the simulator's start, if it came in
	a.sim.Reboot()
	poll(t, "the BOOTUP", func() bool { return device().LastBootup.After(booted) })
	if d := device(); d.LastReport.Before(d.LastBootup) {
		t.Errorf("last report %v is before the last BOOTUP %v", d.LastReport, d.LastBootup)
	}

	// The device stops answering: a check now says so.
	a.sim.SetFaults(omsim.Faults{RefuseConnections: true})
	var list api.DeviceList
	poll(t, "the device unreachable", func() bool {
		// deviceCheckGap keeps checks apart; the poll asks until one runs.
		var got api.Device
		a.req(t, "POST", "/api/v1/devices/om1/check", adminToken, "", &got)
		return got.Reachable == "no"
	})
	a.req(t, "GET", "/api/v1/devices", adminToken, "", &list)
	if len(list.Devices) != 1 || list.Devices[0].Reachable != "no" || list.Devices[0].Error == "" || list.Devices[0].Model != omsim.DefaultModel {
		t.Errorf("device that does not answer: %+v", list.Devices)
	}
	if code := a.req(t, "POST", "/api/v1/devices/om9/check", adminToken, "", nil); code != 404 {
		t.Errorf("check of an unknown device: %d, want 404", code)
	}
}

// TestAdminSim: with the simulator in-process, /sim/ on the admin
// listener drives it behind the sign-in — a call placed there runs the
// flow — and GET /api/v1/phone and /api/v1/prompts tell the console's
// phone what it needs. Without one, /sim/ is 404.
func TestAdminSim(t *testing.T) {
	a := startPhoneStack(t, map[string]string{"main": adminMainFlow}, func(c *Config) {
		c.Prompts = map[string]string{"user_welcome": "Welcome to the Grand Hotel"}
	})
	if code := a.req(t, "POST", "/sim/calls", "", `{"from":"13900000001"}`, nil); code != 401 {
		t.Fatalf("POST /sim/calls without a token: %d, want 401", code)
	}
	if n := len(a.sim.Calls()); n != 0 {
		t.Fatalf("%d calls placed without a sign-in", n)
	}
	var placed struct{ ID string }
	if code := a.req(t, "POST", "/sim/calls", adminToken, `{"from":"13900000001","to":"60001"}`, &placed); code != 201 || placed.ID == "" {
		t.Fatalf("POST /sim/calls: %d %+v", code, placed)
	}
	var in omsim.CallInfo
	poll(t, "the welcome through /sim/", func() bool {
		a.req(t, "GET", "/sim/calls/"+placed.ID, adminToken, "", &in)
		return heardFile(in, "user_welcome")
	})
	var live api.CallList
	a.req(t, "GET", "/api/v1/calls", adminToken, "", &live)
	if len(live.Calls) != 1 || live.Calls[0].From != "13900000001" || live.Calls[0].Leg != in.Leg {
		t.Errorf("live calls %+v, the phone's call is %+v", live.Calls, in)
	}
	if code := a.req(t, "POST", "/sim/calls/"+placed.ID+"/hangup", adminToken, "", &in); code != 200 || in.State != "ended" {
		t.Errorf("hang-up through /sim/: %d %+v", code, in)
	}

	// The console's cookie: reading is enough to see, a change needs the
	// CSRF token.
	cookie, csrf := consoleSession(t, a)
	send := func(method, path, body string, withCSRF bool) int {
		req, _ := http.NewRequest(method, a.base+path, strings.NewReader(body))
		req.Header.Set("Cookie", api.SessionCookie+"="+cookie)
		req.Header.Set("Origin", a.base)
		if withCSRF {
			req.Header.Set(api.HeaderCSRF, csrf)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send("PUT", "/sim/numbers/13900000002", `{"answer":"manual"}`, false); code != 403 {
		t.Errorf("PUT /sim/numbers without the CSRF token: %d, want 403", code)
	}
	if code := send("PUT", "/sim/numbers/13900000002", `{"answer":"manual"}`, true); code != 200 {
		t.Errorf("PUT /sim/numbers with it: %d, want 200", code)
	}
	if code := send("GET", "/sim/calls", "", false); code != 200 {
		t.Errorf("GET /sim/calls with the cookie: %d, want 200", code)
	}

	var p api.PhoneInfo
	if code := a.req(t, "GET", "/api/v1/phone", adminToken, "", &p); code != 200 || p.Device != "om1" || p.Trunk != "60001" || len(p.Exts) != 10 {
		t.Errorf("GET /api/v1/phone: %d %+v", code, p)
	}
	var pl api.PromptList
	if code := a.req(t, "GET", "/api/v1/prompts", adminToken, "", &pl); code != 200 || pl.Prompts["user_welcome"] != "Welcome to the Grand Hotel" {
		t.Errorf("GET /api/v1/prompts: %d %+v", code, pl)
	}

	// A daemon whose simulator runs in another process has no /sim/.
	b := startAdminStack(t, map[string]string{"main": adminMainFlow}, nil)
	if code := b.req(t, "GET", "/sim/calls", adminToken, "", nil); code != 404 {
		t.Errorf("GET /sim/calls without an in-process simulator: %d, want 404", code)
	}
	if code := b.req(t, "POST", "/sim/calls", adminToken, `{"from":"13900000001"}`, nil); code != 404 {
		t.Errorf("POST /sim/calls without an in-process simulator: %d, want 404", code)
	}
	if code := b.req(t, "GET", "/api/v1/phone", adminToken, "", nil); code != 404 {
		t.Errorf("GET /api/v1/phone without an in-process simulator: %d, want 404", code)
	}
	if n := len(b.sim.Calls()); n != 0 {
		t.Errorf("%d calls on the other simulator", n)
	}
}

// consoleSession signs in as the console does and returns the cookie and
// the CSRF token.
func consoleSession(t *testing.T, a *adminStack) (cookie, csrf string) {
	t.Helper()
	req, _ := http.NewRequest("POST", a.base+"/api/v1/session", strings.NewReader(`{"token":"`+adminToken+`"}`))
	req.Header.Set("Origin", a.base)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info api.SessionInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d %v", resp.StatusCode, err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == api.SessionCookie {
			return c.Value, info.CSRF
		}
	}
	t.Fatal("no session cookie")
	return "", ""
}
