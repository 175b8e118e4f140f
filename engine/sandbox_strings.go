package engine

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unsafe"

	lua "github.com/yuin/gopher-lua"

	"github.com/ivrd/ivrd/engine/internal/luapat"
)

// The library functions whose work or output size a flow controls. Each
// of gopher-lua's runs inside a single VM instruction, where neither the
// instruction budget nor the wall-clock bound (both checked between
// instructions) can reach it: a backtracking pattern ran for hours,
// string.gsub was quadratic in its subject, and string.format, table.concat
// and string.gsub could ask for one allocation of any size, and a caught
// error costs pcall a stack trace. The sandbox versions charge their work
// to the step's budget and refuse results past the string cap.

// chargeUnit is how many bytes of output, or elements moved, count as one
// VM instruction: about as long, give or take a few times.
const chargeUnit = 64

// caughtErrorCost is what pcall and xpcall charge for an error they catch:
// gopher-lua builds a stack trace for it, some hundreds of instructions'
// worth, so a loop swallowing errors ran a hundred times longer than its
// instruction count said.
const caughtErrorCost = 500

// installCapped replaces the amplifying and long-running library functions
// of a fresh state.
func installCapped(L *lua.LState, lim Limits) {
	maxLen := lim.MaxString
	strlib := L.GetGlobal("string").(*lua.LTable)
	format := strlib.RawGetString("format").(*lua.LFunction).GFunction
	for name, f := range map[string]lua.LGFunction{
		"rep":    cappedRep(maxLen),
		"format": cappedFormat(maxLen, format),
		"find":   strFind,
		"match":  strMatch,
		"gmatch": strGmatch,
		"gfind":  strGmatch,
		"gsub":   cappedGsub(maxLen),
	} {
		strlib.RawSetString(name, L.NewFunction(f))
	}
	// Linear in their subject, which a flow may have made large with ..
	for _, name := range []string{"upper", "lower", "reverse"} {
		orig := strlib.RawGetString(name).(*lua.LFunction).GFunction
		strlib.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			charge(L, len(L.CheckString(1)))
			return orig(L)
		}))
	}
	for _, name := range []string{"pcall", "xpcall"} {
		orig := L.G.Global.RawGetString(name).(*lua.LFunction).GFunction
		L.G.Global.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			n := orig(L)
			if n > 0 && L.Get(-n) == lua.LFalse {
				chargeInstructions(L, caughtErrorCost)
			}
			return n
		}))
	}
	tablib := L.GetGlobal("table").(*lua.LTable)
	concat := tablib.RawGetString("concat").(*lua.LFunction).GFunction
	tablib.RawSetString("concat", L.NewFunction(cappedConcat(maxLen, concat)))
	// insert and remove shift the array part, sort is n log n: work that
	// a flow controls inside one instruction.
	for name, cost := range map[string]func(n int) int{
		"insert": func(n int) int { return n },
		"remove": func(n int) int { return n },
		"sort":   func(n int) int { return n * bits.Len(uint(n)) },
	} {
		orig := tablib.RawGetString(name).(*lua.LFunction).GFunction
		tablib.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			charge(L, cost(L.CheckTable(1).Len()))
			return orig(L)
		}))
	}
}

// charge counts work done inside a library function — units bytes or
// elements — against the step's budget, and raises once the budget has
// stopped the step.
func charge(L *lua.LState, units int) {
	chargeInstructions(L, units/chargeUnit+1)
}

// chargeInstructions counts n instructions against the step's budget: the
// budget counts the calls to its Done.
func chargeInstructions(L *lua.LState, n int) {
	ctx := L.Context()
	if ctx == nil {
		return
	}
	for ; n > 0; n-- {
		select {
		case <-ctx.Done():
			L.RaiseError("%v", ctx.Err())
		default:
		}
	}
}

// budgetStop is what the pattern matcher asks whether to go on: the
// context current at each question, as a callback (a gsub replacement
// function) may make a blocking call, which starts a new step.
func budgetStop(L *lua.LState) func() bool {
	return func() bool {
		ctx := L.Context()
		if ctx == nil {
			return false
		}
		select {
		case <-ctx.Done():
			return true
		default:
			return false
		}
	}
}

// cappedRep is string.rep that refuses results longer than maxLen bytes.
func cappedRep(maxLen int) lua.LGFunction {
	return func(L *lua.LState) int {
		s := L.CheckString(1)
		n := L.CheckInt(2)
		if n <= 0 || s == "" {
			L.Push(lua.LString(""))
			return 1
		}
		if len(s) > maxLen/n {
			L.RaiseError("string.rep: result of %d×%d bytes exceeds the limit of %d", n, len(s), maxLen)
		}
		charge(L, n*len(s))
		L.Push(lua.LString(strings.Repeat(s, n)))
		return 1
	}
}

// maxFormatField is Lua 5.1's bound on a width or a precision: two digits.
const maxFormatField = 99

// cappedFormat is gopher-lua's string.format (Go's fmt underneath) after
// two checks: widths and precisions of at most two digits, as in Lua 5.1
// (Go's fmt allows a million, per conversion), and a result no longer than
// maxLen bytes, estimated from the format and the string arguments.
func cappedFormat(maxLen int, format lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		f := L.CheckString(1)
		size := len(f)
		arg := 2
		for i := 0; i < len(f); i++ {
			if f[i] != '%' {
				continue
			}
			i++
			if i < len(f) && f[i] == '%' {
				continue
			}
			for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
				i++
			}
			width := 0
			for start := i; i < len(f) && f[i] >= '0' && f[i] <= '9'; i++ {
				width = width*10 + int(f[i]-'0')
				if i-start >= 2 || width > maxFormatField {
					L.RaiseError("string.format: invalid format (width or precision too long)")
				}
			}
			prec := 0
			if i < len(f) && f[i] == '.' {
				i++
				for start := i; i < len(f) && f[i] >= '0' && f[i] <= '9'; i++ {
					prec = prec*10 + int(f[i]-'0')
					if i-start >= 2 || prec > maxFormatField {
						L.RaiseError("string.format: invalid format (width or precision too long)")
					}
				}
			}
			// Only Lua's conversions: Go's fmt would also take * (a width
			// from the arguments, up to a million) and [n].
			if i == len(f) || strings.IndexByte("cdiouxXeEfgGqs", f[i]) < 0 {
				L.RaiseError("string.format: invalid option '%%%s'", f[i:min(i+1, len(f))])
			}
			n := width + prec + 32
			if f[i] == 's' || f[i] == 'q' {
				if s, ok := L.Get(arg).(lua.LString); ok {
					n += len(s)
					if f[i] == 'q' {
						n += 3 * len(s) // \xNN
					}
				}
			}
			size += n
			arg++
			if size > maxLen {
				L.RaiseError("string.format: the result would pass the limit of %d bytes", maxLen)
			}
		}
		charge(L, size)
		return format(L)
	}
}

// cappedConcat is gopher-lua's table.concat after a check that the result
// is no longer than maxLen bytes.
func cappedConcat(maxLen int, concat lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		t := L.CheckTable(1)
		sep := L.OptString(2, "")
		n := t.Len()
		// The range as gopher-lua clamps it.
		i := L.OptInt(3, 1)
		j := L.OptInt(4, n)
		if i < 1 {
			i = 1
		}
		if j > n {
			j = n
		}
		size := 0
		for k := i; k <= j; k++ {
			switch v := t.RawGetInt(k).(type) {
			case lua.LString:
				size += len(v)
			case lua.LNumber:
				size += 24
			}
			if k < j {
				size += len(sep)
			}
			if size > maxLen {
				L.RaiseError("table.concat: the result would pass the limit of %d bytes", maxLen)
			}
		}
		charge(L, size)
		return concat(L)
	}
}

// bytesOf views a Lua string as bytes without copying; the matcher only
// reads them.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func compilePattern(L *lua.LState, pattern string) *luapat.Pattern {
	p, err := luapat.Compile(pattern)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	return p
}

// patternError raises the error a match returned.
func patternError(L *lua.LState, err error) {
	if err == luapat.ErrStopped {
		if ctx := L.Context(); ctx != nil && ctx.Err() != nil {
			L.RaiseError("%v", ctx.Err())
		}
	}
	L.RaiseError("%s", err.Error())
}

// pushCaptures pushes a match's captures, or the whole match when it has
// none, and returns how many it pushed.
func pushCaptures(L *lua.LState, s string, m *luapat.Match, wholeIfNone bool) int {
	if m.Captures() == 0 {
		if !wholeIfNone {
			return 0
		}
		L.Push(lua.LString(s[m.Start():m.End()]))
		return 1
	}
	for i := 1; i <= m.Captures(); i++ {
		L.Push(capture(s, m, i))
	}
	return m.Captures()
}

func capture(s string, m *luapat.Match, i int) lua.LValue {
	start, end, isPos := m.Capture(i)
	if isPos {
		return lua.LNumber(start)
	}
	return lua.LString(s[start:end])
}

// strFind is string.find with gopher-lua's argument handling.
func strFind(L *lua.LState) int {
	s := L.CheckString(1)
	pattern := L.CheckString(2)
	if pattern == "" {
		L.Push(lua.LNumber(1))
		L.Push(lua.LNumber(0))
		return 2
	}
	init := L.OptInt(3, 1)
	if init > 0 {
		init--
	} else if init < 0 {
		init = max(len(s)+init, 0)
	}
	if init > len(s) {
		L.Push(lua.LNil)
		return 1
	}
	if L.GetTop() == 4 && lua.LVAsBool(L.Get(4)) {
		charge(L, len(s)-init)
		pos := strings.Index(s[init:], pattern)
		if pos < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(init + pos + 1))
		L.Push(lua.LNumber(init + pos + len(pattern)))
		return 2
	}
	m, err := compilePattern(L, pattern).NewMatcher(bytesOf(s), budgetStop(L)).Find(init)
	if err != nil {
		patternError(L, err)
	}
	if m == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LNumber(m.Start() + 1))
	L.Push(lua.LNumber(m.End()))
	return 2 + pushCaptures(L, s, m, false)
}

// strMatch is string.match.
func strMatch(L *lua.LState) int {
	s := L.CheckString(1)
	pattern := L.CheckString(2)
	init := L.OptInt(3, 1)
	if init < 0 {
		init = len(s) + init + 1
	}
	init = max(init-1, 0)
	m, err := compilePattern(L, pattern).NewMatcher(bytesOf(s), budgetStop(L)).Find(init)
	if err != nil {
		patternError(L, err)
	}
	if m == nil {
		L.Push(lua.LNil)
		return 1
	}
	return pushCaptures(L, s, m, true)
}

// strGmatch is string.gmatch: an iterator that finds the next match when
// called, not every match up front.
func strGmatch(L *lua.LState) int {
	s := L.CheckString(1)
	p := compilePattern(L, L.CheckString(2))
	pos, done := 0, false
	L.Push(L.NewFunction(func(L *lua.LState) int {
		if done || pos > len(s) {
			return 0
		}
		m, err := p.NewMatcher(bytesOf(s), budgetStop(L)).Find(pos)
		if err != nil {
			patternError(L, err)
		}
		if m == nil || p.Head() {
			done = true
		}
		if m == nil {
			return 0
		}
		pos = max(m.Start()+1, m.End())
		return pushCaptures(L, s, m, true)
	}))
	return 1
}

// cappedGsub is string.gsub, linear in its subject (gopher-lua's copied
// the whole result once per match) and refusing a result that grows the
// subject by more than maxLen bytes.
func cappedGsub(maxLen int) lua.LGFunction {
	return func(L *lua.LState) int {
		s := L.CheckString(1)
		p := compilePattern(L, L.CheckString(2))
		L.CheckTypes(3, lua.LTString, lua.LTTable, lua.LTFunction)
		repl := L.Get(3)
		limit := L.OptInt(4, -1)
		out := &boundedBuilder{L: L, bound: len(s) + maxLen, grow: maxLen}
		matcher := p.NewMatcher(bytesOf(s), budgetStop(L))
		n, last, sp := 0, 0, 0
		for (limit < 0 || n < limit) && sp <= len(s) {
			m, err := matcher.Find(sp)
			if err != nil {
				patternError(L, err)
			}
			if m == nil {
				break
			}
			n++
			start, end := m.Start(), m.End()
			out.write(s[last:start])
			whole := s[start:end]
			switch r := repl.(type) {
			case lua.LString:
				expandRepl(L, out, string(r), s, m)
			case *lua.LTable, *lua.LFunction:
				var key lua.LValue = lua.LString(whole)
				if m.Captures() > 0 {
					key = capture(s, m, 1)
				}
				var v lua.LValue
				if t, ok := r.(*lua.LTable); ok {
					v = L.GetTable(t, key)
				} else {
					L.Push(r)
					nargs := pushCaptures(L, s, m, true)
					L.Call(nargs, 1)
					v = L.Get(-1)
					L.Pop(1)
				}
				if lua.LVIsFalse(v) {
					out.write(whole)
				} else {
					out.write(lua.LVAsString(v))
				}
			}
			last = end
			sp = max(start+1, end)
			if p.Head() {
				break
			}
		}
		out.write(s[last:])
		charge(L, out.b.Len())
		L.Push(lua.LString(out.b.String()))
		L.Push(lua.LNumber(n))
		return 2
	}
}

// boundedBuilder is gsub's result, refusing to grow past bound.
type boundedBuilder struct {
	L     *lua.LState
	b     strings.Builder
	bound int
	grow  int
}

func (o *boundedBuilder) write(s string) {
	if o.b.Len()+len(s) > o.bound {
		o.L.RaiseError("string.gsub: the result would grow the subject by more than the limit of %d bytes", o.grow)
	}
	o.b.WriteString(s)
}

// expandRepl writes a gsub replacement string: %0 is the whole match, %1–%9
// the captures (%1 is the whole match when there are none), %% a %, and %
// before anything else that character.
func expandRepl(L *lua.LState, out *boundedBuilder, repl, s string, m *luapat.Match) {
	for i := 0; i < len(repl); i++ {
		if j := strings.IndexByte(repl[i:], '%'); j != 0 {
			if j < 0 {
				j = len(repl) - i
			}
			out.write(repl[i : i+j])
			i += j - 1
			continue
		}
		if i+1 == len(repl) {
			out.write("%")
			continue
		}
		i++
		switch c := repl[i]; {
		case c == '0' || (c == '1' && m.Captures() == 0):
			out.write(s[m.Start():m.End()])
		case c >= '1' && c <= '9':
			k := int(c - '0')
			if k > m.Captures() {
				L.RaiseError("invalid capture index %%%d in replacement string", k)
			}
			if start, end, isPos := m.Capture(k); isPos {
				out.write(strconv.Itoa(start))
			} else {
				out.write(s[start:end])
			}
		default:
			out.write(repl[i : i+1])
		}
	}
}

// luaErrorMax bounds an error message as logged and kept in the call's
// path: a flow may raise a megabyte.
const luaErrorMax = 2000

func truncateError(msg string) string {
	if len(msg) <= luaErrorMax {
		return msg
	}
	return strings.ToValidUTF8(msg[:luaErrorMax], "") + fmt.Sprintf("… (%d bytes)", len(msg))
}
