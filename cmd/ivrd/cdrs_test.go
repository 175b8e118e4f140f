package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/api"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// The daemon keeps the record of every call the simulator ends: an IVR
// call's names the call (and is in its history), an extension-to-
// extension call's is kept too; both are found through the admin API.
func TestServeCdrs(t *testing.T) {
	a := startAdminStack(t, map[string]string{"main": adminMainFlow}, nil)
	call, err := a.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the welcome", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	if err := call.Press("1"); err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the agent", func(in omsim.CallInfo) bool { return in.Connected == "ext 201" && in.State == "talking" })
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	extToExtCall(t, a.stack, "200", "202")

	var l api.CdrList
	poll(t, "both records", func() bool {
		l = api.CdrList{} // a record without a call must not keep an earlier one's
		return a.req(t, "GET", "/api/v1/cdrs", adminToken, "", &l) == 200 && len(l.Cdrs) == 2
	})
	local, ivr := l.Cdrs[0], l.Cdrs[1] // newest first
	if local.CPN != "200" || local.CDPN != "202" || local.Call != "" || local.Device != "om1" {
		t.Fatalf("extension call's record = %+v", local)
	}
	if ivr.CPN != "13800000001" || ivr.Call == "" {
		t.Fatalf("IVR call's record = %+v", ivr)
	}
	var ended api.Call
	if got := a.req(t, "GET", "/api/v1/calls/"+ivr.Call, adminToken, "", &ended); got != 200 || ended.Cdr == nil || ended.Cdr.ID != ivr.ID {
		t.Fatalf("the call the record names: %d %+v", got, ended)
	}
	l = api.CdrList{}
	if got := a.req(t, "GET", "/api/v1/cdrs?ext=202", adminToken, "", &l); got != 200 || len(l.Cdrs) != 1 || l.Cdrs[0].ID != local.ID {
		t.Fatalf("ext=202: %d %+v", got, l)
	}
	l = api.CdrList{}
	if got := a.req(t, "GET", "/api/v1/cdrs?number=138", adminToken, "", &l); got != 200 || len(l.Cdrs) != 1 || l.Cdrs[0].ID != ivr.ID {
		t.Fatalf("number=138: %d %+v", got, l)
	}
}

// A lost report leaves an extension's state wrong until the periodic
// query of the device's extensions corrects it, in both directions.
func TestServeExtQueryCorrectsLostReports(t *testing.T) {
	a := startAdminStack(t, map[string]string{"main": adminMainFlow}, func(c *Config) {
		c.Devices[0].ExtQuery = "1s"
	})
	ext := func(id string) (string, api.ExtList) {
		var l api.ExtList
		if got := a.req(t, "GET", "/api/v1/devices/om1/extensions", adminToken, "", &l); got != 200 {
			t.Fatalf("GET extensions: %d", got)
		}
		for _, e := range l.Exts {
			if e.ID == id {
				return e.State, l
			}
		}
		return "", l
	}
	poll(t, "the first query", func() bool { st, _ := ext("200"); return st == "idle" })

	// Every report is lost from here on: the router hears nothing of
	// the call between 200 and 202.
	a.sim.SetFaults(omsim.Faults{DropReports: 1 << 20})
	client, err := omproto.NewClient(a.sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Connect(context.Background(), omproto.Connect{
		From: omproto.Ref{Kind: omproto.KindExt, ID: "200"}, To: omproto.Ref{Kind: omproto.KindExt, ID: "202"}}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the extensions talking", func() bool {
		st, _ := a.sim.ExtState("202")
		return st == "busy"
	})
	poll(t, "202 corrected to busy", func() bool { st, _ := ext("202"); return st == "busy" })
	if err := a.sim.HangUpExt("200"); err != nil {
		t.Fatal(err)
	}
	var l api.ExtList
	poll(t, "202 corrected to idle", func() bool {
		var st string
		st, l = ext("202")
		return st == "idle"
	})
	if l.Corrected < 2 || l.Queried.IsZero() || l.QueryError != "" {
		t.Fatalf("extensions = %+v, want two corrections or more", l)
	}
	if logs := a.logs.String(); !strings.Contains(logs, "extension state corrected by a query") || !strings.Contains(logs, "ext=202 was=busy now=idle") {
		t.Fatalf("no correction logged:\n%s", logs)
	}
	for _, r := range a.sim.Reports() {
		if r.Kind == "IDLE" && r.Result != "dropped" {
			t.Fatalf("an IDLE report got through (%s): the test proves nothing", r.Result)
		}
	}
}

func TestDeviceExtQueryAndTZ(t *testing.T) {
	for _, c := range []struct {
		v    string
		want time.Duration
	}{{"", DefaultExtQuery}, {"off", 0}, {"30s", 30 * time.Second}} {
		d := DeviceConfig{ExtQuery: c.v}
		if got := d.extQueryEvery(); got != c.want {
			t.Errorf("ext_query %q: %s, want %s", c.v, got, c.want)
		}
	}
	d := DeviceConfig{Name: "om1", URL: "http://10.0.0.2", Menus: []int{41, 50}, Wait: "parked", SilenceFile: "silence", TZ: "Asia/Shanghai"}
	if err := d.validate(); err != nil {
		t.Fatal(err)
	}
	if tz := d.engineDevice().TZ; tz == nil || tz.String() != "Asia/Shanghai" {
		t.Fatalf("engine device zone = %v", tz)
	}
}

// TestConsoleCdrsInBrowser drives the Call records page in a real headless
// Chromium against a real daemon and simulator: an IVR call's record and
// an extension call's show, newest first, with the IVR call's path linked;
// a bad extension filter names its field; the extension filter keeps one
// record, and the CSV link carries the same search.
func TestConsoleCdrsInBrowser(t *testing.T) {
	a := startAdminStack(t, map[string]string{"main": adminMainFlow}, nil)
	call, err := a.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the welcome", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	extToExtCall(t, a.stack, "200", "202")
	poll(t, "both records", func() bool {
		var l api.CdrList
		return a.req(t, "GET", "/api/v1/cdrs", adminToken, "", &l) == 200 && len(l.Cdrs) == 2
	})

	b := openBrowser(t)
	b.signIn(a.base)
	b.click(`#nav a[data-page="cdrs"]`)
	b.waitText("#cdr-rows", "13800000001")
	rows := b.text("#cdr-rows")
	if i, j := strings.Index(rows, "202"), strings.Index(rows, "13800000001"); i < 0 || i > j {
		t.Fatalf("records not newest first:\n%s", rows)
	}
	b.waitText("#cdr-rows tr:last-child", "path")
	b.waitText("#cdr-rows tr:first-child", "internal")
	b.screenshot("cdrs")

	b.find("#cdr-ext").SendKeys("2/2")
	b.click("#cdr-search")
	b.waitText("#cdr-error", "ext:")
	b.find("#cdr-ext").Clear()
	b.find("#cdr-ext").SendKeys("202")
	b.click("#cdr-search")
	b.waitText("#cdr-rows", "202")
	poll(t, "the filtered table", func() bool { return !strings.Contains(b.text("#cdr-rows"), "13800000001") })
	href, err := b.find("#cdr-csv").Attribute("href")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(href, "format=csv") || !strings.Contains(href, "ext=202") {
		t.Errorf("CSV link %q does not carry the search", href)
	}
	b.click(`#nav a[data-page="cdrs"]`)
	b.waitText("#cdr-rows", "13800000001")
	b.click(`#cdr-rows tr:last-child a`)
	b.waitText("#main h1", "Call")
}

// extToExtCall has the simulator connect extension from to extension to
// (Transfer Connect, as a click-to-connect does), waits until they talk,
// and hangs from up: the device then sends an internal call's record.
func extToExtCall(t *testing.T, st *stack, from, to string) {
	t.Helper()
	client, err := omproto.NewClient(st.sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Connect(context.Background(), omproto.Connect{
		From: omproto.Ref{Kind: omproto.KindExt, ID: from}, To: omproto.Ref{Kind: omproto.KindExt, ID: to}}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the extensions talking", func() bool {
		s, _ := st.sim.ExtState(to)
		return s == "busy"
	})
	if err := st.sim.HangUpExt(from); err != nil {
		t.Fatal(err)
	}
}
