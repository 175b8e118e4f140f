// Package luapat matches Lua 5.1 patterns (reference manual §5.4.1) for
// the string.find, match, gmatch and gsub of the ivrd sandbox, where the
// pattern and the subject both come from a flow that may be hostile.
//
// Compile turns a pattern into a short program: each single-character
// class (a byte, '.', %a and the other class letters, a [set]) becomes a
// 256-bit table, and each pattern item one instruction. A Matcher runs the
// program over a subject by backtracking, as Lua does, but built so that a
// flow cannot make it cost more than the flow is allowed:
//
//   - every step (an instruction, a subject byte scanned or compared) is
//     counted, and every few steps a budget the caller gives is asked
//     whether to go on, so a pattern that would backtrack for hours stops
//     with the flow's instruction budget;
//   - a repetition of one class (*, +, -) scans the subject in a loop, and
//     the machine recurses only to try an alternative at one of those
//     items or at a ?, at most maxDepth levels deep: its stack is bounded
//     by the pattern, never by the length of the subject, and a match that
//     needs more levels fails with "pattern too complex".
//
// Where Lua leaves a choice, this package makes these: a malformed
// pattern (a trailing %, a set without its ']', a capture left open, a
// ')' with no capture to close, a %b without its two bytes, more than 32
// captures) is refused by Compile whatever the subject, where Lua notices
// some only when a match reaches them; %f is the letter f, as it was with gopher-lua (the
// frontier item, which Lua 5.1's manual does not document, is not
// supported); a back reference to a capture that is not closed yet, or to
// a position capture, is "invalid capture index" when the match reaches
// it. The tests check the results against gopher-lua's matcher, which the
// sandbox used before, and against Lua's own readings where the two differ.
package luapat

import "errors"

const (
	// maxDepth is how deep the machine may recurse: one level for each
	// item with a quantifier that is trying an alternative on the path
	// being matched.
	maxDepth = 256
	// maxCaptures is Lua's limit on the captures of one pattern.
	maxCaptures = 32
	// askEvery is how many steps pass between two questions to the budget
	// (a power of two).
	askEvery = 8
)

// ErrStopped is the error of a match its budget stopped.
var ErrStopped = errors.New("luapat: the budget stopped the match")

// Error is a pattern Compile refuses, or one that failed while matching:
// an invalid back reference, or too deep a match.
type Error struct {
	// Pos is the offset in the pattern of the fault, or -1 when the fault
	// is the match's depth.
	Pos int
	// Message is what Lua says of the same fault.
	Message string
}

// Error is the message alone, as Lua gives it.
func (e *Error) Error() string { return e.Message }

func fault(pos int, message string) *Error { return &Error{Pos: pos, Message: message} }

// byteSet is a single-character class: bit b is set when the byte b is in
// the class.
type byteSet [4]uint64

func (s *byteSet) has(b byte) bool { return s[b/64]&(1<<(b%64)) != 0 }

func (s *byteSet) add(b byte) { s[b/64] |= 1 << (b % 64) }

// span adds the bytes from lo to hi; none when hi is below lo.
func (s *byteSet) span(lo, hi byte) {
	for b := int(lo); b <= int(hi); b++ {
		s.add(byte(b))
	}
}

func (s *byteSet) complement() {
	for i := range s {
		s[i] = ^s[i]
	}
}

// addEscape adds what %e stands for: the class e names (its complement
// when e is upper case), or else the byte e itself.
func (s *byteSet) addEscape(e byte) {
	var class byteSet
	switch e | 0x20 { // lower case, for a letter; no other byte lands on these
	case 'a': // letters
		class.span('a', 'z')
		class.span('A', 'Z')
	case 'c': // control characters
		class.span(0, 0x1f)
		class.add(0x7f)
	case 'd': // decimal digits
		class.span('0', '9')
	case 'l': // lower-case letters
		class.span('a', 'z')
	case 'p': // punctuation: the printable bytes that are neither letters, digits nor space
		class.span('!', '/')
		class.span(':', '@')
		class.span('[', '`')
		class.span('{', '~')
	case 's': // white space: \t \n \v \f \r and the space
		class.span('\t', '\r')
		class.add(' ')
	case 'u': // upper-case letters
		class.span('A', 'Z')
	case 'w': // letters and digits
		class.span('a', 'z')
		class.span('A', 'Z')
		class.span('0', '9')
	case 'x': // hexadecimal digits
		class.span('0', '9')
		class.span('a', 'f')
		class.span('A', 'F')
	case 'z': // the zero byte (Lua 5.1)
		class.add(0)
	default:
		s.add(e)
		return
	}
	if 'A' <= e && e <= 'Z' {
		class.complement()
	}
	for i := range s {
		s[i] |= class[i]
	}
}

type opcode uint8

const (
	opOne      opcode = iota // one byte of set
	opGreedy                 // set*, or set+ when min is 1: the longest run first
	opLazy                   // set-: the shortest run first
	opMaybe                  // set?: with the byte first, then without
	opOpen                   // capture cap starts here
	opClose                  // capture cap ends here
	opPosition               // position capture cap
	opBalance                // %bxy: from the byte open to its balancing close
	opBackRef                // %n: the text of capture cap again
	opBadRef                 // %n that names no closed capture: an error if reached
	opEnd                    // $ as the last byte: the subject must end here
	opAccept                 // the end of the pattern: a match
)

type instruction struct {
	op          opcode
	set         *byteSet
	min         int  // opGreedy: the fewest bytes of the run
	cap         int  // opOpen, opClose, opPosition, opBackRef: the capture's number
	at          int  // opBadRef: where the reference is in the pattern
	open, close byte // opBalance
}

// Pattern is a compiled pattern, usable by any number of matchers at once.
type Pattern struct {
	program  []instruction
	captures int
	isPos    []bool // isPos[n]: capture n is a position capture (index 0 unused)
	head     bool
}

// Head reports whether the pattern is anchored at the start of the subject
// by a leading ^.
func (p *Pattern) Head() bool { return p.head }

// Captures is the number of captures in the pattern, position captures
// included.
func (p *Pattern) Captures() int { return p.captures }

// capture states while compiling
const (
	capOpen = iota + 1
	capClosed
	capPosition
)

// compiler reads a pattern one item at a time, left to right, and appends
// its instructions.
type compiler struct {
	src     string
	i       int // the next byte to read
	out     *Pattern
	state   []int // state[n] of capture n
	pending []int // the captures opened and not closed, innermost last
}

// Compile compiles a pattern, or says with Lua's words why it is
// malformed.
func Compile(pattern string) (*Pattern, error) {
	c := &compiler{src: pattern, out: &Pattern{isPos: []bool{false}}, state: []int{0}}
	if pattern != "" && pattern[0] == '^' {
		c.out.head = true
		c.i = 1
	}
	ended := false
	for c.i < len(c.src) {
		if c.src[c.i] == '$' && c.i == len(c.src)-1 {
			c.emit(instruction{op: opEnd})
			c.i++
			ended = true
			break
		}
		if err := c.item(); err != nil {
			return nil, err
		}
	}
	if len(c.pending) > 0 {
		return nil, fault(len(c.src), "unfinished capture")
	}
	if !ended {
		c.emit(instruction{op: opAccept})
	}
	return c.out, nil
}

func (c *compiler) emit(in instruction) { c.out.program = append(c.out.program, in) }

// item compiles the pattern item at c.i.
func (c *compiler) item() error {
	start := c.i
	rest := c.src[start:]
	switch {
	case rest[0] == '(':
		if c.out.captures == maxCaptures {
			return fault(start, "too many captures")
		}
		c.out.captures++
		n := c.out.captures
		if len(rest) > 1 && rest[1] == ')' {
			c.state = append(c.state, capPosition)
			c.out.isPos = append(c.out.isPos, true)
			c.emit(instruction{op: opPosition, cap: n})
			c.i += 2
			return nil
		}
		c.state = append(c.state, capOpen)
		c.out.isPos = append(c.out.isPos, false)
		c.pending = append(c.pending, n)
		c.emit(instruction{op: opOpen, cap: n})
		c.i++
		return nil
	case rest[0] == ')':
		last := len(c.pending) - 1
		if last < 0 {
			return fault(start, "invalid pattern capture")
		}
		n := c.pending[last]
		c.pending = c.pending[:last]
		c.state[n] = capClosed
		c.emit(instruction{op: opClose, cap: n})
		c.i++
		return nil
	case len(rest) > 1 && rest[0] == '%' && rest[1] == 'b':
		if len(rest) < 4 {
			return fault(start, "malformed pattern (missing arguments to '%b')")
		}
		c.emit(instruction{op: opBalance, open: rest[2], close: rest[3]})
		c.i += 4
		return nil
	case len(rest) > 1 && rest[0] == '%' && '0' <= rest[1] && rest[1] <= '9':
		n := int(rest[1] - '0')
		if n >= 1 && n < len(c.state) && c.state[n] == capClosed {
			c.emit(instruction{op: opBackRef, cap: n})
		} else {
			c.emit(instruction{op: opBadRef, at: start})
		}
		c.i += 2
		return nil
	}
	set, err := c.class()
	if err != nil {
		return err
	}
	in := instruction{op: opOne, set: set}
	if c.i < len(c.src) {
		switch c.src[c.i] {
		case '*':
			in.op = opGreedy
		case '+':
			in.op, in.min = opGreedy, 1
		case '-':
			in.op = opLazy
		case '?':
			in.op = opMaybe
		}
		if in.op != opOne {
			c.i++
		}
	}
	c.emit(in)
	return nil
}

// class compiles the single-character class at c.i: a byte, '.', an
// escape or a set.
func (c *compiler) class() (*byteSet, error) {
	set := new(byteSet)
	switch b := c.src[c.i]; b {
	case '.':
		set.complement()
		c.i++
	case '%':
		if c.i+1 == len(c.src) {
			return nil, fault(c.i, "malformed pattern (ends with '%')")
		}
		set.addEscape(c.src[c.i+1])
		c.i += 2
	case '[':
		return c.bracket()
	default:
		set.add(b)
		c.i++
	}
	return set, nil
}

// bracket compiles the set [...] at c.i. Its closing ']' is found first,
// the way Lua finds it: the byte right after '[' (or after '[^') never
// closes the set, and neither does a byte after '%'. Then the bytes
// between are read in order: %e is an escape, x-y a range when y is not
// the closing ']', and any other byte itself.
func (c *compiler) bracket() (*byteSet, error) {
	first := c.i + 1
	negate := first < len(c.src) && c.src[first] == '^'
	if negate {
		first++
	}
	end := first
	for {
		if end >= len(c.src) {
			return nil, fault(c.i, "malformed pattern (missing ']')")
		}
		if c.src[end] == '%' {
			end++
		}
		end++
		if end < len(c.src) && c.src[end] == ']' {
			break
		}
	}
	set := new(byteSet)
	for j := first; j < end; j++ {
		switch b := c.src[j]; {
		case b == '%':
			j++
			set.addEscape(c.src[j])
		case j+2 < end && c.src[j+1] == '-':
			set.span(b, c.src[j+2])
			j += 2
		default:
			set.add(b)
		}
	}
	if negate {
		set.complement()
	}
	c.i = end + 1
	return set, nil
}

// Match is one match: where it is in the subject, and its captures.
type Match struct {
	bounds []int  // start and end of the whole match, then of each capture
	isPos  []bool // isPos[n]: capture n is a position capture
}

// Start is the index of the first byte of the match.
func (m *Match) Start() int { return m.bounds[0] }

// End is the index just past the match.
func (m *Match) End() int { return m.bounds[1] }

// Captures is the number of captures.
func (m *Match) Captures() int { return len(m.isPos) - 1 }

// Capture returns capture i (from 1): the bounds of its text, or for a
// position capture its position counted from 1 in both, with isPos set.
func (m *Match) Capture(i int) (start, end int, isPos bool) {
	return m.bounds[2*i], m.bounds[2*i+1], m.isPos[i]
}

// Matcher matches one pattern against one subject, charging its steps to
// a budget.
type Matcher struct {
	program []instruction
	subject []byte
	head    bool
	ask     func() bool
	depth   int
	steps   int
	found   Match
}

// NewMatcher returns a matcher of p over subject. stop, when not nil, is
// asked every few steps whether the match must stop; when it says so, the
// match returns ErrStopped.
func (p *Pattern) NewMatcher(subject []byte, stop func() bool) *Matcher {
	return &Matcher{
		program: p.program,
		subject: subject,
		head:    p.head,
		ask:     stop,
		found:   Match{bounds: make([]int, 2+2*p.captures), isPos: p.isPos},
	}
}

// Steps is how many steps the matcher has taken so far.
func (m *Matcher) Steps() int { return m.steps }

// At tries a match that starts exactly at offset sp of the subject. The
// match it returns stays valid until the matcher's next At or Find.
func (m *Matcher) At(sp int) (match *Match, err error) {
	defer m.settle(&err)
	return m.attempt(sp), nil
}

// Find returns the first match that starts at offset init of the subject
// or after it (only at init when the pattern starts with ^), or nil when
// there is none. The match stays valid until the matcher's next At or
// Find.
func (m *Matcher) Find(init int) (match *Match, err error) {
	defer m.settle(&err)
	for sp := max(init, 0); sp <= len(m.subject); sp++ {
		if found := m.attempt(sp); found != nil {
			return found, nil
		}
		if m.head {
			break
		}
	}
	return nil, nil
}

// settle turns the panics that end a match early into its error.
func (m *Matcher) settle(err *error) {
	r := recover()
	if r == nil {
		return
	}
	m.depth = 0
	if r == ErrStopped {
		*err = ErrStopped
		return
	}
	if e, ok := r.(*Error); ok {
		*err = e
		return
	}
	panic(r)
}

// attempt runs the program from offset sp.
func (m *Matcher) attempt(sp int) *Match {
	m.step()
	end := m.run(0, sp)
	if end < 0 {
		return nil
	}
	m.found.bounds[0], m.found.bounds[1] = sp, end
	return &m.found
}

// step counts one step and every askEvery steps asks the budget.
func (m *Matcher) step() {
	m.steps++
	if m.steps&(askEvery-1) == 0 && m.ask != nil && m.ask() {
		panic(ErrStopped)
	}
}

// in reports whether the subject has a byte of set at offset i.
func (m *Matcher) in(set *byteSet, i int) bool {
	return i < len(m.subject) && set.has(m.subject[i])
}

// alternative runs the rest of the program from pc at sp one level deeper,
// for an item that will try something else if it fails.
func (m *Matcher) alternative(pc, sp int) int {
	if m.depth == maxDepth {
		panic(fault(-1, "pattern too complex"))
	}
	m.depth++
	end := m.run(pc, sp)
	m.depth--
	return end
}

// run matches the program from pc against the subject from sp, and
// returns where the match ends, or -1 when it fails.
//
// A capture's bounds are written when its instructions run and never
// restored on failure: the program has no loops, so every path that
// reaches an instruction has run all those before it, and a back
// reference or a match only ever reads bounds written on its own path.
func (m *Matcher) run(pc, sp int) int {
	for ; ; pc++ {
		m.step()
		in := &m.program[pc]
		switch in.op {
		case opOne:
			if !m.in(in.set, sp) {
				return -1
			}
			sp++
		case opGreedy:
			run := 0
			for m.in(in.set, sp+run) {
				m.step()
				run++
			}
			if run < in.min {
				return -1
			}
			for ; run > in.min; run-- {
				if end := m.alternative(pc+1, sp+run); end >= 0 {
					return end
				}
			}
			sp += in.min // the shortest run is tried at this level
		case opLazy:
			for {
				if end := m.alternative(pc+1, sp); end >= 0 {
					return end
				}
				if !m.in(in.set, sp) {
					return -1
				}
				sp++
			}
		case opMaybe:
			if m.in(in.set, sp) {
				if end := m.alternative(pc+1, sp+1); end >= 0 {
					return end
				}
			}
		case opOpen:
			m.found.bounds[2*in.cap] = sp
		case opClose:
			m.found.bounds[2*in.cap+1] = sp
		case opPosition:
			m.found.bounds[2*in.cap] = sp + 1
			m.found.bounds[2*in.cap+1] = sp + 1
		case opBalance:
			if sp = m.balanced(sp, in.open, in.close); sp < 0 {
				return -1
			}
		case opBackRef:
			if sp = m.again(sp, in.cap); sp < 0 {
				return -1
			}
		case opBadRef:
			panic(fault(in.at, "invalid capture index"))
		case opEnd:
			if sp != len(m.subject) {
				return -1
			}
			return sp
		case opAccept:
			return sp
		}
	}
}

// balanced matches %bxy at sp: x there, then bytes up to the y that
// balances it, counting each x as one more to close and each y as one
// less (y first, for %bxx). It returns the offset past that y, or -1.
func (m *Matcher) balanced(sp int, x, y byte) int {
	if sp >= len(m.subject) || m.subject[sp] != x {
		return -1
	}
	depth := 1
	for i := sp + 1; i < len(m.subject); i++ {
		m.step()
		switch m.subject[i] {
		case y:
			if depth--; depth == 0 {
				return i + 1
			}
		case x:
			depth++
		}
	}
	return -1
}

// again matches at sp the text capture n matched, and returns the offset
// past it, or -1.
func (m *Matcher) again(sp, n int) int {
	text := m.subject[m.found.bounds[2*n]:m.found.bounds[2*n+1]]
	if len(m.subject)-sp < len(text) {
		return -1
	}
	for k, b := range text {
		m.step()
		if m.subject[sp+k] != b {
			return -1
		}
	}
	return sp + len(text)
}
