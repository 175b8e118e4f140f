package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// maxJSONDepth bounds nesting in both directions.
const maxJSONDepth = 64

var errTooBig = errors.New("too big")

// encodeJSON writes a Lua value as JSON. A table whose keys are exactly
// 1…n is an array (an empty table is an object); other tables are objects
// with string keys. Functions, userdata and cycles are errors. limit, when
// positive, stops the encoding once the output passes it.
func encodeJSON(b *bytes.Buffer, v lua.LValue, depth, limit int) error {
	if limit > 0 && b.Len() > limit {
		return errTooBig
	}
	if depth > maxJSONDepth {
		return fmt.Errorf("nested deeper than %d (a cycle?)", maxJSONDepth)
	}
	switch x := v.(type) {
	case *lua.LNilType:
		b.WriteString("null")
	case lua.LBool:
		b.WriteString(strconv.FormatBool(bool(x)))
	case lua.LNumber:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%v has no JSON form", f)
		}
		if f == math.Trunc(f) && math.Abs(f) < 1e15 {
			b.WriteString(strconv.FormatInt(int64(f), 10))
		} else {
			b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		}
	case lua.LString:
		enc, _ := json.Marshal(string(x))
		b.Write(enc)
	case *lua.LTable:
		n := x.Len()
		count := 0
		x.ForEach(func(_, _ lua.LValue) { count++ })
		if n > 0 && n == count {
			b.WriteByte('[')
			for i := 1; i <= n; i++ {
				if i > 1 {
					b.WriteByte(',')
				}
				if err := encodeJSON(b, x.RawGetInt(i), depth+1, limit); err != nil {
					return err
				}
			}
			b.WriteByte(']')
			return nil
		}
		type kv struct {
			k string
			v lua.LValue
		}
		var fields []kv
		var bad error
		x.ForEach(func(k, val lua.LValue) {
			switch key := k.(type) {
			case lua.LString:
				fields = append(fields, kv{string(key), val})
			case lua.LNumber:
				fields = append(fields, kv{key.String(), val})
			default:
				bad = fmt.Errorf("a %s key has no JSON form", k.Type())
			}
		})
		if bad != nil {
			return bad
		}
		sort.Slice(fields, func(i, j int) bool { return fields[i].k < fields[j].k })
		b.WriteByte('{')
		for i, f := range fields {
			if i > 0 {
				b.WriteByte(',')
			}
			enc, _ := json.Marshal(f.k)
			b.Write(enc)
			b.WriteByte(':')
			if err := encodeJSON(b, f.v, depth+1, limit); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("a %s has no JSON form", v.Type())
	}
	return nil
}

// encodedSize returns the JSON size of v, stopping early past limit.
func encodedSize(v lua.LValue, limit int) (int, error) {
	var b bytes.Buffer
	err := encodeJSON(&b, v, 0, limit)
	if errors.Is(err, errTooBig) {
		return b.Len(), nil
	}
	return b.Len(), err
}

func luaJSONEncode(L *lua.LState) int {
	var b bytes.Buffer
	if err := encodeJSON(&b, L.Get(1), 0, DefaultMaxString); err != nil {
		if errors.Is(err, errTooBig) {
			err = fmt.Errorf("result passes %d bytes", DefaultMaxString)
		}
		L.RaiseError("ivr.json.encode: %v", err)
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// luaJSONDecode returns the value, or nil and the error.
func luaJSONDecode(L *lua.LState) int {
	s := L.CheckString(1)
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return retReason(L, "ivr.json.decode: "+err.Error())
	}
	lv, err := toLua(L, v, 0)
	if err != nil {
		return retReason(L, "ivr.json.decode: "+err.Error())
	}
	L.Push(lv)
	return 1
}

func toLua(L *lua.LState, v any, depth int) (lua.LValue, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxJSONDepth)
	}
	switch x := v.(type) {
	case nil:
		return lua.LNil, nil
	case bool:
		return lua.LBool(x), nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, err
		}
		return lua.LNumber(f), nil
	case string:
		return lua.LString(x), nil
	case []any:
		t := L.CreateTable(len(x), 0)
		for _, e := range x {
			lv, err := toLua(L, e, depth+1)
			if err != nil {
				return nil, err
			}
			t.Append(lv)
		}
		return t, nil
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			lv, err := toLua(L, e, depth+1)
			if err != nil {
				return nil, err
			}
			t.RawSetString(k, lv)
		}
		return t, nil
	}
	return nil, fmt.Errorf("unexpected %T", v)
}
