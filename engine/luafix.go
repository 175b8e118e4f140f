package engine

import (
	"fmt"
	"reflect"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// Workarounds for two gopher-lua v1.1.2 bugs that silently corrupt a
// flow's variables. The dependency is fixed; both are mended from outside
// it.

// ---- multiple assignment ----

// gopher-lua compiles `a, b = b, a` by evaluating each right-hand
// expression straight into the register of its local target, so a later
// expression reads a target already overwritten (the swap gives 2, 2;
// `a, b = a + 1, a + b` with 1, 2 gives 2, 4). Its single assignments and
// its local declarations are sound, so rewriteAssignments turns every
// multiple assignment into those before the compiler sees it:
//
//	a, t[k], u.f = e1, e2, e3
//
// becomes
//
//	do
//	  local (assign 1), (assign 2), (assign 3) = t, k, u
//	  local (assign 4), (assign 5), (assign 6) = e1, e2, e3
//	  (assign 3).f = (assign 6)
//	  (assign 1)[(assign 2)] = (assign 5)
//	  a = (assign 4)
//	end
//
// which is the order of Lua 5.1: the tables and keys of the targets first,
// then the right-hand side (in one statement, so that a trailing call or
// ... still gives several values), then the assignments from the last
// target to the first. Temporaries are named with characters no Lua
// identifier has, so no flow can see or shadow them; every new node takes
// the line of what it stands for, so errors still name the flow's line.

// rewriteAssignments rewrites, in place, every multiple assignment of a
// parsed chunk, at any depth.
func rewriteAssignments(chunk []ast.Stmt) {
	rewriteBlock(chunk)
}

func rewriteBlock(stmts []ast.Stmt) {
	for i, s := range stmts {
		stmts[i] = rewriteStmt(s)
	}
}

func rewriteStmt(s ast.Stmt) ast.Stmt {
	switch s := s.(type) {
	case *ast.AssignStmt:
		rewriteExprs(s.Lhs)
		rewriteExprs(s.Rhs)
		if len(s.Lhs) > 1 {
			if d := splitAssignment(s); d != nil {
				return d
			}
		}
	case *ast.LocalAssignStmt:
		rewriteExprs(s.Exprs)
	case *ast.FuncCallStmt:
		rewriteExpr(s.Expr)
	case *ast.DoBlockStmt:
		rewriteBlock(s.Stmts)
	case *ast.WhileStmt:
		rewriteExpr(s.Condition)
		rewriteBlock(s.Stmts)
	case *ast.RepeatStmt:
		rewriteBlock(s.Stmts)
		rewriteExpr(s.Condition)
	case *ast.IfStmt:
		// elseif is an IfStmt alone in Else.
		rewriteExpr(s.Condition)
		rewriteBlock(s.Then)
		rewriteBlock(s.Else)
	case *ast.NumberForStmt:
		rewriteExpr(s.Init)
		rewriteExpr(s.Limit)
		rewriteExpr(s.Step)
		rewriteBlock(s.Stmts)
	case *ast.GenericForStmt:
		rewriteExprs(s.Exprs)
		rewriteBlock(s.Stmts)
	case *ast.FuncDefStmt:
		if s.Name != nil {
			rewriteExpr(s.Name.Func)
			rewriteExpr(s.Name.Receiver)
		}
		rewriteExpr(s.Func)
	case *ast.ReturnStmt:
		rewriteExprs(s.Exprs)
	}
	return s
}

func rewriteExprs(es []ast.Expr) {
	for _, e := range es {
		rewriteExpr(e)
	}
}

// rewriteExpr reaches the function bodies inside an expression; only
// statements are replaced, so expressions are walked, never rebuilt.
func rewriteExpr(e ast.Expr) {
	switch e := e.(type) {
	case *ast.FunctionExpr:
		rewriteBlock(e.Stmts)
	case *ast.AttrGetExpr:
		rewriteExpr(e.Object)
		rewriteExpr(e.Key)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			rewriteExpr(f.Key)
			rewriteExpr(f.Value)
		}
	case *ast.FuncCallExpr:
		rewriteExpr(e.Func)
		rewriteExpr(e.Receiver)
		rewriteExprs(e.Args)
	case *ast.LogicalOpExpr:
		rewriteExpr(e.Lhs)
		rewriteExpr(e.Rhs)
	case *ast.RelationalOpExpr:
		rewriteExpr(e.Lhs)
		rewriteExpr(e.Rhs)
	case *ast.StringConcatOpExpr:
		rewriteExpr(e.Lhs)
		rewriteExpr(e.Rhs)
	case *ast.ArithmeticOpExpr:
		rewriteExpr(e.Lhs)
		rewriteExpr(e.Rhs)
	case *ast.UnaryMinusOpExpr:
		rewriteExpr(e.Expr)
	case *ast.UnaryNotOpExpr:
		rewriteExpr(e.Expr)
	case *ast.UnaryLenOpExpr:
		rewriteExpr(e.Expr)
	}
}

// splitAssignment returns the do block that does what the multiple
// assignment s does, or nil for a target it does not know (the parser
// makes none).
func splitAssignment(s *ast.AssignStmt) ast.Stmt {
	n := 0
	temp := func(at ast.PositionHolder) *ast.IdentExpr {
		n++
		return ident(fmt.Sprintf("(assign %d)", n), at)
	}
	// The tables and keys of indexed targets, in order.
	var places local
	targets := make([]ast.Expr, len(s.Lhs))
	for i, lhs := range s.Lhs {
		switch lhs := lhs.(type) {
		case *ast.IdentExpr:
			targets[i] = lhs
		case *ast.AttrGetExpr:
			obj := temp(lhs.Object)
			places.add(obj, lhs.Object)
			key := lhs.Key
			if _, constant := key.(ast.ConstExpr); !constant {
				k := temp(lhs.Key)
				places.add(k, lhs.Key)
				key = k
			}
			t := &ast.AttrGetExpr{Object: ident(obj.Value, lhs), Key: key}
			at(t, lhs)
			targets[i] = t
		default:
			return nil
		}
	}
	// The values, in one statement: the last expression may give several.
	var values local
	vals := make([]*ast.IdentExpr, len(s.Lhs))
	for i := range s.Lhs {
		pos := ast.PositionHolder(s)
		if i < len(s.Rhs) {
			pos = s.Rhs[i]
		}
		vals[i] = temp(pos)
		values.names = append(values.names, vals[i].Value)
	}
	values.exprs = s.Rhs

	block := &ast.DoBlockStmt{}
	at(block, s)
	if len(places.names) > 0 {
		block.Stmts = append(block.Stmts, places.stmt(s))
	}
	block.Stmts = append(block.Stmts, values.stmt(s))
	for i := len(targets) - 1; i >= 0; i-- {
		a := &ast.AssignStmt{Lhs: []ast.Expr{targets[i]}, Rhs: []ast.Expr{ident(vals[i].Value, vals[i])}}
		at(a, s.Lhs[i])
		block.Stmts = append(block.Stmts, a)
	}
	return block
}

// local collects one `local names = exprs` statement.
type local struct {
	names []string
	exprs []ast.Expr
}

func (l *local) add(name *ast.IdentExpr, e ast.Expr) {
	l.names = append(l.names, name.Value)
	l.exprs = append(l.exprs, e)
}

func (l *local) stmt(pos ast.PositionHolder) *ast.LocalAssignStmt {
	st := &ast.LocalAssignStmt{Names: l.names, Exprs: l.exprs}
	at(st, pos)
	return st
}

func ident(name string, pos ast.PositionHolder) *ast.IdentExpr {
	e := &ast.IdentExpr{Value: name}
	at(e, pos)
	return e
}

// at gives a new node the lines of the one it stands for.
func at(n, pos ast.PositionHolder) {
	n.SetLine(pos.Line())
	n.SetLastLine(pos.LastLine())
}

// ---- pcall ----

// When gopher-lua raises an error (LState.raiseError and LState.Error, for
// runtime errors, error(), RaiseError from Go and a stopped context alike)
// and no error handler is set, it first calls closeAllUpvalues, which
// closes every open upvalue of the state: those of every Lua frame down
// to the outermost, not only those of the frames the catching PCall
// unwinds. A closure made before the error and still in use then writes
// to its own copy of a variable its maker, still running, no longer sees:
//
//	local x = 0
//	local function inc() x = x + 1 end
//	pcall(error, "e")
//	inc() -- x stays 0 for the code around it
//
// PCall itself closes nothing, and with an error handler set (xpcall)
// nothing is closed at all: a closure made in the failed function then
// reads a register reused by later code.
//
// protectedCall is PCall with the state's list of open upvalues set aside
// for the length of the call. Every frame the call pushes lies above the
// caller's, so the variables it captures go in a fresh list that starts
// empty; when an error is raised, gopher-lua's closeAllUpvalues closes
// just that list — exactly the upvalues of the frames being unwound, as
// Lua does — before anything overwrites their registers. The caller's
// list, untouched, is put back afterwards. Nested protected calls nest the
// same way. Go code that calls back into a flow's Lua under protection
// must use protectedCall as well: L.PCall there would bring the bug back.
//
// The list is unexported; upvalueList finds its offsets by reflection,
// once, and panics at start-up if gopher-lua no longer has the fields this
// relies on (they are pinned with v1.1.2).

// protectedCall calls the function below its nargs arguments, as
// L.PCall(nargs, nret, nil) does, closing on an error only the upvalues of
// the frames it unwinds.
func protectedCall(L *lua.LState, nargs, nret int) error {
	head := upvalueList.head(L)
	outer := *head
	*head = nil
	err := L.PCall(nargs, nret, nil)
	inner := *head
	*head = outer
	if inner == nil {
		return err
	}
	if err == nil {
		// Every frame of the call has returned, and returning closes its
		// upvalues: none should be open. Should one be, it stays open, in
		// the list where it belongs (above the caller's).
		upvalueList.appendTo(head, inner)
		return nil
	}
	// An error that gopher-lua did not raise itself — a Go panic in a
	// library function — closes nothing, and PCall has already cleared
	// the registers those upvalues point at: the variables' values are
	// gone. The closures are left with nils, and the error is not one a
	// flow may catch and carry on from.
	lost := 0
	for uv := inner; uv != nil; uv = *upvalueList.next(uv) {
		uv.Close()
		if uv.Value() == nil {
			uv.SetValue(lua.LNil)
		}
		lost++
	}
	return &lostUpvalues{cause: errorText(err), n: lost}
}

// lostUpvalues is an error after which variables captured by closures
// could not be kept; pcall raises it again rather than catch it.
type lostUpvalues struct {
	cause string
	n     int
}

func (e *lostUpvalues) Error() string {
	return fmt.Sprintf("%s (not caught by pcall: %d variables captured by closures in the failed call were lost with it)", e.cause, e.n)
}

// caught returns the value a pcall or xpcall returns for err, or raises
// err again if it is not one to catch.
func caught(L *lua.LState, err error) lua.LValue {
	if lost, ok := err.(*lostUpvalues); ok {
		L.Error(lua.LString(lost.Error()), 0)
	}
	if ae, ok := err.(*lua.ApiError); ok {
		return ae.Object
	}
	return lua.LString(err.Error())
}

func errorText(err error) string {
	if ae, ok := err.(*lua.ApiError); ok {
		return ae.Object.String()
	}
	return err.Error()
}

// upvalueList is where gopher-lua keeps a state's open upvalues: a list
// sorted by register, from LState.uvcache through Upvalue.next.
var upvalueList = findUpvalueList()

type upvalueFields struct{ headOff, nextOff uintptr }

func findUpvalueList() upvalueFields {
	ptr := reflect.TypeOf((*lua.Upvalue)(nil))
	field := func(t reflect.Type, name string) uintptr {
		f, ok := t.FieldByName(name)
		if !ok || f.Type != ptr {
			panic(fmt.Sprintf("engine: gopher-lua's %s has no field %s *Upvalue: the pcall workaround in luafix.go needs revisiting", t, name))
		}
		return f.Offset
	}
	return upvalueFields{
		headOff: field(reflect.TypeOf(lua.LState{}), "uvcache"),
		nextOff: field(reflect.TypeOf(lua.Upvalue{}), "next"),
	}
}

func (u upvalueFields) head(L *lua.LState) **lua.Upvalue {
	return (**lua.Upvalue)(unsafe.Add(unsafe.Pointer(L), u.headOff))
}

func (u upvalueFields) next(uv *lua.Upvalue) **lua.Upvalue {
	return (**lua.Upvalue)(unsafe.Add(unsafe.Pointer(uv), u.nextOff))
}

// appendTo puts the list more at the end of the list at head.
func (u upvalueFields) appendTo(head **lua.Upvalue, more *lua.Upvalue) {
	p := head
	for *p != nil {
		p = u.next(*p)
	}
	*p = more
}

// sandboxPCall is the sandbox's pcall: the base library's, on protectedCall.
func sandboxPCall(L *lua.LState) int {
	L.CheckAny(1)
	if v := L.Get(1); v.Type() != lua.LTFunction && L.GetMetaField(v, "__call").Type() != lua.LTFunction {
		L.Push(lua.LFalse)
		L.Push(lua.LString("attempt to call a " + v.Type().String() + " value"))
		return 2
	}
	if err := protectedCall(L, L.GetTop()-1, lua.MultRet); err != nil {
		L.Push(lua.LFalse)
		L.Push(caught(L, err))
		return 2
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

// sandboxXPCall is the sandbox's xpcall(f, handler). Unlike gopher-lua's, it
// calls the handler once f's frames are unwound (a handler cannot see
// them: the sandbox has no debug library), and a failing handler's error
// is what xpcall returns.
func sandboxXPCall(L *lua.LState) int {
	fn := L.CheckFunction(1)
	handler := L.CheckFunction(2)
	top := L.GetTop()
	L.Push(fn)
	err := protectedCall(L, 0, lua.MultRet)
	if err == nil {
		L.Insert(lua.LTrue, top+1)
		return L.GetTop() - top
	}
	L.Push(handler)
	L.Push(caught(L, err))
	if err := protectedCall(L, 1, 1); err != nil {
		L.Push(lua.LFalse)
		L.Push(caught(L, err))
		return 2
	}
	L.Insert(lua.LFalse, L.GetTop())
	return 2
}
