package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// TestKillWhileJobsAreDue runs "ivrd serve" as a real process, schedules
// jobs through the admin API, and kills the process with SIGKILL while one
// job's call rings and two more are about to come due. After a restart
// every job ends done, each number dialled exactly once.
func TestKillWhileJobsAreDue(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "flows", "main.lua"), `
local flow = {}
function flow.incoming(call) call:hangup() end
function flow.answered(call)
  call:play("user_welcome")
  ivr.store.incr("answered:" .. call.to)
end
return flow
`)
	listen, admin := freeAddr(t), freeAddr(t)
	simCfg := omsim.DefaultConfig()
	simCfg.FileDuration = 100 * time.Millisecond
	simCfg.Outside = omsim.Policy{Answer: omsim.AnswerAfter, Delay: 200 * time.Millisecond}
	// The first number rings long enough for the kill to find it ringing.
	simCfg.Numbers = map[string]omsim.Policy{"13800000031": {Answer: omsim.AnswerAfter, Delay: 3 * time.Second}}
	simCfg.ReportURL = "http://" + listen + "/om/om1"
	sim := startSim(t, simCfg)
	config := filepath.Join(dir, "ivrd.toml")
	writeFile(t, config, fmt.Sprintf(`
listen = %q
flows = %q
state = %q
log_level = "debug"

[admin]
listen = %q
token = %q

[outbound]
per_second = 50

[[device]]
name = "om1"
url = %q
`, listen, filepath.Join(dir, "flows"), filepath.Join(dir, "ivrd.db"), admin, adminToken, sim.URL()))

	d := startDaemon(t, config, 0)
	waitFor(t, "ivrd to listen", func() bool { return strings.Contains(d.output(), "serving") })
	post := func(body string) engine.Job {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+admin+"/api/v1/calls", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var j engine.Job
		if resp.StatusCode != 201 || json.Unmarshal(b, &j) != nil {
			t.Fatalf("POST /api/v1/calls: %d %s", resp.StatusCode, b)
		}
		return j
	}
	due := time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339Nano)
	post(`{"to":"13800000031","flow":"main","id":"ringing"}`)
	post(`{"to":"13800000032","flow":"main","id":"due-1","at":"` + due + `"}`)
	post(`{"to":"13800000033","flow":"main","id":"due-2","at":"` + due + `"}`)
	waitFor(t, "the first call to ring", func() bool { return len(sim.CallsTo("13800000031")) == 1 })

	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.done
	d.done <- nil
	time.Sleep(2500 * time.Millisecond) // the two come due while ivrd is down

	d2 := startDaemon(t, config, 0)
	waitFor(t, "ivrd to listen again", func() bool { return strings.Contains(d2.output(), "serving") })
	for _, id := range []string{"ringing", "due-1", "due-2"} {
		var j engine.Job
		deadline := time.Now().Add(15 * time.Second)
		for {
			req, _ := http.NewRequest("GET", "http://"+admin+"/api/v1/jobs/"+id, nil)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				_ = json.NewDecoder(bytes.NewReader(b)).Decode(&j)
			}
			if j.Final() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s: %+v\nfirst run:\n%s\nsecond run:\n%s", id, j, d.output(), d2.output())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if j.State != engine.JobDone || len(j.Attempts) != 1 {
			t.Errorf("job %s: state %s, attempts %+v\nsecond run:\n%s", id, j.State, j.Attempts, d2.output())
		}
		if n := len(sim.CallsTo(j.To)); n != 1 {
			t.Errorf("%s was dialled %d times", j.To, n)
		}
	}
}
