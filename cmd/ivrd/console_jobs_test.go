package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
)

// surveyConsoleFlow puts a two-question survey to every caller: the room
// on 1–5, and whether they would come again (1 yes, 2 no).
const surveyConsoleFlow = `
local survey = require "ivr.survey"
local flow = {}
function flow.incoming(call)
  local _, status = survey.run(call, { name = "stay", timeout = 10, questions = {
    { id = "room", prompt = "user_survey_q1", scale = "1-5" },
    { id = "again", prompt = "user_survey_q2", keys = "12" },
  } })
  if status == "done" then call:hangup() end
end
return flow
`

// wakeupConsoleFlow is a wake-up call: the guest hears the prompt.
const wakeupConsoleFlow = `
local flow = {}
function flow.answered(call)
  call:play("user_wakeup")
end
return flow
`

// TestConsoleJobsSurveysInBrowser drives the Jobs, Surveys and Funnels
// pages in a real headless Chromium against a real daemon and simulator:
// a wake-up scheduled from the form (a bad time zone first, shown beside
// its field), seen in the list as due, cancelled; two survey calls placed
// on the simulator whose answers appear in the charts, and a third who
// hangs up midway; the funnel of the survey flow, with that hang-up. Screenshots go to $IVRD_SCREENSHOTS when set.
func TestConsoleJobsSurveysInBrowser(t *testing.T) {
	a := startAdminStack(t, map[string]string{"main": surveyConsoleFlow, "wakeup": wakeupConsoleFlow}, nil)
	b := openBrowser(t)
	s := b.s
	if err := s.Navigate(a.base + "/"); err != nil {
		t.Fatal(err)
	}
	b.find("#token").SendKeys(adminToken)
	b.click("#signin")
	b.waitText("#live-rows", "No call is in the IVR now")

	// Jobs: a wake-up for room 1203 at 07:00 tomorrow, Shanghai time. A
	// time zone that is not one comes back beside its field.
	b.click(`#nav a[data-page="jobs"]`)
	b.waitText("#jobs-rows", "No job yet")
	tomorrow := time.Now().In(shanghai(t)).AddDate(0, 0, 1).Format("2006-01-02")
	b.find("#job-to").SendKeys("13800000009")
	b.find("#job-room").SendKeys("1203")
	b.setValue("#job-date", tomorrow)
	b.setValue("#job-time", "07:00")
	b.setValue("#job-tz", "Mars/Olympus")
	b.click("#job-schedule")
	b.waitText("#job-error-tz", "unknown time zone")
	if other := b.text("#job-error-to") + b.text("#job-form-error"); other != "" {
		t.Fatalf("errors beside other fields: %q", other)
	}
	b.screenshot("jobs-field-error")
	b.setValue("#job-tz", "Asia/Shanghai")
	b.click("#job-schedule")
	b.waitText("#job-result", "Scheduled")
	if got := b.text("#job-error-tz"); got != "" {
		t.Fatalf("the time zone's error stays after a good request: %q", got)
	}
	b.waitText("#jobs-rows", "13800000009")
	row := `#jobs-rows tr[data-phase]`
	b.waitText(row, "due")
	b.waitText(row, tomorrow+" 07:00")
	b.waitText(row, "room=1203")
	b.waitText("#jobs-phase-due", "1")
	var jobs struct {
		Jobs []engine.Job `json:"jobs"`
	}
	if code := a.req(t, "GET", "/api/v1/jobs", adminToken, "", &jobs); code != 200 || len(jobs.Jobs) != 1 {
		t.Fatalf("jobs: %d %+v", code, jobs)
	}
	j := jobs.Jobs[0]
	var vars map[string]string
	json.Unmarshal(j.Vars, &vars)
	if want := time.Date(j.Due.Year(), j.Due.Month(), j.Due.Day(), 7, 0, 0, 0, shanghai(t)); !j.Due.Equal(want) || j.Flow != "wakeup" ||
		vars["room"] != "1203" || vars["time"] != "0700" || j.Retry.Attempts != 3 || j.TZ != "Asia/Shanghai" {
		t.Fatalf("the job made: %+v (due %v)", j, j.Due.In(shanghai(t)))
	}
	b.screenshot("jobs")
	// Cancel takes a second click to confirm.
	b.click("#jobs-rows button.cancel")
	b.waitText("#jobs-rows button.cancel", "Really cancel?")
	b.click("#jobs-rows button.cancel")
	b.waitText(row, "cancelled")
	if code := a.req(t, "GET", "/api/v1/jobs/"+j.ID, adminToken, "", &j); code != 200 || j.State != engine.JobCancelled {
		t.Fatalf("after cancel: %d, state %s", code, j.State)
	}
	b.click("#jobs-phase-cancelled")
	b.waitText("#jobs-phase-cancelled.active", "Cancelled")
	b.waitText("#jobs-rows", j.ID)
	b.click("#jobs-phase-due")
	b.waitText("#jobs-phase-due.active", "Due")
	b.waitText("#jobs-rows", "No job is due")

	// Surveys: none yet; two callers answer; the charts follow.
	b.click(`#nav a[data-page="surveys"]`)
	b.waitText("#survey-none", "No survey has run")
	for _, c := range []struct{ from, room, again string }{{"13800000011", "4", "1"}, {"13800000012", "2", "1"}} {
		call, err := a.sim.PlaceCall(c.from, "60001")
		if err != nil {
			t.Fatal(err)
		}
		waitCall(t, call, "the first question", func(in omsim.CallInfo) bool { return heardFile(in, "user_survey_q1") })
		if err := call.Press(c.room); err != nil {
			t.Fatal(err)
		}
		waitCall(t, call, "the second question", func(in omsim.CallInfo) bool { return heardFile(in, "user_survey_q2") })
		if err := call.Press(c.again); err != nil {
			t.Fatal(err)
		}
		waitCall(t, call, "the end", func(in omsim.CallInfo) bool { return in.State == "ended" })
	}
	// A third caller answers 5 for the room and hangs up at the second
	// question.
	call, err := a.sim.PlaceCall("13800000013", "60001")
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the first question", func(in omsim.CallInfo) bool { return heardFile(in, "user_survey_q1") })
	if err := call.Press("5"); err != nil {
		t.Fatal(err)
	}
	waitCall(t, call, "the second question", func(in omsim.CallInfo) bool { return heardFile(in, "user_survey_q2") })
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	room := `#surveys [data-question="room"]`
	b.waitText(room+" .answered", "3")
	b.waitText(room+" .average", "3.67")
	b.waitText(`#surveys [data-survey="stay"] .started`, "3")
	b.waitText(`#surveys [data-survey="stay"] .completed`, "2")
	var bars string
	if err := s.Execute(&bars, `return [...document.querySelectorAll(arguments[0] + " svg g.bar")].map(g => g.dataset.label + "=" + g.dataset.value).join(" ")`, room); err != nil {
		t.Fatal(err)
	}
	if bars != "1=0 2=1 3=0 4=1 5=1" {
		t.Fatalf("room's bars: %q", bars)
	}
	b.waitText(`#surveys [data-question="again"] .answered`, "2")
	var href string
	s.Execute(&href, `return document.querySelector("#survey-csv").href`)
	if !strings.Contains(href, "/api/v1/surveys/main?") || !strings.Contains(href, "format=csv") {
		t.Fatalf("CSV link %q", href)
	}
	var csvText string
	if err := s.Execute(&csvText, `return fetch(arguments[0]).then(r => r.text())`, href); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(csvText), "\n"); len(lines) != 4 || lines[0] != "ended,call,from,status,room,again" {
		t.Fatalf("CSV from the page's link:\n%s", csvText)
	}
	b.screenshot("surveys")
	// Today's period counts them too; a custom period that ends before
	// them does not.
	b.setSelect("#survey-period", "today")
	b.waitText(`#surveys [data-survey="stay"] h2`, "in the period")
	b.waitText(room+" .answered", "3")
	b.setSelect("#survey-period", "custom")
	b.setValue("#survey-until", time.Now().Add(-48*time.Hour).Format("2006-01-02T15:04"))
	b.dispatch("#survey-until", "change")
	b.waitText(room+" .answered", "0")

	// Funnels: three calls heard both questions, and one caller hung up
	// while the second played (the path records a prompt cut off by the
	// hang-up).
	b.click(`#nav a[data-page="funnel"]`)
	b.waitText("#funnel-flow", "wakeup")
	b.setSelect("#funnel-flow", "main")
	b.waitText("#funnel-calls", "3")
	var steps string
	if err := s.Execute(&steps, `return [...document.querySelectorAll("#funnel svg g.bar")].map(g => g.dataset.label + "=" + g.dataset.value + "/" + g.dataset.part).join(" ")`); err != nil {
		t.Fatal(err)
	}
	if steps != "user_survey_q1=3/0 user_survey_q2=3/1" {
		t.Fatalf("funnel bars: %q", steps)
	}
	// The outcomes in the console's words, as on a call's page.
	b.waitText("#funnel p.stats", "the caller hung up 1")
	b.screenshot("funnel")
}

func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// setSelect picks an option of a select and tells the page, as a user's
// choice would.
func (p *page) setSelect(css, v string) {
	p.t.Helper()
	p.setValue(css, v)
	p.dispatch(css, "change")
}

// dispatch fires an event on the element css matches.
func (p *page) dispatch(css, event string) {
	p.t.Helper()
	if err := p.s.Execute(nil, `document.querySelector(arguments[0]).dispatchEvent(new Event(arguments[1]))`, css, event); err != nil {
		p.t.Fatal(err)
	}
}
