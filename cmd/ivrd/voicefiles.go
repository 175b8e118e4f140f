package main

import (
	"regexp"
	"strings"
)

// voiceRef is a voice file a flow names, where it names it.
type voiceRef struct {
	Name string
	Line int
}

var voiceNameRE = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// voiceFilesIn finds the voice files a flow's source names, by a heuristic
// over its Lua tokens (comments skipped, strings in every Lua form). A
// string literal counts when it is
//
//   - the value of a field named prompt or ending in _prompt
//     (prompt = "x", invalid_prompt = "x"), or an element of a table
//     constructor that is such a value (prompt = {"a", "b"});
//   - the first argument of a method named play (call:play("x"),
//     call:play "x"), or an element of a table that is (call:play{"a", "b"},
//     call:play({"a", "b"}));
//
// and is not joined to anything with "..". A literal "a+b" is a chain: each
// part counts. Only names made of letters, digits and '_' count (what the
// OM stores). Names computed at run time, held in variables or passed
// through helpers are not found: the check is a safety net, not a proof.
func voiceFilesIn(src []byte) []voiceRef {
	toks := luaTokens(string(src))
	var refs []voiceRef
	var lists []bool // per open '{': whether its elements are voice files
	tok := func(i int) luaToken {
		if i < 0 || i >= len(toks) {
			return luaToken{}
		}
		return toks[i]
	}
	promptField := func(t luaToken) bool {
		return t.kind == tokName && (t.text == "prompt" || strings.HasSuffix(t.text, "_prompt"))
	}
	playCall := func(i int) bool { // toks[i] is the name "play" of a method call
		return tok(i).kind == tokName && tok(i).text == "play" && tok(i-1).is(":")
	}
	// voiceSlot reports whether what follows toks[i] is in a voice-file
	// position.
	voiceSlot := func(i int) bool {
		switch {
		case tok(i).is("=") && promptField(tok(i-1)):
			return true
		case tok(i).is("(") && playCall(i-1):
			return true
		case playCall(i):
			return true
		}
		return false
	}
	for i, t := range toks {
		switch {
		case t.is("{"):
			lists = append(lists, voiceSlot(i-1))
		case t.is("}"):
			if len(lists) > 0 {
				lists = lists[:len(lists)-1]
			}
		case t.kind == tokString:
			if tok(i+1).is("..") || tok(i-1).is("..") {
				continue
			}
			inList := len(lists) > 0 && lists[len(lists)-1] && (tok(i-1).is("{") || tok(i-1).is(",") || tok(i-1).is(";"))
			if !inList && !voiceSlot(i-1) {
				continue
			}
			for _, part := range strings.Split(t.text, "+") {
				if voiceNameRE.MatchString(part) {
					refs = append(refs, voiceRef{Name: part, Line: t.line})
				}
			}
		}
	}
	return refs
}

type tokKind byte

const (
	tokPunct tokKind = iota + 1
	tokName
	tokString
	tokNumber
)

type luaToken struct {
	kind tokKind
	text string // a string's value (escapes kept as written), else the token
	line int
}

func (t luaToken) is(punct string) bool { return t.kind == tokPunct && t.text == punct }

// luaTokens splits Lua 5.1 source into tokens, skipping comments. It is
// tolerant: malformed input ends a token where it can and goes on.
func luaTokens(s string) []luaToken {
	var out []luaToken
	line := 1
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && strings.HasPrefix(s[i:], "--"):
			i += 2
			if level, ok := longBracket(s[i:]); ok {
				end, nl := longEnd(s, i+level+2, level)
				line += nl
				i = end
				continue
			}
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '[':
			if level, ok := longBracket(s[i:]); ok {
				start := i + level + 2
				// A newline right after the opening bracket is skipped.
				body := start
				if body < len(s) && s[body] == '\n' {
					body++
				}
				end, nl := longEnd(s, start, level)
				closeAt := end - level - 2
				if closeAt < body {
					closeAt = body
				}
				if closeAt > len(s) {
					closeAt = len(s)
				}
				out = append(out, luaToken{kind: tokString, text: s[body:closeAt], line: line})
				line += nl
				i = end
				continue
			}
			out = append(out, luaToken{kind: tokPunct, text: "[", line: line})
			i++
		case c == '"' || c == '\'':
			at := line
			i++
			var b strings.Builder
			for i < len(s) && s[i] != c && s[i] != '\n' {
				if s[i] == '\\' && i+1 < len(s) {
					if s[i+1] == '\n' {
						line++
					}
					b.WriteByte(s[i])
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				b.WriteByte(s[i])
				i++
			}
			out = append(out, luaToken{kind: tokString, text: b.String(), line: at})
			if i < len(s) && s[i] == c {
				i++
			}
		case isNameStart(c):
			j := i
			for j < len(s) && (isNameStart(s[j]) || isDigit(s[j])) {
				j++
			}
			out = append(out, luaToken{kind: tokName, text: s[i:j], line: line})
			i = j
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			j := i
			for j < len(s) && (isDigit(s[j]) || isNameStart(s[j]) || s[j] == '.' ||
				((s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			out = append(out, luaToken{kind: tokNumber, text: s[i:j], line: line})
			i = j
		default:
			n := 1
			for _, op := range []string{"...", "..", "==", "~=", "<=", ">="} {
				if strings.HasPrefix(s[i:], op) {
					n = len(op)
					break
				}
			}
			out = append(out, luaToken{kind: tokPunct, text: s[i : i+n], line: line})
			i += n
		}
	}
	return out
}

// longBracket reports whether s starts with a long bracket [[ or [=…=[,
// and its level (the number of '=').
func longBracket(s string) (int, bool) {
	if len(s) < 2 || s[0] != '[' {
		return 0, false
	}
	level := 0
	for 1+level < len(s) && s[1+level] == '=' {
		level++
	}
	if 1+level < len(s) && s[1+level] == '[' {
		return level, true
	}
	return 0, false
}

// longEnd finds the closing ]=…=] of the given level from i; it returns
// the index after it (or len(s)) and the newlines passed.
func longEnd(s string, i, level int) (int, int) {
	closer := "]" + strings.Repeat("=", level) + "]"
	j := strings.Index(s[min(i, len(s)):], closer)
	if j < 0 {
		return len(s), strings.Count(s[min(i, len(s)):], "\n")
	}
	end := i + j + len(closer)
	return end, strings.Count(s[i:i+j], "\n")
}

func isNameStart(c byte) bool { return c == '_' || (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
