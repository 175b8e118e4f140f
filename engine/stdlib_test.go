package engine_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ivrd/ivrd/engine"
	"github.com/ivrd/ivrd/omproto/omsim"
	"github.com/ivrd/ivrd/stdlib"
)

// evalFlow wraps a Lua function body in a flow whose incoming runs it and
// keeps what it returns in ivr.store under "result".
const evalFlow = `
local f = {}
function f.incoming(call)
  local result = (function()
%s
  end)()
  ivr.store.put("result", result)
  call:hangup()
end
return f`

// evalLua runs body inside a call's sandbox, with the stdlib, and decodes
// what it returns into out.
func evalLua(t *testing.T, body string, out any) {
	t.Helper()
	r := newRig(t, map[string]string{"main": strings.Replace(evalFlow, "%s", body, 1)}, rigOptions{})
	r.call("1")
	r.router.Wait()
	v, ok, err := r.store.Get("main", "result")
	if err != nil || !ok {
		t.Fatalf("no result (%v); logs: %v", err, r.logs.all())
	}
	if err := json.Unmarshal(v, out); err != nil {
		t.Fatalf("result %s: %v", v, err)
	}
}

func TestStdlibModulesCompile(t *testing.T) {
	mods := engine.StdlibModules()
	src := stdlib.Sources()
	for _, name := range []string{"ivr.menu", "ivr.survey", "ivr.say", "ivr.verify", "ivr.wakeup"} {
		if mods[name] == nil {
			t.Errorf("module %s is missing", name)
		}
	}
	if len(mods) != len(src) {
		t.Errorf("%d modules compiled from %d sources", len(mods), len(src))
	}
	for name, p := range mods {
		if want := stdlib.FileName(name); p.SourceName != want {
			t.Errorf("%s: chunk name %q, want %q", name, p.SourceName, want)
		}
	}
	h := engine.StdlibHash()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(h) || h != engine.StdlibHash() {
		t.Fatalf("StdlibHash = %q", h)
	}
	// The map is the caller's: changing it does not change the next one.
	delete(mods, "ivr.menu")
	if engine.StdlibModules()["ivr.menu"] == nil {
		t.Fatal("StdlibModules shares its map")
	}
}

func TestCheckFlowRequiresTheStdlib(t *testing.T) {
	var b strings.Builder
	for _, name := range sortedNames(engine.StdlibModules()) {
		b.WriteString("local _ = require " + `"` + name + `"` + "\n")
	}
	b.WriteString("return { incoming = function(call) end }\n")
	f, err := engine.CompileFlow("all", "flows/all.lua", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.CheckFlow(f); err != nil {
		t.Fatalf("CheckFlow: %v", err)
	}
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestSay(t *testing.T) {
	cases := []struct {
		expr string
		want string // files without their prefix, space-separated
	}{
		// English numbers.
		{`say.number(0)`, "0"},
		{`say.number(7)`, "7"},
		{`say.number(13)`, "13"},
		{`say.number(20)`, "20"},
		{`say.number(21)`, "20 1"},
		{`say.number(99)`, "90 9"},
		{`say.number(100)`, "1 hundred"},
		{`say.number(105)`, "1 hundred 5"},
		{`say.number(110)`, "1 hundred 10"},
		{`say.number(999)`, "9 hundred 90 9"},
		{`say.number(1000)`, "1 thousand"},
		{`say.number(1001)`, "1 thousand 1"},
		{`say.number(12345)`, "12 thousand 3 hundred 40 5"},
		{`say.number(1000000)`, "1 million"},
		{`say.number(2000017)`, "2 million 17"},
		{`say.number(999999999999)`, "9 hundred 90 9 billion 9 hundred 90 9 million 9 hundred 90 9 thousand 9 hundred 90 9"},
		{`say.number(-42)`, "minus 40 2"},
		{`say.number(3.14)`, "3 point 1 4"},
		{`say.number("0.50")`, "0 point 5 0"},
		{`say.number(-0.0)`, "0"},
		{`say.digits("0129*#")`, "0 1 2 9 star pound"},
		{`say.digits(8001)`, "8 0 0 1"},
		// English money, dates and times.
		{`say.money(12.34)`, "12 usd and 30 4 usd_minor"},
		{`say.money(1.01)`, "1 usd_1 and 1 usd_minor_1"},
		{`say.money(0.5)`, "50 usd_minor"},
		{`say.money(0)`, "0 usd"},
		{`say.money(2, "EUR")`, "2 eur"},
		{`say.money("-3.10")`, "minus 3 usd and 10 usd_minor"},
		{`say.money(19.999)`, "20 usd"},
		{`say.date(1795597200)`, "month_11 ord_25 20 20 6"}, // 2026-11-25 09:00 UTC
		{`say.date({ year = 2005, month = 3, day = 1 }, { weekday = true })`, "wday_2 month_3 ord_1 2 thousand 5"}, // a Tuesday,
		{`say.date({ year = 1905, month = 12, day = 31 })`, "month_12 ord_31 19 oh 5"},
		{`say.date({ year = 1900, month = 2, day = 28 }, { year = false })`, "month_2 ord_28"},
		{`say.date(1795597200 - 10 * 3600, { utc_offset = 8 })`, "month_11 ord_25 20 20 6"}, // 23:00 UTC the day before
		{`say.time(1795597200)`, "9 am"},
		{`say.time({ hour = 9, min = 5 })`, "9 oh 5 am"},
		{`say.time({ hour = 0, min = 30 })`, "12 30 am"},
		{`say.time({ hour = 12, min = 0 })`, "12 pm"},
		{`say.time({ hour = 23, min = 59 })`, "11 50 9 pm"},
		{`say.time({ hour = 14, min = 0 }, { hour24 = true })`, "14 hundred"},
		{`say.time({ hour = 14, min = 7 }, { hour24 = true })`, "14 oh 7"},
		// Chinese numbers.
		{`say.number(0, zh)`, "0"},
		{`say.number(2, zh)`, "2"},
		{`say.number(10, zh)`, "shi"},
		{`say.number(12, zh)`, "shi 2"},
		{`say.number(20, zh)`, "2 shi"},
		{`say.number(22, zh)`, "2 shi 2"},
		{`say.number(100, zh)`, "1 bai"},
		{`say.number(101, zh)`, "1 bai 0 1"},
		{`say.number(110, zh)`, "1 bai 1 shi"},
		{`say.number(200, zh)`, "liang bai"},
		{`say.number(222, zh)`, "liang bai 2 shi 2"},
		{`say.number(1002, zh)`, "1 qian 0 2"},
		{`say.number(1200, zh)`, "1 qian 2 bai"},
		{`say.number(2000, zh)`, "liang qian"},
		{`say.number(2222, zh)`, "liang qian 2 bai 2 shi 2"},
		{`say.number(10000, zh)`, "1 wan"},
		{`say.number(10005, zh)`, "1 wan 0 5"},
		{`say.number(10010, zh)`, "1 wan 0 1 shi"},
		{`say.number(12000, zh)`, "1 wan liang qian"},
		{`say.number(20000, zh)`, "liang wan"},
		{`say.number(120000, zh)`, "shi 2 wan"},
		{`say.number(100000, zh)`, "shi wan"},
		{`say.number(1020304, zh)`, "1 bai 0 2 wan 0 3 bai 0 4"},
		{`say.number(100000000, zh)`, "1 yi"},
		{`say.number(200000000, zh)`, "liang yi"},
		{`say.number(100000001, zh)`, "1 yi 0 1"},
		{`say.number(100100000, zh)`, "1 yi 0 1 shi wan"},
		{`say.number(100010000, zh)`, "1 yi 0 1 wan"},
		{`say.number(1234567890, zh)`, "shi 2 yi 3 qian 4 bai 5 shi 6 wan 7 qian 8 bai 9 shi"},
		{`say.number(999999999999, zh)`, "9 qian 9 bai 9 shi 9 yi 9 qian 9 bai 9 shi 9 wan 9 qian 9 bai 9 shi 9"},
		{`say.number(-3.05, zh)`, "fu 3 dian 0 5"},
		{`say.number(222, { language = "zh", liang = false })`, "2 bai 2 shi 2"},
		{`say.digits("13800", zh)`, "1 3 8 0 0"},
		{`say.digits("110*#", { language = "zh", yao = true })`, "yao yao 0 xing jing"},
		// Chinese money, dates and times.
		{`say.money(12.34, zh)`, "shi 2 yuan 3 jiao 4 fen"},
		{`say.money(12.04, zh)`, "shi 2 yuan 0 4 fen"},
		{`say.money(12.3, zh)`, "shi 2 yuan 3 jiao"},
		{`say.money(2, zh)`, "liang yuan"},
		{`say.money(0.22, zh)`, "liang jiao liang fen"},
		{`say.money(0, zh)`, "0 yuan"},
		{`say.money(1000000, zh)`, "1 bai wan yuan"},
		{`say.money(5.5, "USD", zh)`, "5 usd 5 shi usd_minor"},
		{`say.date(1795597200, zh)`, "2 0 2 6 nian shi 1 yue 2 shi 5 ri"},
		{`say.date(1795597200, { language = "zh", weekday = true })`, "2 0 2 6 nian shi 1 yue 2 shi 5 ri wday_3"},                // a Wednesday
		{`say.date({ year = 2026, month = 2, day = 2 }, { language = "zh", weekday = true })`, "2 0 2 6 nian 2 yue 2 ri wday_1"}, // a Monday
		{`say.time({ hour = 9, min = 5 }, zh)`, "shangwu 9 dian 0 5 fen"},
		{`say.time({ hour = 14, min = 2 }, zh)`, "xiawu liang dian 0 2 fen"},
		{`say.time({ hour = 12, min = 30 }, zh)`, "zhongwu shi 2 dian 3 shi fen"},
		{`say.time({ hour = 0, min = 0 }, zh)`, "lingchen 0 dian"},
		{`say.time({ hour = 20, min = 45 }, zh)`, "wanshang 8 dian 4 shi 5 fen"},
		{`say.time({ hour = 22, min = 0 }, { language = "zh", hour24 = true })`, "2 shi 2 dian"},
		{`say.time(1795597200, { language = "zh", utc_offset = 8 })`, "xiawu 5 dian"},
		// Settings for the rest of the call, and a custom prefix.
		{`(function() say.set_language("zh"); local r = say.number(15); say.set_language("en"); return r end)()`, "shi 5"},
		{`say.number(3, { prefix = "" })`, "3"},
	}
	var b strings.Builder
	b.WriteString("local say = require \"ivr.say\"\nlocal zh = { language = \"zh\" }\nlocal out = {}\n")
	for i, c := range cases {
		b.WriteString("do local ok, r = pcall(function() return " + c.expr + " end)\n")
		b.WriteString("  if ok then r = table.concat(r, \" \") end\n")
		b.WriteString("  out[" + itoa(i+1) + "] = r end\n")
	}
	b.WriteString("return out")
	var got []string
	evalLua(t, b.String(), &got)
	if len(got) != len(cases) {
		t.Fatalf("%d results for %d cases", len(got), len(cases))
	}
	prefix := regexp.MustCompile(`(^| )(en|zh)_`)
	for i, c := range cases {
		g := got[i]
		if !strings.Contains(c.expr, "prefix") {
			// Every name carries its language's prefix.
			lang := "en_"
			if strings.Contains(c.expr, "zh") {
				lang = "zh_"
			}
			for _, f := range strings.Fields(g) {
				if !strings.HasPrefix(f, lang) {
					t.Errorf("%s: file %q lacks the prefix %s (got %q)", c.expr, f, lang, g)
					break
				}
			}
			g = prefix.ReplaceAllString(g, "$1")
		}
		if g != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.expr, g, c.want)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// menuTree is a two-level menu: 1 transfers, 2 opens a submenu, 3 plays
// the opening hours and offers the menu again, *9 (two keys) transfers
// to the operator; * goes back and 0 to the top.
const menuTree = `
local menu = require "ivr.menu"
local f = {}
function f.incoming(call)
  local ok, why = menu.run(call, {
    prompt = "user_menu",
    invalid_prompt = "user_invalid",
    noinput_prompt = "user_noinput",
    max_invalid = 2,
    max_noinput = 3,
    back = "*",
    top = "0",
    options = {
      ["1"] = function(call) return call:transfer{ ext = "201" } end,
      ["2"] = {
        prompt = "user_enter_room",
        options = {
          ["1"] = function(call, key) ivr.log.info("chose", { key = key }); return call:transfer{ ext = "202" } end,
          ["2"] = { prompt = "user_wakeup", options = { ["5"] = function(call) return call:transfer{ ext = "205" } end } },
        },
      },
      ["3"] = function(call) call:play("user_closed"); return menu.again end,
      ["*9"] = function(call) return call:transfer{ ext = "200" } end,
    },
    on_fail = function(call, reason)
      ivr.log.info("menu failed", { reason = reason })
      call:play("user_bye")
      return nil, reason
    end,
  })
  ivr.log.info("menu returned", { ok = tostring(ok), why = tostring(why) })
end
return f`

func TestMenuSubmenuBackAndTop(t *testing.T) {
	r := newRig(t, map[string]string{"main": menuTree}, rigOptions{})
	call := r.call("1")
	r.run(3*time.Second, time.Second)
	r.press(call, "2") // the submenu
	r.run(3*time.Second, time.Second)
	r.press(call, "*") // back
	r.run(4*time.Second, time.Second)
	r.press(call, "2")
	r.advance(time.Second)
	r.press(call, "2") // the sub-submenu
	r.advance(time.Second)
	r.press(call, "0") // the top
	r.advance(time.Second)
	r.press(call, "3") // hours, then the same menu again
	r.run(5*time.Second, time.Second)
	r.press(call, "1")
	r.run(2*time.Second, time.Second)
	want := []string{"user_menu", "user_enter_room", "user_menu", "user_enter_room!", "user_wakeup!", "user_menu!", "user_closed", "user_menu"}
	if got := heard(call); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("heard %v\nwant  %v", got, want)
	}
	if info := call.Info(); info.Connected != "ext 201" {
		t.Fatalf("call = %+v, want ext 201", info)
	}
	if !r.logged("menu returned", "ok=true") {
		t.Fatalf("menu.run did not return the option's result: %v", r.logs.all())
	}
}

func TestMenuKeysOfASubmenuOption(t *testing.T) {
	r := newRig(t, map[string]string{"main": menuTree}, rigOptions{})
	call := r.call("1")
	r.press(call, "21") // typed ahead: the submenu's prompt is skipped
	r.advance(time.Second)
	if info := call.Info(); info.Connected != "ext 202" {
		t.Fatalf("call = %+v, want ext 202", info)
	}
	if !r.logged("chose", "key=1") {
		t.Fatalf("the option function did not get its key: %v", r.logs.all())
	}
}

func TestMenuTwoKeyChoice(t *testing.T) {
	r := newRig(t, map[string]string{"main": menuTree}, rigOptions{})
	call := r.call("1")
	r.run(3*time.Second, time.Second)
	// "*" alone is the back key, but it also begins "*9": the menu waits
	// digit_timeout (3 s) for a second key; at the top, back offers the
	// menu again.
	r.press(call, "*")
	r.run(2*time.Second, time.Second)
	if got := heard(call); len(got) != 1 {
		t.Fatalf("heard %v 2 s after *, want the menu still waiting for a second key", got)
	}
	r.run(2*time.Second, time.Second)
	if got := heard(call); len(got) != 2 || strings.TrimSuffix(got[1], "!") != "user_menu" { // "!": still playing
		t.Fatalf("heard %v after * and the digit timeout, want the top menu again", got)
	}
	r.run(2*time.Second, time.Second)
	r.press(call, "*")
	r.advance(time.Second)
	r.press(call, "9")
	r.advance(time.Second)
	if info := call.Info(); info.Connected != "ext 200" {
		t.Fatalf("call = %+v, want ext 200 for *9", info)
	}
}

func TestMenuCountsInvalidAndNoInputApart(t *testing.T) {
	// max_invalid 2, max_noinput 3: one invalid choice and two timeouts do
	// not end the menu (three failures, none at its limit); the second
	// invalid choice does.
	r := newRig(t, map[string]string{"main": menuTree}, rigOptions{})
	call := r.call("1")
	r.run(3*time.Second, time.Second)
	r.press(call, "9") // invalid 1
	r.run(4*time.Second, time.Second)
	r.run(5*time.Second, time.Second) // no input 1
	r.run(4*time.Second, time.Second)
	r.run(5*time.Second, time.Second) // no input 2
	r.run(4*time.Second, time.Second)
	if r.logged("menu failed") {
		t.Fatalf("the menu gave up before a limit was reached: %v", heard(call))
	}
	r.press(call, "8") // invalid 2: the limit
	r.run(4*time.Second, time.Second)
	want := []string{"user_menu", "user_invalid", "user_menu", "user_noinput", "user_menu", "user_noinput", "user_menu", "user_bye"}
	if got := heard(call); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("heard %v\nwant  %v", got, want)
	}
	if !r.logged("menu failed", "reason=invalid") || !r.logged("menu returned", "ok=nil", "why=invalid") {
		t.Fatalf("on_fail did not run, or its results were not returned: %v", r.logs.all())
	}
}

func TestMenuCountsStartAfreshAndDefaultOnFailHangsUp(t *testing.T) {
	const flow = `
local menu = require "ivr.menu"
local f = {}
function f.incoming(call)
  local ok, why = menu.run(call, {
    prompt = "user_menu", tries = 2, back = "*",
    options = { ["2"] = { prompt = "user_enter_room", options = { ["1"] = function() end } } },
  })
  ivr.log.info("menu returned", { ok = tostring(ok), why = tostring(why) })
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	call := r.call("1")
	r.run(3*time.Second, time.Second)
	r.press(call, "9") // invalid 1 in the top menu
	r.run(3*time.Second, time.Second)
	r.press(call, "2")
	r.run(3*time.Second, time.Second)
	r.press(call, "9") // invalid 1 in the submenu: a fresh count
	r.run(3*time.Second, time.Second)
	if r.logged("menu returned") {
		t.Fatalf("the submenu counted the top menu's mistake: %v", heard(call))
	}
	r.press(call, "9") // invalid 2 in the submenu
	r.run(3*time.Second, time.Second)
	if !r.logged("menu returned", "ok=nil", "why=invalid") {
		t.Fatalf("logs: %v", r.logs.all())
	}
	if !r.logged("call ended", "outcome=hangup") || call.Info().State != "ended" {
		t.Fatalf("the default on_fail did not hang up: %+v", call.Info())
	}
}

const surveyFlow = `
local survey = require "ivr.survey"
local f = {}
local spec = {
  name = "hotel", intro = "user_survey_intro", thanks = "user_survey_thanks", invalid_prompt = "user_invalid",
  questions = {
    { id = "clean", prompt = "user_survey_q1", scale = "1-5" },
    { id = "again", prompt = "user_survey_q2", keys = "12" },
    { id = "nps", prompt = "user_survey_q3", scale = "0-10" },
  },
}
local function ask(call)
  local a, status = survey.run(call, spec)
  ivr.log.info("survey", { from = call.from, to = call.to, status = status,
    clean = tostring(a.clean), again = tostring(a.again), nps = tostring(a.nps) })
end
function f.incoming(call)
  if call.from == "report" then
    local s = survey.summary("hotel")
    local q = s.by_id
    ivr.store.put("report", {
      started = s.started, completed = s.completed,
      order = s.questions[1].id .. "," .. s.questions[2].id .. "," .. s.questions[3].id,
      clean_answered = q.clean.answered, clean_avg = q.clean.average, clean_4 = q.clean.counts[4], clean_1 = q.clean.counts[1],
      again_1 = q.again.counts["1"], again_2 = q.again.counts["2"], again_missed = q.again.missed, again_avg = q.again.average,
      nps_10 = q.nps.counts[10], nps_0 = q.nps.counts[0], nps_sum = q.nps.sum,
      none = survey.summary("nothing") == nil,
    })
    return
  end
  ask(call)
end
f.answered = ask
return f`

func TestSurvey(t *testing.T) {
	r := newRig(t, map[string]string{"main": surveyFlow}, rigOptions{sim: func(c *omsim.Config) {
		c.Numbers = map[string]omsim.Policy{"13900000001": {Delay: time.Second, Keys: "229", KeysDelay: time.Second}}
	}})
	// 4 for clean stops the intro and answers the first question, whose
	// prompt is then skipped; 1 for again; 1 then 0 is 10 for nps (1 could
	// begin 10, so the survey reads on).
	c1 := r.call("1001")
	for _, k := range []string{"4", "1", "1", "0"} {
		r.press(c1, k)
		r.run(time.Second, time.Second)
	}
	r.run(3*time.Second, time.Second)
	// 7 is not a choice for again: the invalid prompt, then 2; 7 cannot
	// begin a longer answer on 0-10 and is taken at once.
	c2 := r.call("1002")
	r.press(c2, "5")
	r.run(time.Second, time.Second)
	r.press(c2, "7")
	r.run(5*time.Second, time.Second)
	r.press(c2, "2")
	r.run(time.Second, time.Second)
	r.press(c2, "7")
	r.run(3*time.Second, time.Second)
	// 3, then nothing for again (missed after two tries), then a hang-up
	// during the last question.
	c3 := r.call("1003")
	r.press(c3, "3")
	r.run(16*time.Second, time.Second)
	if err := c3.HangUp(); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	// An outbound call: the callee types 2 2 9 once it answers.
	if _, err := r.router.Dial(engine.DialRequest{To: "13900000001", Flow: "main"}); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.run(15*time.Second, time.Second)
	r.router.Wait()

	for _, want := range [][]string{
		{"from=1001", "status=done", "clean=4", "again=1", "nps=10"},
		{"from=1002", "status=done", "clean=5", "again=2", "nps=7"},
		{"from=1003", "status=hangup", "clean=3", "again=nil", "nps=nil"},
		{"to=13900000001", "status=done", "clean=2", "again=2", "nps=9"},
	} {
		if !r.logged(append([]string{"survey:"}, want...)...) {
			t.Errorf("no survey line with %v", want)
		}
	}
	if got, want := heard(c2), "user_survey_intro! user_survey_q2! user_invalid user_survey_q2 user_survey_q3! user_survey_thanks"; strings.Join(got, " ") != want {
		t.Errorf("caller 2 heard %v, want %s", got, want)
	}
	if got, want := heard(c1), "user_survey_intro! user_survey_q2! user_survey_q3! user_survey_thanks"; strings.Join(got, " ") != want {
		t.Errorf("caller 1 heard %v, want %s", got, want)
	}
	for key, want := range map[string]string{
		"survey:hotel:started":           "4",
		"survey:hotel:completed":         "3",
		"survey:hotel:clean:count:4":     "1",
		"survey:hotel:clean:sum":         "14",
		"survey:hotel:again:count:2":     "2",
		"survey:hotel:again:missed":      "1",
		"survey:hotel:nps:answered":      "3",
		"survey:hotel:nps:count:10":      "1",
		"survey:hotel:nps:sum":           "26",
		"survey:hotel:clean:count:1":     "",
		"survey:hotel:again:count:other": "",
	} {
		v, ok, err := r.store.Get("main", key)
		if err != nil || string(v) != want || ok != (want != "") {
			t.Errorf("store %s = %q (%v, %v), want %q", key, v, ok, err, want)
		}
	}
	v, _, _ := r.store.Get("main", "survey:hotel:responses")
	var responses []struct {
		Call, From, Status string
		At                 float64
		Answers            map[string]any
		Missed             []string
	}
	if err := json.Unmarshal(v, &responses); err != nil || len(responses) != 4 {
		t.Fatalf("responses = %s (%v)", v, err)
	}
	if r0 := responses[0]; r0.From != "1001" || r0.Status != "done" || r0.Call == "" || r0.At < float64(epoch.Unix()) || r0.At > float64(epoch.Unix()+60) ||
		r0.Answers["clean"] != 4.0 || r0.Answers["again"] != "1" || r0.Answers["nps"] != 10.0 {
		t.Errorf("first response = %+v", r0)
	}
	// Who missed what: only caller 3, who let "again" pass; the hang-up
	// during nps is no miss.
	for i, want := range []string{"", "", "again", ""} {
		if got := strings.Join(responses[i].Missed, ","); got != want {
			t.Errorf("response %d missed %q, want %q", i, got, want)
		}
	}

	// survey.summary reads the counters back in a flow.
	r.call("report")
	r.router.Wait()
	var report map[string]any
	v, _, _ = r.store.Get("main", "report")
	if err := json.Unmarshal(v, &report); err != nil {
		t.Fatalf("report %s: %v", v, err)
	}
	want := map[string]any{
		"started": 4.0, "completed": 3.0, "order": "clean,again,nps",
		"clean_answered": 4.0, "clean_avg": 3.5, "clean_4": 1.0, "clean_1": 0.0,
		"again_1": 1.0, "again_2": 2.0, "again_missed": 1.0,
		"nps_10": 1.0, "nps_0": 0.0, "nps_sum": 26.0, "none": true,
	}
	for k, w := range want {
		if report[k] != w {
			t.Errorf("summary %s = %v, want %v", k, report[k], w)
		}
	}
	if _, ok := report["again_avg"]; ok {
		t.Errorf("a keys question has an average: %v", report)
	}
}

func TestVerifyReadsTheCodeAndKeepsItSecret(t *testing.T) {
	const flow = `
local verify = require "ivr.verify"
local f = {}
function f.incoming(call)
  local res, why = verify.run(call, { code = "4821", prompt = "user_code_is", digit_gap = 0,
                                      repeat_prompt = "user_repeat", bye = "user_bye" })
  ivr.log.info("verify", { res = tostring(res), why = tostring(why) })
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	call := r.call("1")
	// The prompt (2 s), three readings of four 2-s digits with a 1-s
	// pause between them, and the offer: 30 s.
	r.run(31*time.Second, time.Second)
	r.press(call, "1") // hear it again
	r.run(12*time.Second, time.Second)
	// The offer again: no key this time.
	r.run(20*time.Second, time.Second)
	r.router.Wait()

	digits := []string{"user_digit_4", "user_digit_8", "user_digit_2", "user_digit_1"}
	var want []string
	want = append(want, "user_code_is")
	want = append(want, digits...)
	want = append(want, "silence")
	want = append(want, digits...)
	want = append(want, "silence")
	want = append(want, digits...)
	want = append(want, "user_repeat", "user_code_is")
	want = append(want, digits...)
	want = append(want, "user_repeat", "user_bye")
	if got := heard(call); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("heard %v\nwant  %v", got, want)
	}
	if !r.logged("verify", "res=heard", "why=nil") {
		t.Fatalf("verify.run did not return heard: %v", r.logs.all())
	}
	for _, l := range r.logs.all() {
		if strings.Contains(l, "4821") || strings.Contains(l, "user_digit_4+user_digit_8") {
			t.Fatalf("the code reached a log line: %s", l)
		}
	}
	hs := mustHistory(t, r)
	if len(hs) != 1 {
		t.Fatalf("%d history entries", len(hs))
	}
	enc, _ := json.Marshal(hs[0])
	if strings.Contains(string(enc), "4821") || strings.Contains(string(enc), "user_digit_") {
		t.Fatalf("the code reached history: %s", enc)
	}
	readings := 0
	for _, p := range hs[0].Path {
		if p.Kind == "prompt" && p.Value == "[secret]" {
			readings++
		}
	}
	if readings != 4 {
		t.Fatalf("history shows %d redacted readings, want 4: %s", readings, enc)
	}
}

func TestVerifyHangupAndDefaults(t *testing.T) {
	const flow = `
local verify = require "ivr.verify"
local f = {}
function f.incoming(call)
  local res, why = verify.run(call, { code = "007007", times = 2, pause = 0, digit_gap = 0 })
  ivr.log.info("verify", { res = tostring(res), why = tostring(why) })
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	call := r.call("1")
	r.run(30*time.Second, time.Second)
	r.router.Wait()
	if got := heard(call); len(got) != 12 || got[0] != "user_digit_0" || got[6] != "user_digit_0" {
		t.Fatalf("heard %v, want two readings of six digits with no pause and no offer", got)
	}
	if !r.logged("verify", "res=heard") {
		t.Fatalf("logs: %v", r.logs.all())
	}

	r = newRig(t, map[string]string{"main": flow}, rigOptions{})
	call = r.call("1")
	r.run(5*time.Second, time.Second)
	if err := call.HangUp(); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.router.Wait()
	if !r.logged("verify", "res=nil", "why=hangup") {
		t.Fatalf("logs: %v", r.logs.all())
	}
}

// By default the code is read slowly: the device's silence file between
// two digits, in a chain still recognised as the secret.
func TestVerifyReadsDigitsWithGaps(t *testing.T) {
	const flow = `
local verify = require "ivr.verify"
local f = {}
function f.incoming(call)
  verify.run(call, { code = "4821", times = 1 })
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	call := r.call("1")
	r.run(30*time.Second, time.Second)
	r.router.Wait()
	want := "user_digit_4 silence user_digit_8 silence user_digit_2 silence user_digit_1"
	if got := strings.Join(heard(call), " "); got != want {
		t.Fatalf("heard %s\nwant  %s", got, want)
	}
	for _, l := range r.logs.all() {
		if strings.Contains(l, "4821") || strings.Contains(l, "user_digit_4+silence") {
			t.Errorf("the code shows in a log line: %s", l)
		}
	}
	hs, err := r.store.ListHistory(1)
	if err != nil || len(hs) != 1 {
		t.Fatal(hs, err)
	}
	for _, p := range hs[0].Path {
		if strings.Contains(p.Value, "user_digit") {
			t.Errorf("history shows the code's files: %+v", p)
		}
	}
}

const wakeupFlow = `
local wakeup = require "ivr.wakeup"
local f = {}
function f.incoming(call)
  local id, at = wakeup.schedule{ to = "13800000001", time = "06:30", utc_offset = 8, vars = { room = "1203" } }
  ivr.store.put("booked", { id = id, at = at })
  call:hangup()
end
function f.answered(call)
  local r = wakeup.answered(call, { prompt = "user_wakeup", snooze = { ["2"] = 5 }, tries = 2,
                                    confirmed_prompt = "user_thanks", snoozed_prompt = "user_wakeup_confirm" })
  ivr.store.append("results:" .. call.to, { r = r, snoozes = call.vars.snoozes or 0, room = call.vars.room })
  return r
end
function f.failed(job, reason)
  wakeup.failed(job, reason, { fallback = "8000", fallback_flow = "desk" })
end
return f`

const deskFlow = `
local f = {}
function f.answered(call)
  ivr.store.put("desk", call.vars)
  call:play("user_wakeup")
end
return f`

// jobsTo returns the jobs to a number, oldest first.
func jobsTo(t *testing.T, r *rig, number string) []engine.Job {
	t.Helper()
	all, err := r.router.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	var out []engine.Job
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].To == number {
			out = append(out, all[i])
		}
	}
	return out
}

func TestWakeupSchedule(t *testing.T) {
	r := newRig(t, map[string]string{"main": wakeupFlow}, rigOptions{})
	r.call("1")
	r.router.Wait()
	var booked struct {
		ID string
		At float64
	}
	v, _, _ := r.store.Get("main", "booked")
	if err := json.Unmarshal(v, &booked); err != nil {
		t.Fatalf("booked %s: %v", v, err)
	}
	// 09:00 UTC is 17:00 at +8: the next 06:30 there is 22:30 UTC.
	want := time.Date(2026, 11, 25, 22, 30, 0, 0, time.UTC)
	if booked.At != float64(want.Unix()) {
		t.Fatalf("due at %s, want %s", time.Unix(int64(booked.At), 0).UTC(), want)
	}
	j := r.job(booked.ID)
	if !j.Due.Equal(want) || j.State != engine.JobScheduled || j.Retry.Attempts != 3 ||
		time.Duration(j.Retry.Delay) != 5*time.Minute || !strings.Contains(string(j.Vars), `"room":"1203"`) {
		t.Fatalf("job = %+v", j)
	}
}

func TestWakeupSnoozeAndConfirm(t *testing.T) {
	r := newRig(t, map[string]string{"main": wakeupFlow}, rigOptions{sim: func(c *omsim.Config) {
		c.Numbers = map[string]omsim.Policy{
			"13800000002": {Delay: time.Second, Keys: "2", KeysDelay: time.Second},
			"13800000003": {Delay: time.Second, Keys: "1", KeysDelay: time.Second},
		}
	}})
	first, err := r.router.Dial(engine.DialRequest{To: "13800000002", Flow: "main", Vars: json.RawMessage(`{"room":"808"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.router.Dial(engine.DialRequest{To: "13800000003", Flow: "main"}); err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.run(20*time.Second, time.Second)
	jobs := jobsTo(t, r, "13800000002")
	if len(jobs) != 2 {
		t.Fatalf("%d jobs to the snoozer, want the first and its snooze", len(jobs))
	}
	if jobs[0].ID != first.ID || jobs[0].State != engine.JobDone {
		t.Fatalf("the snoozed job is %s, want done", jobs[0].State)
	}
	snooze := jobs[1]
	answered := jobs[0].Attempts[0].Started
	if d := snooze.Due.Sub(answered); snooze.State != engine.JobScheduled || d < 5*time.Minute || d > 5*time.Minute+10*time.Second {
		t.Fatalf("snooze job %s due %s after the first attempt; want scheduled 5 minutes on", snooze.State, d)
	}
	if !strings.Contains(string(snooze.Vars), `"room":"808"`) || !strings.Contains(string(snooze.Vars), `"snoozes":1`) {
		t.Fatalf("snooze vars = %s", snooze.Vars)
	}
	calls := r.sim.CallsTo("13800000003")
	if len(calls) != 1 || strings.Join(heard(calls[0]), " ") != "silence! user_wakeup! user_thanks" {
		t.Fatalf("the confirmer heard %v", heard(calls[0]))
	}
	if j := jobsTo(t, r, "13800000003"); len(j) != 1 || j[0].State != engine.JobDone {
		t.Fatalf("confirmed job: %+v", j)
	}

	// The snooze comes due and is snoozed again: the count goes on.
	r.run(6*time.Minute, 5*time.Second)
	v, _, _ := r.store.Get("main", "results:13800000002")
	if string(v) != `[{"r":"snoozed","room":"808","snoozes":0},{"r":"snoozed","room":"808","snoozes":1}]` {
		t.Fatalf("results = %s", v)
	}
	if jobs := jobsTo(t, r, "13800000002"); len(jobs) != 3 || !strings.Contains(string(jobs[2].Vars), `"snoozes":2`) {
		t.Fatalf("jobs after the second snooze: %d", len(jobs))
	}
}

func TestWakeupNotConfirmedCallsTheFrontDesk(t *testing.T) {
	r := newRig(t, map[string]string{"main": wakeupFlow, "desk": deskFlow}, rigOptions{sim: func(c *omsim.Config) {
		c.Numbers = map[string]omsim.Policy{"13800000004": {Delay: time.Second}} // answers, never presses
	}})
	j, err := r.router.Dial(engine.DialRequest{To: "13800000004", Flow: "main", Vars: json.RawMessage(`{"room":"1203"}`),
		Retry: engine.RetryPolicy{Attempts: 2, Delay: engine.Duration(time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	r.sim.Settle()
	r.run(3*time.Minute, 5*time.Second)
	got := r.job(j.ID)
	if got.State != engine.JobFailed || outcomes(got) != "retry,retry" {
		t.Fatalf("job: state %s, attempts %s; want failed after retry,retry", got.State, outcomes(got))
	}
	v, _, _ := r.store.Get("main", "results:13800000004")
	if string(v) != `[{"r":"retry","room":"1203","snoozes":0},{"r":"retry","room":"1203","snoozes":0}]` {
		t.Fatalf("results = %s", v)
	}
	desk := jobsTo(t, r, "8000")
	if len(desk) != 1 || desk[0].Flow != "desk" {
		t.Fatalf("front desk jobs: %+v", desk)
	}
	v, _, _ = r.store.Get("desk", "desk")
	var vars struct {
		Room   string
		Failed struct {
			Job, To, Reason string
			Attempts        int
		} `json:"failed_wakeup"`
	}
	if err := json.Unmarshal(v, &vars); err != nil {
		t.Fatalf("the desk's call.vars %s: %v", v, err)
	}
	if vars.Room != "1203" || vars.Failed.Job != j.ID || vars.Failed.To != "13800000004" || vars.Failed.Reason != "retry" || vars.Failed.Attempts != 2 {
		t.Fatalf("the desk's call.vars = %s", v)
	}
	if !r.logged("[WARN]", "wake-up call failed; calling the front desk", "to=13800000004") {
		t.Fatalf("no warning: %v", r.logs.all())
	}
}

func TestStdlibOptionErrorsNameOptionAndLine(t *testing.T) {
	const m = `prompt = "user_menu", options = { ["1"] = function() end }`
	cases := []struct{ code, want string }{
		{`menu.run(call, { ` + m + `, tires = 3 })`, `flows/main.lua:4: menu.run: unknown option "tires"`},
		{`menu.run(call, { options = { ["1"] = function() end } })`, `flows/main.lua:4: menu.run: prompt is required`},
		{`menu.run(call, { prompt = "a b", options = { ["1"] = function() end } })`, `flows/main.lua:4: menu.run: prompt must name voice files; "a b" is not a voice file name`},
		{`menu.run(call, { prompt = "m", options = { [1] = function() end } })`, `flows/main.lua:4: menu.run: options: keys must be strings of keys like "1" or "*9", not the number 1`},
		{`menu.run(call, { prompt = "m", options = { ["1x"] = function() end } })`, `flows/main.lua:4: menu.run: options["1x"]: the key must be a string of keys`},
		{`menu.run(call, { prompt = "m", options = { ["1"] = "user_bye" } })`, `flows/main.lua:4: menu.run: options["1"] must be a function or a submenu table, not the string "user_bye"`},
		{`menu.run(call, { ` + m + `, back = "1" })`, `flows/main.lua:4: menu.run: options["1"]: "1" is also the back key`},
		{`menu.run(call, { prompt = "m", options = { ["2"] = { prompt = "s", timeout = "5", options = { ["1"] = function() end } } } })`,
			`flows/main.lua:4: menu.run: options["2"]: timeout must be a number of seconds, not the string "5"`},
		{`menu.run(call, { prompt = "m", options = { ["2"] = { prompt = "s", options = { ["3"] = { prompt = "t", options = {}, tries = 0 } } } } })`,
			`flows/main.lua:4: menu.run: options["2"].options["3"]: tries must be within 1–20, not 0`},
		{`menu:run({ ` + m + ` })`, `flows/main.lua:4: menu.run: the first argument must be the call, not a table (write menu.run(call, …), not menu:run`},
		{`menu.run(call, { ` + m + `, on_fail = "user_bye" })`, `flows/main.lua:4: menu.run: on_fail must be a function, not the string "user_bye"`},
		{`survey.run(call, { name = "s", questions = { { id = "q", prompt = "p", scale = "1..5" } } })`,
			`flows/main.lua:4: survey.run: questions[1]: scale must be a range of whole numbers like "1-5" or "0-10" (0–99), not the string "1..5"`},
		{`survey.run(call, { name = "s", questions = { { id = "q", prompt = "p", scale = "0-20" } } })`, `survey.run: questions[1]: scale must span at most 11 answers, not 21`},
		{`survey.run(call, { name = "s", questions = { { id = "q", prompt = "p", scale = "1-5", keys = "12" } } })`, `flows/main.lua:4: survey.run: questions[1]: give exactly one of scale and keys`},
		{`survey.run(call, { name = "s", questions = { { id = "q", promt = "p", keys = "12" } } })`, `flows/main.lua:4: survey.run: questions[1]: unknown option "promt"`},
		{`survey.run(call, { name = "s", questions = {} })`, `flows/main.lua:4: survey.run: questions must list at least one question`},
		{`survey.run(call, { name = "a b", questions = { { id = "q", prompt = "p", keys = "1" } } })`, `flows/main.lua:4: survey.run: name must be 1–64 letters`},
		{`survey.summary(7)`, `flows/main.lua:4: survey.summary: the name must be 1–64 letters, digits, '_', '-' or '.', not the number 7`},
		{`say.number("12a")`, `flows/main.lua:4: say.number: the string "12a" is not a number`},
		{`say.number(1e13)`, `flows/main.lua:4: say.number: the number 10000000000000 is too large (at most 999999999999)`},
		{`say.number(1, { lang = "zh" })`, `flows/main.lua:4: say.number: unknown option "lang"`},
		{`say.set_language("fr")`, `flows/main.lua:4: say.set_language: the language must be one of "en", "zh", not the string "fr"`},
		{`say.configure{ utc_offset = "+8" }`, `flows/main.lua:4: say.configure: utc_offset must be a number of hours within -14–14, not the string "+8"`},
		{`say.time({ hour = 25 })`, `flows/main.lua:4: say.time: hour must be a whole number within 0–23, not the number 25`},
		{`say.date({ year = 2026, month = 2, day = 29 })`, `flows/main.lua:4: say.date: day must be a whole number within 1–28, not the number 29`},
		{`say.money(1, "dollars")`, `flows/main.lua:4: say.money: the currency must be a three-letter currency code like "USD", not the string "dollars"`},
		{`say.digits("12-34")`, `flows/main.lua:4: say.digits: the string "12-34" is not a string of digits, * and #`},
		{`verify.run(call, { code = 48215 })`, `flows/main.lua:4: verify.run: code must be a string of 4–32 digits, not a number`},
		{`verify.run(call, { code = "4821", time = 3 })`, `flows/main.lua:4: verify.run: unknown option "time"`},
		{`verify.run(call, { code = "4821", repeat_key = "12" })`, `flows/main.lua:4: verify.run: repeat_key must be one key (0-9, *, #, A-D), not the string "12"`},
		{`wakeup.answered(call, { prompt = "p", snooze = { ["2"] = 0 } })`, `flows/main.lua:4: wakeup.answered: snooze ["2"] must be whole minutes within 1–720, not the number 0`},
		{`wakeup.answered(call, { prompt = "p", snooze = { ["1"] = 5 } })`, `flows/main.lua:4: wakeup.answered: snooze: "1" is also the confirm key`},
		{`wakeup.schedule{ to = "1" }`, `flows/main.lua:4: wakeup.schedule: give exactly one of time and at`},
		{`wakeup.schedule{ to = "1", time = "2460" }`, `flows/main.lua:4: wakeup.schedule: time must be a time of day like "0630" or "06:30", not the string "2460"`},
		{`wakeup.failed({ id = "j" }, "busy", { fallback = "8000" })`, `flows/main.lua:4: wakeup.failed: fallback_flow is required`},
		// ivr.dial's own checks of options passed through.
		{`wakeup.schedule{ to = "1", time = "0630", dial = { windw = "08:00-21:00" } }`, `flows/main.lua:4: wakeup.schedule: ivr.dial: unknown option "windw"`},
		// A flow's own helper: the line inside it is named.
		{`local function ask() local r = menu.run(call, { ` + m + `, timeout = 0 }) return r end ask()`, `flows/main.lua:4: menu.run: timeout must be within 0–3600 seconds, not 0`},
		// A tail call leaves no frame of the flow's: the message still
		// names the function and the option.
		{`return menu.run(call, { ` + m + `, tires = 3 })`, `menu.run: unknown option "tires"`},
	}
	const head = `local menu, survey, say, verify, wakeup = require "ivr.menu", require "ivr.survey", require "ivr.say", require "ivr.verify", require "ivr.wakeup"
local f = {}
function f.incoming(call)
`
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			flow := head + "  " + c.code + "\nend\nreturn f"
			r := newRig(t, map[string]string{"main": flow}, rigOptions{})
			r.call("1")
			r.advance(time.Second)
			r.router.Wait()
			if !r.logged("[ERROR]", c.want) {
				t.Fatalf("no error line with %q in %v", c.want, r.logs.all())
			}
			if r.logged("[ERROR]", "stdlib/") {
				t.Fatalf("the error names the stdlib, not the flow: %v", r.logs.all())
			}
		})
	}
}

// apiDumpFlow lists, from a live call, the call object's members, every
// ivr service, each stdlib module's exports and the option names the
// stdlib checks.
const apiDumpFlow = `
local f = {}
local function walk(t, prefix, out, depth)
  for k, v in pairs(t) do
    local name = prefix .. tostring(k)
    if type(v) == "table" and depth < 4 then
      walk(v, name .. ".", out, depth + 1)
    else
      out[#out + 1] = name
    end
  end
end
function f.incoming(call)
  local out = { call = {}, ivr = {}, modules = {}, specs = {} }
  for k in pairs(call) do out.call[#out.call + 1] = k end
  walk(ivr, "ivr.", out.ivr, 0)
  for _, name in ipairs(MODULES) do
    local names = {}
    for k in pairs(require(name)) do names[#names + 1] = k end
    out.modules[name] = names
  end
  for name, opts in pairs(require("ivr._util").specs) do out.specs[name] = opts end
  ivr.store.put("dump", out)
  call:hangup()
end
return f`

// luaAPI is what a flow can reach, as apiDumpFlow saw it.
type luaAPI struct {
	Call    []string            `json:"call"`
	Ivr     []string            `json:"ivr"`
	Modules map[string][]string `json:"modules"`
	Specs   map[string][]string `json:"specs"`
}

func dumpLuaAPI(t *testing.T) luaAPI {
	t.Helper()
	var mods []string
	for _, name := range sortedNames(engine.StdlibModules()) {
		if !stdlib.Internal(name) {
			mods = append(mods, `"`+name+`"`)
		}
	}
	flow := "local MODULES = {" + strings.Join(mods, ", ") + "}\n" + apiDumpFlow
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	r.call("1")
	r.router.Wait()
	v, ok, err := r.store.Get("main", "dump")
	if err != nil || !ok {
		t.Fatalf("no dump (%v): %v", err, r.logs.all())
	}
	var api luaAPI
	if err := json.Unmarshal(v, &api); err != nil {
		t.Fatalf("dump %s: %v", v, err)
	}
	if len(api.Modules) != len(mods) {
		t.Fatalf("dumped %d modules of %d", len(api.Modules), len(mods))
	}
	return api
}

// luaTypes is what stdlib/types describes.
type luaTypes struct {
	call    map[string]bool            // fields and methods of ivr.Call
	ivr     map[string]bool            // "ivr.log", "ivr.log.info" …
	modules map[string]map[string]bool // "ivr.menu" → "run", "again" …
	options map[string]map[string]bool // "call:gather" → its fields
}

var (
	metaLine   = regexp.MustCompile(`^---@meta\s+(\S+)`)
	classLine  = regexp.MustCompile(`^---@class\s+(\S+)`)
	fieldLine  = regexp.MustCompile(`^---@field\s+(\w+)`)
	optionLine = regexp.MustCompile(`^-- options: (.+)$`)
	methodLine = regexp.MustCompile(`^function Call:(\w+)\(`)
	ivrLine    = regexp.MustCompile(`^(?:function\s+)?(ivr(?:\.\w+)+)\s*(?:\(|=)`)
	localTable = regexp.MustCompile(`^local (\w+) = \{\}`)
)

func parseLuaTypes(t *testing.T) luaTypes {
	t.Helper()
	lt := luaTypes{call: map[string]bool{}, ivr: map[string]bool{}, modules: map[string]map[string]bool{}, options: map[string]map[string]bool{}}
	fsys := stdlib.Types()
	files, err := fs.Glob(fsys, "*.lua")
	if err != nil || len(files) == 0 {
		t.Fatalf("no type files (%v)", err)
	}
	for _, file := range files {
		src, err := fs.ReadFile(fsys, file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(src), "\n")
		var meta, module string
		var class string
		var markers []string
		for _, line := range lines {
			line = strings.TrimRight(line, "\r")
			if m := metaLine.FindStringSubmatch(line); m != nil {
				meta = m[1]
				if meta != "_" {
					lt.modules[meta] = map[string]bool{}
				}
				continue
			}
			if m := optionLine.FindStringSubmatch(line); m != nil {
				markers = append(markers, m[1])
				continue
			}
			if m := classLine.FindStringSubmatch(line); m != nil {
				class = m[1]
				for _, mk := range markers {
					lt.options[mk] = map[string]bool{}
				}
				continue
			}
			if m := fieldLine.FindStringSubmatch(line); m != nil && class != "" {
				for _, mk := range markers {
					lt.options[mk][m[1]] = true
				}
				if class == "ivr.Call" {
					lt.call[m[1]] = true
				}
				continue
			}
			if strings.HasPrefix(line, "---") {
				continue
			}
			// Anything else ends a class's block.
			class, markers = "", nil
			if m := methodLine.FindStringSubmatch(line); m != nil {
				lt.call[m[1]] = true
			}
			if m := ivrLine.FindStringSubmatch(line); m != nil {
				lt.ivr[m[1]] = true
			}
			if meta != "_" && meta != "" {
				if m := localTable.FindStringSubmatch(line); m != nil && module == "" {
					module = m[1]
				}
				if module != "" {
					if m := regexp.MustCompile(`^(?:function\s+)?` + module + `\.(\w+)\s*(?:\(|=)`).FindStringSubmatch(line); m != nil {
						lt.modules[meta][m[1]] = true
					}
				}
			}
		}
	}
	return lt
}

// goOptions are the option names the engine's Go code accepts: by the
// name its errors give the function ("call:gather"; "*" where the name is
// computed at run time), and for option tables nested in another, by
// the nested option's name ("retry").
type goOptions struct {
	byFunc map[string]map[string]bool
	nested map[string]map[string]bool
}

var nestedUnknown = regexp.MustCompile(`unknown option (\w+)\.%s`)

// parseGoOptions reads the engine's sources: every decodeOptions call
// with its literal table of option decoders, and every function that
// rejects "unknown option x.%s" with the option names its switch takes.
func parseGoOptions(t *testing.T) goOptions {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	g := goOptions{byFunc: map[string]map[string]bool{}, nested: map[string]map[string]bool{}}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			defs := localDefs(fd)
			var nestedName string
			ast.Inspect(fd, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if m := nestedUnknown.FindStringSubmatch(lit.Value); m != nil {
						nestedName = m[1]
					}
				}
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 4 {
					return true
				}
				if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "decodeOptions" {
					return true
				}
				table, ok := call.Args[3].(*ast.CompositeLit)
				if !ok {
					if id, ok := call.Args[3].(*ast.Ident); !ok || id.Name != "nil" {
						t.Errorf("%s: decodeOptions with a table that is not a literal; the types test cannot read it",
							fset.Position(call.Pos()))
					}
					return true
				}
				fn := evalString(call.Args[2], defs, 0)
				if g.byFunc[fn] == nil {
					g.byFunc[fn] = map[string]bool{}
				}
				for _, el := range table.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					lit, ok2 := kv.Key.(*ast.BasicLit)
					if !ok || !ok2 || lit.Kind != token.STRING {
						t.Errorf("%s: an option name that is not a string literal", fset.Position(el.Pos()))
						continue
					}
					name, _ := strconv.Unquote(lit.Value)
					g.byFunc[fn][name] = true
				}
				return true
			})
			if nestedName == "" {
				continue
			}
			names := map[string]bool{}
			ast.Inspect(fd, func(n ast.Node) bool {
				cc, ok := n.(*ast.CaseClause)
				if !ok {
					return true
				}
				for _, e := range cc.List {
					if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						name, _ := strconv.Unquote(lit.Value)
						names[name] = true
					}
				}
				return true
			})
			g.nested[nestedName] = names
		}
	}
	return g
}

// localDefs maps the names a function defines once (fn := …, const fn =
// …) to their expressions.
func localDefs(fd *ast.FuncDecl) map[string]ast.Expr {
	defs := map[string]ast.Expr{}
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.AssignStmt:
			if x.Tok == token.DEFINE && len(x.Lhs) == 1 && len(x.Rhs) == 1 {
				if id, ok := x.Lhs[0].(*ast.Ident); ok {
					defs[id.Name] = x.Rhs[0]
				}
			}
		case *ast.ValueSpec:
			if len(x.Names) == 1 && len(x.Values) == 1 {
				defs[x.Names[0].Name] = x.Values[0]
			}
		}
		return true
	})
	return defs
}

// evalString evaluates a string expression made of literals, names
// defined in the function and +; anything else becomes "*".
func evalString(e ast.Expr, defs map[string]ast.Expr, depth int) string {
	if depth > 5 {
		return "*"
	}
	switch x := e.(type) {
	case *ast.BasicLit:
		if s, err := strconv.Unquote(x.Value); err == nil && x.Kind == token.STRING {
			return s
		}
	case *ast.Ident:
		if d, ok := defs[x.Name]; ok {
			return evalString(d, defs, depth+1)
		}
	case *ast.BinaryExpr:
		if x.Op == token.ADD {
			return evalString(x.X, defs, depth+1) + evalString(x.Y, defs, depth+1)
		}
	case *ast.ParenExpr:
		return evalString(x.X, defs, depth+1)
	}
	return "*"
}

func TestTypesDescribeTheWholeAPI(t *testing.T) {
	api := dumpLuaAPI(t)
	types := parseLuaTypes(t)

	for _, name := range api.Call {
		if !types.call[name] {
			t.Errorf("call.%s is missing from stdlib/types (class ivr.Call)", name)
		}
	}
	for _, name := range api.Ivr {
		if !types.ivr[name] {
			t.Errorf("%s is missing from stdlib/types/ivr.lua", name)
		}
	}
	for mod, names := range api.Modules {
		declared := types.modules[mod]
		if declared == nil {
			t.Errorf("module %s has no type file (---@meta %s)", mod, mod)
			continue
		}
		have := map[string]bool{}
		for _, n := range names {
			have[n] = true
			if !declared[n] {
				t.Errorf("%s.%s is missing from its type file", mod, n)
			}
		}
		for n := range declared {
			if !have[n] {
				t.Errorf("the type file of %s describes %s, which the module does not have", mod, n)
			}
		}
	}
	for spec, names := range api.Specs {
		declared, ok := types.options[spec]
		if !ok {
			t.Errorf("stdlib options %s: no class marked \"-- options: %s\"", spec, spec)
			continue
		}
		have := map[string]bool{}
		for _, n := range names {
			have[n] = true
			if !declared[n] {
				t.Errorf("option %s of %s is missing from stdlib/types", n, spec)
			}
		}
		for n := range declared {
			if !have[n] {
				t.Errorf("stdlib/types gives %s an option %s it does not accept", spec, n)
			}
		}
	}

	g := parseGoOptions(t)
	if !g.byFunc["call:gather"]["digit_timeout"] || !g.byFunc["call:transfer"]["ext"] {
		t.Fatalf("the engine's option tables were not found: %v", g.byFunc)
	}
	for fn, names := range g.byFunc {
		matched := false
		for marker, declared := range types.options {
			if ok, _ := path.Match(fn, marker); !ok {
				continue
			}
			matched = true
			for n := range names {
				if !declared[n] {
					t.Errorf("option %s of %s is missing from stdlib/types (class marked %q)", n, fn, marker)
				}
			}
		}
		if !matched {
			t.Errorf("%s takes options %v; no class in stdlib/types is marked \"-- options: %s\"", fn, sortedNames(names), fn)
		}
	}
	for nested, names := range g.nested {
		matched := false
		for marker, declared := range types.options {
			if f := strings.Fields(marker); f[len(f)-1] != nested || len(f) < 2 {
				continue
			}
			matched = true
			for n := range names {
				if !declared[n] {
					t.Errorf("option %s.%s is missing from stdlib/types (class marked %q)", nested, n, marker)
				}
			}
		}
		if !matched {
			t.Errorf("options nested under %s take %v; no class in stdlib/types is marked \"-- options: <function> %s\"", nested, sortedNames(names), nested)
		}
	}
}

// stdlibRecoveryFlow runs a survey from a menu, then transfers.
const stdlibRecoveryFlow = `
local menu = require "ivr.menu"
local survey = require "ivr.survey"
local f = {}
function f.incoming(call)
  return menu.run(call, { prompt = "user_menu", options = {
    ["1"] = function(call)
      survey.run(call, { name = "s", questions = {
        { id = "clean", prompt = "user_survey_q1", scale = "1-5" },
        { id = "again", prompt = "user_survey_q2", keys = "12" },
      }, thanks = "user_survey_thanks" })
      return call:transfer{ ext = "201" }
    end,
  } })
end
return f`

func stdlibRecoveryScript(r *rig, between func()) *omsim.Call {
	call := r.call("13800000001")
	between()
	r.advance(3 * time.Second)
	r.press(call, "1")
	between()
	r.advance(time.Second)
	r.press(call, "4")
	between()
	r.advance(time.Second)
	r.press(call, "1")
	between()
	r.advance(4 * time.Second)
	between()
	r.advance(2 * time.Second)
	return call
}

// A call inside stdlib code recovers at every journal step: the replay
// runs the same module code to the same place, and no store write is
// made twice.
func TestStdlibRecoveryAtEveryJournalStep(t *testing.T) {
	flows := map[string]string{"main": stdlibRecoveryFlow}
	base := newRig(t, flows, rigOptions{})
	want := finalOutcome(base, stdlibRecoveryScript(base, func() {}))
	if want.connected != "ext 201" {
		t.Fatalf("baseline: %+v", want)
	}
	steps := 0
	for _, h := range mustHistory(t, base) {
		steps = h.Steps
	}
	if steps < 8 {
		t.Fatalf("baseline journaled %d steps", steps)
	}
	for n := 1; n <= steps; n++ {
		t.Run(itoa(n), func(t *testing.T) {
			r, hit := crashingRig(t, n, flows)
			crashed := false
			call := stdlibRecoveryScript(r, func() {
				if !crashed && hit() {
					crashed = true
					r.router.Close()
					if got := r.restart(); got != 1 {
						t.Fatalf("recovered %d calls, want 1", got)
					}
				}
			})
			if !crashed {
				t.Fatalf("the crash after step %d never happened", n)
			}
			checkRecovered(t, finalOutcome(r, call), want)
			for key, want := range map[string]string{"survey:s:started": "1", "survey:s:clean:count:4": "1", "survey:s:completed": "1"} {
				if v, _, _ := r.store.Get("main", key); string(v) != want {
					t.Errorf("store %s = %s, want %s", key, v, want)
				}
			}
			if r.logged("diverged") {
				t.Fatalf("the replay diverged: %v", r.logs.all())
			}
		})
	}
}

// gopher-lua closes every open upvalue of the running call stack when
// pcall catches an error; the stdlib's state must not live in upvalues
// that a flow's pcall would cut off.
func TestMenuSurvivesAPcallInAnOption(t *testing.T) {
	const flow = `
local menu = require "ivr.menu"
local f = {}
function f.incoming(call)
  local n = 0
  local ok, why = menu.run(call, { prompt = "user_menu", options = {
    ["1"] = function(call)
      n = n + 1
      pcall(error, "caught")
      if n < 3 then return menu.again end
      return call:transfer{ ext = "201" }
    end,
    ["2"] = { prompt = "user_enter_room", options = { ["3"] = function(call) return call:transfer{ ext = "203" } end } },
  } })
end
return f`
	r := newRig(t, map[string]string{"main": flow}, rigOptions{})
	call := r.call("1")
	r.run(3*time.Second, time.Second)
	r.press(call, "1")
	r.run(3*time.Second, time.Second)
	r.press(call, "2")
	r.run(3*time.Second, time.Second)
	r.press(call, "3")
	r.run(2*time.Second, time.Second)
	if info := call.Info(); info.Connected != "ext 203" {
		t.Fatalf("call = %+v, heard %v; want the submenu's ext 203", info, heard(call))
	}
}
