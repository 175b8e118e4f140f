// Package luapat matches Lua 5.1 patterns for the ivrd sandbox. It is
// gopher-lua's matcher (github.com/yuin/gopher-lua/pm; MIT License,
// Copyright (c) 2015 Yusuke Inuzuka — the parser below is its code) with a
// new compiler and machine:
//
//   - every step of a match is counted, and a budget the caller gives is
//     asked every few steps whether to go on, so a pattern that backtracks
//     for hours stops with the flow's instruction budget;
//   - repetitions of a single character class expand in a loop, as Lua's
//     own lstrlib does, not with one Go stack frame per character
//     (gopher-lua's machine recursed a million frames deep on `a*` over a
//     long subject, hundreds of megabytes of stack the heap watchdog
//     cannot see), so the recursion depth is bounded by the pattern alone.
package luapat

import (
	"errors"
	"fmt"
)

const (
	eos        = -1
	unknownPos = -2
	// maxDepth bounds the machine's recursion: one level per pattern item
	// that can backtrack (repetitions, captures) on the path being tried,
	// never one per subject character.
	maxDepth = 256
	// tickEvery is how many steps pass between two questions to the budget.
	tickEvery = 8
)

// ErrStopped is returned when the budget stopped a match.
var ErrStopped = errors.New("pattern matching stopped by the budget")

// Error is a malformed pattern, or one too complex to match.
type Error struct {
	Pos     int
	Message string
}

func newError(pos int, message string, args ...interface{}) *Error {
	if len(args) == 0 {
		return &Error{pos, message}
	}
	return &Error{pos, fmt.Sprintf(message, args...)}
}

func (e *Error) Error() string {
	switch e.Pos {
	case eos:
		return fmt.Sprintf("%s at EOS", e.Message)
	case unknownPos:
		return e.Message
	default:
		return fmt.Sprintf("%s at %d", e.Message, e.Pos)
	}
}

// stopSignal unwinds a match the budget stopped.
type stopSignal struct{}

/* scanner {{{ */

type scannerState struct {
	Pos     int
	started bool
}

type scanner struct {
	src   []byte
	State scannerState
	saved scannerState
}

func newScanner(src []byte) *scanner {
	return &scanner{
		src: src,
		State: scannerState{
			Pos:     0,
			started: false,
		},
		saved: scannerState{},
	}
}

func (sc *scanner) Length() int { return len(sc.src) }

func (sc *scanner) Next() int {
	if !sc.State.started {
		sc.State.started = true
		if len(sc.src) == 0 {
			sc.State.Pos = eos
		}
	} else {
		sc.State.Pos = sc.NextPos()
	}
	if sc.State.Pos == eos {
		return eos
	}
	return int(sc.src[sc.State.Pos])
}

func (sc *scanner) CurrentPos() int {
	return sc.State.Pos
}

func (sc *scanner) NextPos() int {
	if sc.State.Pos == eos || sc.State.Pos >= len(sc.src)-1 {
		return eos
	}
	if !sc.State.started {
		return 0
	} else {
		return sc.State.Pos + 1
	}
}

func (sc *scanner) Peek() int {
	cureof := sc.State.Pos == eos
	ch := sc.Next()
	if !cureof {
		if sc.State.Pos == eos {
			sc.State.Pos = len(sc.src) - 1
		} else {
			sc.State.Pos--
			if sc.State.Pos < 0 {
				sc.State.Pos = 0
				sc.State.started = false
			}
		}
	}
	return ch
}

func (sc *scanner) Save() { sc.saved = sc.State }

func (sc *scanner) Restore() { sc.State = sc.saved }

/* }}} */
/* classes {{{ */

type class interface {
	Matches(ch int) bool
}

type dotClass struct{}

func (pn *dotClass) Matches(ch int) bool { return true }

type charClass struct {
	Ch int
}

func (pn *charClass) Matches(ch int) bool { return pn.Ch == ch }

type singleClass struct {
	Class int
}

func (pn *singleClass) Matches(ch int) bool {
	ret := false
	switch pn.Class {
	case 'a', 'A':
		ret = 'A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z'
	case 'c', 'C':
		ret = (0x00 <= ch && ch <= 0x1F) || ch == 0x7F
	case 'd', 'D':
		ret = '0' <= ch && ch <= '9'
	case 'l', 'L':
		ret = 'a' <= ch && ch <= 'z'
	case 'p', 'P':
		ret = (0x21 <= ch && ch <= 0x2f) || (0x3a <= ch && ch <= 0x40) || (0x5b <= ch && ch <= 0x60) || (0x7b <= ch && ch <= 0x7e)
	case 's', 'S':
		switch ch {
		case ' ', '\f', '\n', '\r', '\t', '\v':
			ret = true
		}
	case 'u', 'U':
		ret = 'A' <= ch && ch <= 'Z'
	case 'w', 'W':
		ret = '0' <= ch && ch <= '9' || 'A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z'
	case 'x', 'X':
		ret = '0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F'
	case 'z', 'Z':
		ret = ch == 0
	default:
		return ch == pn.Class
	}
	if 'A' <= pn.Class && pn.Class <= 'Z' {
		return !ret
	}
	return ret
}

type setClass struct {
	IsNot   bool
	Classes []class
}

func (pn *setClass) Matches(ch int) bool {
	for _, class := range pn.Classes {
		if class.Matches(ch) {
			return !pn.IsNot
		}
	}
	return pn.IsNot
}

type rangeClass struct {
	Begin class
	End   class
}

func (pn *rangeClass) Matches(ch int) bool {
	switch begin := pn.Begin.(type) {
	case *charClass:
		end, ok := pn.End.(*charClass)
		if !ok {
			return false
		}
		return begin.Ch <= ch && ch <= end.Ch
	}
	return false
}

// }}}

// patterns {{{

type pattern interface{}

type singlePattern struct {
	Class class
}

type seqPattern struct {
	MustHead bool
	MustTail bool
	Patterns []pattern
}

type repeatPattern struct {
	Type  int
	Class class
}

type posCapPattern struct{}

type capPattern struct {
	Pattern pattern
}

type numberPattern struct {
	N int
}

type bracePattern struct {
	Begin int
	End   int
}

// }}}

/* parse {{{ */

func parseClass(sc *scanner, allowset bool) class {
	ch := sc.Next()
	switch ch {
	case '%':
		return &singleClass{sc.Next()}
	case '.':
		if allowset {
			return &dotClass{}
		}
		return &charClass{ch}
	case '[':
		if allowset {
			return parseClassSet(sc)
		}
		return &charClass{ch}
	//case '^' '$', '(', ')', ']', '*', '+', '-', '?':
	//	panic(newError(sc.CurrentPos(), "invalid %c", ch))
	case eos:
		panic(newError(sc.CurrentPos(), "unexpected EOS"))
	default:
		return &charClass{ch}
	}
}

func parseClassSet(sc *scanner) class {
	set := &setClass{false, []class{}}
	if sc.Peek() == '^' {
		set.IsNot = true
		sc.Next()
	}
	isrange := false
	for {
		ch := sc.Peek()
		switch ch {
		// case '[':
		// 	panic(newError(sc.CurrentPos(), "'[' can not be nested"))
		case eos:
			panic(newError(sc.CurrentPos(), "unexpected EOS"))
		case ']':
			if len(set.Classes) > 0 {
				sc.Next()
				goto exit
			}
			fallthrough
		case '-':
			if len(set.Classes) > 0 {
				sc.Next()
				isrange = true
				continue
			}
			fallthrough
		default:
			set.Classes = append(set.Classes, parseClass(sc, false))
		}
		if isrange {
			begin := set.Classes[len(set.Classes)-2]
			end := set.Classes[len(set.Classes)-1]
			set.Classes = set.Classes[0 : len(set.Classes)-2]
			set.Classes = append(set.Classes, &rangeClass{begin, end})
			isrange = false
		}
	}
exit:
	if isrange {
		set.Classes = append(set.Classes, &charClass{'-'})
	}

	return set
}

func parsePattern(sc *scanner, toplevel bool) *seqPattern {
	pat := &seqPattern{}
	if toplevel {
		if sc.Peek() == '^' {
			sc.Next()
			pat.MustHead = true
		}
	}
	for {
		ch := sc.Peek()
		switch ch {
		case '%':
			sc.Save()
			sc.Next()
			switch sc.Peek() {
			case '0':
				panic(newError(sc.CurrentPos(), "invalid capture index"))
			case '1', '2', '3', '4', '5', '6', '7', '8', '9':
				pat.Patterns = append(pat.Patterns, &numberPattern{sc.Next() - 48})
			case 'b':
				sc.Next()
				pat.Patterns = append(pat.Patterns, &bracePattern{sc.Next(), sc.Next()})
			default:
				sc.Restore()
				pat.Patterns = append(pat.Patterns, &singlePattern{parseClass(sc, true)})
			}
		case '.', '[', ']':
			pat.Patterns = append(pat.Patterns, &singlePattern{parseClass(sc, true)})
		//case ']':
		//	panic(newError(sc.CurrentPos(), "invalid ']'"))
		case ')':
			if toplevel {
				panic(newError(sc.CurrentPos(), "invalid ')'"))
			}
			return pat
		case '(':
			sc.Next()
			if sc.Peek() == ')' {
				sc.Next()
				pat.Patterns = append(pat.Patterns, &posCapPattern{})
			} else {
				ret := &capPattern{parsePattern(sc, false)}
				if sc.Peek() != ')' {
					panic(newError(sc.CurrentPos(), "unfinished capture"))
				}
				sc.Next()
				pat.Patterns = append(pat.Patterns, ret)
			}
		case '*', '+', '-', '?':
			sc.Next()
			if len(pat.Patterns) > 0 {
				spat, ok := pat.Patterns[len(pat.Patterns)-1].(*singlePattern)
				if ok {
					pat.Patterns = pat.Patterns[0 : len(pat.Patterns)-1]
					pat.Patterns = append(pat.Patterns, &repeatPattern{ch, spat.Class})
					continue
				}
			}
			pat.Patterns = append(pat.Patterns, &singlePattern{&charClass{ch}})
		case '$':
			if toplevel && (sc.NextPos() == sc.Length()-1 || sc.NextPos() == eos) {
				pat.MustTail = true
			} else {
				pat.Patterns = append(pat.Patterns, &singlePattern{&charClass{ch}})
			}
			sc.Next()
		case eos:
			sc.Next()
			goto exit
		default:
			sc.Next()
			pat.Patterns = append(pat.Patterns, &singlePattern{&charClass{ch}})
		}
	}
exit:
	return pat
}

/* machine {{{ */

type opCode uint8

const (
	opChar   opCode = iota // one character of class
	opStar                 // class*, greedy
	opLazy                 // class-, lazy
	opOpt                  // class?
	opOpen                 // ( of capture n
	opClose                // ) of capture n
	opPos                  // () of capture n
	opBrace                // %bxy
	opNumber               // %n, a back reference
	opMatch                // the end of the pattern
	opTail                 // the end of the pattern, anchored with $
)

type inst struct {
	op    opCode
	class class
	n     int // capture number, or the first character of %b
	m     int // the second character of %b
}

// Pattern is a compiled pattern.
type Pattern struct {
	insts    []inst
	captures int  // how many captures, position captures included
	head     bool // anchored with ^
}

// Compile parses a pattern.
func Compile(p string) (pat *Pattern, err error) {
	defer func() {
		if v := recover(); v != nil {
			perr, ok := v.(*Error)
			if !ok {
				panic(v)
			}
			err = perr
		}
	}()
	seq := parsePattern(newScanner([]byte(p)), true)
	pat = &Pattern{head: seq.MustHead}
	pat.compile(seq)
	if seq.MustTail {
		pat.insts = append(pat.insts, inst{op: opTail})
	} else {
		pat.insts = append(pat.insts, inst{op: opMatch})
	}
	return pat, nil
}

func (p *Pattern) compile(pt pattern) {
	switch x := pt.(type) {
	case *singlePattern:
		p.insts = append(p.insts, inst{op: opChar, class: x.Class})
	case *seqPattern:
		for _, sub := range x.Patterns {
			p.compile(sub)
		}
	case *repeatPattern:
		switch x.Type {
		case '*':
			p.insts = append(p.insts, inst{op: opStar, class: x.Class})
		case '+':
			p.insts = append(p.insts, inst{op: opChar, class: x.Class}, inst{op: opStar, class: x.Class})
		case '-':
			p.insts = append(p.insts, inst{op: opLazy, class: x.Class})
		case '?':
			p.insts = append(p.insts, inst{op: opOpt, class: x.Class})
		}
	case *posCapPattern:
		p.captures++
		p.insts = append(p.insts, inst{op: opPos, n: p.captures})
	case *capPattern:
		p.captures++
		n := p.captures
		p.insts = append(p.insts, inst{op: opOpen, n: n})
		p.compile(x.Pattern)
		p.insts = append(p.insts, inst{op: opClose, n: n})
	case *bracePattern:
		p.insts = append(p.insts, inst{op: opBrace, n: x.Begin, m: x.End})
	case *numberPattern:
		p.insts = append(p.insts, inst{op: opNumber, n: x.N})
	}
}

// Head reports whether the pattern is anchored at the start (^).
func (p *Pattern) Head() bool { return p.head }

// Captures is the number of captures in the pattern.
func (p *Pattern) Captures() int { return p.captures }

// Match is one match: the whole match and its captures.
type Match struct {
	caps []int  // start, end of the whole match (0) and of each capture
	pos  []bool // capture i is a position capture
}

// Start and End bound the whole match in the subject.
func (m *Match) Start() int { return m.caps[0] }

// End is the index just past the whole match.
func (m *Match) End() int { return m.caps[1] }

// Captures is the number of captures.
func (m *Match) Captures() int { return len(m.pos) - 1 }

// Capture returns capture i (1-based): its bounds, or for a position
// capture its 1-based position in start with isPos set.
func (m *Match) Capture(i int) (start, end int, isPos bool) {
	return m.caps[2*i], m.caps[2*i+1], m.pos[i]
}

// Matcher matches one pattern against one subject, charging its steps to
// a budget.
type Matcher struct {
	p     *Pattern
	src   []byte
	stop  func() bool
	caps  []int
	pos   []bool
	depth int
	steps int
	match Match // what At and Find return, over caps and pos
}

// NewMatcher returns a matcher of p over src. stop, when not nil, is asked
// every few steps whether the match must stop; when it says so the match
// returns ErrStopped.
func (p *Pattern) NewMatcher(src []byte, stop func() bool) *Matcher {
	m := &Matcher{p: p, src: src, stop: stop,
		caps: make([]int, 2*(p.captures+1)), pos: make([]bool, p.captures+1)}
	m.match = Match{caps: m.caps, pos: m.pos}
	return m
}

// Steps is how many steps the matcher has taken so far.
func (m *Matcher) Steps() int { return m.steps }

// At tries a match starting exactly at sp. The match it returns is valid
// until the matcher's next At or Find.
func (m *Matcher) At(sp int) (match *Match, err error) {
	defer m.recover(&err)
	return m.at(sp), nil
}

// Find returns the first match starting at init or after it (only at init
// when the pattern is anchored with ^), or nil. The match is valid until
// the matcher's next At or Find.
func (m *Matcher) Find(init int) (match *Match, err error) {
	defer m.recover(&err)
	for sp := init; sp <= len(m.src); sp++ {
		if mt := m.at(sp); mt != nil {
			return mt, nil
		}
		if m.p.head {
			break
		}
	}
	return nil, nil
}

func (m *Matcher) recover(err *error) {
	if v := recover(); v != nil {
		m.depth = 0
		switch x := v.(type) {
		case stopSignal:
			*err = ErrStopped
		case *Error:
			*err = x
		default:
			panic(v)
		}
	}
}

func (m *Matcher) at(sp int) *Match {
	m.tick()
	for i := range m.caps {
		m.caps[i] = -1
	}
	for i := range m.pos {
		m.pos[i] = false
	}
	end, ok := m.run(0, sp)
	if !ok {
		return nil
	}
	m.caps[0], m.caps[1] = sp, end
	return &m.match
}

func (m *Matcher) tick() {
	m.steps++
	if m.steps%tickEvery == 0 && m.stop != nil && m.stop() {
		panic(stopSignal{})
	}
}

func (m *Matcher) matches(c class, sp int) bool {
	return sp < len(m.src) && c.Matches(int(m.src[sp]))
}

// run matches the instructions from pc against the subject from sp, and
// returns where the match ends.
func (m *Matcher) run(pc, sp int) (int, bool) {
	m.depth++
	if m.depth > maxDepth {
		panic(newError(unknownPos, "pattern too complex"))
	}
	end, ok := m.exec(pc, sp)
	m.depth--
	return end, ok
}

func (m *Matcher) exec(pc, sp int) (int, bool) {
	for {
		m.tick()
		in := &m.p.insts[pc]
		switch in.op {
		case opChar:
			if !m.matches(in.class, sp) {
				return 0, false
			}
			pc++
			sp++
		case opStar:
			i := 0
			for m.matches(in.class, sp+i) {
				m.tick()
				i++
			}
			for ; i >= 0; i-- {
				if end, ok := m.run(pc+1, sp+i); ok {
					return end, true
				}
			}
			return 0, false
		case opLazy:
			for {
				if end, ok := m.run(pc+1, sp); ok {
					return end, true
				}
				if !m.matches(in.class, sp) {
					return 0, false
				}
				sp++
			}
		case opOpt:
			if m.matches(in.class, sp) {
				if end, ok := m.run(pc+1, sp+1); ok {
					return end, true
				}
			}
			pc++
		case opOpen:
			i := 2 * in.n
			s, e := m.caps[i], m.caps[i+1]
			m.caps[i], m.caps[i+1] = sp, -1
			if end, ok := m.run(pc+1, sp); ok {
				return end, true
			}
			m.caps[i], m.caps[i+1] = s, e
			return 0, false
		case opClose:
			i := 2*in.n + 1
			e := m.caps[i]
			m.caps[i] = sp
			if end, ok := m.run(pc+1, sp); ok {
				return end, true
			}
			m.caps[i] = e
			return 0, false
		case opPos:
			m.caps[2*in.n], m.caps[2*in.n+1] = sp+1, sp+1
			m.pos[in.n] = true
			pc++
		case opBrace:
			if sp >= len(m.src) || int(m.src[sp]) != in.n {
				return 0, false
			}
			count := 1
			for sp++; ; sp++ {
				if sp >= len(m.src) {
					return 0, false
				}
				m.tick()
				c := int(m.src[sp])
				if c == in.m {
					count--
					if count == 0 {
						break
					}
				} else if c == in.n {
					count++
				}
			}
			pc++
			sp++
		case opNumber:
			if in.n > m.p.captures || m.pos[in.n] || m.caps[2*in.n+1] < 0 {
				panic(newError(unknownPos, "invalid capture index"))
			}
			capture := m.src[m.caps[2*in.n]:m.caps[2*in.n+1]]
			if len(m.src)-sp < len(capture) {
				return 0, false
			}
			for i := range capture {
				m.tick()
				if capture[i] != m.src[sp+i] {
					return 0, false
				}
			}
			pc++
			sp += len(capture)
		case opTail:
			if sp != len(m.src) {
				return 0, false
			}
			return sp, true
		case opMatch:
			return sp, true
		}
	}
}

/* }}} */
