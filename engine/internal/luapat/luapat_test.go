package luapat_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/yuin/gopher-lua/pm"

	"github.com/ivrd/ivrd/engine/internal/luapat"
)

// describe renders the first match at or after init the way both matchers
// can: bounds, then each capture, or "none" or the error.
func describe(pattern, subject string, init int) string {
	p, err := luapat.Compile(pattern)
	if err != nil {
		return "error: " + err.Error()
	}
	m, err := p.NewMatcher([]byte(subject), nil).Find(init)
	if err != nil {
		return "error: " + err.Error()
	}
	if m == nil {
		return "none"
	}
	out := fmt.Sprintf("%d-%d", m.Start(), m.End())
	for i := 1; i <= m.Captures(); i++ {
		s, e, isPos := m.Capture(i)
		if isPos {
			out += fmt.Sprintf(" @%d", s)
		} else {
			out += fmt.Sprintf(" %q", subject[s:e])
		}
	}
	return out
}

// describePM is describe with gopher-lua's own matcher.
func describePM(pattern, subject string, init int) (out string) {
	defer func() {
		if v := recover(); v != nil {
			out = fmt.Sprint("panic: ", v)
		}
	}()
	mds, err := pm.Find(pattern, []byte(subject), init, 1)
	if err != nil {
		return "error: " + err.Error()
	}
	if len(mds) == 0 {
		return "none"
	}
	md := mds[0]
	out = fmt.Sprintf("%d-%d", md.Capture(0), md.Capture(1))
	for i := 2; i < md.CaptureLength(); i += 2 {
		if md.IsPosCapture(i) {
			out += fmt.Sprintf(" @%d", md.Capture(i))
		} else {
			out += fmt.Sprintf(" %q", subject[md.Capture(i):md.Capture(i+1)])
		}
	}
	return out
}

var cases = []struct{ pattern, subject string }{
	{"", "abc"}, {"a", "bab"}, {"^a", "ba"}, {"^b", "ba"}, {"a$", "aba"}, {"^$", ""}, {"$", "ab"},
	{"a*", "aaab"}, {"a*b", "aaab"}, {"a-b", "aaab"}, {"a+", "baaa"}, {"a?b", "ab"}, {"a?b", "b"},
	{".-b", "aaabab"}, {".*b", "aaabab"}, {"^%s*(.-)%s*$", "  trim me  "}, {"(%w+)=(%w+)", "x key=val"},
	{"()ll()", "hello"}, {"%b()", "f(a(b)c) d"}, {"%b()", "((("}, {"(['\"])(.-)%1", `say 'hi' now`},
	{"^(%d+)-(%d+)-(%d+)$", "2026-11-25"}, {"[%a_][%w_]*", "  _id9 x"}, {"[^%s]+", "  word  "},
	{"[a-c]+", "xxabcbd"}, {"[]]", "a]b"}, {"[^]]+", "ab]"}, {"[a-]+", "-a-x"}, {"%d%d?%d?", "x12345"},
	{"%a+%s*=%s*%d+", "count = 42"}, {"((a)(b))", "xab"}, {"(a*(.)%w(%s*))", "aaab  c"},
	{"%f", "abc"}, {"(", "x"}, {"%", "x"}, {"[a", "x"}, {"(()", "x"}, {"%1", "x"}, {"(a)%2", "aa"},
	{"%u%l+", "hello World"}, {"%x+", "zz0fF9g"}, {"%p+", "ab,.;cd"}, {"%c", "a\tb"}, {"%z", "a\x00b"},
	{"a.-b.-c", "axxbyyczz"}, {"(h)(e)(l)(l)(o)", "hello"}, {"^(a-)(b)", "aaab"}, {"x*$", "abxx"},
}

func TestAgreesWithGopherLua(t *testing.T) {
	for _, c := range cases {
		for init := 0; init <= len(c.subject); init++ {
			got, want := describe(c.pattern, c.subject, init), describePM(c.pattern, c.subject, init)
			if got != want && !(strings.HasPrefix(got, "error") && strings.HasPrefix(want, "error")) &&
				!(strings.HasPrefix(got, "error") && strings.HasPrefix(want, "panic")) && !luaOnlyError(got) {
				t.Errorf("%q in %q from %d: got %s, gopher-lua %s", c.pattern, c.subject, init, got, want)
			}
		}
	}
}

var backReference = regexp.MustCompile(`%[1-9]`)

// luaOnlyError is an error for a pattern Lua refuses and gopher-lua did
// not: a % at the end, or a %b without its two bytes (gopher-lua matched
// nothing).
func luaOnlyError(got string) bool {
	return got == "error: malformed pattern (ends with '%')" ||
		got == "error: malformed pattern (missing arguments to '%b')"
}

// setsReadDifferently reports whether the pattern has a set that Lua and
// gopher-lua read differently: one with a '-' inside it (not first, not
// last) next to an escape or to another '-', as in [%a-z], [a-%d], [a--]
// or [a-b-c]. Lua reads [%a-z] as letters, '-' and 'z'; gopher-lua read a
// range between a class and a byte, which matched nothing, and chained
// ranges. It errs on the side of yes.
func setsReadDifferently(pattern string) bool {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '%':
			i++
			continue
		case '[':
		default:
			continue
		}
		first := i + 1
		if first < len(pattern) && pattern[first] == '^' {
			first++
		}
		end := first
		for end < len(pattern) {
			if pattern[end] == '%' {
				end++
			}
			end++
			if end < len(pattern) && pattern[end] == ']' {
				break
			}
		}
		near := func(k int) bool { return k >= first && (pattern[k] == '%' || pattern[k] == '-') }
		for k := first + 1; k < end-1 && k < len(pattern); k++ {
			if pattern[k] == '-' && (near(k-1) || near(k-2) || near(k+1)) {
				return true
			}
		}
		i = end
	}
	return false
}

func FuzzAgreesWithGopherLua(f *testing.F) {
	for _, c := range cases {
		f.Add(c.pattern, c.subject)
	}
	f.Fuzz(func(t *testing.T, pattern, subject string) {
		if len(subject) > 64 || len(pattern) > 16 {
			return
		}
		got, want := describe(pattern, subject, 0), describePM(pattern, subject, 0)
		if strings.HasPrefix(want, "error") || strings.HasPrefix(want, "panic") {
			return // malformed for gopher-lua: any error (or none) will do
		}
		if got == "error: invalid capture index" && backReference.MatchString(pattern) {
			return // Lua refuses a reference to an unclosed capture; gopher-lua did not
		}
		if luaOnlyError(got) || setsReadDifferently(pattern) {
			return // Lua's reading, which TestLuaReadings checks
		}
		if got != want {
			t.Errorf("%q in %q: got %s, gopher-lua %s", pattern, subject, got, want)
		}
	})
}

// A pattern that backtracks for hours is stopped by its budget.
func TestBudgetStopsBacktracking(t *testing.T) {
	p, err := luapat.Compile("a-a-a-b")
	if err != nil {
		t.Fatal(err)
	}
	asks := 0
	m := p.NewMatcher([]byte(strings.Repeat("a", 100000)), func() bool { asks++; return asks > 1000 })
	start := time.Now()
	_, err = m.Find(0)
	if !errors.Is(err, luapat.ErrStopped) {
		t.Fatalf("err = %v, want ErrStopped", err)
	}
	if m.Steps() > 1001*16 {
		t.Fatalf("%d steps after the budget said stop at %d", m.Steps(), 1001*16)
	}
	t.Logf("stopped after %d steps, %s", m.Steps(), time.Since(start))
}

// Repetitions over a long subject take no stack per character.
func TestLongRepetitions(t *testing.T) {
	subject := strings.Repeat("a", 4<<20)
	for _, c := range []struct{ pattern, want string }{
		{"^a*$", fmt.Sprintf("0-%d", len(subject))},
		{"^(a-)$", fmt.Sprintf("0-%d %q", len(subject), subject)},
		{"^a+b", "none"},
	} {
		p, err := luapat.Compile(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		m, err := p.NewMatcher([]byte(subject), nil).Find(0)
		got := "none"
		if err != nil {
			got = err.Error()
		} else if m != nil {
			got = fmt.Sprintf("%d-%d", m.Start(), m.End())
			if m.Captures() == 1 {
				s, e, _ := m.Capture(1)
				got += fmt.Sprintf(" %q", subject[s:e])
			}
		}
		if got != c.want {
			t.Errorf("%q: got %.40s, want %.40s", c.pattern, got, c.want)
		}
	}
}

// Recursion is bounded by the pattern: too many backtracking items is an
// error, not a deep Go stack.
func TestDepthBound(t *testing.T) {
	p, err := luapat.Compile(strings.Repeat("a?", 1000) + "b")
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.NewMatcher([]byte(strings.Repeat("a", 1000)), nil).Find(0)
	if err == nil || !strings.Contains(err.Error(), "pattern too complex") {
		t.Fatalf("err = %v, want pattern too complex", err)
	}
}

// TestLuaReadings checks what Lua 5.1's own matcher does where gopher-lua
// did otherwise or the cases above do not reach: sets read the way Lua
// reads them, its error messages, and its lazy check of back references.
func TestLuaReadings(t *testing.T) {
	for _, c := range []struct{ pattern, subject, want string }{
		{"[%a-z]+", "1-z-a2", "1-5"},  // a class, then '-' and 'z' as bytes
		{"[a-b-c]+", "x-cab", "1-5"},  // a-b, then '-' and 'c'
		{"[a--]", "a-", "none"},       // the range from 'a' down to '-' is empty
		{"[a-%]]", "b]", "1-2"},       // an empty range to '%', then ']'
		{"[a-%%]", "%]", "1-2"},       // the same, and %] is ']'
		{"[]-a]+", "]^_`a-", "0-5"},   // ']' first opens a range
		{"[^%d%s]+", "12 ab3", "3-5"}, //
		{"[.]", "a.", "1-2"},          //
		{"%.", "a.", "1-2"},           //
		{"%g", "ag", "1-2"},           // no %g class in Lua 5.1: the letter
		{"%f[%a]", "xfa", "1-3"},      // no frontier: the letter f
		{"%z", "a\x00", "1-2"},        //
		{"%w+%W", "ab,", "0-3"},       //
		{"%bxx", "axbxc", "1-4"},      // the closing byte counts first
		{"a$b", "a$b", "0-3"},         // $ in the middle is a byte
		{"$$", "$", "0-1"},            //
		{"^^", "^", "0-1"},            //
		{"a**", "aa**", "0-3"},        // a second * is a byte
		{"(a)*", "a**", `0-2 "a"`},    // and so is * after a capture
		{"(%a+)%s*=%s*%1", "k = k", `0-5 "k"`},
		{"x%1", "yyy", "none"}, // a bad reference the match never reaches
		{"%1", "x", "error: invalid capture index"},
		{"%0", "x", "error: invalid capture index"},
		{"()%1", "x", "error: invalid capture index"},
		{"(a%1)", "aa", "error: invalid capture index"},
		{"a)", "a", "error: invalid pattern capture"},
		{"(a", "a", "error: unfinished capture"},
		{"[a", "", "error: malformed pattern (missing ']')"},
		{"[%", "", "error: malformed pattern (missing ']')"},
		{"[]", "", "error: malformed pattern (missing ']')"},
		{"[^]", "", "error: malformed pattern (missing ']')"},
		{"%", "", "error: malformed pattern (ends with '%')"},
		{"a%b(", "a((", "error: malformed pattern (missing arguments to '%b')"},
		{strings.Repeat("()", 33), "", "error: too many captures"},
	} {
		if got := describe(c.pattern, c.subject, 0); got != c.want {
			t.Errorf("%q in %q: got %s, want %s", c.pattern, c.subject, got, c.want)
		}
	}
	if _, err := luapat.Compile(strings.Repeat("()", 32)); err != nil {
		t.Errorf("32 captures: %v", err)
	}
}
