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
				!(strings.HasPrefix(got, "error") && strings.HasPrefix(want, "panic")) {
				t.Errorf("%q in %q from %d: got %s, gopher-lua %s", c.pattern, c.subject, init, got, want)
			}
		}
	}
}

var backReference = regexp.MustCompile(`%[1-9]`)

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
