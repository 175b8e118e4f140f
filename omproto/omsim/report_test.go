package omsim_test

import (
	"errors"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// TestReportMethod checks that reports are pushed as GET with the XML in
// the body by default, and as POST when configured, to the configured path.
func TestReportMethod(t *testing.T) {
	for _, c := range []struct{ config, want string }{{"", http.MethodGet}, {"GET", http.MethodGet}, {"POST", http.MethodPost}} {
		t.Run("ReportMethod="+c.config, func(t *testing.T) {
			h := newHarness(t, func(cfg *omsim.Config) { cfg.ReportMethod = c.config })
			h.incoming(caller)
			for _, r := range h.col.all() {
				if r.Method != c.want || r.Path != "/omapi/report" {
					t.Errorf("%s came by %s %s, want %s /omapi/report", r.Report.Kind(), r.Method, r.Path, c.want)
				}
				if !strings.HasPrefix(r.Body, `<?xml version="1.0" encoding="utf-8" ?>`) {
					t.Errorf("%s body %q does not start with the XML declaration", r.Report.Kind(), r.Body)
				}
			}
			if n := len(h.col.all()); n != 2 {
				t.Fatalf("got %d reports, want BOOTUP and INCOMING", n)
			}
		})
	}
}

// TestReportSignature checks signed reports: an <Auth> after the event
// with lowercase children, which verifies with the report secret at the
// device's time.
func TestReportSignature(t *testing.T) {
	const secret = "123456"
	h := newHarness(t, func(c *omsim.Config) { c.ReportSecret = secret })
	call, _ := h.incoming(caller)
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	h.expect("BYE visitor:1", "Cdr IN 13800000001>60001 dur=1")
	all := h.col.all()
	if len(all) != 4 {
		t.Fatalf("got %d reports, want BOOTUP INCOMING BYE Cdr", len(all))
	}
	for _, r := range all {
		a := r.Report.Auth
		if a == nil {
			t.Fatalf("%s is not signed: %q", r.Report.Kind(), r.Body)
		}
		if err := a.Verify(secret, h.clk.Now(), time.Second); err != nil {
			t.Errorf("%s signature: %v", r.Report.Kind(), err)
		}
		if !errors.Is(a.Verify("654321", h.clk.Now(), 0), omproto.ErrBadSignature) {
			t.Errorf("%s signature verifies with another secret", r.Report.Kind())
		}
		if len(a.Nonce) != 8 || strings.ToUpper(a.Nonce) != a.Nonce {
			t.Errorf("%s nonce %q, want 8 uppercase hex digits", r.Report.Kind(), a.Nonce)
		}
		end := strings.LastIndex(r.Body, "</Event>")
		if r.Report.Cdr != nil {
			end = strings.LastIndex(r.Body, "</Cdr>")
		}
		auth := strings.Index(r.Body, "<Auth><nonce>")
		if end < 0 || auth < end || !strings.Contains(r.Body, "</nonce><timestamp>") || !strings.Contains(r.Body, "</timestamp><signature>") {
			t.Errorf("%s: want <Auth><nonce><timestamp><signature> after the report, got %q", r.Report.Kind(), r.Body)
		}
	}
	// The signature is what the device records as sent, not what it keeps.
	for _, rec := range h.sim.Reports() {
		if strings.Contains(rec.Body, "<Auth>") {
			t.Errorf("the record of %s holds the signature", rec.Kind)
		}
	}
}

// TestReportsKeptWithoutURL checks a device without a report URL: reports
// are generated and kept, and nothing waits on them.
func TestReportsKeptWithoutURL(t *testing.T) {
	clk := clock.NewVirtual(epoch)
	sim, err := omsim.New(omsim.DefaultConfig(), clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	sim.Boot()
	if _, err := sim.PlaceCall(caller, ""); err != nil {
		t.Fatal(err)
	}
	sim.Settle()
	var got []string
	for _, r := range sim.Reports() {
		got = append(got, r.Kind+":"+r.Result)
		if !r.Time.Equal(epoch) {
			t.Errorf("%s at %v, want %v", r.Kind, r.Time, epoch)
		}
	}
	if want := []string{"BOOTUP:kept", "INCOMING:kept"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("reports %v, want %v", got, want)
	}
}

// TestReportDeliveryFailure checks that a report the app refuses is
// recorded as failed, and that later reports still go out.
func TestReportDeliveryFailure(t *testing.T) {
	clk := clock.NewVirtual(epoch)
	// The app expects another report secret than the device's.
	app := newCollector(t, clk, "app-secret")
	cfg := omsim.DefaultConfig()
	cfg.ReportURL = app.srv.URL + "/x"
	cfg.ReportSecret = "device-secret"
	sim, err := omsim.New(cfg, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	sim.Boot()
	if _, err := sim.PlaceCall(caller, ""); err != nil {
		t.Fatal(err)
	}
	sim.Settle()
	var got []string
	for _, r := range sim.Reports() {
		got = append(got, r.Kind+": "+r.Result)
	}
	if want := []string{"BOOTUP: failed: HTTP 401", "INCOMING: failed: HTTP 401"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("records %q, want %q", got, want)
	}
	if n := len(app.all()); n != 0 {
		t.Fatalf("the app accepted %d reports", n)
	}
}

// TestFaultsCommandSide checks the command-side faults as a client sees
// them, and that clearing them restores normal answers.
func TestFaultsCommandSide(t *testing.T) {
	h := newHarness(t, nil)
	cases := []struct {
		name  string
		fault omsim.Faults
		check func(t *testing.T, err error)
	}{
		{"CommandDelay past the client's timeout", omsim.Faults{CommandDelay: 300 * time.Millisecond}, func(t *testing.T, err error) {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("error %v, want the client's timeout", err)
			}
		}},
		{"CommandStatus 500", omsim.Faults{CommandStatus: 500}, func(t *testing.T, err error) {
			var se *omproto.StatusError
			if !errors.As(err, &se) || se.StatusCode != 500 {
				t.Fatalf("error %v, want HTTP 500", err)
			}
		}},
		{"CommandGarbage", omsim.Faults{CommandGarbage: true}, func(t *testing.T, err error) {
			var se *omproto.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v, want malformed XML", err)
			}
		}},
		{"RefuseConnections", omsim.Faults{RefuseConnections: true}, func(t *testing.T, err error) {
			if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("error %v, want the connection refused or reset", err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.sim.SetFaults(c.fault)
			h.client.Timeout = 100 * time.Millisecond
			_, err := h.client.DeviceInfo(h.ctx)
			c.check(t, err)
			h.sim.SetFaults(omsim.Faults{})
			h.client.Timeout = 10 * time.Second
			if _, err := h.client.DeviceInfo(h.ctx); err != nil {
				t.Fatalf("after clearing the fault: %v", err)
			}
		})
	}
	if got := h.sim.Faults(); got != (omsim.Faults{}) {
		t.Fatalf("Faults() = %+v after clearing", got)
	}
}

// TestFaultCommandCarriedOut checks that a command answered with a fault
// was still carried out (the client cannot know), and that the record
// shows the answer the client got.
func TestFaultCommandCarriedOut(t *testing.T) {
	h := newHarness(t, nil)
	call, v := h.incoming(caller)
	h.sim.SetFaults(omsim.Faults{CommandStatus: 503})
	var se *omproto.StatusError
	if _, err := h.client.Connect(h.ctx, omproto.Connect{From: v.Ref(), To: menu("1"), VoiceFile: "user_welcome"}); !errors.As(err, &se) || se.StatusCode != 503 {
		t.Fatalf("Connect: %v, want HTTP 503", err)
	}
	h.settle()
	wantState(t, call, "menu")
	recs := h.sim.Commands()
	last := recs[len(recs)-1]
	if last.Verb != omproto.VerbConnect || last.Status != 503 || last.Answer != "Service Unavailable" {
		t.Fatalf("record %+v, want Connect answered 503", last)
	}
}

// TestFaultsReportSide checks dropped, duplicated and reordered reports.
func TestFaultsReportSide(t *testing.T) {
	t.Run("DropReports", func(t *testing.T) {
		h := newHarness(t, nil)
		h.sim.SetFaults(omsim.Faults{DropReports: 1})
		h.place(caller)
		h.place("13800000002")
		h.sim.Settle()
		if got := describeAll(h.col.take()); !reflect.DeepEqual(got, []string{"INCOMING visitor:2 trunk:60001"}) {
			t.Fatalf("got %q, want only the second INCOMING", got)
		}
		recs := h.sim.Reports()
		if r := recs[len(recs)-2]; r.Kind != "INCOMING" || r.Result != "dropped" {
			t.Fatalf("record %+v, want the first INCOMING dropped", r)
		}
		if h.sim.Faults().DropReports != 0 {
			t.Fatal("the counter did not count down")
		}
	})
	t.Run("DuplicateReports", func(t *testing.T) {
		h := newHarness(t, nil)
		h.sim.SetFaults(omsim.Faults{DuplicateReports: 1})
		h.place(caller)
		h.place("13800000002")
		h.sim.Settle()
		want := []string{"INCOMING visitor:1 trunk:60001", "INCOMING visitor:1 trunk:60001", "INCOMING visitor:2 trunk:60001"}
		if got := describeAll(h.col.take()); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
	t.Run("ReorderReports: the next report overtakes", func(t *testing.T) {
		h := newHarness(t, nil)
		h.sim.SetFaults(omsim.Faults{ReorderReports: 1})
		h.place(caller)
		h.place("13800000002")
		h.place("13800000003")
		h.sim.Settle()
		want := []string{"INCOMING visitor:2 trunk:60001", "INCOMING visitor:1 trunk:60001", "INCOMING visitor:3 trunk:60001"}
		if got := describeAll(h.col.take()); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
	t.Run("ReorderReports: 2 swaps two pairs", func(t *testing.T) {
		h := newHarness(t, nil)
		h.sim.SetFaults(omsim.Faults{ReorderReports: 2})
		for _, n := range []string{"1", "2", "3", "4", "5"} {
			h.place("1380000000" + n)
		}
		h.sim.Settle()
		var got []string
		for _, r := range h.col.take() {
			got = append(got, r.Report.Event.Call().ID)
		}
		if want := []string{"2", "1", "4", "3", "5"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("visitors in the order %v, want %v", got, want)
		}
	})
	t.Run("ReorderReports: a held report goes after 1 s if nothing overtakes it", func(t *testing.T) {
		h := newHarness(t, nil)
		h.sim.SetFaults(omsim.Faults{ReorderReports: 1})
		h.place(caller)
		h.sim.Settle()
		if got := h.col.take(); len(got) != 0 {
			t.Fatalf("the held report went out at once: %q", describeAll(got))
		}
		h.clk.Advance(999 * time.Millisecond)
		if got := h.col.take(); len(got) != 0 {
			t.Fatalf("the held report went out before 1 s: %q", describeAll(got))
		}
		h.clk.Advance(time.Millisecond)
		h.expect("INCOMING visitor:1 trunk:60001")
	})
	t.Run("DropRate 1 and DuplicateRate 1", func(t *testing.T) {
		h := newHarness(t, nil)
		h.sim.SetFaults(omsim.Faults{DropRate: 1})
		h.place(caller)
		h.sim.Settle()
		if got := h.col.take(); len(got) != 0 {
			t.Fatalf("DropRate 1 let %q through", describeAll(got))
		}
		h.sim.SetFaults(omsim.Faults{DuplicateRate: 1})
		h.place("13800000002")
		h.sim.Settle()
		if got := describeAll(h.col.take()); len(got) != 2 || got[0] != got[1] {
			t.Fatalf("DuplicateRate 1 gave %q, want the report twice", got)
		}
	})
	t.Run("DropRate is random but seeded", func(t *testing.T) {
		run := func() []string {
			h := newHarness(t, func(c *omsim.Config) { c.Seed = 42 })
			h.sim.SetFaults(omsim.Faults{DropRate: 0.5})
			for i := 0; i < 20; i++ {
				c := h.place(caller)
				if err := c.HangUp(); err != nil {
					t.Fatal(err)
				}
			}
			h.sim.Settle()
			var results []string
			for _, r := range h.sim.Reports() {
				results = append(results, r.Result)
			}
			return results
		}
		a, b := run(), run()
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("two runs with the same seed differ:\n%v\n%v", a, b)
		}
		dropped := 0
		for _, r := range a {
			if r == "dropped" {
				dropped++
			}
		}
		if dropped < 10 || dropped > 50 {
			t.Fatalf("%d of %d reports dropped at rate 0.5", dropped, len(a))
		}
	})
}
