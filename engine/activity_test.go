package engine_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
)

// TestLiveActivityAndPath: a live call shows what it is doing now (prompt
// playing, waiting for keys, sleeping) and since when, and its path so
// far with the keys the flow marked secret redacted, as the console's
// live calls and call pages read them.
func TestLiveActivityAndPath(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local pin = ivr.secret(call:gather{ prompt = "user_welcome", min = 4, max = 4, timeout = 5 })
  call:gather{ prompt = "user_menu", timeout = 5 }
  call:sleep(30)
  call:hangup()
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	call := r.call("13800000001")
	s := onlySession(t, r)

	a := s.Activity()
	if a.Kind != engine.ActivityPlaying || a.Detail != "user_welcome" || !a.Since.Equal(epoch) {
		t.Fatalf("at the welcome: %+v, want playing user_welcome since %s", a, epoch)
	}
	if got := s.State(); got != "playing user_welcome" {
		t.Errorf("State() = %q", got)
	}
	r.advance(3 * time.Second) // the prompt (2 s) ends
	a = s.Activity()
	if a.Kind != engine.ActivityWaitingKeys || !a.Since.After(epoch) {
		t.Fatalf("after the welcome: %+v, want waiting_keys", a)
	}
	if got := pathText(s.Path()); got != "prompt user_welcome" {
		t.Fatalf("path after the welcome: %q", got)
	}

	r.press(call, "4821")
	a = s.Activity()
	if a.Kind != engine.ActivityPlaying || a.Detail != "user_menu" {
		t.Fatalf("at the menu: %+v", a)
	}
	if got := pathText(s.Path()); got != "prompt user_welcome, keys [secret]" {
		t.Fatalf("path with the pin: %q, want the pin redacted", got)
	}

	r.advance(3 * time.Second)
	r.press(call, "2")
	if a = s.Activity(); a.Kind != engine.ActivitySleeping {
		t.Fatalf("in the sleep: %+v", a)
	}
	if got := pathText(s.Path()); got != "prompt user_welcome, keys [secret], prompt user_menu, keys 2" {
		t.Fatalf("path in the sleep: %q", got)
	}
	r.advance(31 * time.Second)
	r.router.Wait()
	if n := len(r.router.Sessions()); n != 0 {
		t.Fatalf("%d sessions after the hang-up", n)
	}
}

// TestLivePathWhileRecovering: a call recovered after a restart has its
// path from before the restart back (the PIN still redacted), and status
// pages may read paths and activities while the replay fills them in.
func TestLivePathWhileRecovering(t *testing.T) {
	const flow = `
local f = {}
function f.incoming(call)
  local pin = ivr.secret(call:gather{ prompt = "user_welcome", min = 4, max = 4, timeout = 5 })
  call:gather{ prompt = "user_menu", timeout = 5 }
  call:hangup()
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	call := r.call("13800000001")
	r.advance(3 * time.Second)
	r.press(call, "4821")

	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if rt := r.ptr.Load(); rt != nil {
				for _, s := range rt.Sessions() {
					s.Path()
					s.Activity()
				}
			}
			runtime.Gosched()
		}
	}()
	r.router.Crash() // as a killed process: the call stays in the store
	r.router.Close()
	if n := r.restart(); n != 1 {
		t.Fatalf("recovered %d calls, want 1", n)
	}
	close(stop)
	<-done
	s := onlySession(t, r)
	if got := pathText(s.Path()); !strings.HasPrefix(got, "prompt user_welcome, keys [secret]") {
		t.Fatalf("recovered path %q", got)
	}
	if a := s.Activity(); a.Kind != engine.ActivityPlaying || a.Detail != "user_menu" {
		t.Fatalf("recovered call: %+v, want the menu playing again", a)
	}
}

func onlySession(t *testing.T, r *rig) *engine.Session {
	t.Helper()
	ss := r.router.Sessions()
	if len(ss) != 1 {
		t.Fatalf("%d live sessions, want 1", len(ss))
	}
	return ss[0]
}

func pathText(path []engine.PathEntry) string {
	out := ""
	for i, p := range path {
		if i > 0 {
			out += ", "
		}
		out += p.Kind
		if p.Value != "" {
			out += " " + p.Value
		}
	}
	return out
}
