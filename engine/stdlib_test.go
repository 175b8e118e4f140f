package engine_test

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ivrd/ivrd/engine"
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
		{`say.date({ year = 2026, month = 2, day = 2 }, { language = "zh", weekday = true })`, "2 0 2 6 nian 2 yue 2 ri wday_1"}, // a Monday,
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
