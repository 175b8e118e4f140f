package omsim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ivrd/ivrd/internal/clock"
	"github.com/ivrd/ivrd/omproto"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// TestScriptedCallerRealClock runs a caller on real time, as "ivrd sim"
// does: WaitState polls until the state is reached or the context ends.
func TestScriptedCallerRealClock(t *testing.T) {
	cfg := omsim.DefaultConfig()
	cfg.FileDuration = 20 * time.Millisecond
	cfg.Menus = map[int]omsim.MenuSettings{1: {VoiceFile: "user_menu", Repeat: 2}}
	sim, err := omsim.New(cfg, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	sim.Settle() // returns at once on the real clock
	client := &omproto.Client{BaseURL: sim.URL()}
	call, err := sim.PlaceCall(caller, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.Connect(ctx, omproto.Connect{From: visitor("1"), To: menu("1")}); err != nil {
		t.Fatal(err)
	}
	if err := call.WaitState(ctx, "parked"); err != nil {
		t.Fatalf("WaitState(parked): %v; call %+v", err, call.Info())
	}
	wantHeard(t, call, "user_menu", "user_menu")

	short, cancelShort := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancelShort()
	if err := call.WaitState(short, "talking"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitState(talking): %v, want the deadline", err)
	}
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	if err := call.WaitState(ctx, "ended"); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range sim.Reports() {
		kinds = append(kinds, r.Kind+":"+r.Result)
	}
	want := "BOOTUP:kept INCOMING:kept EndOfAnn:kept BYE:kept Cdr:kept"
	if got := join(kinds); got != want {
		t.Fatalf("reports %s, want %s", got, want)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

// TestClose checks that Close stops the device for good and can be called
// twice.
func TestClose(t *testing.T) {
	clk := clock.NewVirtual(epoch)
	sim, err := omsim.New(omsim.DefaultConfig(), clk)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	call, err := sim.PlaceCall(caller, "")
	if err != nil {
		t.Fatal(err)
	}
	url := sim.URL()
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sim.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := sim.PlaceCall(caller, ""); err == nil {
		t.Fatal("PlaceCall after Close succeeded")
	}
	client := &omproto.Client{BaseURL: url, QueryRetries: -1, Timeout: time.Second}
	if _, err := client.DeviceInfo(context.Background()); err == nil {
		t.Fatal("a command after Close was answered")
	}
	// The operator hand-off timer was stopped with the device.
	clk.Advance(time.Minute)
	sim.Settle()
	if state := call.State(); state != "incoming" {
		t.Fatalf("call state %q after Close and a minute, want it left as it was", state)
	}
	if n := clk.Pending(); n != 0 {
		t.Fatalf("%d timers pending after Close", n)
	}
}

// TestConfigIsACopy checks that Config returns a snapshot the caller may
// read while the device changes policies.
func TestConfigIsACopy(t *testing.T) {
	sim, err := omsim.New(omsim.DefaultConfig(), clock.NewVirtual(epoch))
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cfg := sim.Config()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 100; i++ {
			_ = sim.SetNumberPolicy(callee, omsim.Policy{Answer: omsim.AnswerBusy})
			_ = sim.SetExtPolicy("201", omsim.Policy{Answer: omsim.AnswerManual})
		}
	}()
	for i := 0; i < 100; i++ {
		_ = len(cfg.Numbers) + len(cfg.ExtPolicies)
		_ = sim.Config().Numbers[callee]
	}
	<-done
	if len(cfg.Numbers) != 0 || len(cfg.ExtPolicies) != 0 {
		t.Fatalf("the snapshot changed: %v %v", cfg.Numbers, cfg.ExtPolicies)
	}
	if got := sim.Config().Numbers[callee].Answer; got != omsim.AnswerBusy {
		t.Fatalf("Config().Numbers[%s] = %q, want busy", callee, got)
	}
	if got := sim.Config().ExtPolicies["201"].Answer; got != omsim.AnswerManual {
		t.Fatalf("Config().ExtPolicies[201] = %q, want manual", got)
	}
}
