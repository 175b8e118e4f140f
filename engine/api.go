package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/pm"
)

// The API's Go functions are the same for every call: each is one
// *lua.LFunction built once (sharedAPI) that finds its call through the
// state's registry (apiSession). Every call still gets tables of its own,
// so a flow that changes ivr or call changes only its own call; sharing the
// functions saves each call most of what its API used to cost in memory.

// sessionRegKey names the session in its state's registry.
const sessionRegKey = "_ivrd_session"

// apiSession returns the session whose flow runs in L.
func apiSession(L *lua.LState) *Session {
	if ud, ok := L.G.Registry.RawGetString(sessionRegKey).(*lua.LUserData); ok {
		if s, ok := ud.Value.(*Session); ok {
			return s
		}
	}
	L.RaiseError("ivrd: this Lua state runs no call")
	return nil
}

// apiFunc is one named function of an API table.
type apiFunc struct {
	name string
	fn   *lua.LFunction
}

// apiTables holds the shared functions of each API table, in the order
// they are set.
type apiTables struct {
	call, ivr, log, store, http, json, lists []apiFunc
	print                                    *lua.LFunction
}

var (
	sharedOnce sync.Once
	shared     *apiTables
)

// sharedAPI returns the API's functions, built on first use.
func sharedAPI() *apiTables {
	sharedOnce.Do(func() { shared = buildAPI() })
	return shared
}

// buildAPI makes the API's functions. They belong to a state of their own,
// which is never closed: a Go function does not use it.
func buildAPI() *apiTables {
	holder := lua.NewState(lua.Options{SkipOpenLibs: true})
	fn := func(name string, f lua.LGFunction) apiFunc { return apiFunc{name, holder.NewFunction(f)} }
	withCtx := func(name string, f func(*Session, context.Context, *lua.LState) int) apiFunc {
		return fn(name, func(L *lua.LState) int {
			s := apiSession(L)
			return f(s, s.apiCtx, L)
		})
	}
	plain := func(name string, f func(*Session, *lua.LState) int) apiFunc {
		return fn(name, func(L *lua.LState) int { return f(apiSession(L), L) })
	}
	t := &apiTables{
		call: []apiFunc{
			withCtx("play", (*Session).luaPlay),
			withCtx("gather", (*Session).luaGather),
			withCtx("say_digits", (*Session).luaSayDigits),
			withCtx("transfer", (*Session).luaTransfer),
			withCtx("hangup", (*Session).luaHangup),
			withCtx("sleep", (*Session).luaSleep),
		},
		ivr: []apiFunc{
			plain("now", (*Session).luaNow),
			plain("random", (*Session).luaRandom),
			plain("ext_state", (*Session).luaExtState),
			plain("secret", (*Session).luaSecret),
			plain("emit", (*Session).luaEmit),
			withCtx("dial", (*Session).luaDial),
		},
		store: []apiFunc{
			plain("get", (*Session).luaStoreGet),
			plain("put", (*Session).luaStorePut),
			plain("incr", (*Session).luaStoreIncr),
			plain("append", (*Session).luaStoreAppend),
		},
		http: []apiFunc{
			withCtx("get", func(s *Session, ctx context.Context, L *lua.LState) int { return s.luaHTTP(ctx, L, http.MethodGet) }),
			withCtx("post", func(s *Session, ctx context.Context, L *lua.LState) int { return s.luaHTTP(ctx, L, http.MethodPost) }),
		},
		json:  []apiFunc{fn("encode", luaJSONEncode), fn("decode", luaJSONDecode)},
		lists: []apiFunc{plain("contains", (*Session).luaListsContains)},
		print: plain("print", (*Session).luaPrint).fn,
	}
	for _, lvl := range []string{"debug", "info", "warn", "error"} {
		level := hclog.LevelFromString(lvl)
		t.log = append(t.log, plain(lvl, func(s *Session, L *lua.LState) int { return s.luaLog(level, L) }))
	}
	return t
}

// apiTable returns a new table holding fs.
func apiTable(L *lua.LState, fs []apiFunc) *lua.LTable {
	t := L.CreateTable(0, len(fs))
	for _, f := range fs {
		t.RawSetString(f.name, f.fn)
	}
	return t
}

// installAPI builds the call table and the ivr global for a session; ctx
// is the context of the commands the flow's calls send.
func (s *Session) installAPI(ctx context.Context) {
	L := s.L
	s.apiCtx = ctx
	ud := L.NewUserData()
	ud.Value = s
	L.G.Registry.RawSetString(sessionRegKey, ud)
	api := sharedAPI()

	c := apiTable(L, api.call)
	c.RawSetString("id", lua.LString(s.ID))
	c.RawSetString("from", lua.LString(s.From))
	c.RawSetString("to", lua.LString(s.To))
	c.RawSetString("direction", lua.LString(s.Direction))
	c.RawSetString("device", lua.LString(s.Device.Name))
	c.RawSetString("vars", L.NewTable())
	s.callTable = c

	ivr := apiTable(L, api.ivr)
	ivr.RawSetString("log", apiTable(L, api.log))
	ivr.RawSetString("store", apiTable(L, api.store))
	ivr.RawSetString("http", apiTable(L, api.http))
	ivr.RawSetString("json", apiTable(L, api.json))
	ivr.RawSetString("lists", apiTable(L, api.lists))
	L.SetGlobal("ivr", ivr)
	L.SetGlobal("print", api.print)
}

// luaPrint is the sandbox's print: a log line at info level.
func (s *Session) luaPrint(L *lua.LState) int {
	if s.replaying() {
		return 0 // said before the restart
	}
	parts := make([]string, L.GetTop())
	for i := range parts {
		parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
	}
	s.log.Info(s.redact(strings.Join(parts, "\t")), "at", strings.TrimSuffix(L.Where(1), ":"))
	return 0
}

func (s *Session) luaNow(L *lua.LState) int {
	now, err := journaled(s, "now", nil, func() (float64, error) {
		return float64(s.r.clk.Now().UnixMilli()) / 1000, nil
	})
	s.raiseDiverged(err)
	L.Push(lua.LNumber(now))
	return 1
}

func (s *Session) luaRandom(L *lua.LState) int {
	args := randomArgs(L)
	v, err := journaled(s, "random", args, func() (float64, error) { return args.draw(), nil })
	s.raiseDiverged(err)
	L.Push(lua.LNumber(v))
	return 1
}

func (s *Session) luaExtState(L *lua.LState) int {
	ext := checkKey(L, 1, "ext")
	st, err := journaled(s, "ext_state", ext, func() (string, error) { return s.r.ExtState(s.Device.Name, ext), nil })
	s.raiseDiverged(err)
	L.Push(lua.LString(st))
	return 1
}

func (s *Session) luaSecret(L *lua.LState) int {
	v := checkKey(L, 1, "value")
	if v != "" && !s.isSecret(v) {
		s.mu.Lock()
		s.secrets = append(s.secrets, v)
		s.mu.Unlock()
	}
	L.Push(lua.LString(v))
	return 1
}

// checkKey reads a string or number argument as a string.
func checkKey(L *lua.LState, n int, what string) string {
	switch v := L.Get(n).(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	}
	L.ArgError(n, what+" must be a string")
	return ""
}

// method checks that a call method was called with ':' on this call and
// that the call is still in the IVR. It reports true when the call turned
// out to be gone: the method then returns nil, "hangup".
func (s *Session) method(ctx context.Context, L *lua.LState, name string) bool {
	if L.Get(1) != s.callTable {
		L.RaiseError("call:%s must be called with ':' (call:%s(…))", name, name)
	}
	if s.inEnded {
		L.RaiseError("call:%s cannot be used in ended()", name)
	}
	if s.left || s.hungUp || s.diverged {
		s.over(name)
	}
	if s.recovered && !s.replaying() && !s.liveChecked {
		// The journal has run out: before the first live command, make
		// sure the call is still there and still in the IVR.
		s.blocking(ctx, func() { s.goLive(ctx) })
		if s.left && name != "transfer" {
			s.over(name) // a pending transfer is recorded as done instead
		}
		if s.hungUp {
			return true
		}
	}
	return false
}

// raiseDiverged unwinds the flow when its replay diverged or its router
// crashed.
func (s *Session) raiseDiverged(err error) {
	if errors.Is(err, errDiverged) || errors.Is(err, errKilled) || errors.Is(err, errLeft) {
		s.L.Error(s.overErr, 0)
	}
}

// retHangup returns nil, "hangup" to Lua.
func retReason(L *lua.LState, reason string) int {
	L.Push(lua.LNil)
	L.Push(lua.LString(reason))
	return 2
}

// promptArg reads a prompt: a file name, "a+b", or a list of names.
func promptArg(L *lua.LState, v lua.LValue, what string) []string {
	var files []string
	switch p := v.(type) {
	case lua.LString:
		files = chainFiles(string(p))
	case *lua.LTable:
		n := p.Len()
		for i := 1; i <= n; i++ {
			f, ok := p.RawGetInt(i).(lua.LString)
			if !ok {
				L.RaiseError("%s: item %d is a %s, not a file name", what, i, p.RawGetInt(i).Type())
			}
			files = append(files, chainFiles(string(f))...)
		}
	default:
		L.RaiseError("%s: must be a file name or a list of file names, not a %s", what, v.Type())
	}
	for _, f := range files {
		if f == "" || strings.ContainsAny(f, "<>&\"' \t\n") {
			L.RaiseError("%s: %q is not a voice file name", what, f)
		}
	}
	if len(files) == 0 {
		L.RaiseError("%s: no file to play", what)
	}
	return files
}

func (s *Session) luaPlay(ctx context.Context, L *lua.LState) int {
	if s.method(ctx, L, "play") {
		return retReason(L, "hangup")
	}
	files := promptArg(L, L.Get(2), "call:play")
	if L.GetTop() >= 3 {
		decodeOptions(L, 3, "call:play", nil)
	}
	return s.doPlay(ctx, L, files)
}

func (s *Session) doPlay(ctx context.Context, L *lua.LState, files []string) int {
	var res string
	var err error
	s.blocking(ctx, func() { res, err = s.play(ctx, files) })
	s.raiseDiverged(err)
	if err != nil {
		return retReason(L, "failed")
	}
	if res == "hangup" || res == "failed" {
		return retReason(L, res)
	}
	L.Push(lua.LString(res))
	return 1
}

func (s *Session) luaSayDigits(ctx context.Context, L *lua.LState) int {
	if s.method(ctx, L, "say_digits") {
		return retReason(L, "hangup")
	}
	digits := checkKey(L, 2, "digits")
	gap := 0
	if L.GetTop() >= 3 {
		decodeOptions(L, 3, "call:say_digits", map[string]optFunc{
			"gap": intOpt(L, "call:say_digits", "gap", 0, 5, &gap),
		})
	}
	files := make([]string, 0, len(digits)*(1+gap))
	for i := 0; i < len(digits); i++ {
		d := digits[i]
		if d < '0' || d > '9' {
			L.RaiseError("call:say_digits: %q is not a digit", string(d))
		}
		if i > 0 {
			// A pause between digits: the device's silence file.
			for range gap {
				files = append(files, s.Device.SilenceFile)
			}
		}
		files = append(files, s.Device.DigitFiles[d-'0'])
	}
	if len(files) == 0 {
		L.RaiseError("call:say_digits: no digits")
	}
	if s.isSecret(digits) {
		s.secretChains = append(s.secretChains, chains(files)...)
	}
	return s.doPlay(ctx, L, files)
}

func (s *Session) luaGather(ctx context.Context, L *lua.LState) int {
	if s.method(ctx, L, "gather") {
		return retReason(L, "hangup")
	}
	o := gatherOpts{min: 1, max: 1, timeout: 5 * time.Second, digitTimeout: 3 * time.Second, tries: 1}
	term := "\x00"
	var validErr error
	decodeOptions(L, 2, "call:gather", map[string]optFunc{
		"prompt":         func(v lua.LValue) { o.prompt = promptArg(L, v, "call:gather: prompt") },
		"invalid_prompt": func(v lua.LValue) { o.invalidPrompt = promptArg(L, v, "call:gather: invalid_prompt") },
		"noinput_prompt": func(v lua.LValue) { o.noinputPrompt = promptArg(L, v, "call:gather: noinput_prompt") },
		"min":            intOpt(L, "call:gather", "min", 0, 64, &o.min),
		"max":            intOpt(L, "call:gather", "max", 1, 64, &o.max),
		"tries":          intOpt(L, "call:gather", "tries", 1, 20, &o.tries),
		"timeout":        secondsOpt(L, "call:gather", "timeout", &o.timeout),
		"digit_timeout":  secondsOpt(L, "call:gather", "digit_timeout", &o.digitTimeout),
		"flush":          boolOpt(L, "call:gather", "flush", &o.flush),
		"terminator": func(v lua.LValue) {
			t, ok := v.(lua.LString)
			if !ok || len(t) > 1 || (len(t) == 1 && !isKey(t[0])) {
				L.RaiseError("call:gather: terminator must be one key (0-9, *, #, A-D) or \"\"")
			}
			term = string(t)
		},
		"valid": func(v lua.LValue) {
			p, ok := v.(lua.LString)
			if !ok {
				L.RaiseError("call:gather: valid must be a Lua pattern string")
			}
			o.valid = string(p)
			_, validErr = pm.Find(anchor(o.valid), nil, 0, 1)
		},
	})
	if validErr != nil {
		L.RaiseError("call:gather: valid: %v", validErr)
	}
	if o.min > o.max {
		L.RaiseError("call:gather: min (%d) is greater than max (%d)", o.min, o.max)
	}
	switch {
	case term == "\x00" && o.max > 1:
		o.terminator = '#'
	case term != "\x00" && term != "":
		o.terminator = term[0]
	}
	var input, reason string
	var err error
	s.blocking(ctx, func() { input, reason, err = s.gather(ctx, o) })
	s.raiseDiverged(err)
	if err != nil {
		return retReason(L, "failed")
	}
	if reason != "" {
		return retReason(L, reason)
	}
	L.Push(lua.LString(input))
	return 1
}

func isKey(k byte) bool {
	return (k >= '0' && k <= '9') || k == '*' || k == '#' || (k >= 'A' && k <= 'D')
}

func (s *Session) luaTransfer(ctx context.Context, L *lua.LState) int {
	if s.method(ctx, L, "transfer") {
		return retReason(L, "hangup")
	}
	var t Target
	set := 0
	str := func(dst *string, name string, counts bool) optFunc {
		return func(v lua.LValue) {
			switch x := v.(type) {
			case lua.LString:
				*dst = string(x)
			case lua.LNumber:
				*dst = x.String()
			default:
				L.RaiseError("call:transfer: %s must be a string, not a %s", name, v.Type())
			}
			if *dst == "" {
				L.RaiseError("call:transfer: %s is empty", name)
			}
			if counts {
				set++
			}
		}
	}
	decodeOptions(L, 2, "call:transfer", map[string]optFunc{
		"ext":    str(&t.Ext, "ext", true),
		"group":  str(&t.Group, "group", true),
		"queue":  str(&t.Queue, "queue", true),
		"number": str(&t.Number, "number", true),
		"menu":   str(&t.Menu, "menu", true),
		"trunk":  str(&t.Trunk, "trunk", false),
	})
	if set != 1 {
		L.RaiseError("call:transfer: give exactly one of ext, group, queue, number, menu")
	}
	if t.Trunk != "" && t.Number == "" {
		L.RaiseError("call:transfer: trunk goes with number")
	}
	type result struct {
		OK     bool   `json:"ok"`
		Reason string `json:"reason,omitempty"`
	}
	var res result
	var err error
	s.blocking(ctx, func() {
		res, err = journaled(s, "transfer", t, func() (result, error) {
			if at := s.leftBeforeRestart; at != "" {
				s.leftBeforeRestart = ""
				s.log.Info("the call had left the IVR before the restart; not transferring it again", "target", t.String(), "connected", at)
				s.left, s.outcome, s.target = true, OutcomeTransferred, t.String()
				s.addPath("transfer", t.String())
				return result{OK: true}, nil
			}
			if s.poll() {
				return result{Reason: "hangup"}, nil
			}
			err := s.transfer(ctx, t)
			var ref *Refusal
			switch {
			case err != nil && s.gone(err):
				return result{Reason: "hangup"}, nil // the call was gone when the command arrived
			case err == nil:
				return result{OK: true}, nil
			case errors.As(err, &ref):
				s.log.Info("transfer refused", "target", t.String(), "reason", ref.Reason, "detail", ref.Detail)
				return result{Reason: ref.Reason}, nil
			case ctx.Err() != nil:
				return result{}, err
			}
			s.log.Warn("transfer failed", "target", t.String(), "error", err)
			return result{Reason: ReasonFailed}, nil
		})
	})
	s.raiseDiverged(err)
	switch {
	case err != nil:
		return retReason(L, ReasonFailed)
	case !res.OK:
		return retReason(L, res.Reason)
	}
	L.Push(lua.LTrue)
	return 1
}

func (s *Session) luaHangup(ctx context.Context, L *lua.LState) int {
	if s.method(ctx, L, "hangup") {
		return retReason(L, "hangup")
	}
	var err error
	s.blocking(ctx, func() {
		_, err = journaled(s, "hangup", nil, func() (bool, error) {
			if !s.poll() {
				s.hangup(ctx)
			}
			return true, nil
		})
	})
	s.raiseDiverged(err)
	L.Push(lua.LTrue)
	return 1
}

func (s *Session) luaSleep(ctx context.Context, L *lua.LState) int {
	if s.method(ctx, L, "sleep") {
		return retReason(L, "hangup")
	}
	secs := float64(L.CheckNumber(2))
	if secs < 0 || secs > 24*3600 || math.IsNaN(secs) {
		L.ArgError(2, "seconds must be within 0–86400")
	}
	var ok bool
	var err error
	s.blocking(ctx, func() { ok, err = s.sleep(ctx, time.Duration(secs*float64(time.Second))) })
	s.raiseDiverged(err)
	if err != nil || !ok {
		return retReason(L, "hangup")
	}
	L.Push(lua.LTrue)
	return 1
}

func (s *Session) luaLog(level hclog.Level, L *lua.LState) int {
	if s.replaying() {
		return 0 // said before the restart
	}
	msg := s.redact(L.ToStringMeta(L.Get(1)).String())
	args := []any{"at", strings.TrimSuffix(L.Where(1), ":")}
	if t, ok := L.Get(2).(*lua.LTable); ok {
		t.ForEach(func(k, v lua.LValue) {
			args = append(args, k.String(), s.redact(L.ToStringMeta(v).String()))
		})
	}
	s.log.Log(level, msg, args...)
	return 0
}

// randomCall is an ivr.random call: random() is a float in [0,1),
// random(m) an integer in 1…m, random(m, n) one in m…n.
type randomCall struct {
	N int `json:"n"` // how many bounds were given
	M int `json:"m,omitempty"`
	X int `json:"x,omitempty"`
}

func randomArgs(L *lua.LState) randomCall {
	switch L.GetTop() {
	case 0:
		return randomCall{}
	case 1:
		m := L.CheckInt(1)
		if m < 1 {
			L.ArgError(1, "interval is empty")
		}
		return randomCall{N: 1, M: m}
	}
	m, n := L.CheckInt(1), L.CheckInt(2)
	if m > n {
		L.ArgError(2, "interval is empty")
	}
	return randomCall{N: 2, M: m, X: n}
}

// draw picks the number; the value is journaled, so the process-wide
// generator serves every call.
func (c randomCall) draw() float64 {
	switch c.N {
	case 0:
		return rand.Float64()
	case 1:
		return float64(rand.IntN(c.M) + 1)
	}
	return float64(c.M + rand.IntN(c.X-c.M+1))
}

// optFunc decodes one option's value; it raises on a wrong one.
type optFunc func(lua.LValue)

// decodeOptions reads an option table at argument n, rejecting unknown
// names and non-string keys; errors name the option and, through
// RaiseError, the flow's file:line.
func decodeOptions(L *lua.LState, n int, fn string, opts map[string]optFunc) {
	v := L.Get(n)
	if v == lua.LNil && opts != nil {
		return
	}
	t, ok := v.(*lua.LTable)
	if !ok {
		L.RaiseError("%s: options must be a table, not a %s", fn, v.Type())
	}
	t.ForEach(func(k, val lua.LValue) {
		name, ok := k.(lua.LString)
		if !ok {
			L.RaiseError("%s: option names must be strings, not %s", fn, k.Type())
		}
		f, known := opts[string(name)]
		if !known {
			L.RaiseError("%s: unknown option %q", fn, string(name))
		}
		f(val)
	})
}

func intOpt(L *lua.LState, fn, name string, lo, hi int, dst *int) optFunc {
	return func(v lua.LValue) {
		n, ok := v.(lua.LNumber)
		if !ok || float64(n) != math.Trunc(float64(n)) || math.IsInf(float64(n), 0) {
			L.RaiseError("%s: %s must be a whole number, not %s", fn, name, describe(v))
		}
		if float64(n) < float64(lo) || float64(n) > float64(hi) {
			L.RaiseError("%s: %s must be within %d–%d, not %s", fn, name, lo, hi, v.String())
		}
		*dst = int(n)
	}
}

func secondsOpt(L *lua.LState, fn, name string, dst *time.Duration) optFunc {
	return func(v lua.LValue) {
		n, ok := v.(lua.LNumber)
		if !ok {
			L.RaiseError("%s: %s must be a number of seconds, not %s", fn, name, describe(v))
		}
		if n <= 0 || n > 3600 || math.IsNaN(float64(n)) {
			L.RaiseError("%s: %s must be within 0–3600 seconds, not %v", fn, name, float64(n))
		}
		*dst = time.Duration(float64(n) * float64(time.Second))
	}
}

func boolOpt(L *lua.LState, fn, name string, dst *bool) optFunc {
	return func(v lua.LValue) {
		b, ok := v.(lua.LBool)
		if !ok {
			L.RaiseError("%s: %s must be true or false, not %s", fn, name, describe(v))
		}
		*dst = bool(b)
	}
}

func describe(v lua.LValue) string {
	switch v.(type) {
	case lua.LString:
		return fmt.Sprintf("the string %q", v.String())
	case lua.LNumber:
		return "the number " + v.String()
	}
	return "a " + v.Type().String()
}

// maxStoreKey bounds ivr.store keys.
const maxStoreKey = 256

// The ivr.store functions: the flow's durable key/value space, shared by
// its calls. Every read and write is a journaled step, so a replayed call
// neither writes twice nor reads a value that changed since.

// storeKey reads the key argument of ivr.store.fn.
func storeKey(L *lua.LState, fn string) string {
	k, ok := L.Get(1).(lua.LString)
	if !ok || len(k) == 0 || len(k) > maxStoreKey {
		L.RaiseError("ivr.store.%s: the key must be a string of 1–%d bytes", fn, maxStoreKey)
	}
	return string(k)
}

// storeValue encodes argument n of ivr.store.fn as JSON.
func (s *Session) storeValue(L *lua.LState, fn string, n int) json.RawMessage {
	var b bytes.Buffer
	if err := encodeJSON(&b, L.Get(n), 0, s.r.limits.MaxValue); err != nil {
		if errors.Is(err, errTooBig) {
			L.RaiseError("ivr.store.%s: the value passes the limit of %d bytes", fn, s.r.limits.MaxValue)
		}
		L.RaiseError("ivr.store.%s: %v", fn, err)
	}
	if b.Len() > s.r.limits.MaxValue {
		L.RaiseError("ivr.store.%s: the value passes the limit of %d bytes", fn, s.r.limits.MaxValue)
	}
	return b.Bytes()
}

func (s *Session) storeOf(L *lua.LState, fn string) Store {
	if s.r.store == nil {
		L.RaiseError("ivr.store.%s: ivrd runs without a state file", fn)
	}
	return s.r.store
}

func (s *Session) luaStoreGet(L *lua.LState) int {
	type got struct {
		Found bool            `json:"found"`
		Value json.RawMessage `json:"value,omitempty"`
	}
	k := storeKey(L, "get")
	st := s.storeOf(L, "get")
	flow := s.Flow.Name
	res, err := journaled(s, "store.get", k, func() (got, error) {
		v, ok, err := st.Get(flow, k)
		if err != nil {
			return got{}, err
		}
		return got{Found: ok, Value: v}, nil
	})
	s.raiseDiverged(err)
	if err != nil {
		L.RaiseError("ivr.store.get: %v", err)
	}
	if !res.Found {
		L.Push(lua.LNil)
		return 1
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(res.Value))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		L.RaiseError("ivr.store.get: the stored value is not JSON: %v", err)
	}
	lv, err := toLua(L, v, 0)
	if err != nil {
		L.RaiseError("ivr.store.get: %v", err)
	}
	L.Push(lv)
	return 1
}

func (s *Session) luaStorePut(L *lua.LState) int {
	k := storeKey(L, "put")
	v := s.storeValue(L, "put", 2)
	s.storeOf(L, "put")
	_, err := journaledWrite(s, "store.put", map[string]any{"key": k, "value": v},
		KVOp{Op: "put", Flow: s.Flow.Name, Key: k, Value: v})
	s.raiseDiverged(err)
	if err != nil {
		L.RaiseError("ivr.store.put: %v", err)
	}
	L.Push(lua.LTrue)
	return 1
}

func (s *Session) luaStoreIncr(L *lua.LState) int {
	k := storeKey(L, "incr")
	delta := int64(L.OptInt(2, 1))
	s.storeOf(L, "incr")
	n, err := journaledWrite(s, "store.incr", map[string]any{"key": k, "delta": delta},
		KVOp{Op: "incr", Flow: s.Flow.Name, Key: k, Delta: delta})
	s.raiseDiverged(err)
	if err != nil {
		L.RaiseError("ivr.store.incr: %v", err)
	}
	L.Push(lua.LNumber(n))
	return 1
}

func (s *Session) luaStoreAppend(L *lua.LState) int {
	k := storeKey(L, "append")
	v := s.storeValue(L, "append", 2)
	s.storeOf(L, "append")
	n, err := journaledWrite(s, "store.append", map[string]any{"key": k, "value": v},
		KVOp{Op: "append", Flow: s.Flow.Name, Key: k, Value: v})
	s.raiseDiverged(err)
	if err != nil {
		L.RaiseError("ivr.store.append: %v", err)
	}
	L.Push(lua.LNumber(n))
	return 1
}
