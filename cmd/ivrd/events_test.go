package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

const eventsFlow = `
local f = {}
function f.incoming(call)
  local key = call:gather{ prompt = "user_welcome", timeout = 5 }
  ivr.emit("lead", { caller = call.from, key = key })
  call:transfer{ ext = "201" }
end
return f`

// The daemon streams a call's events, in order, to a client of the admin
// API, from its state file.
func TestServeEvents(t *testing.T) {
	a := startAdminStack(t, map[string]string{"main": eventsFlow}, nil)
	req, _ := http.NewRequest("GET", a.base+"/api/v1/events?after=0&kind=call.incoming&kind=flow.&kind=call.ended", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/events: %s", resp.Status)
	}
	stop := time.AfterFunc(20*time.Second, func() { resp.Body.Close() })
	defer stop.Stop()

	call, err := a.sim.PlaceCall("13800000001", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the welcome", func(in omsim.CallInfo) bool { return heardFile(in, "user_welcome") })
	if err := call.Press("1"); err != nil {
		t.Fatal(err)
	}
	var got []engine.CallEvent
	rd := bufio.NewScanner(resp.Body)
	rd.Buffer(nil, 1<<20)
	for rd.Scan() && len(got) < 3 {
		line := rd.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var e engine.CallEvent
		if err := json.Unmarshal([]byte(line[6:]), &e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != 3 {
		t.Fatalf("got %d events, want 3: %+v", len(got), got)
	}
	kinds := []string{got[0].Kind, got[1].Kind, got[2].Kind}
	if strings.Join(kinds, " ") != "call.incoming flow.lead call.ended" {
		t.Fatalf("kinds %v, want call.incoming flow.lead call.ended", kinds)
	}
	for _, e := range got {
		if e.Call == "" || e.Call != got[0].Call || e.Device != "om1" {
			t.Fatalf("event %+v: want om1 and the call %s", e, got[0].Call)
		}
	}
	if !strings.Contains(string(got[1].Data), `"key":"1"`) || !strings.Contains(string(got[2].Data), `"outcome":"transferred"`) {
		t.Fatalf("data: %s / %s", got[1].Data, got[2].Data)
	}
}

func TestEventsConfig(t *testing.T) {
	neg, zero := -1, 0
	for _, tc := range []struct {
		c       EventsConfig
		wantErr string
		age     time.Duration
		count   int
	}{
		{EventsConfig{}, "", 168 * time.Hour, DefaultEventsMaxCount},
		{EventsConfig{MaxAge: "0s", MaxCount: &zero}, "", -1, -1},
		{EventsConfig{MaxAge: "soon"}, "events.max_age", 0, 0},
		{EventsConfig{MaxCount: &neg}, "events.max_count", 0, 0},
	} {
		opt, err := tc.c.options()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%+v: error %v, want one naming %s", tc.c, err, tc.wantErr)
			}
			continue
		}
		if err != nil || opt.MaxAge != tc.age || opt.MaxCount != tc.count {
			t.Errorf("%+v: %v, %v; want age %v count %d", tc.c, opt, err, tc.age, tc.count)
		}
	}
}
